#!/usr/bin/env bash
# After a new build: installs it under the prefix (binaries, plugins, apiphant.toml,
# public/), then restarts the API processes one at a time, each answering again before the
# next (nginx always has a live upstream), then the background worker; the quick test at
# the end. Takes the deploy's parameters from PREFIX/deploy.env:
#   sudo deploy/reload.sh [--product NAME | --prefix DIR] [--no-build]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

usage() {
    cat <<'EOF_USAGE'
Usage: deploy/reload.sh [--product NAME | --instance NAME | --prefix DIR | --sandbox DIR] [--no-build]
Builds (cargo, unless --no-build), installs under PREFIX, restarts the API processes one at a
time, then the background worker, then runs the quick test. Other parameters come from
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
roll
quick_test
