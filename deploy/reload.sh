#!/usr/bin/env bash
# After a new build or a config change: installs it under the prefix (binaries, plugins,
# apiphant.toml, public/), then sends SIGHUP to each API process, which reloads its plugins
# and apiphant.toml in place (docs/reload.md: same process, the listener never closes, no
# request fails; a broken plugin or config keeps the old code serving and stops this script
# with the server's line); then restarts the background worker; the quick test at the end.
# A new apiphant binary needs a restart: deploy/deploy.sh rolls the processes.
# Takes the deploy's parameters from PREFIX/deploy.env:
#   sudo deploy/reload.sh [--product NAME | --prefix DIR] [--no-build]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

usage() {
    cat <<'EOF_USAGE'
Usage: deploy/reload.sh [--product NAME | --instance NAME | --prefix DIR | --sandbox DIR] [--no-build]
Builds (cargo, unless --no-build), installs under PREFIX, reloads each API process in place
(SIGHUP: plugins and apiphant.toml), restarts the background worker, then runs the quick
test. A new apiphant binary needs deploy/deploy.sh (a rolling restart). Other parameters come from
PREFIX/deploy.env (the last deploy's); flags given here are ignored for them.

EOF_USAGE
}

parse_params usage "$@"
load_deployed
if [[ -z $SANDBOX && $(id -u) -ne 0 ]]; then
    die "run as root (sudo $0)"
fi
if [[ $BUILD == 1 && $BUILT == 0 ]]; then
    build
fi
install_product
supervisor_up || die "supervisord is not running (deploy first: deploy/deploy.sh)"
hangup
restart_worker
quick_test
