#!/usr/bin/env bash
# Shared by bench/run.sh and bench/startup.sh (sourced, not run).

# Prints a TCP port of 127.0.0.1 nothing listens on, below the ephemeral range (32768+)
# that 10,000 client sockets of wrk use up.
free_port() {
    local port
    for _ in $(seq 1 100); do
        port=$((10000 + RANDOM % 20000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    echo "no free port found" >&2
    exit 1
}

# Median of the numbers on stdin, one a line.
median() {
    sort -g | awk '{v[NR] = $1} END {
        if (NR == 0) { print 0 } else if (NR % 2) { print v[(NR + 1) / 2] }
        else { print (v[NR / 2] + v[NR / 2 + 1]) / 2 }
    }'
}

# The load generator of `run.sh --rate`: oha (crates.io), a pinned version built into
# target/bench-tools by `ensure_oha` when missing. With its `native-tls` feature instead
# of the default `rustls` (oha does not build with no TLS at all): the system's OpenSSL
# (Debian libssl-dev, pkg-config) links in seconds where rustls's aws-lc is a long C build.
oha_version=1.16.0
# shellcheck disable=SC2154 # root: set by the script that sources this file
oha="$root/target/bench-tools/bin/oha"

ensure_oha() {
    if [[ -x "$oha" ]] && [[ "$("$oha" --version)" == "oha $oha_version" ]]; then
        return
    fi
    echo "installing oha $oha_version into $root/target/bench-tools (once; a few minutes)..." >&2
    for file in /usr/include/openssl/ssl.h /usr/bin/pkg-config; do
        [[ -e $file ]] || { echo "building oha needs $file (apt-get install libssl-dev pkg-config)" >&2; exit 2; }
    done
    cargo install --quiet --locked --no-default-features --features native-tls \
        --root "$root/target/bench-tools" "oha@$oha_version" >&2
}

# What `apiphant-ops` sends: a valid token (set by make_ops_product) and its own request id.
ops_token=""
# shellcheck disable=SC2034 # used by run.sh and instructions.sh
ops_request_id="bench-0123456789abcdef"

# Makes in $1 an installed product (plugins/*.so, what the deploy writes) of the example
# product's plugins with the operations on: its apiphant.toml plus `[auth]` with one token
# (`apiphant token new`, scope `v0/echo/*`), whose value it leaves in ops_token. The admin
# listener (metrics) is the command line's `--admin`.
make_ops_product() {
    local dir=$1 apiphant="$root/target/release/apiphant" made file
    mkdir -p "$dir/plugins"
    while read -r file; do
        cp "$file" "$dir/plugins/"
    done < <("$apiphant" plugins "$root" --no-build)
    cp "$root/apiphant.toml" "$dir/"
    made=$("$apiphant" token new bench --scope 'v0/echo/*')
    ops_token=$(grep -o -m 1 '^apt_[0-9a-f]*' <<<"$made")
    [[ -n "$ops_token" ]] || { echo "apiphant token new printed no token: $made" >&2; exit 1; }
    printf '\n# Added by bench/: the token apiphant-ops sends.\n[auth]\n\n[auth.tokens]\n%s\n' \
        "$(grep -m 1 '^bench = ' <<<"$made")" >>"$dir/apiphant.toml"
}

# User and system CPU ticks of process $1 (all its threads, those ended included):
# "utime stime", fields 14 and 15 of /proc/PID/stat (man 5 proc).
cpu_ticks() {
    local stat
    stat=$(<"/proc/$1/stat")
    stat=${stat##*) }
    awk '{print $12, $13}' <<<"$stat"
}

# Nanoseconds process $1's live threads have run (the scheduler's count, not ticks).
cpu_ns() {
    local sum=0 ns _ file
    for file in "/proc/$1/task/"*/schedstat; do
        read -r ns _ <"$file" 2>/dev/null || continue
        sum=$((sum + ns))
    done
    echo "$sum"
}

# The share (0 to 1) of perf.data file $1's samples taken in user mode: 1 minus those
# in the kernel ([kernel.kallsyms], [guest.kernel.kallsyms]).
user_share() {
    perf report -i "$1" --stdio -q --sort dso --no-children -g none 2>/dev/null | awk '
        { share = $1; sub(/%/, "", share); total += share }
        $2 ~ /kernel\.kallsyms|^\[kernel/ { kernel += share }
        END { if (total > 0) printf "%.4f\n", 1 - kernel / total; else print -1 }'
}
