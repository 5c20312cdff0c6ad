#!/usr/bin/env bash
# Instructions per echo request, counted by valgrind (callgrind): repeatable for the same
# binary and input whatever else the machine runs, so a small change (the foundation's
# seam and request context: "within 3%") is seen where wrk's requests/s and CPU times on a
# busy 2-core machine are noise.
#
#   bench/instructions.sh [--requests N] [--baseline DIR] [--no-build]
#       Starts target/release/apiphant (and DIR's, built in DIR) under callgrind, sends N
#       echo requests (default 20000) over one keep-alive connection, 16 pipelined at a time
#       (bench/pipelined_client.py), and once with none; prints the instructions per request
#       ((with N - with 0) / N) and, with --baseline, the ratio.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
requests=20000
baseline=""
build=1

while [[ $# -gt 0 ]]; do
    case "$1" in
        --requests) requests=$2; shift 2 ;;
        --baseline) baseline=$(cd "$2" && pwd); shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,12s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
for tool in valgrind python3; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install $tool)" >&2; exit 2; }
done
if [[ $build -eq 1 ]]; then
    (cd "$root" && cargo build --release --workspace --quiet)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Total instructions of the server in product $1 over its start, $2 requests and its stop.
count() {
    local product=$1 n=$2 port pid
    port=$(free_port)
    RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$work/cg" \
        "$product/target/release/apiphant" "$product" "127.0.0.1:$port" --no-build 2>"$work/log" &
    pid=$!
    for _ in $(seq 1 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; exit 1; }
        sleep 0.1
    done
    python3 "$here/pipelined_client.py" "$port" "$n" >/dev/null
    kill -TERM "$pid"
    wait "$pid" || true
    sed -n 's/^summary: //p' "$work/cg"
}

per_request() {
    local idle busy
    idle=$(count "$1" 0)
    busy=$(count "$1" "$requests")
    echo $(((busy - idle) / requests))
}

ours=$(per_request "$root")
echo "apiphant: $ours instructions per echo request ($requests requests, callgrind)"
if [[ -n "$baseline" ]]; then
    theirs=$(per_request "$baseline")
    echo "baseline ($baseline): $theirs instructions per echo request"
    awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "apiphant / baseline: %.3f\n", a / b }'
fi
