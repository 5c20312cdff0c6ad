#!/usr/bin/env python3
"""A scraper as Prometheus is one: a single process that keeps one HTTP/1.1 keep-alive
connection to a /metrics URL and GETs it every INTERVAL seconds, appending each scrape's
time (request sent to last byte read, in seconds) to OUT, one line per scrape, until it
gets SIGTERM or DEADLINE seconds have passed. `bench/run.sh --scrape` runs it.

(A shell loop of `curl` was the first scraper; starting a process ten times a second
moved the load generator's own p99 as much with `GET /livez` as with `/metrics`, so it
measured the process starts, not the scrapes.)

Loopback only; bounded by DEADLINE and by a timeout on every read."""

import argparse
import http.client
import signal
import sys
import time
import urllib.parse


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("out")
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--deadline", type=float, default=600)
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.url)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"scraper: loopback only, not {url.hostname}")
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    end = time.monotonic() + args.deadline
    with open(args.out, "a", buffering=1) as out:
        while not stop and time.monotonic() < end:
            start = time.perf_counter()
            try:
                connection.request("GET", url.path or "/")
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as error:
                print(f"scraper: {error}", file=sys.stderr)
                connection.close()
                time.sleep(args.interval)
                continue
            took = time.perf_counter() - start
            if response.status == 200 and body:
                out.write(f"{took:.6f}\n")
            else:
                print(f"scraper: status {response.status}", file=sys.stderr)
            time.sleep(args.interval)


if __name__ == "__main__":
    main()
