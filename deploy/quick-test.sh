#!/usr/bin/env bash
# The quick test: calls echo (or --quick-test TARGET) through nginx and prints the answer.
#   deploy/quick-test.sh [--product NAME | --prefix DIR | --sandbox DIR]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

usage() {
    cat <<'EOF_USAGE'
Usage: deploy/quick-test.sh [--product NAME | --instance NAME | --prefix DIR | --sandbox DIR]
POSTs {"hello": "world"} to the quick-test target through nginx; exit 1 unless 200.
The listen port and server name come from PREFIX/deploy.env (the last deploy's).

EOF_USAGE
}

parse_params usage "$@"
load_deployed
quick_test
