-- wrk script of bench/run.sh: POST {"hello": "world"} on every request, and one
-- machine-readable BENCH line at the end (latencies in microseconds).
wrk.method = "POST"
wrk.body = '{"hello": "world"}'
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d "
            .. "connect=%d read=%d write=%d status=%d timeout=%d\n",
        summary.requests, summary.duration,
        latency:percentile(50), latency:percentile(99), latency.max,
        e.connect, e.read, e.write, e.status, e.timeout))
end
