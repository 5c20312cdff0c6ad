# shellcheck shell=bash disable=SC2034
# (SC2034: the variables set here are used by the scripts that source this file.)
# Shared by deploy.sh, reload.sh, quick-test.sh, render.sh and test.sh (sourced, never run):
# the parameters and their defaults, the template renderer, the install step, the services
# (the system's nginx and supervisor, or the sandbox's own), readiness waits, the quick test.

DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$DEPLOY_DIR")

say() { printf '==> %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}
# bad_param MESSAGE: a parameter refused before anything changes on the host (exit 2).
bad_param() {
    printf 'error: %s\n' "$*" >&2
    exit 2
}

# ---------------------------------------------------------------------------- parameters
# Each has a flag and an environment variable; the flag wins. Defaults are computed by
# finish_params once the product is known.
SOURCE=${APIPHANT_SOURCE:-}
PRODUCT=${APIPHANT_PRODUCT:-}
INSTANCE=${APIPHANT_INSTANCE:-}
PREFIX=${APIPHANT_PREFIX:-}
PROCESSES=${APIPHANT_PROCESSES:-2}
FIRST_PORT=${APIPHANT_FIRST_PORT:-8001}
# Each API process's admin listener: 127.0.0.1:(its port + ADMIN_OFFSET), its --admin in
# supervisor.conf, listed in PREFIX/etc/prometheus-scrape.yml; the background worker's is
# the next one, 127.0.0.1:(FIRST_PORT + PROCESSES + ADMIN_OFFSET).
ADMIN_OFFSET=1000
LISTEN=${APIPHANT_LISTEN:-80}
SERVER_NAME=${APIPHANT_SERVER_NAME:-_}
SERVICE_USER=${APIPHANT_USER:-}
PROFILE=${APIPHANT_PROFILE:-release}
SANDBOX=${APIPHANT_SANDBOX:-}
QUICK_TEST=${APIPHANT_QUICK_TEST:-v0/echo/read}
READ_TIMEOUT=${APIPHANT_READ_TIMEOUT:-60}
RUST_LOG_LEVEL=${APIPHANT_RUST_LOG:-info,may=warn}
LOG_MAX_BYTES=${APIPHANT_LOG_MAX_BYTES:-50MB}
LOG_BACKUPS=${APIPHANT_LOG_BACKUPS:-10}
RATE_LIMIT=${APIPHANT_RATE_LIMIT:-}
TLS_CERT=${APIPHANT_TLS_CERT:-}
TLS_KEY=${APIPHANT_TLS_KEY:-}
HTTPS_LISTEN=${APIPHANT_HTTPS_LISTEN:-443}
HSTS=${APIPHANT_HSTS:-}
RATE_BURST=${APIPHANT_RATE_BURST:-}
BUILD=1
BUILT=0
STOP=0
UNINSTALL=0
PURGE=0

params_help() {
    cat <<EOF
Parameters (flag, or environment variable; default):
  --source DIR        APIPHANT_SOURCE       product source (holds apiphant.toml); this checkout
                                            ($REPO_DIR)
  --product NAME      APIPHANT_PRODUCT      product name: 'name' in SOURCE/apiphant.toml, else
                                            the folder's name (myproduct for this checkout)
  --instance NAME     APIPHANT_INSTANCE     names this deploy's supervisor group and programs,
                                            nginx site, logrotate rules and log files (two
                                            deploys of one product on a host: two names);
                                            PRODUCT
  --prefix DIR        APIPHANT_PREFIX       install prefix; /srv/INSTANCE (sandbox:
                                            DIR/srv/INSTANCE)
  --processes N       APIPHANT_PROCESSES    API processes behind nginx; 2 (>= 2 for reloads
                                            without a failed request)
  --first-port PORT   APIPHANT_FIRST_PORT   first API port (127.0.0.1:PORT ... PORT+N-1); 8001;
                                            each process's admin listener (/livez, /readyz,
                                            /metrics) is on 127.0.0.1:(its port + 1000),
                                            the background worker's on the next port
  --listen PORT       APIPHANT_LISTEN       nginx listen port (or ADDR:PORT); 80
  --server-name NAME  APIPHANT_SERVER_NAME  nginx server_name; _ (any host name)
  --user NAME         APIPHANT_USER         system user running the processes; PRODUCT
                                            (sandbox: the current user)
  --profile P         APIPHANT_PROFILE      cargo profile to build and install: release|debug
  --no-build                                install what is built, do not run cargo
  --quick-test T      APIPHANT_QUICK_TEST   target/action the quick test calls; v0/echo/read
  --read-timeout S    APIPHANT_READ_TIMEOUT nginx proxy_read_timeout, seconds; 60
  --rust-log SPEC     APIPHANT_RUST_LOG     RUST_LOG of the processes; info,may=warn
  --log-max-bytes B   APIPHANT_LOG_MAX_BYTES supervisor log rotation size; 50MB
  --log-backups N     APIPHANT_LOG_BACKUPS  rotated supervisor logs kept; 10
  --tls-cert FILE     APIPHANT_TLS_CERT     HTTPS: the certificate (PEM, the chain after it),
                                            read by nginx where it is (a renewal is an nginx
                                            reload); plain HTTP then redirects to HTTPS;
                                            off (plain HTTP)
  --tls-key FILE      APIPHANT_TLS_KEY      HTTPS: its private key (PEM, unencrypted)
  --https-listen PORT APIPHANT_HTTPS_LISTEN nginx's HTTPS port (or ADDR:PORT); 443
  --hsts SECONDS      APIPHANT_HSTS         HTTPS: send Strict-Transport-Security with this
                                            max-age (63072000: two years); off
  --rate-limit N      APIPHANT_RATE_LIMIT   API requests a second per client address (nginx
                                            limit_req; beyond: 429 in JSON, Retry-After);
                                            off (no limit)
  --rate-burst B      APIPHANT_RATE_BURST   requests a client may send at once above the
                                            rate before 429s start; N (one second's worth)
  --sandbox DIR       APIPHANT_SANDBOX      no root, no apt, no system user, no system
                                            services: nginx and supervisord of their own,
                                            configured under DIR (what the test runs)
  --stop                                    (with --sandbox) stop the sandbox's processes
  --uninstall                               remove this deploy (same --instance / --product /
                                            --prefix / --sandbox): stop its programs, remove
                                            its nginx site, supervisor programs, logrotate
                                            rules and PREFIX, keeping PREFIX/log
  --purge                                   (with --uninstall) remove PREFIX/log too
  -h, --help
EOF
}

# parse_params USAGE_FUNCTION ARGS...: sets the parameters from flags.
parse_params() {
    local usage=$1
    shift
    while [[ $# -gt 0 ]]; do
        local flag=$1
        case $flag in
        -h | --help)
            "$usage"
            params_help
            exit 0
            ;;
        --no-build) BUILD=0 ;;
        --stop) STOP=1 ;;
        --uninstall) UNINSTALL=1 ;;
        --purge) PURGE=1 ;;
        --source | --product | --instance | --prefix | --processes | --first-port | --listen | --server-name | \
            --user | --profile | --quick-test | --read-timeout | --rust-log | --log-max-bytes | \
            --log-backups | --sandbox | --rate-limit | --rate-burst | --tls-cert | --tls-key | \
            --https-listen | --hsts)
            [[ $# -ge 2 ]] || bad_param "$flag needs a value (see --help)"
            local value=$2
            shift
            case $flag in
            --source) SOURCE=$value ;;
            --product) PRODUCT=$value ;;
            --instance) INSTANCE=$value ;;
            --prefix) PREFIX=$value ;;
            --processes) PROCESSES=$value ;;
            --first-port) FIRST_PORT=$value ;;
            --listen) LISTEN=$value ;;
            --server-name) SERVER_NAME=$value ;;
            --user) SERVICE_USER=$value ;;
            --profile) PROFILE=$value ;;
            --quick-test) QUICK_TEST=$value ;;
            --read-timeout) READ_TIMEOUT=$value ;;
            --rust-log) RUST_LOG_LEVEL=$value ;;
            --log-max-bytes) LOG_MAX_BYTES=$value ;;
            --log-backups) LOG_BACKUPS=$value ;;
            --sandbox) SANDBOX=$value ;;
            --rate-limit) RATE_LIMIT=$value ;;
            --rate-burst) RATE_BURST=$value ;;
            --tls-cert) TLS_CERT=$value ;;
            --tls-key) TLS_KEY=$value ;;
            --https-listen) HTTPS_LISTEN=$value ;;
            --hsts) HSTS=$value ;;
            esac
            ;;
        *) bad_param "unknown argument '$flag' (see --help)" ;;
        esac
        shift
    done
}

# find_apiphant: APIPHANT_BIN, an apiphant binary to answer for the product (its `config`
# command): the build of --profile, else the checkout's other build, else the installed one
# (PREFIX/bin); when there is none, the build is run first (unless --no-build). Run it
# outside $(...), so that such a build counts (BUILT) and is not run twice.
APIPHANT_BIN=""
find_apiphant() {
    local targets=${CARGO_TARGET_DIR:-$REPO_DIR/target} candidate
    for candidate in "$(target_dir)/apiphant" "$targets/release/apiphant" "$targets/debug/apiphant" \
        "${PREFIX:+$PREFIX/bin/apiphant}"; do
        if [[ -n $candidate && -x $candidate ]]; then
            APIPHANT_BIN=$candidate
            return
        fi
    done
    [[ $BUILD == 1 ]] || die "no apiphant is built to read $SOURCE/apiphant.toml with (cargo build --workspace, or run without --no-build)"
    build
    APIPHANT_BIN=$(target_dir)/apiphant
}

# config_get KEY...: values of SOURCE/apiphant.toml as apiphant resolves them (defaults
# filled, ranges checked; `apiphant config SOURCE --get KEY`), one a line. The script never
# reads the TOML itself.
config_get() {
    local args=() key
    [[ -n $APIPHANT_BIN ]] || find_apiphant
    for key in "$@"; do args+=(--get "$key"); done
    "$APIPHANT_BIN" config "$SOURCE" "${args[@]}" || die "$APIPHANT_BIN refuses $SOURCE/apiphant.toml (above)"
}

# ceil NUMBER: a number of seconds rounded up to whole seconds (nginx and supervisor want
# integers).
ceil() {
    awk -v x="$1" 'BEGIN { n = int(x); if (n < x) n++; print n }'
}

# finish_params: defaults, validation, and the paths every step uses.
finish_params() {
    # Absolute, without creating it yet: a refused parameter changes nothing.
    [[ -z $SANDBOX ]] || SANDBOX=$(realpath -m "$SANDBOX")
    [[ $PURGE == 0 || $UNINSTALL == 1 ]] || bad_param "--purge goes with --uninstall (it removes PREFIX/log too)"
    [[ $UNINSTALL == 0 || $STOP == 0 ]] || bad_param "--uninstall and --stop: one or the other"
    # The source: to deploy, and for the product's name when none is given (an uninstall
    # needs no source when --product or --instance says what to remove).
    if [[ $UNINSTALL == 0 || -z $PRODUCT ]]; then
        SOURCE=$(cd "${SOURCE:-$REPO_DIR}" 2>/dev/null && pwd) || bad_param "product source '${SOURCE}' does not exist (--source)"
        [[ -f $SOURCE/apiphant.toml ]] || bad_param "'$SOURCE' holds no apiphant.toml: not a product (--source)"
    fi
    if ! [[ $PROCESSES =~ ^[0-9]+$ ]] || ((PROCESSES < 1 || PROCESSES > 64)); then
        bad_param "--processes '$PROCESSES' must be 1..64"
    fi
    if ! [[ $FIRST_PORT =~ ^[0-9]+$ ]] || ((FIRST_PORT < 1 || FIRST_PORT + PROCESSES + ADMIN_OFFSET > 65535)); then
        bad_param "--first-port '$FIRST_PORT' must leave room for $PROCESSES ports, their admin ports (+$ADMIN_OFFSET) and the worker's below 65536"
    fi
    [[ $LISTEN =~ ^([0-9.]+:|\[[0-9a-f:]+\]:)?[0-9]+$ ]] || bad_param "--listen '$LISTEN' must be PORT or ADDR:PORT"
    [[ $SERVER_NAME =~ ^[A-Za-z0-9._*~\ -]+$ ]] || bad_param "--server-name '$SERVER_NAME' has characters nginx would misread"
    [[ $PROFILE == release || $PROFILE == debug ]] || bad_param "--profile must be release or debug"
    [[ $QUICK_TEST =~ ^v[0-9]+/[A-Za-z0-9_/-]+$ ]] || bad_param "--quick-test '$QUICK_TEST' must look like v0/echo/read"
    [[ $READ_TIMEOUT =~ ^[0-9]+$ ]] || bad_param "--read-timeout must be whole seconds"
    [[ $RUST_LOG_LEVEL =~ ^[A-Za-z0-9_,=:.-]+$ ]] || bad_param "--rust-log '$RUST_LOG_LEVEL' has unexpected characters"
    [[ $LOG_MAX_BYTES =~ ^[0-9]+(KB|MB|GB)?$ ]] || bad_param "--log-max-bytes must be like 50MB"
    [[ $LOG_BACKUPS =~ ^[0-9]+$ ]] || bad_param "--log-backups must be a number"
    if [[ -n $RATE_LIMIT ]]; then
        [[ $RATE_LIMIT =~ ^[1-9][0-9]{0,5}$ ]] ||
            bad_param "--rate-limit '$RATE_LIMIT' must be a positive whole number of requests a second (1..999999); leave it out for no limit"
        RATE_BURST=${RATE_BURST:-$RATE_LIMIT}
        [[ $RATE_BURST =~ ^[0-9]{1,6}$ ]] ||
            bad_param "--rate-burst '$RATE_BURST' must be a whole number of requests (0..999999)"
    elif [[ -n $RATE_BURST ]]; then
        bad_param "--rate-burst needs --rate-limit N (the rate it bursts above)"
    fi
    [[ $UNINSTALL == 1 ]] || tls_params
    # The product's name, as apiphant resolves it: `name` in apiphant.toml, else the folder's.
    if [[ -z $PRODUCT ]]; then
        find_apiphant
        PRODUCT=$(config_get name) || exit 1
    fi
    [[ $PRODUCT =~ ^[a-z_][a-z0-9_-]{0,30}$ ]] ||
        bad_param "product name '$PRODUCT' must be lower-case letters, digits, _ and - (it names the user, programs and files); pass --product"
    INSTANCE=${INSTANCE:-$PRODUCT}
    [[ $INSTANCE =~ ^[a-z_][a-z0-9_-]{0,30}$ ]] ||
        bad_param "--instance '$INSTANCE' must be 1 to 31 lower-case letters, digits, _ and -, starting with a letter or _"
    if [[ -z $PREFIX ]]; then
        if [[ -n $SANDBOX ]]; then PREFIX=$SANDBOX/srv/$INSTANCE; else PREFIX=/srv/$INSTANCE; fi
    fi
    [[ $PREFIX =~ ^/[A-Za-z0-9._/-]+$ ]] || bad_param "--prefix '$PREFIX' must be an absolute path of letters, digits, . _ - /"
    if [[ -z $SERVICE_USER ]]; then
        if [[ -n $SANDBOX ]]; then SERVICE_USER=$(id -un); else SERVICE_USER=$PRODUCT; fi
    fi
    [[ $SERVICE_USER =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || bad_param "--user '$SERVICE_USER' is not a valid user name"

    LOG_DIR=$PREFIX/log
    GROUP=$INSTANCE
    BACKGROUND_PROGRAM=$INSTANCE-background
    API_PORTS=()
    ADMIN_PORTS=()
    API_PROGRAMS=()
    local port
    for ((port = FIRST_PORT; port < FIRST_PORT + PROCESSES; port++)); do
        API_PORTS+=("$port")
        ADMIN_PORTS+=("$((port + ADMIN_OFFSET))")
        API_PROGRAMS+=("$INSTANCE-api-$port")
    done
    BACKGROUND_ADMIN_PORT=$((FIRST_PORT + PROCESSES + ADMIN_OFFSET))
    if [[ -n $SANDBOX ]]; then
        ETC=$SANDBOX/etc
        RUN_DIR=$SANDBOX/run
        NGINX_PID=$RUN_DIR/nginx.pid
        SUPERVISOR_PID=$RUN_DIR/supervisord.pid
        SUPERVISORCTL=(supervisorctl -c "$ETC/supervisord.conf")
    else
        ETC=/etc
        RUN_DIR=/run
        NGINX_PID=/run/nginx.pid
        SUPERVISOR_PID=/run/supervisord.pid
        SUPERVISORCTL=(supervisorctl)
    fi
    NGINX_SITE=$ETC/nginx/sites-available/$INSTANCE.conf
    NGINX_ENABLED=$ETC/nginx/sites-enabled/$INSTANCE.conf
    SUPERVISOR_CONF=$ETC/supervisor/conf.d/$INSTANCE.conf
    LOGROTATE_CONF=$ETC/logrotate.d/apiphant-$INSTANCE
    # What a deploy changed on the host besides its own files (a service it started, Debian's
    # default site it disabled, the user it created), for the last --uninstall to undo.
    STATE_DIR=${SANDBOX:-}/var/lib/apiphant
    # The line naming the deploy in each config it writes (the templates' first lines).
    INSTANCE_MARK="apiphant-instance: $INSTANCE $PREFIX"
    # Where the quick test reaches nginx: the listen address, or loopback for a bare port
    # or a wildcard address.
    local listen_host=127.0.0.1
    if [[ $LISTEN == *:* ]]; then
        listen_host=${LISTEN%:*}
        [[ $listen_host == 0.0.0.0 || $listen_host == "[::]" ]] && listen_host=127.0.0.1
    fi
    NGINX_URL=http://$listen_host:${LISTEN##*:}
    if [[ -n $TLS_CERT ]]; then
        listen_host=127.0.0.1
        if [[ $HTTPS_LISTEN == *:* ]]; then
            listen_host=${HTTPS_LISTEN%:*}
            [[ $listen_host == 0.0.0.0 || $listen_host == "[::]" ]] && listen_host=127.0.0.1
        fi
        NGINX_URL=https://$listen_host:${HTTPS_LISTEN##*:}
    fi
}

# absolute FILE: the file's absolute path (its folder resolved, the name kept: a symlink
# such as certbot's live/ files stays a symlink, read anew at each nginx reload).
absolute() {
    local dir
    dir=$(cd "$(dirname "$1")" 2>/dev/null && pwd) || return 1
    echo "$dir/$(basename "$1")"
}

# tls_params: --tls-cert / --tls-key / --https-listen / --hsts checked before anything
# changes: both files readable PEM, the key unencrypted and the certificate's, the
# certificate not expired.
tls_params() {
    if [[ -z $TLS_CERT && -z $TLS_KEY ]]; then
        [[ -z $HSTS ]] || bad_param "--hsts needs HTTPS: pass --tls-cert FILE --tls-key FILE too"
        return 0
    fi
    [[ -n $TLS_CERT ]] || bad_param "--tls-key needs --tls-cert FILE (the certificate of that key)"
    [[ -n $TLS_KEY ]] || bad_param "--tls-cert needs --tls-key FILE (the certificate's private key)"
    command -v openssl >/dev/null || bad_param "--tls-cert: openssl is needed to check the certificate (apt-get install openssl)"
    local flag file
    for flag in --tls-cert --tls-key; do
        if [[ $flag == --tls-cert ]]; then file=$TLS_CERT; else file=$TLS_KEY; fi
        [[ -f $file && -r $file ]] || bad_param "$flag '$file' is not a readable file: pass the path of the PEM file"
        file=$(absolute "$file") || bad_param "$flag '$file': its folder cannot be entered"
        [[ $file =~ ^/[A-Za-z0-9._/@+-]+$ ]] ||
            bad_param "$flag '$file' has characters nginx would misread: use a path of letters, digits, . _ / @ + -"
        if [[ $flag == --tls-cert ]]; then TLS_CERT=$file; else TLS_KEY=$file; fi
    done
    openssl x509 -in "$TLS_CERT" -noout 2>/dev/null ||
        bad_param "--tls-cert '$TLS_CERT' is not a PEM certificate (-----BEGIN CERTIFICATE-----)"
    openssl pkey -in "$TLS_KEY" -passin pass: -noout 2>/dev/null ||
        bad_param "--tls-key '$TLS_KEY' is not an unencrypted PEM private key (nginx cannot ask for a passphrase: openssl pkey -in KEY -out PLAIN)"
    [[ $(openssl x509 -in "$TLS_CERT" -noout -pubkey 2>/dev/null) == "$(openssl pkey -in "$TLS_KEY" -passin pass: -pubout 2>/dev/null)" ]] ||
        bad_param "--tls-cert '$TLS_CERT' does not match --tls-key '$TLS_KEY' (the certificate is for another key): pass the key the certificate was made for"
    openssl x509 -in "$TLS_CERT" -noout -checkend 0 >/dev/null ||
        bad_param "--tls-cert '$TLS_CERT' expired ($(openssl x509 -in "$TLS_CERT" -noout -enddate)): renew it"
    [[ $HTTPS_LISTEN =~ ^([0-9.]+:|\[[0-9a-f:]+\]:)?[0-9]+$ ]] || bad_param "--https-listen '$HTTPS_LISTEN' must be PORT or ADDR:PORT"
    [[ ${HTTPS_LISTEN##*:} != "${LISTEN##*:}" ]] || bad_param "--https-listen and --listen are both port ${LISTEN##*:}: give HTTPS its own port (443)"
    if [[ -n $HSTS ]]; then
        [[ $HSTS =~ ^[1-9][0-9]{0,8}$ ]] || bad_param "--hsts '$HSTS' must be a positive whole number of seconds (63072000: two years)"
    fi
}

# load_deployed: reload.sh and quick-test.sh take the parameters of the last deploy from
# PREFIX/deploy.env (written by deploy.sh), so they need only --prefix, --product or
# --sandbox to find it.
load_deployed() {
    local build=$BUILD
    BUILD=0 # finding the deploy never builds (finish_params may ask apiphant for the name)
    finish_params
    BUILD=$build
    local env_file=$PREFIX/deploy.env
    [[ -f $env_file ]] || die "$env_file not found: deploy first (deploy/deploy.sh), or pass the --prefix / --product / --sandbox of the deploy"
    # shellcheck source=/dev/null
    source "$env_file"
    BUILD=$build
    finish_params
}

write_deployed() {
    local key
    {
        echo "# Parameters of the last deploy/deploy.sh run; read by reload.sh and quick-test.sh."
        for key in SOURCE PRODUCT INSTANCE PREFIX TLS_CERT TLS_KEY HTTPS_LISTEN HSTS PROCESSES FIRST_PORT LISTEN SERVER_NAME SERVICE_USER \
            PROFILE SANDBOX QUICK_TEST READ_TIMEOUT RUST_LOG_LEVEL LOG_MAX_BYTES LOG_BACKUPS \
            RATE_LIMIT RATE_BURST; do
            printf '%s=%q\n' "$key" "${!key}"
        done
    } >"$PREFIX/.deploy.env.new"
    mv -f "$PREFIX/.deploy.env.new" "$PREFIX/deploy.env"
}

# ------------------------------------------------------------------------------ renderer
# The templates hold @@NAME@@ placeholders (upper case, digits; R_NAME in the environment), two
# kinds of block, each between a line holding its opening marker and one holding its end:
# - @@EACH_LIST@@ ... @@END_EACH_LIST@@: written once per item of R_EACH_LIST (one item a
#   line, tab-separated NAME=VALUE fields, e.g. PORT=8001), with @@NAME@@ the item's value;
# - @@IF_NAME@@ ... @@END_IF_NAME@@ (and @@UNLESS_NAME@@ ... @@END_UNLESS_NAME@@): kept only
#   when R_NAME is set and not 0 (unless: the opposite); they may nest.
# An unknown placeholder, list or condition is an error.

# The statuses nginx itself may answer (never the API processes'), sent in the contract's
# shape by the site's named locations (nginx.conf, @@EACH_ERROR@@): nginx's code, the
# status sent, and the status line as the SDK spells it (sdk/src/error.rs). 494 is nginx's
# "request header too large" (sent as 431, as the API server does), 497 plain HTTP sent
# to an HTTPS port. 429 (the rate limit) is answered by its own location (Retry-After).
NGINX_ERRORS=(
    "400 400 Bad Request"
    "408 408 Request Timeout"
    "411 411 Length Required"
    "413 413 Content Too Large"
    "414 414 URI Too Long"
    "494 431 Request Header Fields Too Large"
    "497 400 Bad Request"
    "500 500 Internal Server Error"
    "501 501 Not Implemented"
    "502 502 Bad Gateway"
    "503 503 Service Unavailable"
    "504 504 Gateway Timeout"
    "505 505 HTTP Version Not Supported"
)

# render_vars: the R_* values the templates read.
render_vars() {
    local grace idle programs values config
    [[ -n $APIPHANT_BIN ]] || find_apiphant
    values=$(config_get server.shutdown_grace_secs server.idle_timeout_secs server.max_body_bytes \
        server.header_timeout_secs server.body_timeout_secs background.shutdown_grace_secs) || exit 1
    mapfile -t config <<<"$values"
    ((${#config[@]} == 6)) || die "apiphant config printed ${#config[@]} values for 6 keys: $values"
    grace=$(ceil "${config[0]}")
    idle=$(ceil "${config[1]}")
    programs=$(
        IFS=,
        echo "${API_PROGRAMS[*]},$BACKGROUND_PROGRAM"
    )
    export R_PRODUCT=$PRODUCT R_INSTANCE=$INSTANCE R_PREFIX=$PREFIX R_USER=$SERVICE_USER R_LISTEN=$LISTEN \
        R_SERVER_NAME=$SERVER_NAME R_PROCESSES=$PROCESSES R_LOG_DIR=$LOG_DIR \
        R_NGINX_LOG_DIR=$LOG_DIR R_NGINX_PID=$NGINX_PID R_READ_TIMEOUT=$READ_TIMEOUT \
        R_RUST_LOG=$RUST_LOG_LEVEL R_LOG_MAX_BYTES=$LOG_MAX_BYTES R_LOG_BACKUPS=$LOG_BACKUPS \
        R_PROGRAMS=$programs R_GRACE=$grace R_STOP_WAIT=$((grace + 5)) R_IDLE_TIMEOUT=$idle \
        R_SANDBOX=$SANDBOX
    # nginx closes idle upstream connections before the server does.
    R_UPSTREAM_KEEPALIVE=$((idle * 4 / 5))
    ((R_UPSTREAM_KEEPALIVE >= 1)) || R_UPSTREAM_KEEPALIVE=1
    R_MAX_BODY_BYTES=${config[2]}
    R_HEADER_TIMEOUT=$(ceil "${config[3]}")
    R_BODY_TIMEOUT=$(ceil "${config[4]}")
    R_BACKGROUND_GRACE=$(ceil "${config[5]}")
    R_BACKGROUND_STOP_WAIT=$((R_BACKGROUND_GRACE + 5))
    R_PLUGIN_ARGS=""
    [[ $PROFILE == debug ]] && R_PLUGIN_ARGS=--debug-plugins
    R_NGINX_MIME_TYPES=/etc/nginx/mime.types
    R_RATE_LIMIT=$RATE_LIMIT
    R_TLS=0
    [[ -n $TLS_CERT ]] && R_TLS=1
    R_TLS_CERT=$TLS_CERT R_TLS_KEY=$TLS_KEY R_HTTPS_LISTEN=$HTTPS_LISTEN R_HSTS=$HSTS
    R_HTTPS_PORT_SUFFIX=":${HTTPS_LISTEN##*:}"
    [[ ${HTTPS_LISTEN##*:} == 443 ]] && R_HTTPS_PORT_SUFFIX=""
    # HTTP/2: `http2 on;` from nginx 1.25.1, a parameter of `listen` before.
    local nginx_version
    nginx_version=$(nginx -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p')
    if [[ $(printf '%s\n' 1.25.1 "${nginx_version:-0}" | sort -V | head -n 1) == 1.25.1 ]]; then
        R_HTTP2_LISTEN="" R_HTTP2_DIRECTIVE="http2 on;"
    else
        R_HTTP2_LISTEN=" http2" R_HTTP2_DIRECTIVE="# HTTP/2: the listen parameter above (nginx $nginx_version)"
    fi
    R_RATE_BURST=$RATE_BURST
    local i
    R_BACKGROUND_ADMIN_PORT=$BACKGROUND_ADMIN_PORT
    R_EACH_PORT=$(for i in "${!API_PORTS[@]}"; do printf 'PORT=%s\tADMIN_PORT=%s\n' "${API_PORTS[$i]}" "${ADMIN_PORTS[$i]}"; done)
    R_EACH_ERROR=$(printf '%s\n' "${NGINX_ERRORS[@]}" | awk '{ printf "CODE=%s\tSTATUS=%s\tREASON=%s", $1, $2, $3; for (i = 4; i <= NF; i++) printf " %s", $i; print "" }')
    # Sandbox: nginx's workers run as the master's user, unless the master is root (then
    # nginx would switch them to nobody, who cannot read a private sandbox).
    R_NGINX_USER="# not root: nginx's workers run as $(id -un)"
    [[ $(id -u) -eq 0 ]] && R_NGINX_USER="user $SERVICE_USER;"
    export R_NGINX_USER R_UPSTREAM_KEEPALIVE R_MAX_BODY_BYTES R_HEADER_TIMEOUT R_BODY_TIMEOUT R_PLUGIN_ARGS \
        R_NGINX_MIME_TYPES R_BACKGROUND_GRACE R_BACKGROUND_STOP_WAIT R_BACKGROUND_ADMIN_PORT R_EACH_PORT R_EACH_ERROR \
        R_RATE_LIMIT R_RATE_BURST R_TLS R_TLS_CERT R_TLS_KEY R_HTTPS_LISTEN R_HSTS R_HTTPS_PORT_SUFFIX \
        R_HTTP2_LISTEN R_HTTP2_DIRECTIVE
}

# render TEMPLATE: the template with this deploy's values, on stdout.
render() {
    awk '
        function fail(message) {
            printf "%s:%d: %s\n", FILENAME, FNR, message > "/dev/stderr"
            failed = 1
            exit 1
        }
        # marker(KIND): the NAME of the marker @@KIND_NAME@@ on this line.
        function marker(kind) {
            match($0, "@@" kind "_[A-Z_]+@@")
            return substr($0, RSTART + length(kind) + 3, RLENGTH - length(kind) - 5)
        }
        function subst(line,    out, rest, name, value, i, j) {
            out = ""
            while ((i = index(line, "@@")) > 0) {
                rest = substr(line, i + 2)
                j = index(rest, "@@")
                if (j == 0) break
                name = substr(rest, 1, j - 1)
                if (name !~ /^[A-Z][A-Z0-9_]*$/) {
                    out = out substr(line, 1, i + 1)
                    line = rest
                    continue
                }
                if (name in item) {
                    value = item[name]
                } else if (("R_" name) in ENVIRON) {
                    value = ENVIRON["R_" name]
                } else {
                    fail("unknown placeholder @@" name "@@")
                }
                out = out substr(line, 1, i - 1) value
                line = substr(rest, j + 2)
            }
            return out line
        }
        /@@END_(IF|UNLESS)_[A-Z_]+@@/ {
            if (depth == 0) fail("an end marker without its opening marker")
            depth--
            if (skip > 0) skip--
            next
        }
        /@@(IF|UNLESS)_[A-Z_]+@@/ {
            depth++
            if (skip > 0) { skip++; next }
            unless = ($0 ~ /@@UNLESS_/)
            name = marker(unless ? "UNLESS" : "IF")
            if (!(("R_" name) in ENVIRON)) fail("unknown condition " name)
            keep = (ENVIRON["R_" name] != "" && ENVIRON["R_" name] != "0")
            if (unless) keep = !keep
            if (!keep) skip = 1
            next
        }
        skip > 0 { next }
        /@@END_EACH_[A-Z_]+@@/ {
            if (list == "") fail("an end marker without its opening marker")
            if (!(("R_EACH_" list) in ENVIRON)) fail("unknown list " list)
            rows = split(ENVIRON["R_EACH_" list], row, "\n")
            for (r = 1; r <= rows; r++) {
                if (row[r] == "") continue
                fields = split(row[r], field, "\t")
                for (f = 1; f <= fields; f++) {
                    eq = index(field[f], "=")
                    item[substr(field[f], 1, eq - 1)] = substr(field[f], eq + 1)
                }
                for (k = 1; k <= n; k++) print subst(block[k])
                split("", item)
            }
            list = ""
            next
        }
        /@@EACH_[A-Z_]+@@/ { list = marker("EACH"); n = 0; next }
        list != "" { block[++n] = $0; next }
        { print subst($0) }
        END {
            if (!failed && list != "") fail("@@EACH_" list "@@ block not closed")
            if (!failed && depth != 0) fail("an @@IF_...@@ / @@UNLESS_...@@ block not closed")
        }
    ' "$1"
}

# render_all DIR: every config of this deploy into DIR (nginx-site.conf, supervisor.conf,
# logrotate.conf, prometheus-scrape.yml; in a sandbox also nginx-main.conf and supervisord.conf).
render_all() {
    local out=$1
    mkdir -p "$out"
    render_vars
    render "$REPO_DIR/nginx.conf" >"$out/nginx-site.conf"
    render "$REPO_DIR/supervisor.conf" >"$out/supervisor.conf"
    render "$DEPLOY_DIR/logrotate.conf" >"$out/logrotate.conf"
    render "$DEPLOY_DIR/prometheus-scrape.yml" >"$out/prometheus-scrape.yml"
    if [[ -n $SANDBOX ]]; then
        render "$DEPLOY_DIR/sandbox/nginx-main.conf" >"$out/nginx-main.conf"
        render "$DEPLOY_DIR/sandbox/supervisord.conf" >"$out/supervisord.conf"
    fi
}

# --------------------------------------------------------------------------------- build
# as_builder CMD...: runs a build command as the checkout's owner when run as root (a
# sudo deploy must not leave root-owned files in target/), with ~/.cargo/bin on PATH.
as_builder() {
    local owner home
    owner=$(stat -c %U "$REPO_DIR")
    if [[ $(id -u) -eq 0 && $owner != root && $owner != UNKNOWN ]]; then
        home=$(getent passwd "$owner" | cut -d: -f6)
        runuser -u "$owner" -- env HOME="$home" PATH="$home/.cargo/bin:$PATH" "$@"
    else
        PATH="$HOME/.cargo/bin:$PATH" "$@"
    fi
}

target_dir() {
    echo "${CARGO_TARGET_DIR:-$REPO_DIR/target}/$PROFILE"
}

# build: the server, the worker and the product's plugins (cargo build --workspace).
build() {
    local profile_flag=()
    [[ $PROFILE == release ]] && profile_flag=(--release)
    say "building the binaries and plugins: cargo build ${profile_flag[*]} --workspace (in $REPO_DIR)"
    (cd "$REPO_DIR" && as_builder cargo build "${profile_flag[@]}" --workspace) ||
        die "the build failed (see cargo's output above); a Rust toolchain 1.80+ must be installed for $(stat -c %U "$REPO_DIR") (https://rustup.rs)"
    BUILT=1
}

# plugin_files: the product's plugin files, one a line, as the server itself finds them
# (apiphant plugins SOURCE: the cdylib crates under SOURCE/plugins/, built first).
plugin_files() {
    local args=(plugins "$SOURCE")
    [[ $PROFILE == debug ]] && args+=(--debug-plugins)
    [[ $BUILD == 1 ]] || args+=(--no-build)
    as_builder "$(target_dir)/apiphant" "${args[@]}"
}

# ------------------------------------------------------------------------------- install
# install_file SRC DEST MODE: atomically (a copy beside, then a rename): a running process
# keeps its old file, and a loaded plugin is never overwritten in place (that crashes it).
install_file() {
    local dest_tmp
    dest_tmp=$(dirname "$2")/.$(basename "$2").new
    install -m "$3" "$1" "$dest_tmp"
    mv -f "$dest_tmp" "$2"
}

# install_product: binaries, plugins, apiphant.toml and public/ under PREFIX.
install_product() {
    local bin_dir files file name
    bin_dir=$(target_dir)
    [[ -x $bin_dir/apiphant ]] || die "$bin_dir/apiphant is not built (run without --no-build)"
    say "installing $PRODUCT ($INSTANCE) under $PREFIX"
    mkdir -p "$PREFIX/bin" "$PREFIX/plugins" "$PREFIX/public" "$LOG_DIR"
    install_file "$bin_dir/apiphant" "$PREFIX/bin/apiphant" 0755
    if [[ -x $bin_dir/apiphant-background ]]; then
        install_file "$bin_dir/apiphant-background" "$PREFIX/bin/apiphant-background" 0755
    else
        warn "$bin_dir/apiphant-background is not built: the $BACKGROUND_PROGRAM program will not start"
    fi
    files=$(plugin_files) || die "cannot list the plugins of $SOURCE"
    [[ -n $files ]] || die "no plugins found in $SOURCE"
    local wanted=" "
    while IFS= read -r file; do
        [[ -f $file ]] || die "plugin $file is not built"
        name=$(basename "$file")
        install_file "$file" "$PREFIX/plugins/$name" 0644
        wanted+="$name "
        echo "    plugins/$name"
    done <<<"$files"
    for file in "$PREFIX"/plugins/*.so; do
        name=$(basename "$file")
        if [[ $wanted != *" $name "* ]]; then
            echo "    plugins/$name removed (no longer in the product)"
            rm -f "$file"
        fi
    done
    install_file "$SOURCE/apiphant.toml" "$PREFIX/apiphant.toml" 0644
    if [[ -d $SOURCE/public ]]; then
        rm -rf "$PREFIX/.public.new" "$PREFIX/.public.old"
        cp -R "$SOURCE/public" "$PREFIX/.public.new"
        chmod -R u=rwX,go=rX "$PREFIX/.public.new"
        mv "$PREFIX/public" "$PREFIX/.public.old"
        mv "$PREFIX/.public.new" "$PREFIX/public"
        rm -rf "$PREFIX/.public.old"
    fi
    # Nothing under PREFIX is writable by the service user (supervisord, root, writes the
    # program logs, nginx's master, root, its own) but PREFIX/run, the background worker's
    # lock folder (its default lock file; only that user may write there).
    mkdir -p "$PREFIX/run"
    if [[ -z $SANDBOX ]]; then
        chown -R root:root "$PREFIX"
        chmod 0755 "$PREFIX" "$PREFIX/bin" "$PREFIX/plugins" "$PREFIX/public" "$LOG_DIR"
        chown "$SERVICE_USER" "$PREFIX/run"
    fi
    chmod 0700 "$PREFIX/run"
    write_deployed
}

# ----------------------------------------------------------------------------- services
ctl() {
    "${SUPERVISORCTL[@]}" "$@"
}

pid_alive() {
    [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

# wait_until SECONDS WHAT CMD...: polls CMD every 0.1 s until it succeeds; fails after SECONDS.
wait_until() {
    local seconds=$1 what=$2
    shift 2
    local tries=$((seconds * 10))
    while ((tries-- > 0)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "timed out after ${seconds}s waiting for $what"
}

# answers PORT: the API process on PORT answers HTTP (any apiphant answer: 404 is fine).
answers() {
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST "http://127.0.0.1:$1/api/") || return 1
    [[ $code =~ ^[1-4][0-9][0-9]$ ]]
}

# program_pid PROGRAM: its PID while RUNNING, else fails.
program_pid() {
    local pid
    pid=$(ctl pid "$GROUP:$1" 2>/dev/null) || true
    [[ $pid =~ ^[1-9][0-9]*$ ]] || return 1
    echo "$pid"
}

# mark WHAT: records that a deploy changed WHAT on the host (STATE_DIR/WHAT), for the last
# --uninstall to undo: started-nginx, started-supervisor (a service that was not running),
# enabled-nginx, enabled-supervisor (systemd), nginx-default-site (Debian's, disabled),
# user-NAME (created).
mark() {
    mkdir -p "$STATE_DIR"
    : >"$STATE_DIR/$1"
}
marked() { [[ -e $STATE_DIR/$1 ]]; }
unmark() {
    rm -f "$STATE_DIR/$1"
    rmdir "$STATE_DIR" 2>/dev/null || true
}

systemd() { [[ -d /run/systemd/system ]]; }

service_running() { # real deploy only: NAME
    if systemd; then systemctl is-active --quiet "$1"; else service "$1" status >/dev/null 2>&1; fi
}

service_start_or_reload() { # real deploy only: NAME ACTION(reload|restart)
    if systemd && ! systemctl is-enabled --quiet "$1" 2>/dev/null; then
        systemctl enable "$1" >/dev/null 2>&1 && mark "enabled-$1"
    fi
    if service_running "$1"; then
        if systemd; then systemctl "$2" "$1"; else service "$1" "$2"; fi
    else
        if systemd; then systemctl start "$1"; else service "$1" start; fi
        mark "started-$1"
    fi
}

service_stop() { # real deploy only: NAME
    if systemd; then systemctl stop "$1"; else service "$1" stop >/dev/null; fi
}

# nginx_apply: check the configuration, then start nginx or make it reload.
nginx_apply() {
    if [[ -n $SANDBOX ]]; then
        local args=(-p "$RUN_DIR/" -c "$ETC/nginx/nginx.conf")
        # -e (nginx 1.19.5+): the start-up error log, before the configuration is read.
        nginx -h 2>&1 | grep -q -- ' -e ' && args+=(-e "$RUN_DIR/nginx-main-error.log")
        mkdir -p "$RUN_DIR/nginx-tmp"
        nginx -t -q "${args[@]}" || die "nginx refuses the configuration (above)"
        if pid_alive "$NGINX_PID"; then
            kill -HUP "$(cat "$NGINX_PID")"
        else
            nginx "${args[@]}"
            wait_until 10 "nginx's pid file $NGINX_PID" pid_alive "$NGINX_PID"
            mark started-nginx
        fi
    else
        nginx -t -q || die "nginx refuses the configuration (above)"
        service_start_or_reload nginx reload
    fi
}

supervisor_up() {
    ctl pid >/dev/null 2>&1
}

# supervisor_apply: start supervisord if needed, then load the product's programs
# (reread + update: new programs start, changed ones restart, removed ones stop).
supervisor_apply() {
    if ! supervisor_up; then
        if [[ -n $SANDBOX ]]; then
            supervisord -c "$ETC/supervisord.conf"
            mark started-supervisor
        else
            service_start_or_reload supervisor restart
        fi
        wait_until 20 "supervisord to answer supervisorctl" supervisor_up
    fi
    ctl reread >/dev/null
    ctl update "$GROUP" >/dev/null
    ctl start "$GROUP:*" >/dev/null 2>&1 || true
}

# wait_pool: every API process answering, and supervisor's (not a stray process's).
wait_pool() {
    local i
    for i in "${!API_PORTS[@]}"; do
        wait_until 30 "${API_PROGRAMS[$i]} to answer on 127.0.0.1:${API_PORTS[$i]}" answers "${API_PORTS[$i]}"
        program_pid "${API_PROGRAMS[$i]}" >/dev/null ||
            die "127.0.0.1:${API_PORTS[$i]} answers, but supervisor's ${API_PROGRAMS[$i]} does not run: is the port taken? ($(ctl status "$GROUP:${API_PROGRAMS[$i]}" || true))"
    done
}

# roll: restart the API processes one at a time, each answering again before the next
# (nginx sends to the others meanwhile), then the background worker.
roll() {
    local i old new
    ((PROCESSES >= 2)) || warn "one API process: requests fail while it restarts (--processes 2 or more avoids it)"
    for i in "${!API_PORTS[@]}"; do
        old=$(program_pid "${API_PROGRAMS[$i]}") || old="-"
        # restart: SIGTERM, wait for the exit (stopwaitsecs), start, wait for RUNNING.
        ctl restart "$GROUP:${API_PROGRAMS[$i]}" >/dev/null || die "supervisorctl restart ${API_PROGRAMS[$i]} failed"
        wait_until 30 "${API_PROGRAMS[$i]} to answer on 127.0.0.1:${API_PORTS[$i]}" answers "${API_PORTS[$i]}"
        new=$(program_pid "${API_PROGRAMS[$i]}") || die "${API_PROGRAMS[$i]} does not run after its restart"
        say "restarted ${API_PROGRAMS[$i]} (pid $old -> $new), answering on 127.0.0.1:${API_PORTS[$i]}"
    done
    restart_worker
}

# hangup: SIGHUP to each API process, one at a time: it reloads its plugins and
# apiphant.toml in the running process (docs/reload.md: the listener stays open, requests
# already running finish on the old code, no request fails). Waits for its log to say
# "reloaded" (its new generation serves) or "reload failed" (the old one keeps serving:
# then stops here with that line). The same PID before and after.
hangup() {
    local i program pid log lines failed
    for i in "${!API_PORTS[@]}"; do
        program=${API_PROGRAMS[$i]}
        pid=$(program_pid "$program") || die "$program does not run (deploy first: deploy/deploy.sh)"
        log=$LOG_DIR/$program.log
        lines=$(wc -l <"$log" 2>/dev/null) || lines=0
        kill -HUP "$pid" || die "cannot send SIGHUP to $program (pid $pid)"
        wait_until 600 "$program to reload (its log: $log)" reload_said "$log" "$lines"
        failed=$(tail -n +"$((lines + 1))" "$log" | grep -m1 "reload failed" || true)
        [[ -z $failed ]] || die "$program did not reload (the running code keeps serving): $failed"
        say "reloaded $program in place (pid $pid), answering on 127.0.0.1:${API_PORTS[$i]}"
    done
}

# reload_said LOG LINES: LOG has a "reloaded: generation" or "reload failed" line after
# its first LINES lines.
reload_said() {
    tail -n +"$(($2 + 1))" "$1" | grep -q -e "reloaded: generation" -e "reload failed"
}

# restart_worker: restarts the background worker (it has no live reload).
restart_worker() {
    if [[ -x $PREFIX/bin/apiphant-background ]]; then
        ctl restart "$GROUP:$BACKGROUND_PROGRAM" >/dev/null || die "supervisorctl restart $BACKGROUND_PROGRAM failed"
        say "restarted $BACKGROUND_PROGRAM (pid $(program_pid "$BACKGROUND_PROGRAM" || echo "not running"))"
    else
        warn "$PREFIX/bin/apiphant-background is not installed: $BACKGROUND_PROGRAM not restarted"
    fi
}

# quick_test: the quick test through nginx; prints the answer, fails unless 200.
quick_test() {
    local url=$NGINX_URL/api/$QUICK_TEST body code
    local host=()
    [[ $SERVER_NAME == _ ]] || host=(-H "Host: ${SERVER_NAME%% *}")
    # HTTPS: the certificate was checked before the deploy (its key, its dates); whether it
    # names the host is for clients to check.
    [[ -z $TLS_CERT ]] || host+=(--insecure)
    body=$(mktemp)
    code=$(curl -sS -o "$body" -w '%{http_code}' --max-time 10 "${host[@]}" -X POST "$url" \
        -d '{"hello": "world"}') || code=000
    say "quick test: POST $url {\"hello\": \"world\"} --> $code $(cat "$body")"
    rm -f "$body"
    [[ $code == 200 ]] || die "the quick test through nginx failed"
}

# stop_pidfile PIDFILE: SIGTERM to the process it names, SIGKILL after 30 s.
stop_pidfile() {
    local pid tries
    pid_alive "$1" || return 0
    pid=$(cat "$1")
    kill -TERM "$pid" 2>/dev/null || true
    for ((tries = 0; tries < 300; tries++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    say "stopped $(basename "$1" .pid) (pid $pid)"
}

# sandbox_stop: stop the sandbox's supervisord (it stops the programs) and nginx, by PID.
sandbox_stop() {
    [[ -n $SANDBOX ]] || die "--stop is for a sandbox only (stop a real deploy with systemctl / supervisorctl)"
    local pids=() pid
    if supervisor_up; then
        mapfile -t pids < <(ctl pid all 2>/dev/null | grep -E '^[1-9][0-9]*$' || true)
    fi
    stop_pidfile "$SUPERVISOR_PID"
    stop_pidfile "$NGINX_PID"
    for pid in "${pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
            say "killed left-over program process $pid"
        fi
    done
}

# --------------------------------------------------------------------------- uninstall
# other_deploys: the configs of other apiphant deploys on this host (their instance lines).
other_deploys() {
    grep -lE '^[#;] apiphant-instance: ' "$ETC"/supervisor/conf.d/*.conf "$ETC"/nginx/sites-enabled/* \
        "$ETC"/logrotate.d/apiphant-* 2>/dev/null || true
}

# uninstall_check: refuses (exit 2) an uninstall of nothing, or of files that name another
# deploy, before anything is changed.
uninstall_check() {
    local found=0 file
    for file in "$SUPERVISOR_CONF" "$NGINX_SITE" "$NGINX_ENABLED" "$LOGROTATE_CONF" "$PREFIX"; do
        [[ -e $file || -L $file ]] && found=1
    done
    ((found)) || bad_param "--uninstall: nothing of instance '$INSTANCE' is deployed here (no $SUPERVISOR_CONF, $NGINX_SITE, $LOGROTATE_CONF or $PREFIX): pass the --instance / --product / --prefix${SANDBOX:+ / --sandbox} it was deployed with"
    for file in "$SUPERVISOR_CONF" "$NGINX_SITE" "$LOGROTATE_CONF"; do
        [[ ! -e $file ]] || grep -qxE "[#;] $INSTANCE_MARK" "$file" ||
            bad_param "--uninstall: $file does not name this deploy ('$INSTANCE_MARK'): pass the --instance and --prefix it was deployed with, or remove it by hand"
    done
    if [[ -L $NGINX_ENABLED && $(readlink "$NGINX_ENABLED") != "$NGINX_SITE" ]]; then
        bad_param "--uninstall: $NGINX_ENABLED points elsewhere than $NGINX_SITE: remove it by hand"
    fi
    if [[ -d $PREFIX && ! -f $PREFIX/deploy.env ]] && find "$PREFIX" -mindepth 1 -maxdepth 1 ! -name log | grep -q .; then
        bad_param "--uninstall: $PREFIX holds no deploy.env: not a deploy's prefix (pass the --prefix it was deployed with)"
    fi
}

# uninstall: stops this deploy's programs (gracefully), removes its supervisor programs,
# nginx site and logrotate rules, reloads supervisor and nginx, removes PREFIX but its log/
# (all of it with --purge); the last deploy on the host also undoes what deploys changed
# (services they started, Debian's default site, the user they created). Idempotent: an
# interrupted uninstall is finished by running it again.
uninstall() {
    local pids=() program pid file
    uninstall_check
    say "uninstalling $INSTANCE ($PRODUCT under $PREFIX)"
    if supervisor_up; then
        for program in "${API_PROGRAMS[@]}" "$BACKGROUND_PROGRAM"; do
            pid=$(program_pid "$program") && pids+=("$pid")
        done
        # SIGTERM: the graceful shutdown, supervisor waits stopwaitsecs.
        ctl stop "$GROUP:*" >/dev/null 2>&1 || true
    fi
    rm -f "$SUPERVISOR_CONF"
    if supervisor_up; then
        ctl reread >/dev/null
        ctl remove "$GROUP" >/dev/null 2>&1 || true
    fi
    for pid in "${pids[@]}"; do
        ! kill -0 "$pid" 2>/dev/null || die "process $pid of $GROUP still runs after supervisorctl stop"
    done
    echo "    supervisor: $GROUP stopped (${pids[*]:-nothing ran}) and removed ($SUPERVISOR_CONF)"
    rm -f "$NGINX_ENABLED" "$NGINX_SITE" "$LOGROTATE_CONF"
    echo "    removed $NGINX_SITE, $NGINX_ENABLED, $LOGROTATE_CONF"
    if [[ -z $(other_deploys) ]] && marked nginx-default-site && [[ -f $ETC/nginx/sites-available/default ]]; then
        ln -sfn "$ETC/nginx/sites-available/default" "$ETC/nginx/sites-enabled/default"
        unmark nginx-default-site
        echo "    enabled Debian's default site again (sites-enabled/default)"
    fi
    nginx_reload_if_running
    if [[ -d $PREFIX ]]; then
        if [[ $PURGE == 1 ]]; then
            rm -rf "$PREFIX"
            echo "    removed $PREFIX"
        else
            find "$PREFIX" -mindepth 1 -maxdepth 1 ! -name log -exec rm -rf {} +
            echo "    removed $PREFIX but $LOG_DIR (--purge removes it too)"
        fi
    fi
    if marked "user-$SERVICE_USER" && ! grep -qxF "user=$SERVICE_USER" "$ETC"/supervisor/conf.d/*.conf 2>/dev/null; then
        userdel "$SERVICE_USER"
        unmark "user-$SERVICE_USER"
        echo "    removed the system user $SERVICE_USER (created by the deploy)"
    fi
    [[ -n $(other_deploys) ]] || restore_services
    say "uninstalled $INSTANCE"
}

# nginx_reload_if_running: nginx reads its configuration again (checked first), if it runs.
nginx_reload_if_running() {
    if [[ -n $SANDBOX ]]; then
        pid_alive "$NGINX_PID" || return 0
        nginx -t -q -p "$RUN_DIR/" -c "$ETC/nginx/nginx.conf" || die "nginx refuses its configuration (above)"
        kill -HUP "$(cat "$NGINX_PID")"
    else
        service_running nginx || return 0
        nginx -t -q || die "nginx refuses its configuration (above)"
        if systemd; then systemctl reload nginx; else service nginx reload >/dev/null; fi
    fi
    echo "    nginx reloaded"
}

# restore_services: the last deploy gone, the services deploys started are stopped again,
# and the ones they enabled disabled.
restore_services() {
    local name
    for name in supervisor nginx; do
        if marked "started-$name"; then
            if [[ -n $SANDBOX ]]; then
                if [[ $name == nginx ]]; then stop_pidfile "$NGINX_PID"; else stop_pidfile "$SUPERVISOR_PID"; fi
            else
                service_stop "$name"
                echo "    stopped $name (the first deploy started it)"
            fi
            unmark "started-$name"
        fi
        if marked "enabled-$name"; then
            systemctl disable "$name" >/dev/null 2>&1 || true
            unmark "enabled-$name"
            echo "    disabled $name at boot again (the first deploy enabled it)"
        fi
    done
}
