#!/usr/bin/env bash
# Instructions per echo request, counted by valgrind (callgrind): repeatable for the same
# binary and input whatever else the machine runs, so a small change (the foundation's
# seam and request context: "within 3%") is seen where CPU times on a busy 2-core machine
# are noise. They count user space only (the kernel's socket work is not in them): the
# deterministic side of run.sh's "user CPU per request".
#
#   bench/instructions.sh [--requests N] [--depth D] [--warmup W] [--servers "apiphant ..."]
#                         [--baseline DIR] [--no-build]
#       Starts each server under callgrind, pinned to one CPU as in run.sh (taskset: one
#       worker thread for may and tokio alike), sends N echo requests (default 20000) over
#       one keep-alive connection, D pipelined at a time (default 16;
#       bench/pipelined_client.py), and once only W warm-up requests (default 500); prints
#       the instructions per request ((with W + N - with W) / N: what runs once, at start-up
#       or on the first requests, cancels out) and each server's ratio to the first.
#       --depth 1: one request at a time, each a wake-up of the server (epoll, scheduler,
#       coroutine switch), as at run.sh's fixed rate; 16 spreads a wake-up over 16 requests.
#       Servers as run.sh's: apiphant (default), apiphant-typed, apiphant-ops (auth with a
#       valid token, X-Request-Id, metrics on), may-echo, axum-echo, axum-typed,
#       actix-echo; --baseline DIR adds "baseline": DIR's apiphant (built in DIR) on its
#       own example product.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
requests=20000
depth=16
warmup=500
baseline=""
build=1
servers="apiphant"

while [[ $# -gt 0 ]]; do
    case "$1" in
        --requests) requests=$2; shift 2 ;;
        --depth) depth=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --servers) servers=$2; shift 2 ;;
        --baseline) baseline=$(cd "$2" && pwd); shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,21s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
if [[ -n "$baseline" && " $servers " != *" baseline "* ]]; then
    servers="$servers baseline"
fi
for tool in valgrind python3; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install $tool)" >&2; exit 2; }
done
if [[ $build -eq 1 ]]; then
    (cd "$root" && cargo build --release --workspace --quiet)
    if [[ " $servers " == *-echo* || " $servers " == *axum-typed* ]]; then
        (cd "$here" && cargo build --release --quiet)
    fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ " $servers " == *" apiphant-ops "* ]]; then
    make_ops_product "$work/ops-product"
fi

# Total instructions of server $1 over its start, $2 requests and its stop.
count() {
    local name=$1 n=$2 port pid command path=/api/v0/echo/read headers=()
    port=$(free_port)
    case "$name" in
        apiphant) command=("$root/target/release/apiphant" "$root" "127.0.0.1:$port" --no-build) ;;
        apiphant-typed)
            command=("$root/target/release/apiphant" "$root" "127.0.0.1:$port" --no-build)
            path=/api/v0/echo/typed/read
            ;;
        apiphant-ops)
            command=("$root/target/release/apiphant" "$work/ops-product" "127.0.0.1:$port"
                --admin "127.0.0.1:$(free_port)")
            headers=("Authorization: Bearer $ops_token" "X-Request-Id: $ops_request_id")
            ;;
        baseline) command=("$baseline/target/release/apiphant" "$baseline" "127.0.0.1:$port" --no-build) ;;
        may-echo|axum-echo|actix-echo) command=("$here/target/release/$name" "127.0.0.1:$port") ;;
        axum-typed)
            command=("$here/target/release/axum-echo" "127.0.0.1:$port")
            path=/api/v0/echo/typed/read
            ;;
        *) echo "unknown server: $name" >&2; exit 2 ;;
    esac
    RUST_LOG=warn taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$work/cg" "${command[@]}" 2>"$work/log" &
    pid=$!
    for _ in $(seq 1 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; exit 1; }
        sleep 0.1
    done
    python3 "$here/pipelined_client.py" --depth "$depth" "$port" "$n" "$path" "${headers[@]}" >/dev/null
    kill -TERM "$pid"
    wait "$pid" || true
    sed -n 's/^summary: //p' "$work/cg"
}

per_request() {
    local idle busy
    idle=$(count "$1" "$warmup")
    busy=$(count "$1" $((warmup + requests)))
    echo $(((busy - idle) / requests))
}

first=""
for name in $servers; do
    ours=$(per_request "$name")
    echo "$name: $ours instructions per echo request ($requests requests, $depth at a time, callgrind)"
    if [[ -z "$first" ]]; then
        first=$name
        first_count=$ours
    else
        awk -v a="$ours" -v b="$first_count" -v n="$name" -v f="$first" \
            'BEGIN { printf "  %s / %s: %.3f\n", n, f, a / b }'
    fi
done
