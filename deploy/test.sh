#!/usr/bin/env bash
# The deploy, tested for real (run by ./test.sh; alone: deploy/test.sh after cargo build).
# Runs deploy/deploy.sh --sandbox: real nginx and supervisord processes, configured from the
# same templates as a real deploy into a temporary folder, on free loopback ports, as the
# current user. Only apt, the system user and the system's own services are left out.
# Checks: echo through nginx; static files; nginx's body limit; nginx's own answers in JSON
# (every malformed request shape over raw sockets, deploy/json-errors.py; the pool down: 502;
# stalled: 504; nginx failing to spool a body: 500); with 2 API processes, one
# killed (SIGKILL, by PID) while requests flow: none fails and supervisor restarts it; a
# plugin crashing its process (the crash blast radius, measured and printed: BLAST lines); the
# background worker runs under supervisor and logs where the config says; logrotate rotates
# nginx's logs and nginx reopens them; a live reload (deploy/reload.sh: SIGHUP) while
# requests flow: none fails, every API process reloads in place (same PID); bad --rate-limit values refused (exit 2,
# nothing changed), then --rate-limit: a burst gets 429s in JSON; a second instance of the
# product (--instance) beside the first, over HTTPS (curl --cacert, HTTP/2, HSTS, 308 from
# plain HTTP, JSON errors, sslyze's intermediate profile, renewal by reload), then
# --uninstall of it, idempotent; a real Prometheus scraping every API process's admin
# listener from the deploy's PREFIX/etc/prometheus-scrape.yml (up == 1 for each, a request
# counter that grows after traffic, through its HTTP API); teardown by PID.
# Needs nginx, supervisor, logrotate, curl, python3, prometheus: FAILS without them, unless
# APIPHANT_SKIP_DEPLOY_TEST=1 (then it says SKIPPED and exits 0).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR source=lib.sh
source deploy/lib.sh

# The worker check runs, and must pass, once the worker is in the code base
# (src/bin/apiphant-background.rs, issue 3). Before that it prints "NOT CHECKED" (never a
# silent skip). APIPHANT_DEPLOY_EXPECT_BACKGROUND=1 / =0 overrides the detection.
if [[ -f src/bin/apiphant-background.rs ]]; then default_expect=1; else default_expect=0; fi
EXPECT_BACKGROUND=${APIPHANT_DEPLOY_EXPECT_BACKGROUND:-$default_expect}

# Requests in each phase: a bounded loop; kill / reload happen in the middle of it.
REQUESTS_BEFORE=40 # per client, before the kill / reload
REQUESTS_AFTER=40  # per client, after the restart / reload is complete
CLIENTS=2

missing=()
for tool in nginx supervisord supervisorctl logrotate curl python3 prometheus; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    if [[ ${APIPHANT_SKIP_DEPLOY_TEST:-0} == 1 ]]; then
        echo "deploy test SKIPPED (APIPHANT_SKIP_DEPLOY_TEST=1): missing ${missing[*]}"
        exit 0
    fi
    echo "deploy test FAILED: missing ${missing[*]} (apt-get install nginx supervisor logrotate curl python3 prometheus;"
    echo "or APIPHANT_SKIP_DEPLOY_TEST=1 to skip this test knowingly)"
    exit 1
fi
[[ -x target/debug/apiphant ]] || die "target/debug/apiphant is not built (cargo build --workspace)"

# sslyze (pinned in deploy/test-requirements.txt), in a virtualenv under target/: installed
# here when missing (.ci/run installs it first).
venv=${CARGO_TARGET_DIR:-target}/deploy-test-venv
if ! "$venv/bin/pip" freeze 2>/dev/null | grep -qxFf <(grep -v '^#' deploy/test-requirements.txt); then
    echo "deploy test: installing deploy/test-requirements.txt into $venv"
    { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet -r deploy/test-requirements.txt; } ||
        die "could not install deploy/test-requirements.txt into $venv (python3 -m venv: apt-get install python3-venv; pip needs the network)"
fi
command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"

sandbox=$(mktemp -d /tmp/apiphant-deploy-test.XXXXXX)
clients=()
prometheus_pid=""
failed=1
cleanup() {
    local status=$?
    local pid
    trap - EXIT INT TERM
    for pid in "${clients[@]}"; do kill "$pid" 2>/dev/null || true; done
    [[ -z $prometheus_pid ]] || kill "$prometheus_pid" 2>/dev/null || true
    if [[ -s $sandbox/etc/supervisord.conf ]]; then
        deploy/deploy.sh --sandbox "$sandbox" --stop || true
    fi
    if [[ $failed == 1 || $status != 0 ]]; then
        echo "--- deploy test FAILED; logs:"
        for file in "$sandbox"/srv/*/log/*.log "$sandbox"/run/*.log; do
            [[ -f $file ]] || continue
            echo "--- tail $file"
            tail -n 15 "$file"
        done
        status=1
    fi
    rm -rf "$sandbox"
    exit "$status"
}
trap cleanup EXIT INT TERM

# free_base COUNT: a port with COUNT free consecutive ports from it (on 127.0.0.1), and
# as many free from it + ADMIN_OFFSET (the API processes' admin ports), below Linux's
# ephemeral range; bound and released to check (python3), else probed.
free_base() {
    local count=$1 base port ok
    for _ in $(seq 1 100); do
        base=$((20000 + RANDOM % 11000))
        if command -v python3 >/dev/null; then
            python3 -c '
import socket, sys
base, count, offset = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
held = []
for port in [*range(base, base + count), *range(base + offset, base + offset + count)]:
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    held.append(s)
' "$base" "$count" "$ADMIN_OFFSET" 2>/dev/null && {
                echo "$base"
                return
            }
        else
            ok=1
            for ((port = base; port < base + count; port++)); do
                if (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then ok=0; fi
                if (: <"/dev/tcp/127.0.0.1/$((port + ADMIN_OFFSET))") 2>/dev/null; then ok=0; fi
            done
            [[ $ok == 1 ]] && {
                echo "$base"
                return
            }
        fi
    done
    die "no free ports found"
}

# in_pool PORT BASE: PORT is one of 2 API ports from BASE or their admin ports, or the
# worker's admin port (the third from BASE + ADMIN_OFFSET).
in_pool() {
    (($1 >= $2 && $1 <= $2 + 2)) || (($1 >= $2 + ADMIN_OFFSET && $1 <= $2 + ADMIN_OFFSET + 2))
}

# 3: the 2 API ports and the next, whose admin port (+ADMIN_OFFSET) is the worker's.
api_base=$(free_base 3)
listen=$(free_base 1)
while in_pool "$listen" "$api_base"; do listen=$(free_base 1); done

# --read-timeout 2: the 504 check below waits for it (twice: a read is tried on each process).
params=(--sandbox "$sandbox" --processes 2 --first-port "$api_base" --listen "$listen" --profile debug
    --read-timeout 2)
echo "deploy test: sandbox $sandbox, nginx on 127.0.0.1:$listen, API on 127.0.0.1:$api_base..$((api_base + 1))"
echo "deploy test: skipped here (the real deploy's root-only steps): apt install, the system user;"
echo "             nginx and supervisord are the sandbox's own processes, not the system's services"
echo "             (the build is test.sh's debug build: --no-build --profile debug)"

# The same parameters give the test the deploy's paths and helpers (lib.sh).
parse_params params_help "${params[@]}"
finish_params

check() {
    if "$@"; then return 0; fi
    die "check failed: $*"
}
ok() { echo "ok (${SECONDS}s): $*"; }

# ---------------------------------------------------------------------------- 1. deploy
deploy_log=$sandbox/deploy.out
deploy/deploy.sh "${params[@]}" --no-build 2>&1 | tee "$deploy_log"
grep -q 'quick test: POST .* --> 200 {"hello":"world","server":"myproduct"}' "$deploy_log" ||
    die "deploy.sh did not end with the quick test's answer"
ok "deploy.sh --sandbox: installed, configured, started; quick test through nginx answered"

url=$NGINX_URL/api/v0/echo/read
answer=$(curl -sS --max-time 5 -X POST "$url" -d '{"hello": "world"}')
check [ "$answer" = '{"hello":"world","server":"myproduct"}' ]
ok "echo through nginx: $answer"

check grep -q '"openapi":"3.1.0"' <(curl -sS --max-time 5 "$NGINX_URL/.well-known/openapi.json")
ok "the OpenAPI document through nginx"
check grep -q '<h1>myproduct API</h1>' <(curl -sS --max-time 5 "$NGINX_URL/.well-known/api.html")
ok "the page of the API through nginx"
# Request ids: the client's X-Request-Id through nginx to the API and back, else nginx's own.
headers=$(curl -sS --max-time 5 -o /dev/null -D - -X POST "$url" -H 'X-Request-Id: deploy-check-1' -d '{}')
check grep -qi '^x-request-id: deploy-check-1' <<<"$headers"
headers=$(curl -sS --max-time 5 -o /dev/null -D - -X POST "$url" -d '{}')
check grep -Eqi '^x-request-id: [0-9a-f]{32}' <<<"$headers"
wait_until 10 "the request id in nginx's access log" \
    grep -qs 'req=deploy-check-1$' "$LOG_DIR/nginx-access.log"
check grep -qs 'req=deploy-check-1 user=-' "$LOG_DIR/$PRODUCT"-api-*.log
ok "request ids: the client's kept through nginx, nginx's \$request_id otherwise, in both logs"

# ------------------------------------------------------------ Prometheus scrapes the pool
# A real Prometheus, with the deploy's scrape config (its interval shortened to 1 s), on a
# free loopback port and a storage folder in the sandbox: every API process up, and the
# echo counter grows after traffic, read through Prometheus's HTTP API.
scrape=$PREFIX/etc/prometheus-scrape.yml
check test -s "$scrape"
for port in "${ADMIN_PORTS[@]}"; do
    check grep -qF "\"127.0.0.1:$port\"" "$scrape"
    check [ "$(curl -sS --max-time 5 "http://127.0.0.1:$port/readyz")" = ready ]
done
prometheus_port=$(free_base 1)
sed 's/^\(  scrape_interval:\).*/\1 1s/' "$scrape" >"$sandbox/prometheus.yml"
prometheus --config.file="$sandbox/prometheus.yml" --storage.tsdb.path="$sandbox/prometheus-data" \
    --web.listen-address="127.0.0.1:$prometheus_port" >"$sandbox/prometheus.log" 2>&1 &
prometheus_pid=$!
# prom_value QUERY: the query's single value through /api/v1/query (fails when it has none).
prom_value() {
    curl -sS --max-time 5 -G "http://127.0.0.1:$prometheus_port/api/v1/query" --data-urlencode "query=$1" |
        python3 -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1]) if len(r) == 1 else sys.exit(1)'
}
# prom_is QUERY VALUE: the query's value is VALUE.
prom_is() {
    [[ $(prom_value "$1") == "$2" ]]
}
up_query="count(up{job=\"$INSTANCE-api\"} == 1)"
wait_until 60 "Prometheus to see all ${#ADMIN_PORTS[@]} API processes up (log: $sandbox/prometheus.log)" \
    prom_is "$up_query" "${#ADMIN_PORTS[@]}"
# The background worker's own admin listener, scraped as its own job.
worker_up="not checked"
if [[ $EXPECT_BACKGROUND == 1 ]]; then
    check grep -qF "\"127.0.0.1:$BACKGROUND_ADMIN_PORT\"" "$scrape"
    wait_until 60 "Prometheus to see the background worker up (127.0.0.1:$BACKGROUND_ADMIN_PORT)" \
        prom_is "count(up{job=\"$INSTANCE-background\"} == 1)" 1
    wait_until 20 "the worker's task runs in Prometheus" \
        prom_value "sum(apiphant_task_runs_total{job=\"$INSTANCE-background\"})"
    worker_up="up == 1, $(prom_value "sum(apiphant_task_runs_total{job=\"$INSTANCE-background\"})") task run(s)"
fi
echo_total="sum(apiphant_requests_total{job=\"$INSTANCE-api\",route=\"v0/echo\",action=\"read\",status=\"200\"})"
wait_until 10 "Prometheus's first echo count" prom_value "$echo_total"
before=$(prom_value "$echo_total")
for n in $(seq 1 10); do
    check [ "$(curl -sS --max-time 5 -X POST "$url" -d "{\"n\": $n}")" = "{\"n\":$n,\"server\":\"myproduct\"}" ]
done
# prom_grew QUERY FROM: the query's value is at least FROM + 10.
prom_grew() {
    local now
    now=$(prom_value "$1") || return 1
    python3 -c 'import sys; sys.exit(float(sys.argv[1]) < float(sys.argv[2]) + 10)' "$now" "$2"
}
wait_until 20 "Prometheus to count the 10 echo requests (from $before)" prom_grew "$echo_total" "$before"
after=$(prom_value "$echo_total")
kill "$prometheus_pid"
wait "$prometheus_pid" || true
prometheus_pid=""
ok "Prometheus scraped every API process (up == 1 for ${#ADMIN_PORTS[@]}); the echo counter grew: $before -> $after; the background worker: $worker_up"

check grep -q '<h1>myproduct</h1>' <(curl -sS --max-time 5 "$NGINX_URL/")
ok "static public/index.html served by nginx"

code=$(head -c $((16 * 1024 * 1024 + 1)) /dev/zero |
    curl -s -o "$sandbox/413.out" -w '%{http_code}' --max-time 20 -X POST "$url" --data-binary @-) || true
check [ "$code" = 413 ]
check grep -q '"error"' "$sandbox/413.out"
ok "a body above max_body_bytes (16 MiB): nginx answers 413 in JSON"

# ------------------------------------------------ nginx's own answers, in JSON (raw sockets)
# Every malformed shape nginx refuses itself, over raw sockets (deploy/json-errors.py: the
# status, Content-Type: application/json, {"error":"<status line>"}); and a head left
# unfinished, which nginx closes after client_header_timeout sending nothing: that one waits
# header_timeout_secs, so it runs meanwhile the pool checks below.
header_timeout=$(ceil "$(config_get server.header_timeout_secs)")
python3 deploy/json-errors.py 127.0.0.1 "${LISTEN##*:}" --slow "$header_timeout" >"$sandbox/json-errors.out" 2>&1 &
json_errors=$!
clients+=("$json_errors")

# The pool down (its API programs stopped): 502.
for program in "${API_PROGRAMS[@]}"; do ctl stop "$GROUP:$program" >/dev/null; done
check python3 deploy/json-errors.py 127.0.0.1 "${LISTEN##*:}" --expect 502
for program in "${API_PROGRAMS[@]}"; do ctl start "$GROUP:$program" >/dev/null; done
wait_pool
ok "every API process stopped: nginx answers 502 in JSON; started again"

# The pool stalled (SIGSTOP: connections accepted, nothing answered): 504 after
# --read-timeout (2 s) on each process.
stopped=()
for program in "${API_PROGRAMS[@]}"; do stopped+=("$(program_pid "$program")"); done
kill -STOP "${stopped[@]}"
python3 deploy/json-errors.py 127.0.0.1 "${LISTEN##*:}" --expect 504 || {
    kill -CONT "${stopped[@]}"
    die "check failed: 504 in JSON"
}
kill -CONT "${stopped[@]}"
ok "every API process stalled (SIGSTOP, then SIGCONT): nginx answers 504 in JSON"

# nginx failing itself: a body above client_body_buffer_size (1 MiB) goes to a temporary
# file, and its folder is made a plain file: 500.
body_temp=$RUN_DIR/nginx-tmp/body
mv "$body_temp" "$body_temp.away"
touch "$body_temp"
python3 deploy/json-errors.py 127.0.0.1 "${LISTEN##*:}" --expect 500 --body-bytes 2000000 || {
    rm -f "$body_temp" && mv "$body_temp.away" "$body_temp"
    die "check failed: 500 in JSON"
}
rm -f "$body_temp" && mv "$body_temp.away" "$body_temp"
ok "nginx unable to spool a body (its temporary folder broken): 500 in JSON"

# Statuses no request can make nginx send here (408: nginx closes instead, as above; 411:
# only its DAV module sends it; 503: limit_req sends 429, a dead pool 502) are mapped all
# the same: each has its error_page in the installed site.
for entry in "${NGINX_ERRORS[@]}"; do
    read -r code status _ <<<"$entry"
    check grep -qF "error_page $code =$status /.apiphant-error/$code;" "$NGINX_SITE"
done
ok "every status of NGINX_ERRORS has its JSON error_page in the installed site (${#NGINX_ERRORS[@]})"

wait "$json_errors" || {
    cat "$sandbox/json-errors.out"
    die "check failed: nginx's own answers in JSON (above)"
}
clients=()
cat "$sandbox/json-errors.out"
ok "every malformed request shape through nginx: answered in JSON (deploy/json-errors.py)"

check [ "$(deploy/quick-test.sh --sandbox "$sandbox" | grep -c -- '--> 200')" = 1 ]
ok "deploy/quick-test.sh"

# -------------------------------------------------------------- requests while disrupting
# client OUT: POSTs echo through nginx until $sandbox/stop exists (or 5000 requests), one
# status code per line.
client() {
    local n=0 code
    while [[ ! -e $sandbox/stop ]] && ((n < 5000)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST "$url" -d "{\"n\": $n}") || true
        echo "${code:-000}" >>"$1"
        n=$((n + 1))
    done
}

start_clients() {
    rm -f "$sandbox/stop" "$sandbox"/client-*.out
    clients=()
    local i
    for ((i = 0; i < CLIENTS; i++)); do
        touch "$sandbox/client-$i.out"
        client "$sandbox/client-$i.out" &
        clients+=($!)
    done
}

# requests_done: total requests answered so far by all clients.
requests_done() {
    cat "$sandbox"/client-*.out | wc -l
}

# wait_requests N: until the clients made N more requests (bounded).
wait_requests() {
    local target=$(($(requests_done) + $1))
    local tries
    for ((tries = 0; tries < 600; tries++)); do
        (($(requests_done) >= target)) && return 0
        sleep 0.05
    done
    die "the clients made no progress (30 s)"
}

# stop_clients WHAT: stops them; every request must have been answered 200.
stop_clients() {
    touch "$sandbox/stop"
    local pid
    for pid in "${clients[@]}"; do wait "$pid" || true; done
    clients=()
    local total bad
    total=$(requests_done)
    bad=$(cat "$sandbox"/client-*.out | grep -vc '^200$' || true)
    if [[ $bad != 0 ]]; then
        cat "$sandbox"/client-*.out | sort | uniq -c
        die "$1: $bad of $total requests through nginx failed"
    fi
    ok "$1: all $total requests through nginx answered 200 ($CLIENTS clients)"
}

program=${API_PROGRAMS[1]}

# --------------------------------------------------------- 2. kill one API process (by PID)
old_pid=$(program_pid "$program")
start_clients
wait_requests $((REQUESTS_BEFORE * CLIENTS))
kill -KILL "$old_pid"
echo "killed $program (pid $old_pid) with SIGKILL after $(requests_done) requests"
new_pid=""
for ((tries = 0; tries < 300; tries++)); do
    # The port answers again (cheap to poll), then supervisor names the new process.
    if answers "${API_PORTS[1]}"; then
        new_pid=$(program_pid "$program") || new_pid=""
        [[ -n $new_pid && $new_pid != "$old_pid" ]] && break
    fi
    sleep 0.1
done
[[ -n $new_pid && $new_pid != "$old_pid" ]] || die "supervisor did not restart $program within 30 s"
echo "supervisor restarted $program (pid $new_pid), answering, after $(requests_done) requests"
wait_requests $((REQUESTS_AFTER * CLIENTS))
stop_clients "one of 2 API processes killed and restarted by supervisor"

# ---------------------------------------------- 2b. crash blast radius (a plugin aborts)
# A plugin action that ends its process (tests/fixtures/crash: abort, as a segfault or a
# stack overflow would), installed beside the product's plugins for this section only.
# Measured: which requests in flight fail, how fast supervisor brings the process back,
# what nginx retries (a read once on each process; create / update / delete never after
# they were sent). Printed as BLAST lines; docs/limits.md, "Crash blast radius".
crash_so=target/debug/libfixture_crash.so
check test -f "$crash_so"
install -m 0644 "$crash_so" "$PREFIX/plugins/libfixture_crash.so"
roll >/dev/null
wait_pool
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# api_pids: the API programs' PIDs, space-separated ("-" for one not running).
api_pids() {
    local program out=()
    for program in "${API_PROGRAMS[@]}"; do out+=("$(program_pid "$program" || echo -)"); done
    echo "${out[*]}"
}
# pool_back: every API process runs under supervisor (RUNNING, a PID) and answers.
pool_back() {
    local i pids
    read -r -a pids <<<"$(api_pids)"
    for i in "${!API_PORTS[@]}"; do
        [[ ${pids[$i]} != - ]] && answers "${API_PORTS[$i]}" || return 1
    done
}
# replaced BEFORE AFTER: how many API processes have another PID in AFTER than in BEFORE.
replaced() {
    local i count=0 was now
    read -r -a was <<<"$1"
    read -r -a now <<<"$2"
    for i in "${!was[@]}"; do [[ ${was[$i]} == "${now[$i]}" ]] || count=$((count + 1)); done
    echo "$count"
}
# crash ACTION: POSTs v0/crash ACTION through nginx (502 expected), waits (30 s bound) until
# every API process is back; sets crash_started, crash_answered, back (ms), pids_after and
# crashed (processes replaced since pids_before).
crash() {
    crash_started=$(now_ms)
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 -X POST "$NGINX_URL/api/v0/crash/$1" -d '{}') || true
    crash_answered=$(now_ms)
    check [ "$code" = 502 ]
    wait_until 30 "supervisor to bring the crashed API processes back" pool_back
    back=$(now_ms)
    pids_after=$(api_pids)
    crashed=$(replaced "$pids_before" "$pids_after")
}
# slow CODE_FILE PATH MS: one POST taking MS ms on the process it reaches; its status appended.
slow() {
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 -X POST "$NGINX_URL$2" -d "{\"ms\": $3}") || true
    echo "${code:-000}" >>"$1"
}

# A. A crashing create while echo clients run and slow requests are in flight on both
#    processes: 8 reads (v0/slow, 1.5 s) and 8 updates (v0/crash update, 1.5 s).
pids_before=$(api_pids)
start_clients
wait_requests $((REQUESTS_BEFORE * CLIENTS))
: >"$sandbox/slow-read.out"
: >"$sandbox/slow-update.out"
inflight=()
for _ in 1 2 3 4 5 6 7 8; do
    slow "$sandbox/slow-read.out" /api/v0/slow/read 1000 &
    inflight+=($!)
    slow "$sandbox/slow-update.out" /api/v0/crash/update 1500 &
    inflight+=($!)
done
sleep 0.5
crash create
check [ "$crashed" = 1 ]
for pid in "${inflight[@]}"; do wait "$pid" || true; done
reads_ok=$(grep -c '^200$' "$sandbox/slow-read.out" || true)
updates_ok=$(grep -c '^200$' "$sandbox/slow-update.out" || true)
updates_502=$(grep -c '^502$' "$sandbox/slow-update.out" || true)
echo "BLAST create: 502 to the crashing request after $((crash_answered - crash_started)) ms; $crashed of ${#API_PROGRAMS[@]} processes crashed (pids $pids_before -> $pids_after)"
echo "BLAST create: supervisor restarted it, answering $((back - crash_answered)) ms after the crash"
echo "BLAST create: in flight: slow reads $reads_ok/8 answered 200 (nginx retried those of the crashed process on the other); slow updates $updates_ok/8 200, $updates_502/8 502 (not retried: non-idempotent)"
check [ "$reads_ok" = 8 ]
check [ $((updates_ok + updates_502)) = 8 ]
wait_requests $((REQUESTS_AFTER * CLIENTS))
stop_clients "a plugin crashing one of 2 API processes (abort in an action), the other kept serving"

# B. A crashing read, alone: nginx retries it on the next process, which crashes too (a
#    read that crashes every time takes each process down once, then the client gets 502).
pids_before=$(api_pids)
crash read
echo "BLAST read: 502 after $((crash_answered - crash_started)) ms; $crashed of ${#API_PROGRAMS[@]} processes crashed (nginx retried the read on each); all back $((back - crash_answered)) ms later"
check [ "$crashed" = "${#API_PROGRAMS[@]}" ]
rm -f "$PREFIX/plugins/libfixture_crash.so"
roll >/dev/null
wait_pool
ok "crash blast radius measured (BLAST lines above); the crash fixture removed again"

# ------------------------------------------------------------------ 3. the background worker
background_log=$(sed -n "/^\[program:$BACKGROUND_PROGRAM\]/,/^\[/s/^stdout_logfile=//p" "$SUPERVISOR_CONF")
check [ "$background_log" = "$LOG_DIR/$BACKGROUND_PROGRAM.log" ]
if [[ $EXPECT_BACKGROUND == 1 ]]; then
    wait_until 20 "$BACKGROUND_PROGRAM to run under supervisor" program_pid "$BACKGROUND_PROGRAM"
    # The example product's update_something runs at start: its "Task ...: OK." line.
    wait_until 30 "a task's OK line in $BACKGROUND_PROGRAM's log at $background_log" \
        grep -q 'Task .*: OK' "$background_log"
    ok "$BACKGROUND_PROGRAM RUNNING under supervisor (pid $(program_pid "$BACKGROUND_PROGRAM")), logging to $background_log:"
    tail -n 3 "$background_log"
else
    echo "NOT CHECKED: $BACKGROUND_PROGRAM (apiphant-background, issue 3, is not on this branch yet:"
    echo "             no src/bin/apiphant-background.rs); its program is configured"
    echo "             with its log at $background_log; supervisor says: $(ctl status "$GROUP:$BACKGROUND_PROGRAM" || true)"
fi

# ------------------------------------------------------------------ 4. logrotate, nginx logs
access_log=$LOG_DIR/nginx-access.log
check test -s "$access_log"
logrotate -s "$RUN_DIR/logrotate.state" -f "$LOGROTATE_CONF"
check test -s "$access_log.1"
curl -sS -o /dev/null --max-time 5 -X POST "$url" -d '{}'
wait_until 10 "nginx to reopen $access_log after rotation" test -s "$access_log"
ok "logrotate rotated nginx's logs (nginx-access.log.1) and nginx reopened them (SIGUSR1)"

# ---------------------------------------------------------------- 5. live reload (SIGHUP)
declare -A before
for program in "${API_PROGRAMS[@]}"; do before[$program]=$(program_pid "$program"); done
start_clients
wait_requests $((REQUESTS_BEFORE * CLIENTS))
echo "reloading after $(requests_done) requests"
deploy/reload.sh --sandbox "$sandbox" --no-build
echo "reload done after $(requests_done) requests"
for program in "${API_PROGRAMS[@]}"; do
    after=$(program_pid "$program")
    [[ $after == "${before[$program]}" ]] || die "reload.sh restarted $program (pid ${before[$program]} -> $after) instead of reloading it in place"
    grep -q "reloaded: generation" "$LOG_DIR/$program.log" || die "$program's log says no reload"
done
wait_requests $((REQUESTS_AFTER * CLIENTS))
stop_clients "live reload (SIGHUP) of 2 API processes in place (deploy/reload.sh)"

# ----------------------------------------------------------------------- 6. the rate limit
# sandbox_files: every file of the sandbox but logs and run/ (pid files, sockets), with its
# checksum.
sandbox_files() {
    find "$sandbox" -path "$sandbox/run" -prune -o -type f -not -name '*.log*' -not -name '*.out' -print0 |
        sort -z | xargs -0 md5sum
}

# refused PARAMETERS...: deploy.sh refuses them with one line and exit code 2, changing
# nothing (every file of the sandbox keeps its checksum).
refused() {
    local before after code=0 lines
    before=$(sandbox_files)
    deploy/deploy.sh --no-build "$@" >"$sandbox/refused.out" 2>&1 || code=$?
    after=$(sandbox_files)
    lines=$(wc -l <"$sandbox/refused.out")
    [[ $code == 2 && $lines == 1 && $before == "$after" ]] ||
        die "deploy.sh $* should be refused (exit 2, one line, nothing changed): exit $code, $lines lines: $(cat "$sandbox/refused.out")"
    echo "refused (exit 2, nothing changed): $(cat "$sandbox/refused.out")"
}
refused "${params[@]}" --rate-limit 0
refused "${params[@]}" --rate-limit 2.5
refused "${params[@]}" --rate-limit 10 --rate-burst -1
refused "${params[@]}" --rate-burst 5
ok "bad --rate-limit / --rate-burst values refused before anything changes"

# Deployed again with --rate-limit 10 --rate-burst 5: a client at half the rate gets no
# 429; a burst gets 429s in JSON with Retry-After, and no more 200s than the rate allows.
deploy/deploy.sh "${params[@]}" --no-build --rate-limit 10 --rate-burst 5 >"$sandbox/deploy-rate.out" 2>&1 ||
    die "deploy.sh --rate-limit failed: $(tail -n 5 "$sandbox/deploy-rate.out")"
check python3 deploy/json-errors.py 127.0.0.1 "${LISTEN##*:}" --rate-limit 10 --rate-burst 5
ok "--rate-limit 10 --rate-burst 5: nginx answers excess requests 429 in JSON, Retry-After: 1"

# ------------------------------------ 7. a second instance of the product, over HTTPS, uninstalled
# --instance myproduct-b on its own ports: its own supervisor group, site, rules and prefix;
# the first deploy's processes keep running. Served over HTTPS with a certificate made
# here by openssl (365 days, the intermediate profile's limit): a test CA (self-signed)
# and the server's certificate it signs (sslyze's path validation refuses a self-signed
# server certificate as its own anchor). Then --uninstall removes it and only it.
b_api=$(free_base 3)  # its 2 API ports and its worker's admin port (+ADMIN_OFFSET)
b_listen=$(free_base 1)
while in_pool "$b_listen" "$b_api"; do b_listen=$(free_base 1); done
b_https=$(free_base 1)
while in_pool "$b_https" "$b_api" || ((b_https == b_listen)); do b_https=$(free_base 1); done
tls=$sandbox/tls
mkdir -p "$tls"
openssl req -x509 -newkey rsa:2048 -sha256 -days 365 -nodes -keyout "$tls/ca.key" -out "$tls/ca.pem" \
    -subj "/CN=apiphant deploy test CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey rsa:2048 -sha256 -nodes -keyout "$tls/key.pem" -out "$tls/server.csr" -subj /CN=localhost 2>/dev/null
printf '%s\n' basicConstraints=critical,CA:FALSE keyUsage=critical,digitalSignature,keyEncipherment \
    extendedKeyUsage=serverAuth subjectAltName=DNS:localhost,IP:127.0.0.1 subjectKeyIdentifier=hash \
    authorityKeyIdentifier=keyid >"$tls/server.ext"
# server_cert FILE: a new certificate for key.pem (a new serial each time), signed by the CA.
server_cert() {
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
        -days 365 -sha256 -extfile "$tls/server.ext" -out "$1" 2>/dev/null
}
server_cert "$tls/cert.pem"
b_params=(--sandbox "$sandbox" --instance myproduct-b --processes 2 --first-port "$b_api"
    --listen "$b_listen" --profile debug --https-listen "$b_https" --tls-cert "$tls/cert.pem"
    --tls-key "$tls/key.pem" --hsts 63072000)
refused "${b_params[@]}" --tls-key "$tls/ca.key"
refused "${b_params[@]}" --tls-cert "$tls/missing.pem"
refused "${b_params[@]}" --tls-key "$tls/cert.pem"
refused "${b_params[@]}" --tls-cert ""
refused "${b_params[@]}" --hsts two-years
refused "${b_params[@]}" --https-listen "$b_listen"
refused --sandbox "$sandbox" --instance myproduct-b --listen "$b_listen" --hsts 600
ok "bad --tls-cert / --tls-key / --hsts / --https-listen refused before anything changes"
declare -A main_pids
for program in "${API_PROGRAMS[@]}" "$BACKGROUND_PROGRAM"; do main_pids[$program]=$(program_pid "$program" || echo -); done
refused "${b_params[@]}" --instance B-bad
deploy/deploy.sh "${b_params[@]}" --no-build >"$sandbox/deploy-b.out" 2>&1 ||
    die "deploy.sh --instance myproduct-b failed: $(tail -n 5 "$sandbox/deploy-b.out")"
grep -q "quick test: POST https://127.0.0.1:$b_https/.* --> 200" "$sandbox/deploy-b.out" ||
    die "the second instance's quick test did not pass: $(tail -n 3 "$sandbox/deploy-b.out")"
b_prefix=$sandbox/srv/myproduct-b
b_files=("$ETC/nginx/sites-available/myproduct-b.conf" "$ETC/nginx/sites-enabled/myproduct-b.conf"
    "$ETC/supervisor/conf.d/myproduct-b.conf" "$ETC/logrotate.d/apiphant-myproduct-b")
for file in "${b_files[@]}" "$b_prefix/deploy.env"; do check test -e "$file"; done
b_pids=()
for program in "myproduct-b-api-$b_api" "myproduct-b-api-$((b_api + 1))"; do
    b_pids+=("$(ctl pid "myproduct-b:$program")")
done
for program in "${!main_pids[@]}"; do check [ "$(program_pid "$program" || echo -)" = "${main_pids[$program]}" ]; done
ok "--instance myproduct-b: its own group (pids ${b_pids[*]}), site, rules, prefix; the first deploy untouched"

https=https://localhost:$b_https/api/v0/echo/read
curl -sS --max-time 5 --cacert "$tls/ca.pem" -D "$sandbox/https.head" -o "$sandbox/https.body" \
    -w '%{http_version}' -X POST "$https" -d '{"over": "tls"}' >"$sandbox/https.version"
check [ "$(cat "$sandbox/https.body")" = '{"over":"tls","server":"myproduct"}' ]
check [ "$(cat "$sandbox/https.version")" = 2 ]
check grep -qi '^strict-transport-security: max-age=63072000' "$sandbox/https.head"
ok "HTTPS: curl --cacert (the test CA) verifies the certificate; HTTP/2; HSTS; echo answers"
code=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' --max-time 5 -X POST "http://localhost:$b_listen/api/v0/echo/read" -d '{}')
check [ "$code" = "308 $https" ]
answer=$(curl -sS -L --max-time 5 --cacert "$tls/ca.pem" -X POST "http://localhost:$b_listen/api/v0/echo/read" -d '{"via": 308}')
check [ "$answer" = '{"via":308,"server":"myproduct"}' ]
code=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' --max-time 5 "http://localhost:$b_listen/index.html")
check [ "$code" = "301 https://localhost:$b_https/index.html" ]
ok "plain HTTP: the API answers 308 (a POST followed with its body reaches the action), public/ 301"
python3 deploy/json-errors.py 127.0.0.1 "$b_https" --tls "$tls/ca.pem" >"$sandbox/json-errors-tls.out" ||
    die "nginx's own answers over HTTPS: $(grep FAILED "$sandbox/json-errors-tls.out")"
python3 deploy/json-errors.py 127.0.0.1 "$b_listen" >"$sandbox/json-errors-redirect.out" ||
    die "nginx's own answers on the redirecting plain-HTTP server: $(grep FAILED "$sandbox/json-errors-redirect.out")"
ok "every malformed request shape in JSON over HTTPS ($(grep -c '^ok' "$sandbox/json-errors-tls.out") checks) and on plain HTTP ($(grep -c '^ok' "$sandbox/json-errors-redirect.out"))"
"$venv/bin/sslyze" --mozilla_config=intermediate --certinfo_ca_file "$tls/ca.pem" "localhost:$b_https" >"$sandbox/sslyze.out" 2>&1 || true
grep -q "localhost:$b_https: OK - Compliant" "$sandbox/sslyze.out" || {
    tail -n 30 "$sandbox/sslyze.out"
    die "sslyze: not compliant with Mozilla's intermediate profile (above)"
}
ok "sslyze $(grep -v '^#' deploy/test-requirements.txt | cut -d= -f3): compliant with Mozilla's intermediate profile"

# Renewal: a new certificate in place of the old, then nginx reloads (SIGHUP to its master,
# as systemctl reload nginx does): the new one is served, by the same master.
served_serial() {
    openssl s_client -connect "127.0.0.1:$b_https" -servername localhost </dev/null 2>/dev/null |
        openssl x509 -noout -serial
}
old_serial=$(served_serial)
nginx_master=$(cat "$NGINX_PID")
server_cert "$tls/cert.pem.new"
mv "$tls/cert.pem.new" "$tls/cert.pem"
new_serial=$(openssl x509 -in "$tls/cert.pem" -noout -serial)
kill -HUP "$nginx_master"
serves_new() { [[ $(served_serial) == "$new_serial" ]]; }
wait_until 10 "nginx to serve the renewed certificate" serves_new
check [ "$(cat "$NGINX_PID")" = "$nginx_master" ]
check [ "$(curl -sS --max-time 5 --cacert "$tls/ca.pem" -X POST "$https")" = '{"server":"myproduct"}' ]
ok "certificate renewed by an nginx reload ($old_serial -> $new_serial), same master (pid $nginx_master)"

refused --sandbox "$sandbox" --instance myproduct-c --uninstall
refused --sandbox "$sandbox" --instance myproduct-b --prefix "$sandbox/srv/elsewhere" --uninstall
deploy/deploy.sh --sandbox "$sandbox" --instance myproduct-b --uninstall | tee "$sandbox/uninstall-b.out"
for pid in "${b_pids[@]}"; do ! kill -0 "$pid" 2>/dev/null || die "myproduct-b's process $pid still runs"; done
! ctl status "myproduct-b:*" >/dev/null 2>&1 || die "supervisor still knows the group myproduct-b"
for file in "${b_files[@]}"; do check test ! -e "$file"; done
check [ "$(ls -A "$b_prefix")" = log ]
for port in "$b_listen" "$b_https"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST "http://127.0.0.1:$port/api/v0/echo/read") || true
    check [ "$code" = 000 ]
done
for program in "${!main_pids[@]}"; do check [ "$(program_pid "$program" || echo -)" = "${main_pids[$program]}" ]; done
deploy/quick-test.sh --sandbox "$sandbox" >/dev/null
ok "--uninstall --instance myproduct-b: its processes stopped, its configs removed, its prefix but log/; the first deploy untouched"
deploy/deploy.sh --sandbox "$sandbox" --instance myproduct-b --uninstall >/dev/null
check [ "$(ls -A "$b_prefix")" = log ]
deploy/deploy.sh --sandbox "$sandbox" --instance myproduct-b --uninstall --purge >/dev/null
check test ! -e "$b_prefix"
refused --sandbox "$sandbox" --instance myproduct-b --uninstall
ok "--uninstall again: nothing more to do (exit 0); --purge removes log/; then nothing is deployed (exit 2)"

# -------------------------------------------------------------------- 8. teardown by PID
pids=("$(cat "$NGINX_PID")" "$(cat "$SUPERVISOR_PID")")
for program in "${API_PROGRAMS[@]}"; do pids+=("$(program_pid "$program")"); done
[[ $EXPECT_BACKGROUND == 1 ]] && pids+=("$(program_pid "$BACKGROUND_PROGRAM")")
deploy/deploy.sh --sandbox "$sandbox" --stop
for pid in "${pids[@]}"; do
    ! kill -0 "$pid" 2>/dev/null || die "process $pid still runs after the teardown"
done
ok "teardown: nginx, supervisord and their programs stopped, by PID (${pids[*]})"
failed=0
echo "deploy test passed"
