#!/usr/bin/env bash
# Installs what the tests need, or stops at once with the exact command that would.
#
#   tests/tools/setup.sh [--lint]
#
# Run by ./test.sh (and by .ci/run with --lint, which adds shellcheck). Idempotent: a second
# run installs nothing and takes a second.
#  1. System packages (Debian/Ubuntu names): installed with apt-get when run as root or with
#     passwordless sudo; otherwise the script prints the apt-get line and exits 1. Services the
#     packages start on install (nginx, supervisor, prometheus, postgresql) are stopped: the
#     tests run their own, on free loopback ports.
#  2. Python tools, pinned in tests/tools/requirements.txt, in the virtualenv
#     target/py-tools-venv (never the system's Python): the SMTP server of the email tests
#     (aiosmtpd), openapi-spec-validator, openapi-python-client, schemathesis.
# The deploy test's own tools (sslyze) go into target/deploy-test-venv (deploy/test.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

lint=0
[[ ${1:-} == "--lint" ]] && lint=1

# Daemons live in sbin, which a normal user's PATH may lack.
PATH="$PATH:/usr/sbin:/sbin"

have() { command -v "$1" >/dev/null 2>&1; }
have_initdb() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }
have_venv() { have python3 && python3 -c 'import ensurepip, venv' 2>/dev/null; }

# What each test needs, by the package that provides it:
missing=()
need() { "${@:2}" || missing+=("$1"); }
need nginx have nginx                      # deploy test: the real nginx
need supervisor have supervisord           # deploy test: the real supervisord
need logrotate have logrotate              # deploy test: the logrotate config
need python3 have python3                  # raw-socket checks, the SMTP server
need python3-venv have_venv                # target/py-tools-venv
need openssl have openssl                  # deploy test: TLS certificates
need procps have pkill                     # process checks
need curl have curl                        # deploy test
need ca-certificates test -s /etc/ssl/certs/ca-certificates.crt  # pip over HTTPS
need chromium have chromium                # tests/it/cors.rs: a real headless browser
need prometheus have promtool              # tests/it/admin.rs, deploy test's scrape
need postgresql have_initdb                # tests/it/{postgres,cluster}.rs
need util-linux have runuser               # initdb refuses root: run as postgres
if [[ $lint -eq 1 ]]; then
    need shellcheck have shellcheck        # .ci/run lints every script
fi

if [[ ${#missing[@]} -gt 0 ]]; then
    install=(apt-get install -y -qq --no-install-recommends "${missing[@]}")
    if [[ $(id -u) -eq 0 ]]; then
        sudo=()
    elif have sudo && sudo -n true 2>/dev/null; then
        sudo=(sudo)
    else
        echo "test setup: missing ${missing[*]}; install them, then run ./test.sh again:" >&2
        echo "  sudo apt-get update && sudo ${install[*]}" >&2
        exit 1
    fi
    echo "test setup: installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" "${install[@]}" >/dev/null
    # Debian starts these on install where it can; the tests start their own.
    for service in nginx supervisor prometheus postgresql; do
        "${sudo[@]}" service "$service" stop >/dev/null 2>&1 || true
    done
fi

# The pinned Python tools, in a virtualenv under target/ (installed again only when the
# requirements changed since the last install).
venv=target/py-tools-venv
stamp="$venv/.requirements"
if ! cmp -s tests/tools/requirements.txt "$stamp" 2>/dev/null; then
    echo "test setup: installing tests/tools/requirements.txt into $venv"
    [[ -x "$venv/bin/pip" ]] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/tools/requirements.txt
    cp tests/tools/requirements.txt "$stamp"
fi
