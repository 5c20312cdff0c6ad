#!/usr/bin/env bash
# Durable asynchronous calls on PostgreSQL, side by side with graphile-worker (issue 14,
# "Performance"; bench/README.md, "Jobs"). One command, a few minutes, a summary table:
#
#   bench/jobs.sh [--jobs N] [--workers "1 2 4"] [--concurrency C] [--conns C] [--secs S] [--no-build]
#   bench/jobs.sh --echo-under-enqueue [--echo-rate R] [--secs S] [--no-build]
#
# Starts its own PostgreSQL (Debian's initdb + pg_ctl in a temporary folder, as the postgres
# user when root, on a free loopback port; stopped by PID at the end). Then, for each worker
# count W:
#   apiphant: W apiphant-background processes (each its own product folder and lock, one
#     product: queue `reports` limit C per worker); oha POSTs N calls of the no-op
#     asynchronous action `v0/reports create` ({"numbers":[]}) with `Prefer: respond-async`
#     over `--conns` connections at full speed; jobs/s = N / (last finished_at - first
#     created_at), enqueue-to-start = started_at - created_at (the store's timestamps, ms);
#   graphile-worker (npm, pinned, installed into target/bench-tools/graphile-worker): W
#     processes with concurrency C running the no-op task `noop`; N jobs added with
#     WorkerUtils.addJob over `--conns` connections at full speed; jobs/s = N / (the moment
#     its jobs table is empty, polled - the first job's created_at); enqueue-to-start =
#     the task's Date.now() - job.created_at.
# Then each at half its own peak rate (fixed rate for S seconds: oha -q for apiphant, a
# paced addJob loop for graphile-worker) with the worker count of its peak: p50/p99
# enqueue-to-start. The goal (issue 14): apiphant's jobs/s >= graphile-worker's, and its
# p99 enqueue-to-start < 100 ms at half its peak.
#
# --echo-under-enqueue: echo (`v0/echo read`) at a fixed rate (--echo-rate, oha
# --latency-correction) for S seconds alone, then while a second oha enqueues async calls at
# full speed (2 workers running them): echo's p50/p99 in both.
#
# Needs: PostgreSQL (apt-get install postgresql), psql, curl, python3, node and npm (as root
# they are installed with apt-get when missing), oha (bench/lib.sh ensure_oha). Loopback only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

graphile_version=0.16.6 # the newest that runs on Debian's Node 20 (0.18 needs Node 22.18)
graphile_dir=$root/target/bench-tools/graphile-worker

jobs=2000 workers="1 2 4" concurrency=4 conns=16 secs=10 build=1 mode=jobs echo_rate=2000
while [[ $# -gt 0 ]]; do
    case $1 in
        --jobs) jobs=$2; shift 2 ;;
        --workers) workers=$2; shift 2 ;;
        --concurrency) concurrency=$2; shift 2 ;;
        --conns) conns=$2; shift 2 ;;
        --secs) secs=$2; shift 2 ;;
        --echo-rate) echo_rate=$2; shift 2 ;;
        --echo-under-enqueue) mode="echo"; shift ;;
        --no-build) build=0; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
for number in "$jobs" "$concurrency" "$conns" "$secs" "$echo_rate" $workers; do
    [[ $number =~ ^[1-9][0-9]*$ ]] || { echo "not a positive number: $number" >&2; exit 2; }
done
((jobs <= 100000 && secs <= 300)) || { echo "--jobs at most 100000, --secs at most 300" >&2; exit 2; }

pg_bin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | while read -r dir; do
    [[ -x $dir/initdb && -x $dir/pg_ctl ]] && echo "$dir"
done | tail -n 1)
[[ -n $pg_bin ]] || { echo "bench/jobs.sh needs PostgreSQL (apt-get install postgresql)" >&2; exit 2; }
for tool in psql curl python3; do
    command -v "$tool" >/dev/null || { echo "bench/jobs.sh needs $tool" >&2; exit 2; }
done
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    [[ $(id -u) -eq 0 ]] || { echo "bench/jobs.sh needs node and npm (apt-get install nodejs npm)" >&2; exit 2; }
    echo "installing nodejs and npm (apt-get)..." >&2
    apt-get install -y -q nodejs npm >&2
fi
ensure_oha
installed=$(node -p "require('$graphile_dir/node_modules/graphile-worker/package.json').version" 2>/dev/null || true)
if [[ $installed != "$graphile_version" ]]; then
    echo "installing graphile-worker $graphile_version into $graphile_dir (npm, once)..." >&2
    mkdir -p "$graphile_dir"
    echo '{"private": true}' >"$graphile_dir/package.json"
    (cd "$graphile_dir" && npm install --no-audit --no-fund --save-exact "graphile-worker@$graphile_version" >&2)
fi
export NODE_PATH=$graphile_dir/node_modules
if [[ $build -eq 1 ]]; then
    echo "building apiphant and the example product (release)..." >&2
    (cd "$root" && cargo build --release --workspace --quiet)
fi
release=$root/target/release
for file in apiphant apiphant-background libbackground.so libecho.so; do
    [[ -e $release/$file ]] || { echo "$release/$file is not built (cargo build --release --workspace)" >&2; exit 2; }
done

work=$(mktemp -d /tmp/apiphant-bench-jobs.XXXXXX)
pg_dir=$(mktemp -d /tmp/apiphant-bench-pg.XXXXXX)
pg_pid=""
pids=()
as_postgres() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
# stop PID...: SIGTERM, then waits for each (at most 20 s).
stop() {
    local pid tries
    for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "$@"; do
        for ((tries = 0; tries < 200; tries++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    done
}
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    stop "${pids[@]}"
    # PostgreSQL's fast shutdown: SIGINT to its postmaster.
    if [[ -n $pg_pid ]]; then
        kill -INT "$pg_pid" 2>/dev/null || true
        for _ in $(seq 1 200); do kill -0 "$pg_pid" 2>/dev/null || break; sleep 0.1; done
    fi
    if [[ $status -ne 0 ]]; then
        for file in "$work"/*.log "$pg_dir/server.log"; do
            [[ -s $file ]] && { echo "--- tail $file" >&2; tail -n 10 "$file" >&2; }
        done
    fi
    rm -rf "$work" "$pg_dir"
    exit "$status"
}
trap cleanup EXIT INT TERM
load() { cut -d' ' -f1-3 /proc/loadavg; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# wait_for SECS WHAT COMMAND...: until COMMAND succeeds, polling every 20 ms.
wait_for() {
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@"; do
        ((SECONDS < deadline)) || { echo "timed out waiting for $what" >&2; exit 1; }
        sleep 0.02
    done
}

# ------------------------------------------------------------------------- PostgreSQL
pg_port=$(free_port)
[[ $(id -u) -ne 0 ]] || chown postgres:postgres "$pg_dir"
as_postgres "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust --no-sync -E UTF8 \
    >"$pg_dir/initdb.log" 2>&1 || { tail -n 5 "$pg_dir/initdb.log" >&2; exit 1; }
as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg_dir -c max_connections=200" start >/dev/null
pg_pid=$(head -n 1 "$pg_dir/data/postmaster.pid")
url=postgres://postgres@127.0.0.1:$pg_port/postgres
sql() { psql -X -At -v ON_ERROR_STOP=1 "$url" -c "$1"; }
pg_version=$("$pg_bin/pg_ctl" --version | awk '{print $3}')
echo "PostgreSQL $pg_version (pid $pg_pid, default settings: fsync and synchronous_commit on) on 127.0.0.1:$pg_port; $(nproc) cores; load $(load)" >&2

# ------------------------------------------------------------------- apiphant's product
# product DIR: an installed product (apiphant.toml, plugins/*.so) on the database.
product() {
    mkdir -p "$1/plugins"
    cp "$release/libbackground.so" "$release/libecho.so" "$1/plugins/"
    cat >"$1/apiphant.toml" <<EOF
name = "benchjobs"

[database]
url = "$url"

[jobs.queues]
reports = $concurrency
EOF
}
product "$work/server"
server_port=$(free_port)
RUST_LOG=warn "$release/apiphant" "$work/server" "127.0.0.1:$server_port" --no-build 2>"$work/server.log" &
server_pid=$!
pids+=("$server_pid")
answers() {
    [[ $(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$server_port/api/v0/reports/create" \
        -d '{"numbers":[]}') == 200 ]]
}
wait_for 30 "apiphant to answer" answers
create=http://127.0.0.1:$server_port/api/v0/reports/create

# start_apiphant W: W workers; their PIDs in worker_pids; returns once each listens.
start_apiphant() {
    local i
    worker_pids=()
    for ((i = 1; i <= $1; i++)); do
        [[ -d $work/worker-$i ]] || product "$work/worker-$i"
        RUST_LOG=warn "$release/apiphant-background" "$work/worker-$i" --no-build 2>>"$work/worker-$i.log" &
        worker_pids+=($!)
        pids+=($!)
    done
    wait_for 60 "$1 apiphant worker(s) to listen" listening "LISTEN apiphant_jobs" "$1"
}
# listening QUERY N: N sessions whose latest statement is QUERY.
listening() {
    [[ $(sql "SELECT count(*) FROM pg_stat_activity WHERE query = '$1'") == "$2" ]]
}
# enqueue ARGS...: oha POSTing the no-op async call (ARGS: -n N or -q R -z Ss); prints
# "accepted other".
enqueue() {
    "$oha" "$@" -c "$conns" --no-tui --output-format json -m POST -H 'Prefer: respond-async' \
        -H 'Content-Type: application/json' -d '{"numbers":[]}' "$create" |
        python3 -c '
import json, sys
r = json.load(sys.stdin)
codes = {int(k): v for k, v in r["statusCodeDistribution"].items()}
print(codes.get(202, 0), sum(codes.values()) - codes.get(202, 0) + sum(r["errorDistribution"].values()))'
}
# apiphant_stats: "jobs jobs/s p50 p99" of the succeeded jobs (ms, store timestamps).
apiphant_stats() {
    sql "SELECT count(*), round(count(*) * 1000.0 / greatest(max(finished_at) - min(created_at), 1)),
        percentile_disc(0.5) WITHIN GROUP (ORDER BY started_at - created_at),
        percentile_disc(0.99) WITHIN GROUP (ORDER BY started_at - created_at)
        FROM apiphant_jobs WHERE state = 'succeeded'" | tr '|' ' '
}
# done_apiphant N: at least N jobs succeeded and none waits or runs (oha may abort a call at
# its deadline after the server stored it: that job counts too).
done_apiphant() {
    [[ $(sql "SELECT count(*) FILTER (WHERE state = 'succeeded') >= $1 AND count(*) FILTER (WHERE state IN ('queued', 'running')) = 0 FROM apiphant_jobs") == t ]]
}

# run_apiphant W ARGS...: one run (ARGS for enqueue); sets result to "jobs jobs/s p50 p99".
run_apiphant() {
    local w=$1 sent
    shift
    sql "TRUNCATE apiphant_jobs" >/dev/null
    start_apiphant "$w"
    sent=$(enqueue "$@")
    sent=${sent%% *}
    wait_for 300 "apiphant's $sent jobs to succeed" done_apiphant "$sent"
    stop "${worker_pids[@]}"
    [[ $(sql "SELECT count(*) FROM apiphant_jobs WHERE state <> 'succeeded'") == 0 ]] ||
        { echo "apiphant: jobs not succeeded: $(sql "SELECT state, count(*) FROM apiphant_jobs GROUP BY 1")" >&2; exit 1; }
    result=$(apiphant_stats)
}

# ------------------------------------------------------------------- graphile-worker
node "$here/graphile.js" migrate "$url"
# start_graphile W: W worker processes; returns once each listens.
start_graphile() {
    local i
    worker_pids=()
    for ((i = 1; i <= $1; i++)); do
        node "$here/graphile.js" worker "$url" "$concurrency" "$work/graphile-$i.starts" 2>>"$work/graphile-$i.log" &
        worker_pids+=($!)
        pids+=($!)
    done
    wait_for 60 "$1 graphile-worker(s) to listen" graphile_listening "$1"
}
graphile_listening() {
    [[ $(sql "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'listen \"jobs:insert\"%'") -ge $1 ]]
}
graphile_empty() { [[ $(sql "SELECT count(*) FROM graphile_worker.jobs") == 0 ]]; }
# run_graphile W MODE ARGS...: one run (MODE add N, or rate R S); sets result to "jobs jobs/s p50 p99".
run_graphile() {
    local w=$1 ended
    shift
    rm -f "$work"/graphile-*.starts
    start_graphile "$w"
    node "$here/graphile.js" "$1" "$url" "$2" "$3"
    wait_for 300 "graphile-worker's jobs to end" graphile_empty
    ended=$(now_ms)
    stop "${worker_pids[@]}"
    result=$(cat "$work"/graphile-*.starts | python3 -c '
import sys
ended = int(sys.argv[1])
rows = [tuple(map(int, line.split())) for line in sys.stdin if line.strip()]
lat = sorted(s - c for c, s in rows)
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0
first = min(c for c, _ in rows)
print(len(rows), round(len(rows) * 1000 / max(ended - first, 1)), pick(0.5), pick(0.99))' "$ended")
}

# ------------------------------------------------------------------------- the runs
results=$work/results
if [[ $mode == jobs ]]; then
    echo "$jobs jobs per run, $conns enqueue connections, concurrency $concurrency per worker; fixed rate for $secs s" >&2
    for w in $workers; do
        run_apiphant "$w" -n "$jobs"
        echo "apiphant full $w $result $(load)" | tee -a "$results" >&2
        run_graphile "$w" add "$jobs" "$conns"
        echo "graphile full $w $result $(load)" | tee -a "$results" >&2
    done
    for system in apiphant graphile; do
        read -r w peak < <(awk -v s="$system" '$1 == s && $2 == "full" && $5 > best {best = $5; w = $3} END {print w, best}' "$results")
        half=$((peak / 2))
        ((half >= 1)) || half=1
        if [[ $system == apiphant ]]; then
            run_apiphant "$w" -q "$half" -z "${secs}s"
        else
            run_graphile "$w" rate "$half" "$secs"
        fi
        echo "$system half:$half/s $w $result $(load)" | tee -a "$results" >&2
    done
    echo
    echo "jobs end to end (enqueue to success), $jobs per full-speed run; PostgreSQL $pg_version; graphile-worker $graphile_version; concurrency $concurrency per worker"
    printf '%-9s %-14s %7s %6s %8s %8s %8s  %s\n' system run workers jobs "jobs/s" "p50 ms" "p99 ms" "load (1 5 15 min)"
    awk '{printf "%-9s %-14s %7s %6s %8s %8s %8s  %s %s %s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10}' "$results"
    echo
    for w in $workers; do
        awk -v w="$w" '$2 == "full" && $3 == w {rate[$1] = $5} END {
            printf "%s worker(s): apiphant/graphile-worker jobs/s = %.2f\n", w, rate["apiphant"] / rate["graphile"]}' "$results"
    done
    awk '$1 == "apiphant" && $2 ~ /^half/ {
        printf "apiphant p99 enqueue-to-start at half its peak (%s): %s ms (goal < 100 ms: %s)\n", $2, $7, ($7 < 100 ? "met" : "NOT met")}' "$results"
else
    echo_body='{"hello": "world"}'
    # echo_run: oha on echo at the fixed rate; prints "requests/s p50_ms p99_ms errors".
    echo_run() {
        "$oha" -z "${secs}s" -q "$echo_rate" -c 64 --latency-correction --no-tui --output-format json \
            -m POST -H 'Content-Type: application/json' -d "$echo_body" \
            "http://127.0.0.1:$server_port/api/v0/echo/read" | python3 -c '
import json, sys
r = json.load(sys.stdin)
codes = {int(k): v for k, v in r["statusCodeDistribution"].items()}
lat = r["latencyPercentiles"]
print(round(codes.get(200, 0) / r["summary"]["total"]), "%.2f" % (lat["p50"] * 1e3), "%.2f" % (lat["p99"] * 1e3),
      sum(codes.values()) - codes.get(200, 0) + sum(v for k, v in r["errorDistribution"].items() if "deadline" not in k))'
    }
    sql "TRUNCATE apiphant_jobs" >/dev/null
    start_apiphant 2
    read -r rps p50 p99 errors <<<"$(echo_run)"
    echo "echo alone $echo_rate $rps $p50 $p99 $errors - $(load)" | tee -a "$results" >&2
    enqueue -z "$((secs + 2))s" >"$work/enqueued" &
    enqueuer=$!
    sleep 1
    read -r rps p50 p99 errors <<<"$(echo_run)"
    wait "$enqueuer"
    read -r sent _ <"$work/enqueued"
    echo "echo under-enqueue $echo_rate $rps $p50 $p99 $errors $((sent / (secs + 2))) $(load)" | tee -a "$results" >&2
    wait_for 300 "the enqueued jobs to succeed" done_apiphant "$sent"
    stop "${worker_pids[@]}"
    echo
    echo "echo (v0/echo read) at $echo_rate requests/s for $secs s (oha -c 64 --latency-correction), alone and while oha enqueues async calls at full speed over $conns connections (2 workers running them)"
    printf '%-6s %-14s %8s %8s %8s %7s %11s  %s\n' route run offered "req/s" "p50 ms" "p99 ms" "enqueued/s" "load (1 5 15 min)"
    awk '{printf "%-6s %-14s %8s %8s %8s %7s %11s  %s %s %s\n", $1, $2, $3, $4, $5, $6, $8, $9, $10, $11}' "$results"
fi
