#!/usr/bin/env bash
# The multi-host recipe, tested for real (run by ./test.sh after deploy/test.sh; alone:
# deploy/test-cluster.sh after cargo build --workspace). deploy/README.md, "Several hosts".
# Two sandbox "hosts" (deploy/deploy.sh --sandbox, each with its own nginx and supervisord,
# its own --instance and prefix) of one product sharing a PostgreSQL of the test's own
# (Debian's initdb + pg_ctl, as the postgres user when root, on a free loopback port), each
# nginx's upstream over both hosts' API processes (--peers), each host's apiphant-background
# claiming the slots of a 1 s task (the ticker fixture) through [database]. Half-way, the
# host whose worker claimed the latest slot dies: its supervisord, every process it runs and
# its nginx SIGKILLed at once, while clients send requests through the other host's nginx.
# Checks, with psql on apiphant_ticks and the ticker's own record of what ran: every slot of
# the window ran exactly once (no duplicate; no gap but the one slot a kill may lose between
# claim and run, and missed runs only when logged), the dead host's worker claimed nothing
# more and the survivor went on; the start runs ran once for the deployment; every `read`
# request was answered 200 (nginx retries it on the next process), a `create` in flight at
# the kill may get a 502 (not retried once sent), none other. Jobs: from the window's start,
# a client per host enqueues asynchronous calls (the jobs fixture's `v0/work create`, 1 s
# each, a tag each) through that host's nginx with `Prefer: respond-async` (the victim's
# client stops just before the kill, the survivor's goes on); both workers run them (lease
# 3 s). Checks, with psql on apiphant_jobs and the fixture's record of each run's start and
# end (tag, pid): every job ends `succeeded` (every id a client got, and every job stored);
# a job ran more than once only if one of its runs was the killed worker's (then twice at
# most, attempts counting every run; 1 s runs, so the kill likely cuts some short). Teardown by PID.
# The run lasts APIPHANT_CLUSTER_DEPLOY_SECS (default 16) seconds, half before the kill.
# Needs nginx, supervisor, curl, python3 and PostgreSQL (psql, initdb): without PostgreSQL it
# says SKIPPED, unless APIPHANT_REQUIRE_POSTGRES is set (./test.sh sets it); without the
# others it FAILS, unless APIPHANT_SKIP_DEPLOY_TEST=1.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR source=lib.sh
source deploy/lib.sh

SECS=${APIPHANT_CLUSTER_DEPLOY_SECS:-16}
if ! [[ $SECS =~ ^[0-9]+$ ]] || ((SECS < 6 || SECS > 600)); then die "APIPHANT_CLUSTER_DEPLOY_SECS must be 6..600"; fi

missing=()
for tool in nginx supervisord supervisorctl curl python3; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    if [[ ${APIPHANT_SKIP_DEPLOY_TEST:-0} == 1 ]]; then
        echo "deploy cluster test SKIPPED (APIPHANT_SKIP_DEPLOY_TEST=1): missing ${missing[*]}"
        exit 0
    fi
    die "deploy cluster test: missing ${missing[*]} (apt-get install nginx supervisor curl python3; or APIPHANT_SKIP_DEPLOY_TEST=1)"
fi
pg_bin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | while read -r dir; do
    [[ -x $dir/initdb && -x $dir/pg_ctl ]] && echo "$dir"
done | tail -n 1)
if [[ -z $pg_bin ]] || ! command -v psql >/dev/null; then
    [[ -z ${APIPHANT_REQUIRE_POSTGRES:-} ]] ||
        die "APIPHANT_REQUIRE_POSTGRES is set but PostgreSQL is not installed (no /usr/lib/postgresql/<version>/bin/initdb or psql): apt-get install postgresql"
    echo "deploy cluster test SKIPPED: PostgreSQL is not installed (no /usr/lib/postgresql/<version>/bin/initdb or psql): apt-get install postgresql, or set APIPHANT_REQUIRE_POSTGRES=1 to fail instead"
    exit 0
fi
bin=${CARGO_TARGET_DIR:-target}/debug
for file in apiphant apiphant-background libecho.so libselftest.so libfixture_ticker.so libfixture_jobs.so; do
    [[ -e $bin/$file ]] || die "$bin/$file is not built (cargo build --workspace)"
done

work=$(mktemp -d /tmp/apiphant-cluster-test.XXXXXX)
# PostgreSQL's folder: its own, owned by the postgres user when we are root (initdb refuses
# root; the postgres user cannot enter $work, 0700).
pg_dir=$(mktemp -d /tmp/apiphant-cluster-pg.XXXXXX)
pg_pid=""
clients=()
failed=1
as_postgres() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
# stop_postgres: SIGINT (PostgreSQL's fast shutdown) to its postmaster, by PID; fails unless
# it is gone within 20 s.
stop_postgres() {
    local tries
    [[ -n $pg_pid ]] || return 0
    kill -INT "$pg_pid" 2>/dev/null || true
    for ((tries = 0; tries < 200; tries++)); do
        kill -0 "$pg_pid" 2>/dev/null || {
            pg_pid=""
            return 0
        }
        sleep 0.1
    done
    return 1
}
cleanup() {
    local status=$? pid
    trap - EXIT INT TERM
    for pid in "${clients[@]}"; do kill "$pid" 2>/dev/null || true; done
    for host in "$work"/host-*; do
        if [[ -s $host/etc/supervisord.conf ]]; then
            deploy/deploy.sh --sandbox "$host" --stop >/dev/null 2>&1 || true
        fi
        # Left over after a failure (a program of a killed supervisord): by PID.
        for pid in $(pgrep -f "^$host/srv/" || true); do kill -KILL "$pid" 2>/dev/null || true; done
    done
    stop_postgres || echo "PostgreSQL (pid $pg_pid) did not stop within 20 s"
    if [[ $failed == 1 || $status != 0 ]]; then
        echo "--- deploy cluster test FAILED; logs:"
        for file in "$work"/host-*/srv/*/log/*.log "$work"/host-*/run/*.log "$pg_dir/server.log"; do
            [[ -f $file ]] || continue
            echo "--- tail $file"
            tail -n 15 "$file"
        done
        status=1
    fi
    rm -rf "$work" "$pg_dir"
    exit "$status"
}
trap cleanup EXIT INT TERM
ok() { echo "ok (${SECONDS}s): $*"; }

# Ports, all free on 127.0.0.1 (bound and released to check), below the ephemeral range:
# host a's API processes BASE, +1, host b's +3, +4; +6 and +7 the nginx of each host, +8
# PostgreSQL; BASE+1000.. the admin listeners (lib.sh's ADMIN_OFFSET: each API process's,
# and each worker's after its host's, +1002 and +1005).
base=$(python3 -c '
import random, socket, sys
offset = int(sys.argv[1])
for _ in range(100):
    base = random.randrange(20000, 31000)
    held = []
    try:
        for port in [*range(base, base + 9), *range(base + offset, base + offset + 6)]:
            s = socket.socket()
            s.bind(("127.0.0.1", port))
            held.append(s)
    except OSError:
        continue
    print(base)
    break
else:
    sys.exit("no free ports found")
' "$ADMIN_OFFSET")
pg_port=$((base + 8))

# ---------------------------------------------------------------------- 1. PostgreSQL
password=secret-$RANDOM$RANDOM
echo "$password" >"$pg_dir/pwfile"
[[ $(id -u) -ne 0 ]] || chown -R postgres:postgres "$pg_dir"
as_postgres "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --pwfile="$pg_dir/pwfile" --no-sync -E UTF8 >"$pg_dir/initdb.log" 2>&1 ||
    die "initdb failed: $(tail -n 5 "$pg_dir/initdb.log")"
as_postgres "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg_dir -c fsync=off" start >/dev/null ||
    die "pg_ctl start failed: $(tail -n 5 "$pg_dir/server.log")"
pg_pid=$(head -n 1 "$pg_dir/data/postmaster.pid")
export PGPASSWORD=$password
sql() {
    psql -X -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -c "$1"
}
ok "PostgreSQL $("$pg_bin/pg_ctl" --version | awk '{print $3}') (pid $pg_pid) on 127.0.0.1:$pg_port, from $pg_bin"

# ------------------------------------------------------------------- 2. the two hosts
# The product: an installed product's shape (apiphant.toml and plugins/*.so): echo and
# self (the API), the ticker (its `tick` task every second records "<slot> <pid>" in
# TICKER_SLOTS: what actually ran, beside the claims in apiphant_ticks), the jobs fixture
# (`v0/work create`, asynchronous, records "start <tag> <pid> ..." and "done <tag> <pid>"
# in JOBS_RECORD).
product=$work/product
mkdir -p "$product/plugins"
cp "$bin/libecho.so" "$bin/libselftest.so" "$bin/libfixture_ticker.so" "$bin/libfixture_jobs.so" "$product/plugins/"
cat >"$product/apiphant.toml" <<EOF
name = "cluster"

[background]
shutdown_grace_secs = 5

[database]
# The password: APIPHANT_DATABASE_PASSWORD in the deploy's environment (deploy.sh puts it
# into the supervisor programs' environment).
url = "postgres://postgres@127.0.0.1:$pg_port/postgres"
connect_timeout_secs = 5

[jobs]
# A killed worker's jobs run again 3 s after its last renewal (every second).
lease_secs = 3
backoff_secs = 0.5
EOF
slots=$work/slots
export TICKER_SLOTS=$slots JOBS_RECORD=$work/jobs-record APIPHANT_DATABASE_PASSWORD=$password
hosts=(a b)
declare -A sandbox listen first peers
for i in 0 1; do
    host=${hosts[$i]}
    sandbox[$host]=$work/host-$host
    first[$host]=$((base + 3 * i))
    listen[$host]=$((base + 6 + i))
    other=$((base + 3 * (1 - i)))
    peers[$host]=127.0.0.1:$other,127.0.0.1:$((other + 1))
done
host_params() {
    echo --sandbox "${sandbox[$1]}" --source "$product" --instance "cluster-$1" --processes 2 \
        --first-port "${first[$1]}" --listen "${listen[$1]}" --peers "${peers[$1]}" --profile debug --no-build
}
echo "deploy cluster test: $work; hosts a and b: API on 127.0.0.1:$base,$((base + 1)),$((base + 3)),$((base + 4)), nginx on" \
    "127.0.0.1:${listen[a]} and :${listen[b]}; skipped (root-only): apt, the system user, the system's services"
for host in "${hosts[@]}"; do
    # shellcheck disable=SC2046 # host_params prints words without spaces
    deploy/deploy.sh $(host_params "$host") >"$work/deploy-$host.out" 2>&1 ||
        die "deploy.sh for host $host failed: $(tail -n 5 "$work/deploy-$host.out")"
    grep -q 'quick test: POST .* --> 200' "$work/deploy-$host.out" || die "host $host: no quick test answer"
    conf=${sandbox[$host]}/etc/supervisor/conf.d/cluster-$host.conf
    [[ $(stat -c %a "$conf") == 600 ]] || die "$conf holds the database password but is mode $(stat -c %a "$conf")"
    grep -q "APIPHANT_DATABASE_PASSWORD=\"$password\"" "$conf" || die "$conf: no APIPHANT_DATABASE_PASSWORD"
    ! grep -rqs "$password" "${sandbox[$host]}/srv" || die "the database password is written under the prefix"
    site=${sandbox[$host]}/etc/nginx/sites-available/cluster-$host.conf
    for port in "$base" $((base + 1)) $((base + 3)) $((base + 4)); do
        grep -q "server 127.0.0.1:$port max_fails=" "$site" || die "$site: 127.0.0.1:$port not in the upstream"
    done
done
ok "two hosts deployed (cluster-a, cluster-b: own supervisord, nginx, prefix); each nginx upstream over all 4 API processes; the password only in the root-only supervisor files"

# worker_log HOST: its apiphant-background log.
worker_log() { echo "${sandbox[$1]}/srv/cluster-$1/log/cluster-$1-background.log"; }
for host in "${hosts[@]}"; do
    wait_until 60 "host $host's worker to claim through the database ($(worker_log "$host"))" \
        grep -q 'claimed once across hosts through database' "$(worker_log "$host")"
done
# background_pid HOST: the PID of its worker, as its supervisord says.
background_pid() {
    supervisorctl -c "${sandbox[$1]}/etc/supervisord.conf" pid "cluster-$1:cluster-$1-background"
}
declare -A worker_pid
for host in "${hosts[@]}"; do worker_pid[$host]=$(background_pid "$host"); done
window_first=$(($(date +%s) + 1))
ok "both workers claim through [database] (pids ${worker_pid[a]}, ${worker_pid[b]}); the window starts at slot $window_first"
# job_client HOST: enqueues `v0/work create` (1 s, tag HOST-N) through HOST's nginx every
# ~0.15 s until $work/stop or $work/stop-jobs-HOST exists (at most 200), one line
# "<status> <job id>" each in $work/jobs-HOST.ids.
job_client() {
    local n=0 answer
    while [[ ! -e $work/stop && ! -e $work/stop-jobs-$1 ]] && ((n < 200)); do
        answer=$(curl -s -w ' %{http_code}' --max-time 10 -X POST "http://127.0.0.1:${listen[$1]}/api/v0/work/create" \
            -H 'Prefer: respond-async' -d "{\"tag\": \"$1-$n\", \"sleep_ms\": 1000}") || true
        echo "${answer##* } $(grep -o '"job":"[0-9a-f]*"' <<<"$answer" | cut -d'"' -f4)" >>"$work/jobs-$1.ids"
        n=$((n + 1))
        sleep 0.15
    done
}
declare -A job_pid
for host in "${hosts[@]}"; do
    job_client "$host" &
    job_pid[$host]=$!
    clients+=($!)
done
sleep $((SECS / 2))

# ----------------------------------------------- 3. one host dies while requests flow
# The victim: the host whose worker claimed the latest slot (so the kill hits a worker at
# work); the clients go through the other host's nginx.
latest=$(sql "SELECT worker FROM apiphant_ticks WHERE product = 'cluster' AND task = 'tick' AND NOT is_start ORDER BY slot DESC LIMIT 1")
victim=""
for host in "${hosts[@]}"; do [[ ${latest##*:} == "${worker_pid[$host]}" ]] && victim=$host; done
[[ -n $victim ]] || die "the latest claim ($latest) is by neither worker (${worker_pid[*]})"
if [[ $victim == a ]]; then survivor=b; else survivor=a; fi
front=http://127.0.0.1:${listen[$survivor]}
# The victim's nginx takes no more jobs from here: its client ends (its enqueues answered).
: >"$work/stop-jobs-$victim"
wait "${job_pid[$victim]}" || true
# client OUT PATH BODY: POSTs through the survivor's nginx until $work/stop exists (or 3000
# requests), one status code per line; request ids cluster-OUT-N (the API logs them).
client() {
    local n=0 code
    while [[ ! -e $work/stop ]] && ((n < 3000)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST "$front$2" -d "$3" \
            -H "X-Request-Id: cluster-$(basename "$1" .codes)-$n") || true
        echo "${code:-000}" >>"$1"
        n=$((n + 1))
    done
}
client "$work/read-1.codes" /api/v0/echo/read '{"n": 1}' &
clients+=($!)
client "$work/read-2.codes" /api/v0/echo/read '{"n": 2}' &
clients+=($!)
client "$work/create.codes" /api/v0/self/create '{}' &
clients+=($!)
count() { cat "$work"/*.codes 2>/dev/null | wc -l; }
at_least() { (($(count) >= $1)); }
wait_until 30 "the clients' first 60 requests" at_least 60

# The whole host: its supervisord, every process it runs (API processes, worker) and its
# nginx (master and workers), SIGKILLed at once. supervisord and nginx's master are stopped
# first (SIGSTOP), so that neither starts a replacement for a child it sees die.
victim_dir=${sandbox[$victim]}
supervisor=$(cat "$victim_dir/run/supervisord.pid")
nginx_master=$(cat "$victim_dir/run/nginx.pid")
kill -STOP "$supervisor" "$nginx_master"
mapfile -t doomed < <(ps -o pid= --ppid "$supervisor,$nginx_master" | tr -d ' ')
doomed+=("$supervisor" "$nginx_master")
[[ ${#doomed[@]} -ge 6 ]] || die "host $victim: expected supervisord, 2 API processes, the worker and nginx, found ${doomed[*]}"
before_kill=$(count)
killed_at=$(date +%s)
kill -KILL "${doomed[@]}"
# The one upstream spread the survivor's nginx's requests over both hosts: the dead host's
# API processes had answered some (their logs hold the clients' request ids).
victim_served=$(cat "$victim_dir/srv/cluster-$victim/log/cluster-$victim"-api-*.log | grep -c 'req=cluster-' || true)
for pid in "${doomed[@]}"; do
    wait_until 10 "process $pid to die" bash -c "! kill -0 $pid 2>/dev/null"
done
# host_processes DIR: the PIDs of processes run from DIR's programs (none once it is dead).
host_processes() { pgrep -f "^$1/srv/" || true; }
[[ -z $(host_processes "$victim_dir") ]] || die "host $victim still runs: $(host_processes "$victim_dir")"
echo "host $victim killed at $killed_at (SIGKILL: supervisord $supervisor, nginx $nginx_master, all: ${doomed[*]}) after $before_kill requests; worker ${worker_pid[$victim]} was the latest claimer"
sleep $((SECS - SECS / 2))
after_kill=$(($(count) - before_kill))
: >"$work/stop"
for pid in "${clients[@]}"; do wait "$pid" || true; done
clients=()
window_last=$(($(date +%s) - 2))

# ------------------------------------------------------------------------ 4. the checks
reads=$(cat "$work"/read-*.codes | wc -l)
bad_reads=$(cat "$work"/read-*.codes | grep -cv '^200$' || true)
creates=$(wc -l <"$work/create.codes")
bad_creates=$(grep -cv '^200$' "$work/create.codes" || true)
echo "requests through host $survivor's nginx: $reads read (${bad_reads} not 200), $creates create ($bad_creates not 200: $(grep -v '^200$' "$work/create.codes" | sort | uniq -c | tr '\n' ' ')); $after_kill after the kill"
[[ $bad_reads == 0 ]] || die "read requests failed across the kill: $(cat "$work"/read-*.codes | sort | uniq -c | tr '\n' ' ')"
[[ $bad_creates -le 1 ]] || die "more create requests failed than the one that can be in flight at the kill"
grep -qv '^\(200\|502\)$' "$work/create.codes" && die "a create got an answer other than 200 or 502"
((after_kill >= 30)) || die "only $after_kill requests answered after the kill"
((victim_served >= 1)) || die "host $victim's API processes answered none of the requests sent through host $survivor's nginx before the kill: the upstream is not over both hosts"
ok "one upstream over both hosts (host $victim's processes answered $victim_served of the $before_kill requests before the kill); nginx failed over to host $survivor: every read answered 200, $bad_creates create(s) in flight at the kill got 502, $after_kill requests after it"

sql "SELECT extract(epoch FROM slot)::bigint, worker FROM apiphant_ticks WHERE product = 'cluster' AND task = 'tick' AND NOT is_start" >"$work/claims"
starts=$(sql "SELECT count(*) FROM apiphant_ticks WHERE product = 'cluster' AND task = 'tick' AND is_start")
[[ $starts == 1 ]] || die "the start run of tick ran $starts times (once per deployment expected)"
python3 - "$work/claims" "$slots" "$window_first" "$window_last" "${worker_pid[$victim]}" "$killed_at" \
    "$(worker_log a)" "$(worker_log b)" <<'EOF' || die "the slots (above)"
import collections, sys
claims_file, slots_file, first, last, killed, killed_at, *logs = sys.argv[1:]
first, last, killed, killed_at = int(first), int(last), int(killed), int(killed_at)
claimed = {}
for line in open(claims_file):
    slot, worker = line.strip().split("|")
    claimed[int(slot)] = int(worker.rsplit(":", 1)[1])
ran = collections.defaultdict(list)
for line in open(slots_file):
    slot, pid = line.split()
    ran[int(slot)].append(int(pid))
duplicates, lost, skipped, gaps, wrong = [], [], [], [], []
for slot in range(first, last + 1):
    runs, claimer = ran.get(slot, []), claimed.get(slot)
    if len(runs) > 1:
        duplicates.append(slot)
    elif len(runs) == 1 and runs[0] == claimer:
        pass
    elif len(runs) == 1:
        wrong.append(slot)
    elif claimer == killed:
        lost.append(slot)
    elif claimer is None:
        skipped.append(slot)
    else:
        gaps.append(slot)
window = last - first + 1
per_worker = collections.Counter(claimed[s] for s in range(first, last + 1) if s in claimed)
# killed_at is the second the kill happened in (date +%s): a claim of that slot may precede it.
after = [s for s in claimed if killed_at < s <= last]
print(f"slots {first}..{last} ({window}): {window - len(duplicates) - len(lost) - len(skipped) - len(gaps) - len(wrong)} ran exactly once; "
      f"{len(duplicates)} duplicate(s) {duplicates}, {len(gaps)} gap(s) {gaps}, {len(wrong)} run by a non-claimer {wrong}, "
      f"{len(lost)} lost with the killed worker {killed} {lost}, {len(skipped)} skipped as missed runs {skipped}; "
      f"claims per worker {dict(per_worker)}; {len(after)} claimed after the kill")
problems = []
if duplicates or gaps or wrong:
    problems.append("a slot ran twice, not at all, or by a worker that did not claim it")
if len(lost) > 1:
    problems.append("more than the one slot a kill may lose between claim and run")
if skipped and not any("missed run(s) skipped" in open(log).read() for log in logs):
    problems.append("slots skipped without the missed-runs line")
if len(skipped) * 4 > window:
    problems.append("too many missed runs")
if any(claimed[s] == killed for s in after):
    problems.append("the killed worker claimed after its death")
if len(after) < 2:
    problems.append("the survivor did not go on claiming after the kill")
if per_worker[killed] < 1:
    problems.append("the killed worker claimed nothing before the kill")
for problem in problems:
    print("FAILED:", problem)
sys.exit(1 if problems else 0)
EOF
ok "every slot of the window ran once across the two hosts (psql: apiphant_ticks; the ticker's record); the start run once for the deployment"

# Jobs: all end (the killed worker's after their lease ran out), then every one succeeded,
# and one ran twice only when the killed worker had run it.
jobs_ended() { [[ $(sql "SELECT count(*) FROM apiphant_jobs WHERE product = 'cluster' AND state IN ('queued', 'running')") == 0 ]]; }
wait_until 60 "every job to end" jobs_ended
sql "SELECT id, state, attempts, convert_from(body, 'UTF8')::json->>'tag' FROM apiphant_jobs WHERE product = 'cluster'" >"$work/jobs"
python3 - "$work/jobs" "$JOBS_RECORD" "${worker_pid[$victim]}" "$victim" "$work/jobs-$victim.ids" "$work/jobs-$survivor.ids" <<'EOF' || die "the jobs (above)"
import collections, sys
jobs_file, record, killed, victim, victim_ids, survivor_ids = sys.argv[1:]
killed = int(killed)
stored = {}
for line in open(jobs_file):
    id, state, attempts, tag = line.strip().split("|")
    stored[id] = (state, int(attempts), tag)
starts, dones = collections.defaultdict(list), collections.defaultdict(list)
for line in open(record):
    words = line.split()
    if words[0] == "start":
        starts[words[1]].append(int(words[2]))
    elif words[0] == "done":
        dones[words[1]].append(int(words[2]))
problems, got = [], []
# The victim's client ended before the kill: every enqueue answered; the survivor's may see
# one 502 (a call in flight to a dead API process; stored or not, the table check covers it).
for name, path, allowed in (("victim", victim_ids, 0), ("survivor", survivor_ids, 1)):
    lines = [line.split() for line in open(path)]
    ids = [words[1] for words in lines if words[0] == "202" and len(words) == 2]
    bad = [words[0] for words in lines if words[0] != "202" or len(words) != 2]
    print(f"through the {name}'s nginx: {len(lines)} enqueues, {len(ids)} answered 202 with a job id, others: {bad}")
    if len(bad) > allowed or any(code != "502" for code in bad):
        problems.append(f"enqueues through the {name}'s nginx answered {bad}")
    got += ids
unknown = [id for id in got if id not in stored]
not_ok = {id: state for id, (state, _, _) in stored.items() if state != "succeeded"}
twice, by_killed, wrong = [], 0, []
for id, (state, attempts, tag) in stored.items():
    runs = starts.get(tag, [])
    by_killed += runs.count(killed)
    if len(runs) > 1:
        twice.append(tag)
    # Once; or twice, one of the runs the killed worker's (cut short, or ended but not recorded).
    if not runs or len([pid for pid in runs if pid != killed]) > 1 or runs.count(killed) > 1 \
            or attempts < len(runs) or not dones.get(tag):
        wrong.append((tag, runs, dones.get(tag), attempts))
print(f"jobs: {len(stored)} stored, {len(got)} ids answered, {len(stored) - len(not_ok)} succeeded; "
      f"{len(twice)} ran twice, once by the killed worker {killed} {twice}; it started {by_killed} run(s) in all")
if unknown:
    problems.append(f"job ids answered but not stored: {unknown}")
if not_ok:
    problems.append(f"jobs not succeeded: {not_ok}")
if wrong:
    problems.append(f"jobs not run once, or twice with the killed worker (tag, run pids, done pids, attempts): {wrong}")
if len(got) < 20:
    problems.append("fewer than 20 jobs enqueued")
if by_killed < 1:
    problems.append("the killed worker ran no job before the kill")
for problem in problems:
    print("FAILED:", problem)
sys.exit(1 if problems else 0)
EOF
ok "every job enqueued through either nginx succeeded across the kill; a second run only of a job the killed worker ran (psql: apiphant_jobs; the fixture's record)"

# --------------------------------------------------------------------- 5. teardown by PID
survivor_dir=${sandbox[$survivor]}
pids=("$(cat "$survivor_dir/run/supervisord.pid")" "$(cat "$survivor_dir/run/nginx.pid")")
mapfile -t -O 2 pids < <(supervisorctl -c "$survivor_dir/etc/supervisord.conf" pid all | grep -E '^[1-9][0-9]*$')
postgres=$pg_pid
deploy/deploy.sh --sandbox "$survivor_dir" --stop >/dev/null
deploy/deploy.sh --sandbox "$victim_dir" --stop >/dev/null
stop_postgres || die "PostgreSQL (pid $pg_pid) did not stop within 20 s"
for pid in "${pids[@]}" "${doomed[@]}" "$postgres"; do
    ! kill -0 "$pid" 2>/dev/null || die "process $pid still runs after the teardown"
done
for host in "${hosts[@]}"; do
    [[ -z $(host_processes "${sandbox[$host]}") ]] || die "host $host still runs: $(host_processes "${sandbox[$host]}")"
done
ok "teardown by PID: host $survivor's supervisord, nginx and programs, PostgreSQL ($postgres): ${pids[*]}"
failed=0
echo "deploy cluster test passed"
