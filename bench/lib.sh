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
