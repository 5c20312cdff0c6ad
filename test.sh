#!/usr/bin/env bash
# Runs every test: formatting-free checks of behaviour, then the original's workflow.
#  0. tests/tools/setup.sh: installs what the tests need (or says the exact command);
#  1. cargo build: the server and every plugin (the example product and test fixtures);
#  2. cargo test --workspace: unit tests and the integration tests (real servers, real sockets);
#  3. the original apiphant test.sh, made reliable: start the server on a free port, wait
#     until it serves, run the functional tests (examples/functional.rs) against it, stop it
#     by its PID, show the tails of server.log and client.log; non-zero exit on any failure;
#     then the typed targets' functional tests (examples/typed.rs) against the same server,
#     then a generated Python client and schemathesis (tests/tools/openapi.sh);
#  4. the deploy, for real (deploy/test.sh): nginx + supervisord + logrotate from the deploy's
#     templates, in a temporary sandbox on free loopback ports, torn down by PID.
set -euo pipefail
cd "$(dirname "$0")"

# What the tests need: system packages (apt-get, as root or with passwordless sudo; else it
# stops with the exact command) and the pinned Python tools (a virtualenv under target/).
tests/tools/setup.sh
# Installed above, so the PostgreSQL tests never skip here.
export APIPHANT_REQUIRE_POSTGRES=1

cargo build --workspace --all-targets
cargo test --workspace

log_dir=$(mktemp -d)
server_log="$log_dir/server.log"
client_log="$log_dir/client.log"
server_pid=""

cleanup() {
    local status=$?
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$server_pid" 2>/dev/null || true
    fi
    echo "--- tail server.log"; tail -n 15 "$server_log" 2>/dev/null || true
    echo "--- tail client.log"; tail -n 30 "$client_log" 2>/dev/null || true
    rm -rf "$log_dir"
    exit "$status"
}
trap cleanup EXIT INT TERM

# Port 0: the kernel picks a free port; the start-up line says which. The log exists before
# the server opens it, so the first read below never races the redirection.
: >"$server_log"
target/debug/apiphant . 127.0.0.1:0 --no-build --debug-plugins 2>"$server_log" &
server_pid=$!
port=""
for _ in $(seq 1 300); do
    port=$(sed -n 's|.*Apiphant is serving .* at http://127\.0\.0\.1:\([0-9]*\)/api.*|\1|p' "$server_log" | head -n 1)
    [[ -n "$port" ]] && break
    kill -0 "$server_pid" 2>/dev/null || { echo "server exited before serving"; exit 1; }
    sleep 0.1
done
[[ -n "$port" ]] || { echo "server did not start within 30 s"; exit 1; }

APIPHANT_TEST_PORT="$port" target/debug/examples/functional >"$client_log" 2>&1
echo "functional tests passed against 127.0.0.1:$port"
# The typed targets (plugins/users, plugins/notes, plugins/typedecho).
APIPHANT_TEST_PORT="$port" target/debug/examples/typed >>"$client_log" 2>&1
echo "typed functional tests passed against 127.0.0.1:$port"
# The served OpenAPI document, used by tools nobody here wrote: a generated Python client
# and schemathesis (bounded: at most 20 examples per operation, 60 s).
tests/tools/openapi.sh "$port" >>"$client_log" 2>&1
echo "generated client and schemathesis passed against 127.0.0.1:$port"

# The deploy test fails without nginx / supervisor / logrotate (APIPHANT_SKIP_DEPLOY_TEST=1
# skips it knowingly); bounded: its own waits are, and this is its overall limit.
timeout --kill-after=20 480 deploy/test.sh
