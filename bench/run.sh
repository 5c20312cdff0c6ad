#!/usr/bin/env bash
# The benchmark harness (bench/README.md): builds apiphant and its peers, checks each
# server answers the echo correctly, loads it, repeats, prints markdown.
#
#   bench/run.sh --rate R [--runs N] [--duration S] [--servers "apiphant axum actix may"]
#       fixed rate: oha (installed by the script into target/bench-tools) offers R requests/s
#       over 64 keep-alive connections (--conns N to change) to each server in turn, below
#       saturation, and reports its user and system CPU per request and p50/p99
#       [--perf]  also samples the server with perf (cpu-clock, 4 kHz) during each run:
#                 user CPU / request = the scheduler's CPU time x perf's user-mode share
#                 (the /proc split is the kernel's 250 Hz tick sampling: a few hundred
#                 user ticks a run at 5,000 requests/s, +-5-7%); the bars then use it
#   bench/run.sh --rate R --scrape  apiphant serving bench/startup.sh's 100-target product
#       at R requests/s, alone and while bench/scraper.py scrapes its /metrics every 0.1 s
#       (--scrape-every S): the scrape's time and the requests' p99/max with and without
#   bench/run.sh [--runs N] [--duration S] [--servers "..."] [--no-build]
#       closed loop: wrk -t1 -c64, POST {"hello": "world"} to /api/v0/echo/read; median of
#       N runs (requests/s here measures wrk's core as much as the server: see the README)
#   bench/run.sh --conns N          the same with N keep-alive connections (RSS per connection)
#       [--interval MS]             each connection waits MS ms before each request (about
#                                   N * 1000 / MS requests/s): many mostly idle clients
#                                   then idle: N connections, one echo each, held silent
#                                   for --idle-secs S (3) by bench/idle_conns.py: RSS per
#                                   idle connection (issue 13's bar, <= 12 KiB)
#   bench/run.sh --mixed            apiphant's echo while 200 clients call a 50 ms blocking
#                                   action (marked .blocking(), then unmarked)
#   bench/run.sh --baseline DIR     adds server "baseline": apiphant built (release) in another
#                                   checkout DIR, e.g. a worktree of the previous commit, run on
#                                   its own example product; for side-by-side "before / after"
#                                   (server "baseline-typed": its typed echo, in --servers)
#
# Servers: apiphant (the dynamic echo), apiphant-typed (the typed echo, plugins/typedecho,
# /api/v0/echo/typed/read), apiphant-ops (the dynamic echo with [auth] on and a valid
# token, an X-Request-Id sent, and the admin listener, so metrics, on), may-echo (or may),
# axum-echo (or axum), axum-typed (axum's Json<T> echo), actix-echo (or actix), baseline.
# Each server runs pinned to CPU 0 (taskset; so one worker thread each), the load generator
# to CPU 1. apiphant runs with RUST_LOG=warn: no access log. Servers are started fresh for
# each run and interleaved (run 1 of every server, then run 2 ...), so background noise
# spreads evenly over them. CPU per request is the utime (user) and stime (system) delta of
# the server process (/proc/PID/stat, all threads) over the measured run divided by the
# requests answered; peak RSS is VmHWM at the end of the run.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
runs=5
duration=10
warmup=1
conns=""
interval=0
idle_secs=3
mode="echo"
build=1
servers="apiphant may-echo axum-echo actix-echo"
slow_clients=200
baseline=""
rate=""
scrape=0
perf=0
scrape_every=0.1
server_cpu=0
wrk_cpu=1

usage() {
    sed -n '2,40s/^# \{0,1\}//p' "$0"
    exit "${1:-0}"
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --conns) conns=$2; shift 2 ;;
        --interval) interval=$2; shift 2 ;;
        --idle-secs) idle_secs=$2; shift 2 ;;
        --mixed) mode=mixed; shift ;;
        --rate) rate=$2; shift 2 ;;
        --scrape) scrape=1; shift ;;
        --perf) perf=1; shift ;;
        --scrape-every) scrape_every=$2; shift 2 ;;
        --servers) servers=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --baseline) baseline=$(cd "$2" && pwd); shift 2 ;;
        -h|--help) usage 0 ;;
        *) echo "unknown argument: $1" >&2; usage 2 ;;
    esac
done

if [[ -n "$rate" ]]; then
    if [[ $scrape -eq 1 ]]; then mode=scrape; else mode=rate; fi
elif [[ $scrape -eq 1 ]]; then
    echo "--scrape needs --rate R" >&2
    exit 2
elif [[ -n "$conns" && $mode == echo ]]; then
    mode=conns
fi

# Short names: may, axum, actix.
named=""
for name in $servers; do
    case "$name" in
        may|axum|actix) name="$name-echo" ;;
    esac
    named="$named $name"
done
servers=${named# }

if [[ -n "$baseline" && " $servers " != *" baseline"* ]]; then
    servers="baseline $servers"
fi

for tool in wrk taskset chrt curl python3; do
    command -v "$tool" >/dev/null || { echo "bench needs $tool (apt-get install $tool)" >&2; exit 2; }
done
if [[ $mode == rate || $mode == scrape ]]; then
    ensure_oha
fi
if [[ $perf -eq 1 ]]; then
    command -v perf >/dev/null || { echo "--perf needs perf (apt-get install linux-perf)" >&2; exit 2; }
fi

if [[ $build -eq 1 ]]; then
    echo "building apiphant and the example product (release)..." >&2
    (cd "$root" && cargo build --release --workspace --quiet)
    echo "building the peers (bench/, release)..." >&2
    (cd "$here" && cargo build --release --quiet)
fi

work=$(mktemp -d)
server_pid=""
side_pid=""
cleanup() {
    local status=$?
    for pid in "$side_pid" "$server_pid"; do
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT INT TERM

body='{"hello": "world"}'

# The answer server $1 must give to the body.
expected() {
    case "$1" in
        apiphant-100) echo '{"hello":"world","target":"t000"}' ;;
        *) echo '{"hello":"world","server":"myproduct"}' ;;
    esac
}

# The echo's path on server $1: the typed echo's for apiphant-typed and axum-typed.
echo_path() {
    case "$1" in
        apiphant-typed|axum-typed|baseline-typed) echo /api/v0/echo/typed/read ;;
        apiphant-100) echo /api/v0/t000/read ;;
        *) echo /api/v0/echo/read ;;
    esac
}

# The request headers server $1 gets (curl's and oha's -H arguments), in the array headers.
request_headers() {
    headers=(-H "Content-Type: application/json")
    if [[ $1 == apiphant-ops ]]; then
        headers+=(-H "Authorization: Bearer $ops_token" -H "X-Request-Id: $ops_request_id")
    fi
}

# The installed products of apiphant-ops and apiphant-100 (scrape), made when needed.
ops_product="$work/ops-product"
hundred_product="$here/target/startup-installed"
if [[ " $servers " == *" apiphant-ops "* && $mode != scrape ]]; then
    make_ops_product "$ops_product"
fi
if [[ $mode == scrape ]]; then
    servers="apiphant-100"
    [[ -d "$hundred_product/plugins" ]] ||
        { echo "no $hundred_product: run bench/startup.sh first (it builds the 100-target product)" >&2; exit 2; }
fi
admin_port=""

# Starts server $1 on a free port, pinned to the server CPU; sets server_pid and port.
start_server() {
    local name=$1
    port=$(free_port)
    admin_port=""
    local log="$work/$name.log"
    case "$name" in
        apiphant|apiphant-typed)
            RUST_LOG=warn taskset -c "$server_cpu" "$root/target/release/apiphant" "$root" \
                "127.0.0.1:$port" --no-build 2>"$log" &
            ;;
        apiphant-ops)
            admin_port=$(free_port)
            RUST_LOG=warn taskset -c "$server_cpu" "$root/target/release/apiphant" "$ops_product" \
                "127.0.0.1:$port" --admin "127.0.0.1:$admin_port" 2>"$log" &
            ;;
        apiphant-100)
            admin_port=$(free_port)
            RUST_LOG=warn taskset -c "$server_cpu" "$root/target/release/apiphant" "$hundred_product" \
                "127.0.0.1:$port" --admin "127.0.0.1:$admin_port" 2>"$log" &
            ;;
        baseline|baseline-typed)
            [[ -x "$baseline/target/release/apiphant" ]] ||
                { echo "no $baseline/target/release/apiphant: cargo build --release --workspace there" >&2; exit 2; }
            RUST_LOG=warn taskset -c "$server_cpu" "$baseline/target/release/apiphant" "$baseline" \
                "127.0.0.1:$port" --no-build 2>"$log" &
            ;;
        may-echo|axum-echo|actix-echo)
            taskset -c "$server_cpu" "$here/target/release/$name" "127.0.0.1:$port" 2>"$log" &
            ;;
        axum-typed)
            taskset -c "$server_cpu" "$here/target/release/axum-echo" "127.0.0.1:$port" 2>"$log" &
            ;;
        *) echo "unknown server: $name" >&2; exit 2 ;;
    esac
    server_pid=$!
    local answer="" want
    want="$(expected "$name") 200 application/json"
    local headers
    request_headers "$name"
    for _ in $(seq 1 300); do
        answer=$(curl -s -o - -w ' %{http_code} %{content_type}' -X POST "${headers[@]}" \
            --data "$body" "http://127.0.0.1:$port$(echo_path "$name")" 2>/dev/null) || true
        [[ "$answer" == *" 000 "* ]] || break
        kill -0 "$server_pid" 2>/dev/null || { echo "$name exited:" >&2; cat "$log" >&2; exit 1; }
        sleep 0.1
    done
    if [[ "$answer" != "$want" ]]; then
        echo "$name answers '$answer', expected '$want'" >&2
        cat "$log" >&2
        exit 1
    fi
    if [[ -n "$admin_port" ]]; then
        # The operations are on: the request id comes back, the metrics count the calls.
        curl -s -D - -o /dev/null -X POST "${headers[@]}" --data "$body" \
            "http://127.0.0.1:$port$(echo_path "$name")" | grep -qi "^x-request-id: $ops_request_id" ||
            [[ $name != apiphant-ops ]] || { echo "$name does not return our X-Request-Id" >&2; exit 1; }
        # Read whole before grep: `curl | grep -q` under pipefail fails when grep stops early
        # on a long exposition (the 100-route product's) and curl gets SIGPIPE.
        local route exposition
        route=$(echo_path "$name")
        route=${route#/api/}
        route=${route%/*}
        exposition=$(curl -sf "http://127.0.0.1:$admin_port/metrics") || exposition=""
        grep -q "^apiphant_requests_total{route=\"$route\",.*status=\"200\"} [1-9]" <<<"$exposition" ||
            { echo "$name: no /metrics at 127.0.0.1:$admin_port counting $route (${#exposition} bytes)" >&2; exit 1; }
    fi
}

stop_server() {
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

# User-space CPU ticks of a process (all its threads).
utime() {
    local ticks
    ticks=$(cpu_ticks "$1")
    echo "${ticks%% *}"
}

# Ticks of CPU $1 from /proc/stat: "total idle" (idle includes iowait).
core_ticks() {
    awk -v cpu="cpu$1" '$1 == cpu {
        total = 0
        for (i = 2; i <= 9; i++) total += $i
        print total, $5 + $6
    }' /proc/stat
}

# A /proc/PID/status field in KiB (VmRSS, VmHWM).
vm_kib() {
    awk -v field="$2:" '$1 == field {print $2}' "/proc/$1/status"
}

# wrk pinned to the wrk CPU; prints its BENCH line (key=value pairs). With a 4th
# argument, each connection waits that many milliseconds before each request.
run_wrk() {
    local connections=$1 seconds=$2 path=$3 every=${4:-0}
    local script=(-s "$here/post.lua")
    if [[ $every -gt 0 ]]; then
        script=(-s "$here/post-every.lua")
    fi
    BENCH_DIR=$here taskset -c "$wrk_cpu" wrk -t1 -c"$connections" -d"${seconds}s" \
        --timeout 10s "${script[@]}" "http://127.0.0.1:$port$path" -- "$every" |
        sed -n 's/^BENCH //p'
}

ticks_per_sec=$(getconf CLK_TCK)

# One measured run of server $1 with $2 connections; appends a result line to $3.
measure() {
    local name=$1 connections=$2 out=$3
    start_server "$name"
    if [[ "$warmup" != 0 ]]; then
        run_wrk 64 "$warmup" "$(echo_path "$name")" >/dev/null
    fi
    local rss_before cpu_before cpu_after result
    rss_before=$(vm_kib "$server_pid" VmRSS)
    cpu_before=$(utime "$server_pid")
    local every=0
    if [[ $mode == conns ]]; then
        every=$interval
    fi
    local wrk_core_before wrk_core_after
    wrk_core_before=$(core_ticks "$wrk_cpu")
    result=$(run_wrk "$connections" "$duration" "$(echo_path "$name")" "$every")
    wrk_core_after=$(core_ticks "$wrk_cpu")
    cpu_after=$(utime "$server_pid")
    local hwm
    hwm=$(vm_kib "$server_pid" VmHWM)
    stop_server
    [[ -n "$result" ]] || { echo "wrk produced no result for $name" >&2; exit 1; }
    local requests=0 duration_us=1 p50_us=0 p99_us=0
    local connect=0 read=0 write=0 status=0 timeout=0
    local key value
    for pair in $result; do
        key=${pair%%=*}
        value=${pair#*=}
        case "$key" in
            requests) requests=$value ;;
            duration_us) duration_us=$value ;;
            p50_us) p50_us=$value ;;
            p99_us) p99_us=$value ;;
            connect) connect=$value ;;
            read) read=$value ;;
            write) write=$value ;;
            status) status=$value ;;
            timeout) timeout=$value ;;
        esac
    done
    awk -v n="$name" -v req="$requests" -v dur="$duration_us" -v p50="$p50_us" -v p99="$p99_us" \
        -v cpu=$((cpu_after - cpu_before)) -v hz="$ticks_per_sec" -v hwm="$hwm" \
        -v base="$rss_before" -v c="$connect" -v r="$read" -v w="$write" -v s="$status" \
        -v t="$timeout" -v conns="$connections" \
        -v core="$wrk_core_before $wrk_core_after" 'BEGIN {
            rps = req / (dur / 1e6)
            cpu_us = req > 0 ? cpu / hz * 1e6 / req : 0
            split(core, k, " ")
            busy = (k[3] > k[1]) ? 100 * ((k[3] - k[1]) - (k[4] - k[2])) / (k[3] - k[1]) : 0
            printf "%s %.0f %d %d %.3f %d %d %d %d/%d/%d/%d/%d %.1f %.0f\n", n, rps, p50, p99, cpu_us,
                hwm, base, c + r + w + s + t, c, r, w, s, t, (hwm - base) / conns, busy
        }' >>"$out"
    echo "  $name: $(tail -n 1 "$out")" >&2
}

# Median of column $2 of the lines of file $1 whose first field is $3.
column_median() {
    awk -v col="$2" -v name="$3" '$1 == name {print $col}' "$1" | median
}

# Sum of column $2 for server $3.
total() {
    awk -v col="$2" -v name="$3" '$1 == name {sum += $col} END {print sum + 0}' "$1"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
machine() {
    local model
    model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    echo "Machine: $(nproc) cores, $model; $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)"
    echo "Load average (1/5/15 min) before: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
}

echo_mode() {
    local connections=$1 results="$work/results"
    : >"$results"
    local run name
    for run in $(seq 1 "$runs"); do
        echo "run $run/$runs" >&2
        for name in $servers; do
            measure "$name" "$connections" "$results"
        done
    done
    echo
    machine
    echo
    local base_rps base_cpu
    base_rps=$(column_median "$results" 2 may-echo)
    base_cpu=$(column_median "$results" 5 may-echo)
    if [[ $mode == echo ]]; then
        echo "wrk -t1 -c$connections -d${duration}s, POST {\"hello\": \"world\"}, median of $runs run(s); server on CPU $server_cpu, wrk on CPU $wrk_cpu"
        echo
        echo "| server | requests/s | x may echo | p50 | p99 | user CPU / request | x may echo | peak RSS | errors |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        for name in $servers; do
            awk -v n="$name" -v rps="$(column_median "$results" 2 "$name")" \
                -v p50="$(column_median "$results" 3 "$name")" -v p99="$(column_median "$results" 4 "$name")" \
                -v cpu="$(column_median "$results" 5 "$name")" -v hwm="$(column_median "$results" 6 "$name")" \
                -v errors="$(total "$results" 8 "$name")" -v brps="$base_rps" -v bcpu="$base_cpu" 'BEGIN {
                    printf "| %s | %.0f | %s | %.2f ms | %.2f ms | %.2f us | %s | %.1f MiB | %d |\n",
                        n, rps, (brps > 0 ? sprintf("%.2f", rps / brps) : "-"), p50 / 1000, p99 / 1000,
                        cpu, (bcpu > 0 ? sprintf("%.2f", cpu / bcpu) : "-"), hwm / 1024, errors
                }'
        done
        bars "$results"
    else
        local pacing="a closed loop: each connection sends its next request as soon as answered"
        if [[ $interval -gt 0 ]]; then
            pacing="each connection waits ${interval} ms before each request"
        fi
        echo "wrk -t1 -c$connections -d${duration}s (keep-alive; $pacing), POST {\"hello\": \"world\"}, median of $runs run(s); server on CPU $server_cpu, wrk on CPU $wrk_cpu"
        echo
        echo "| server | connections | requests/s | connections / requests/s | p50 | p99 | wrk's core busy | errors (connect/read/write/status/timeout) | RSS before | peak RSS | RSS / connection |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"
        for name in $servers; do
            awk -v n="$name" -v conns="$connections" -v rps="$(column_median "$results" 2 "$name")" \
                -v p50="$(column_median "$results" 3 "$name")" -v p99="$(column_median "$results" 4 "$name")" \
                -v base="$(column_median "$results" 7 "$name")" -v hwm="$(column_median "$results" 6 "$name")" \
                -v errors="$(total "$results" 8 "$name")" \
                -v breakdown="$(awk -v n="$name" '$1 == n {
                    split($9, e, "/"); for (i = 1; i <= 5; i++) sum[i] += e[i]
                } END { printf "%d/%d/%d/%d/%d", sum[1], sum[2], sum[3], sum[4], sum[5] }' "$results")" \
                -v per="$(column_median "$results" 10 "$name")" \
                -v busy="$(column_median "$results" 11 "$name")" 'BEGIN {
                    printf "| %s | %d | %.0f | %s | %.2f ms | %.2f ms | %.0f%% | %d (%s) | %.1f MiB | %.1f MiB | %.1f KiB |\n",
                        n, conns, rps, (rps > 0 ? sprintf("%.1f ms", conns / rps * 1000) : "-"),
                        p50 / 1000, p99 / 1000, busy, errors, breakdown, base / 1024, hwm / 1024, per
                }'
        done
    fi
}

# The bars of issue 6, from the medians of one run.
bars() {
    local results=$1
    [[ " $servers " == *" apiphant "* ]] || return 0
    echo
    local ours
    ours=$(column_median "$results" 2 apiphant)
    check() {
        awk -v what="$1" -v a="$2" -v b="$3" -v op="$4" -v bar="$5" 'BEGIN {
            if (b <= 0) exit
            r = a / b
            ok = (op == ">=") ? (r >= bar) : (r <= bar)
            printf "- %s: %.2f (bar %s %s): %s\n", what, r, op, bar, (ok ? "met" : "NOT met")
        }'
    }
    # Issue 11: the typed echo spends no more user CPU per request than the dynamic one, at
    # the same p99 or better.
    if [[ " $servers " == *" apiphant-typed "* ]]; then
        check "apiphant typed echo / dynamic echo, user CPU per request" \
            "$(column_median "$results" 5 apiphant-typed)" "$(column_median "$results" 5 apiphant)" "<=" 1.0
        check "apiphant typed echo / dynamic echo, p99" \
            "$(column_median "$results" 4 apiphant-typed)" "$(column_median "$results" 4 apiphant)" "<=" 1.0
    fi
    if [[ " $servers " == *" baseline "* ]]; then
        check "apiphant / baseline, user CPU per request" "$(column_median "$results" 5 apiphant)" \
            "$(column_median "$results" 5 baseline)" "<=" 1.03
    fi
    [[ " $servers " == *" may-echo "* ]] || return 0
    check "apiphant / may echo, requests/s" "$ours" "$(column_median "$results" 2 may-echo)" ">=" 0.95
    if [[ " $servers " == *" axum-echo "* ]]; then
        check "apiphant / axum, requests/s" "$ours" "$(column_median "$results" 2 axum-echo)" ">=" 1.2
    fi
    if [[ " $servers " == *" actix-echo "* ]]; then
        check "apiphant / actix, requests/s" "$ours" "$(column_median "$results" 2 actix-echo)" ">=" 1.1
    fi
    check "apiphant / may echo, user CPU per request" "$(column_median "$results" 5 apiphant)" \
        "$(column_median "$results" 5 may-echo)" "<=" 1.1
}

# apiphant's echo alone, then while $slow_clients clients call a 50 ms blocking action.
mixed_mode() {
    local results="$work/mixed" run side
    : >"$results"
    for run in $(seq 1 "$runs"); do
        echo "run $run/$runs" >&2
        for side in none v0/slow v0/slow/unmarked; do
            start_server apiphant
            local side_out="$work/side.out"
            : >"$side_out"
            if [[ $side != none ]]; then
                taskset -c "$wrk_cpu" wrk -t1 -c"$slow_clients" -d"$((duration + 2))s" \
                    --timeout 30s -s "$here/post.lua" "http://127.0.0.1:$port/api/$side/read" \
                    >"$side_out" &
                side_pid=$!
                sleep 1
            fi
            local result side_result=""
            result=$(run_wrk 64 "$duration" /api/v0/echo/read)
            if [[ -n "$side_pid" ]]; then
                wait "$side_pid" || true
                side_pid=""
                side_result=$(sed -n 's/^BENCH //p' "$side_out")
            fi
            stop_server
            echo "$side $result SIDE $side_result" >>"$results"
            echo "  $side: $result | $side_result" >&2
        done
    done
    echo
    machine
    echo
    echo "apiphant echo (wrk -t1 -c64 -d${duration}s) while $slow_clients clients (wrk -c$slow_clients) call an action sleeping 50 ms; median of $runs run(s)"
    echo
    echo "| at the same time | echo requests/s | x alone | echo p50 | echo p99 | echo errors | slow requests/s | slow p99 | slow errors |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    awk '
        function get(line, key,    m) {
            if (match(line, key "=[0-9]+")) return substr(line, RSTART + length(key) + 1, RLENGTH - length(key) - 1)
            return 0
        }
        function med(list, n,    i, j, t) {
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (list[j] < list[i]) { t = list[i]; list[i] = list[j]; list[j] = t }
            return (n % 2) ? list[(n + 1) / 2] : (list[n / 2] + list[n / 2 + 1]) / 2
        }
        {
            side = $1; split($0, halves, " SIDE ")
            n[side]++; k = n[side]
            echo = halves[1]; slow = halves[2]
            rps[side, k] = get(echo, "requests") / (get(echo, "duration_us") / 1e6)
            p50[side, k] = get(echo, "p50_us"); p99[side, k] = get(echo, "p99_us")
            err[side] += get(echo, "connect") + get(echo, "read") + get(echo, "write") + get(echo, "status") + get(echo, "timeout")
            if (slow != "") {
                srps[side, k] = get(slow, "requests") / (get(slow, "duration_us") / 1e6)
                sp99[side, k] = get(slow, "p99_us")
                serr[side] += get(slow, "connect") + get(slow, "read") + get(slow, "write") + get(slow, "status") + get(slow, "timeout")
            }
            if (!(side in seen)) { seen[side] = 1; order[++sides] = side }
        }
        END {
            for (s = 1; s <= sides; s++) {
                side = order[s]
                for (k = 1; k <= n[side]; k++) { a[k] = rps[side, k]; b[k] = p50[side, k]; c[k] = p99[side, k]; d[k] = srps[side, k]; e[k] = sp99[side, k] }
                r = med(a, n[side]); m50 = med(b, n[side]); m99 = med(c, n[side]); sr = med(d, n[side]); s99 = med(e, n[side])
                if (side == "none") alone = r
                label = (side == "none") ? "nothing (echo alone)" : (side == "v0/slow" ? "`v0/slow` (marked `.blocking()`)" : "`v0/slow/unmarked` (not marked)")
                printf "| %s | %.0f | %.2f | %.2f ms | %.2f ms | %d | %s | %s | %s |\n", label, r, (alone > 0 ? r / alone : 0),
                    m50 / 1000, m99 / 1000, err[side], (side == "none" ? "-" : sprintf("%.0f", sr)),
                    (side == "none" ? "-" : sprintf("%.0f ms", s99 / 1000)), (side == "none" ? "-" : serr[side] + 0)
            }
        }' "$results"
}

# oha pinned to the load generator's CPU at $rate requests/s over $connections connections
# for $2 seconds on path $3 of server $1; prints one line of key=value pairs: requests
# answered 2xx, other statuses, errors (aborted at the deadline not counted), the
# measured duration, p50, p99 and max latency (microseconds, from each request's
# scheduled time: --latency-correction, so a stall is not hidden by the client waiting).
run_oha() {
    local name=$1 seconds=$2 path=$3 connections=${conns:-64} headers
    request_headers "$name"
    taskset -c "$wrk_cpu" "$oha" -z "${seconds}s" -q "$rate" -c "$connections" \
        --latency-correction --no-tui --output-format json --worker-threads 1 \
        -m POST "${headers[@]}" -d "$body" "http://127.0.0.1:$port$path" |
        python3 -c '
import json, sys
r = json.load(sys.stdin)
codes = {int(k): v for k, v in r["statusCodeDistribution"].items()}
ok = sum(v for k, v in codes.items() if 200 <= k < 300)
errors = sum(v for k, v in r["errorDistribution"].items() if "deadline" not in k)
lat = r["latencyPercentiles"]
us = lambda s: round((s or 0) * 1e6)
print("requests=%d status=%d errors=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d" % (
    ok, sum(codes.values()) - ok, errors, us(r["summary"]["total"]), us(lat.get("p50")),
    us(lat.get("p99")), us(r["summary"]["slowest"])))'
}

# The value of key $2 in a line of key=value pairs $1.
field() {
    local pair
    for pair in $1; do
        if [[ ${pair%%=*} == "$2" ]]; then
            echo "${pair#*=}"
            return
        fi
    done
    echo 0
}

# One fixed-rate run of server $1; appends a result line to $2: name, requests/s, p50,
# p99 (us), user and system CPU per request (us, from ticks), CPU per request (us, from the
# scheduler's nanoseconds), requests, errors, the client core's busy %, max latency (us).
measure_rate() {
    local name=$1 out=$2 path
    path=$(echo_path "$name")
    start_server "$name"
    if [[ "$warmup" != 0 ]]; then
        run_oha "$name" "$warmup" "$path" >/dev/null
    fi
    local ticks_before ticks_after ns_before ns_after core_before core_after result
    local perf_pid="" share=-1
    if [[ $perf -eq 1 ]]; then
        taskset -c "$wrk_cpu" perf record -q -e cpu-clock -F 4000 -p "$server_pid" \
            -o "$work/perf.data" -- sleep "$duration" >/dev/null 2>&1 &
        perf_pid=$!
    fi
    ticks_before=$(cpu_ticks "$server_pid")
    ns_before=$(cpu_ns "$server_pid")
    core_before=$(core_ticks "$wrk_cpu")
    result=$(run_oha "$name" "$duration" "$path")
    core_after=$(core_ticks "$wrk_cpu")
    ns_after=$(cpu_ns "$server_pid")
    ticks_after=$(cpu_ticks "$server_pid")
    if [[ -n "$perf_pid" ]]; then
        wait "$perf_pid" || true
        share=$(user_share "$work/perf.data")
    fi
    stop_server
    [[ -n "$result" ]] || { echo "oha produced no result for $name" >&2; exit 1; }
    awk -v n="$name" -v req="$(field "$result" requests)" -v dur="$(field "$result" duration_us)" \
        -v p50="$(field "$result" p50_us)" -v p99="$(field "$result" p99_us)" \
        -v max="$(field "$result" max_us)" \
        -v errors="$(($(field "$result" status) + $(field "$result" errors)))" \
        -v ticks="$ticks_before $ticks_after" -v ns=$((ns_after - ns_before)) -v hz="$ticks_per_sec" \
        -v core="$core_before $core_after" -v share="$share" 'BEGIN {
            split(ticks, t, " ")
            user = req > 0 ? (t[3] - t[1]) / hz * 1e6 / req : 0
            # --perf: the scheduler time x the sampled user-mode share.
            if (share >= 0) user = req > 0 ? ns / 1e3 / req * share : 0
            sys = req > 0 ? (t[4] - t[2]) / hz * 1e6 / req : 0
            total = req > 0 ? ns / 1e3 / req : 0
            split(core, k, " ")
            busy = (k[3] > k[1]) ? 100 * ((k[3] - k[1]) - (k[4] - k[2])) / (k[3] - k[1]) : 0
            printf "%s %.0f %d %d %.3f %.3f %.3f %d %d %.0f %d\n", n, req / (dur / 1e6), p50, p99,
                user, sys, total, req, errors, busy, max
        }' >>"$out"
    echo "  $name: $(tail -n 1 "$out") (load $(cut -d' ' -f1 /proc/loadavg))" >&2
}

# Column $2 of server $3's lines of file $1, one run a line, joined by spaces.
column_runs() {
    awk -v col="$2" -v name="$3" '$1 == name {printf "%s%s", sep, $col; sep = " "} END {print ""}' "$1"
}

rate_mode() {
    local results="$work/rate" run name
    : >"$results"
    for run in $(seq 1 "$runs"); do
        echo "run $run/$runs (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
        for name in $servers; do
            measure_rate "$name" "$results"
        done
    done
    echo
    machine
    echo
    echo "oha $oha_version -q $rate -c ${conns:-64} -z ${duration}s --latency-correction, POST $body, median of $runs run(s), interleaved; server on CPU $server_cpu, oha on CPU $wrk_cpu"
    echo
    local user_label="user CPU / request"
    if [[ $perf -eq 1 ]]; then
        user_label="user CPU / request (scheduler x perf's user share)"
    fi
    echo "| server | offered | answered/s | p50 | p99 | $user_label | system CPU / request (ticks) | CPU / request (scheduler) | user CPU, each run (us) | errors | oha's core busy |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"
    for name in $servers; do
        awk -v n="$name" -v offered="$rate" -v rps="$(column_median "$results" 2 "$name")" \
            -v p50="$(column_median "$results" 3 "$name")" -v p99="$(column_median "$results" 4 "$name")" \
            -v user="$(column_median "$results" 5 "$name")" -v sys="$(column_median "$results" 6 "$name")" \
            -v total="$(column_median "$results" 7 "$name")" -v each="$(column_runs "$results" 5 "$name")" \
            -v errors="$(total "$results" 9 "$name")" -v busy="$(column_median "$results" 10 "$name")" 'BEGIN {
                printf "| %s | %d | %.0f | %.3f ms | %.3f ms | %.2f us | %.2f us | %.2f us | %s | %d | %.0f%% |\n",
                    n, offered, rps, p50 / 1000, p99 / 1000, user, sys, total, each, errors, busy
            }'
    done
    rate_bars "$results"
}

# The bars at a fixed rate (bench/README.md), from the medians of one run.
rate_bars() {
    local results=$1
    echo
    has() { [[ " $servers " == *" $1 "* ]]; }
    # check WHAT SERVER_A SERVER_B COLUMN OP BAR
    check() {
        has "$2" && has "$3" || return 0
        awk -v what="$1" -v a="$(column_median "$results" "$4" "$2")" \
            -v b="$(column_median "$results" "$4" "$3")" -v op="$5" -v bar="$6" 'BEGIN {
            if (b <= 0) exit
            r = a / b
            ok = (op == ">=") ? (r >= bar) : (r <= bar)
            printf "- %s: %.2f (bar %s %s): %s\n", what, r, op, bar, (ok ? "met" : "NOT met")
        }'
    }
    # Issue 11: the typed echo spends no more user CPU than the dynamic one, and at most
    # half of axum's Json<T> echo, at the same p99 or better.
    check "apiphant typed echo / dynamic echo, user CPU per request" apiphant-typed apiphant 5 "<=" 1.0
    check "apiphant typed echo / dynamic echo, p99" apiphant-typed apiphant 4 "<=" 1.0
    check "apiphant typed echo / axum Json<T> echo, user CPU per request" apiphant-typed axum-typed 5 "<=" 0.5
    check "apiphant typed echo / axum Json<T> echo, p99" apiphant-typed axum-typed 4 "<=" 1.0
    # Not a bar, the 0.5 bar's context: the bare may_minihttp echo (may's wake-up and
    # httparse alone: no routing, no plugin, no limits) against axum's Json<T> echo.
    if has may-echo && has axum-typed; then
        awk -v a="$(column_median "$results" 5 may-echo)" -v b="$(column_median "$results" 5 axum-typed)" 'BEGIN {
            if (b > 0) printf "- (context) bare may echo / axum Json<T> echo, user CPU per request: %.2f\n", a / b
        }'
    fi
    # Issue 12: auth (a valid token), request ids and metrics on against all off.
    check "apiphant with auth, request id and metrics / without, user CPU per request" apiphant-ops apiphant 5 "<=" 1.15
    check "apiphant with auth, request id and metrics / without, p99" apiphant-ops apiphant 4 "<=" 1.1
    # Issue 6's throughput bars, stated as CPU per request (at saturation, requests/s is the
    # inverse of all the CPU a request costs): 0.95x the bare may echo's requests/s is
    # 1/0.95 = 1.05x its CPU; 1.2x axum's is 0.83x its CPU, 1.1x actix's 0.91x.
    check "apiphant / may echo, user CPU per request" apiphant may-echo 5 "<=" 1.1
    check "apiphant / may echo, CPU (user + system) per request" apiphant may-echo 7 "<=" 1.05
    check "apiphant / axum, CPU (user + system) per request" apiphant axum-echo 7 "<=" 0.83
    check "apiphant / actix, CPU (user + system) per request" apiphant actix-echo 7 "<=" 0.91
    check "apiphant / baseline, user CPU per request" apiphant baseline 5 "<=" 1.03
    check "apiphant typed echo / baseline's, user CPU per request" apiphant-typed baseline-typed 5 "<=" 1.0
}

# Issue 12: apiphant-100 (the 100-target product) at the fixed rate, alone and while
# bench/scraper.py scrapes its /metrics every $scrape_every s; the scrape's time, and the
# requests' latency.
scrape_mode() {
    local results="$work/scrape" scrapes="$work/scrapes" run phase
    : >"$results"
    : >"$scrapes"
    for run in $(seq 1 "$runs"); do
        echo "run $run/$runs (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
        start_server apiphant-100
        run_oha apiphant-100 "$warmup" /api/v0/t000/read >/dev/null
        for phase in alone scraped; do
            local loop_pid="" result
            if [[ $phase == scraped ]]; then
                scrape_loop "$scrapes" &
                loop_pid=$!
            fi
            result=$(run_oha apiphant-100 "$duration" /api/v0/t000/read)
            if [[ -n "$loop_pid" ]]; then
                kill -TERM "$loop_pid" 2>/dev/null || true
                wait "$loop_pid" 2>/dev/null || true
            fi
            echo "$phase $(field "$result" p50_us) $(field "$result" p99_us) $(field "$result" max_us) $(($(field "$result" status) + $(field "$result" errors))) $(field "$result" requests)" >>"$results"
            echo "  $phase: $result (load $(cut -d' ' -f1 /proc/loadavg))" >&2
        done
        local size series exposition
        exposition=$(curl -s "http://127.0.0.1:$admin_port/metrics")
        size=$(($(printf '%s\n' "$exposition" | wc -c)))
        series=$(grep -c -v '^#' <<<"$exposition")
        stop_server
    done
    local count
    count=$(wc -l <"$scrapes")
    echo
    machine
    echo
    echo "apiphant on bench/startup.sh's product ($(find "$hundred_product/plugins" -name '*.so' | wc -l) targets, one route each) with --admin; oha $oha_version -q $rate -c ${conns:-64} -z ${duration}s --latency-correction on v0/t000/read, alone then while bench/scraper.py (one keep-alive connection, on oha's CPU in the idle class) scrapes GET /metrics every ${scrape_every} s; $runs run(s)"
    echo
    echo "The exposition: $size bytes, $series series. Scrape time (request sent to last byte read, on one keep-alive connection), $count scrapes:"
    echo
    awk '{print $1 * 1000}' "$scrapes" | sort -g | awk '{v[NR] = $1} END {
        if (NR == 0) { print "(no scrape)"; exit }
        printf "| scrapes | median | p99 | max |\n| ---: | ---: | ---: | ---: |\n"
        i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
        printf "| %d | %.2f ms | %.2f ms | %.2f ms |\n", NR, v[int((NR + 1) / 2)], v[i99], v[NR]
    }'
    echo
    echo "The requests meanwhile (median of the runs):"
    echo
    echo "| requests | p50 | p99 | max | errors |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    for phase in alone scraped; do
        awk -v phase="$phase" -v p50="$(column_median "$results" 2 "$phase")" \
            -v p99="$(column_median "$results" 3 "$phase")" -v max="$(column_median "$results" 4 "$phase")" \
            -v errors="$(total "$results" 5 "$phase")" 'BEGIN {
                printf "| %s | %.3f ms | %.3f ms | %.3f ms | %d |\n",
                    (phase == "alone" ? "alone" : "while scraped"), p50 / 1000, p99 / 1000, max / 1000, errors
            }'
    done
    echo
    awk '{print $1 * 1000}' "$scrapes" | sort -g | awk '{v[NR] = $1} END {
        if (NR == 0) exit
        i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
        printf "- scrape time p99: %.2f ms (bar < 10 ms): %s\n", v[i99], (v[i99] < 10 ? "met" : "NOT met")
    }'
    awk -v a="$(column_median "$results" 3 scraped)" -v b="$(column_median "$results" 3 alone)" 'BEGIN {
        if (b <= 0) exit
        printf "- requests p99 while scraped / alone: %.2f (bar <= 1.1, no stall): %s\n", a / b, (a / b <= 1.1 ? "met" : "NOT met")
    }'
}

# Scrapes apiphant's /metrics every $scrape_every s as Prometheus does (bench/scraper.py:
# one process, one keep-alive connection), appending each scrape's time (seconds) to $1,
# until killed. Prometheus runs on another host; here the scraper runs on the load
# generator's CPU in the kernel's idle class (chrt --idle), so it takes only cycles oha
# leaves (a shell loop of curl there, or the scraper at normal priority, moved oha's own
# p99 with GET /livez as much as with /metrics). What the scrape costs the server (the
# rendering, the 170 kB written) stays on the server's CPU, where it is measured.
scrape_loop() {
    exec taskset -c "$wrk_cpu" chrt --idle 0 python3 "$here/scraper.py" \
        --interval "$scrape_every" "http://127.0.0.1:$admin_port/metrics" "$1"
}

# Idle keep-alive connections: each server in turn gets $1 connections that send one echo
# each and then stay open and silent for $idle_secs s (bench/idle_conns.py); the server's
# resident growth per connection, median of $runs run(s).
idle_mode() {
    local connections=$1 results="$work/idle" run name line
    : >"$results"
    for run in $(seq 1 "$runs"); do
        for name in $servers; do
            start_server "$name"
            if [[ "$warmup" != 0 ]]; then
                run_wrk 64 "$warmup" "$(echo_path "$name")" >/dev/null
            fi
            local extra=()
            if [[ $name == apiphant-ops ]]; then
                extra=(--header "Authorization: Bearer $ops_token")
            fi
            line=$(python3 "$here/idle_conns.py" --port "$port" --pid "$server_pid" \
                --path "$(echo_path "$name")" --conns "$connections" --idle-secs "$idle_secs" \
                "${extra[@]}" | sed -n 's/^BENCH //p')
            stop_server
            [[ -n "$line" ]] || { echo "idle_conns.py produced no result for $name" >&2; exit 1; }
            echo "$name $line" | awk '{
                for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                printf "%s %d %d %d %d %.2f\n", $1, v["rss_before"], v["rss_idle"], v["conns"],
                    v["answered"], (v["rss_idle"] - v["rss_before"]) / v["conns"]
            }' >>"$results"
            echo "  idle $name: $(tail -n 1 "$results")" >&2
        done
    done
    echo
    echo "Idle: $connections keep-alive connections, one echo each, then ${idle_secs} s silent (bench/idle_conns.py); RSS growth over the warmed-up server, median of $runs run(s)"
    echo
    echo "| server | connections | answered | RSS before | RSS idle | RSS / idle connection |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    for name in $servers; do
        awk -v n="$name" -v before="$(column_median "$results" 2 "$name")" \
            -v idle="$(column_median "$results" 3 "$name")" -v conns="$(column_median "$results" 4 "$name")" \
            -v answered="$(column_median "$results" 5 "$name")" -v per="$(column_median "$results" 6 "$name")" 'BEGIN {
                printf "| %s | %d | %d | %.1f MiB | %.1f MiB | %.1f KiB |\n", n, conns, answered,
                    before / 1024, idle / 1024, per
            }'
    done
    if [[ " $servers " == *" apiphant "* ]]; then
        awk -v per="$(column_median "$results" 6 apiphant)" 'BEGIN {
            printf "\n- apiphant RSS per idle connection: %.1f KiB (bar <= 12 KiB, issue 13): %s\n",
                per, (per <= 12 ? "met" : "NOT met")
        }'
    fi
}

case "$mode" in
    rate) rate_mode ;;
    scrape) scrape_mode ;;
    echo) echo_mode 64 ;;
    conns)
        needed=$((conns + 1024))
        if [[ $(ulimit -n) -lt $needed ]]; then
            ulimit -n "$needed" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
        fi
        if [[ $(ulimit -n) -lt $needed ]]; then
            echo "--conns $conns needs $needed open files; the hard limit is $(ulimit -Hn)" >&2
            exit 2
        fi
        echo_mode "$conns"
        idle_mode "$conns"
        ;;
    mixed) mixed_mode ;;
esac
