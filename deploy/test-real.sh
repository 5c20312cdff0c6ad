#!/usr/bin/env bash
# The real deploy, tested on a disposable CI machine (run by .ci/run as root with CI=true;
# anywhere else it says SKIPPED and exits 0; APIPHANT_REAL_DEPLOY_TEST=1 runs it as root on
# a machine you may change): deploy/deploy.sh as root with apt, the system user, the
# system's nginx and supervisor, on port 80; the quick test and every malformed request
# shape (deploy/json-errors.py) through port 80; then deploy/deploy.sh --uninstall --purge,
# and checks that nothing of the product is left running, installed or configured and that
# nginx and supervisor are back as they were (their configs, byte for byte, and whether they
# run). Installs test.sh's debug build (--no-build --profile debug).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR source=lib.sh
source deploy/lib.sh

if [[ $(id -u) -ne 0 || (${CI:-} != true && ${APIPHANT_REAL_DEPLOY_TEST:-0} != 1) ]]; then
    echo "real deploy test SKIPPED: it runs as root with CI=true only (it changes the system's nginx,"
    echo "supervisor and users; APIPHANT_REAL_DEPLOY_TEST=1 as root runs it on a disposable machine)"
    exit 0
fi
[[ -x target/debug/apiphant ]] || die "target/debug/apiphant is not built (cargo build --workspace)"

params=(--no-build --profile debug)
parse_params params_help "${params[@]}"
finish_params

# system_state: what the deploy may change and the uninstall must restore, one line each.
system_state() {
    local dirs=(/etc/nginx /etc/supervisor /etc/logrotate.d)
    [[ -d /etc/systemd/system ]] && dirs+=(/etc/systemd/system)
    find "${dirs[@]}" -printf '%p %y %m %u %l\n' | sort
    find "${dirs[@]}" -type f -print0 | sort -z | xargs -0 md5sum
    echo "nginx running: $(pid_alive /run/nginx.pid && echo yes || echo no)"
    echo "supervisord running: $(pid_alive /run/supervisord.pid && echo yes || echo no)"
    echo "user $SERVICE_USER: $(getent passwd "$SERVICE_USER" || echo none)"
    echo "group $SERVICE_USER: $(getent group "$SERVICE_USER" || echo none)"
    ls -d "$PREFIX" "$STATE_DIR" 2>&1 || true
}

before=$(system_state)
deployed=0
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ $deployed == 1 ]]; then
        echo "--- real deploy test FAILED: removing the deploy"
        deploy/deploy.sh --uninstall --purge || true
        status=1
    fi
    exit "$status"
}
trap cleanup EXIT INT TERM
ok() { echo "ok (${SECONDS}s): $*"; }

deployed=1
deploy/deploy.sh "${params[@]}" 2>&1 | tee /tmp/apiphant-real-deploy.out
grep -q 'quick test: POST http://127.0.0.1:80/api/v0/echo/read .* --> 200 {"hello":"world","server":"myproduct"}' \
    /tmp/apiphant-real-deploy.out || die "the real deploy did not end with the quick test's answer"
rm -f /tmp/apiphant-real-deploy.out
check_user=$(ps -o user= -p "$(ctl pid "$GROUP:${API_PROGRAMS[0]}")")
[[ $check_user == "$SERVICE_USER" ]] || die "${API_PROGRAMS[0]} runs as $check_user, not $SERVICE_USER"
ok "real deploy (apt, system user $SERVICE_USER, system nginx and supervisor): quick test through port 80"

python3 deploy/json-errors.py 127.0.0.1 80
ok "every malformed request shape through port 80: answered in JSON"

deploy/deploy.sh --uninstall --purge
deployed=0
if pgrep -f "$PREFIX/bin/" >/dev/null; then
    pgrep -af "$PREFIX/bin/"
    die "processes of $PREFIX still run after --uninstall --purge"
fi
after=$(system_state)
if [[ $before != "$after" ]]; then
    diff <(echo "$before") <(echo "$after") || true
    die "the system is not back as it was after --uninstall --purge (diff above: < before, > after)"
fi
ok "--uninstall --purge: nothing of $PRODUCT runs, is installed or configured; nginx, supervisor, users back as they were"
echo "real deploy test passed"
