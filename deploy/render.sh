#!/usr/bin/env bash
# Renders the deploy's configs into a folder, to read them before deploying (the deploy
# itself renders through the same functions, deploy/lib.sh):
#   deploy/render.sh [PARAMETERS] --out DIR
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

usage() {
    cat <<'EOF_USAGE'
Usage: deploy/render.sh [PARAMETERS] --out DIR
Writes DIR/nginx-site.conf, DIR/supervisor.conf, DIR/logrotate.conf (and with --sandbox the
sandbox's nginx-main.conf and supervisord.conf) from nginx.conf, supervisor.conf and
deploy/logrotate.conf, with the parameters below.

EOF_USAGE
}

out=""
args=()
while [[ $# -gt 0 ]]; do
    if [[ $1 == --out ]]; then
        [[ $# -ge 2 ]] || die "--out needs a folder"
        out=$2
        shift 2
    else
        args+=("$1")
        shift
    fi
done
parse_params usage "${args[@]}"
[[ -n $out ]] || die "--out DIR is required (see --help)"
finish_params
render_all "$out"
ls -1 "$out"
