#!/usr/bin/env bash
# Deploys an apiphant product, in one command, as root on Debian / Ubuntu:
#   sudo deploy/deploy.sh [--product NAME] [--prefix DIR] [--processes N] ...  (--help)
# apt-installs nginx, supervisor and logrotate; builds the release binaries and the
# product's plugins; creates the system user; installs under the prefix; writes the nginx
# site, the supervisor programs and the logrotate rules from the templates (nginx.conf,
# supervisor.conf, deploy/logrotate.conf); starts everything; ends with the quick test
# through nginx. Run it again after any change: it is idempotent, and restarts running
# API processes one at a time (reload.sh reloads them in place instead: SIGHUP).
# --sandbox DIR: the same, without root, apt, system user or system services (own nginx and
# supervisord under DIR, e.g. on free ports): what deploy/test.sh runs.
# --uninstall [--purge]: removes a deploy (its programs, site, rules and install).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

usage() {
    cat <<'EOF_USAGE'
Usage: deploy/deploy.sh [PARAMETERS]       (as root; --sandbox DIR: as anyone)
Deploys the product: apt (nginx, supervisor, logrotate, curl, openssl), build, system user,
install under PREFIX, nginx site + supervisor programs + logrotate rules, start, quick test.
       deploy/deploy.sh --uninstall [--purge] [--product NAME | --instance NAME | --prefix DIR]
Removes that deploy (PREFIX/log is kept unless --purge). Bad parameters: exit 2, no change.

EOF_USAGE
}

parse_params usage "$@"
finish_params

if [[ $STOP == 1 ]]; then
    sandbox_stop
    exit 0
fi

if [[ $UNINSTALL == 1 ]]; then
    [[ -n $SANDBOX || $(id -u) -eq 0 ]] || die "run as root (sudo $0 --uninstall ...)"
    if [[ -f $PREFIX/deploy.env ]]; then
        # The deploy's own parameters (its ports, user), as for reload.sh.
        purge=$PURGE
        # shellcheck source=/dev/null
        source "$PREFIX/deploy.env"
        UNINSTALL=1 PURGE=$purge
        finish_params
    fi
    uninstall
    exit 0
fi

if [[ -z $SANDBOX ]]; then
    [[ $(id -u) -eq 0 ]] || die "run as root (sudo $0), or try it without root: $0 --sandbox DIR --listen PORT"
    command -v apt-get >/dev/null || die "apt-get not found: this deploy is for Debian / Ubuntu"
    say "apt: installing nginx, supervisor, logrotate, curl"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends nginx supervisor logrotate curl openssl ca-certificates >/dev/null
else
    say "sandbox $SANDBOX: skipping apt (nginx, supervisor, logrotate, curl must be installed)"
    for tool in nginx supervisord supervisorctl curl; do
        command -v "$tool" >/dev/null || die "$tool not found (apt-get install nginx supervisor logrotate curl)"
    done
fi

if [[ $BUILT == 1 ]]; then
    say "built above, to read apiphant.toml"
elif [[ $BUILD == 1 ]]; then
    build
else
    say "skipping the build (--no-build): installing $(target_dir)"
fi

if [[ -z $SANDBOX ]]; then
    if id "$SERVICE_USER" >/dev/null 2>&1; then
        say "system user $SERVICE_USER exists"
    else
        say "creating the system user $SERVICE_USER"
        useradd --system --user-group --home-dir "$PREFIX" --no-create-home \
            --shell /usr/sbin/nologin "$SERVICE_USER"
        mark "user-$SERVICE_USER"
    fi
else
    say "sandbox: skipping the system user; the processes run as $SERVICE_USER"
fi

install_product

say "writing the nginx site, the supervisor programs and the logrotate rules"
rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT
render_all "$rendered"
mkdir -p "$(dirname "$NGINX_SITE")" "$(dirname "$NGINX_ENABLED")" "$(dirname "$SUPERVISOR_CONF")" \
    "$(dirname "$LOGROTATE_CONF")"
install -m 0644 "$rendered/nginx-site.conf" "$NGINX_SITE"
ln -sfn "$NGINX_SITE" "$NGINX_ENABLED"
install -m 0644 "$rendered/supervisor.conf" "$SUPERVISOR_CONF"
install -m 0644 "$rendered/logrotate.conf" "$LOGROTATE_CONF"
mkdir -p "$PREFIX/etc"
install -m 0644 "$rendered/prometheus-scrape.yml" "$PREFIX/etc/prometheus-scrape.yml"
echo "    $NGINX_SITE (enabled: $NGINX_ENABLED)"
echo "    $SUPERVISOR_CONF"
echo "    $LOGROTATE_CONF"
echo "    $PREFIX/etc/prometheus-scrape.yml (every API process's and the background worker's /metrics, for Prometheus)"
if [[ -n $SANDBOX ]]; then
    mkdir -p "$RUN_DIR/nginx-tmp"
    install -m 0644 "$rendered/nginx-main.conf" "$ETC/nginx/nginx.conf"
    install -m 0644 "$rendered/supervisord.conf" "$ETC/supervisord.conf"
    echo "    $ETC/nginx/nginx.conf, $ETC/supervisord.conf (the sandbox's own nginx and supervisord)"
elif [[ -L /etc/nginx/sites-enabled/default && $SERVER_NAME == _ && ${LISTEN##*:} == 80 ]]; then
    # Debian's welcome page is the default server on port 80: ours must answer instead.
    rm -f /etc/nginx/sites-enabled/default
    mark nginx-default-site
    echo "    disabled Debian's default site (sites-enabled/default) to serve any host name"
fi

# Programs already running get the new build one at a time; new ones just start.
running=0
if supervisor_up; then
    for program in "${API_PROGRAMS[@]}"; do
        program_pid "$program" >/dev/null && running=1
    done
fi
say "starting supervisor's $GROUP programs"
supervisor_apply
if [[ $running == 1 ]]; then
    roll
fi
wait_pool
say "API processes answering on 127.0.0.1:${API_PORTS[0]}..${API_PORTS[-1]}"
say "starting nginx"
nginx_apply
quick_test
say "deployed $PRODUCT: $NGINX_URL (server_name $SERVER_NAME); logs in $LOG_DIR"
