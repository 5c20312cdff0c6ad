#!/usr/bin/env python3
"""Sends malformed requests to a deployed site over raw sockets and checks that each is
answered in the contract's shape: the expected status, Content-Type: application/json and
the body {"error":"<status line>"} (never one of nginx's HTML pages). Run by deploy/test.sh
(through the sandbox's nginx) and by .ci/run's real deploy (through port 80):

  deploy/json-errors.py HOST PORT [--tls CAFILE] [--slow]    every malformed shape
  deploy/json-errors.py HOST PORT --expect STATUS [--path P] [--body-bytes N]
                                                             one POST, one expected status
  deploy/json-errors.py HOST PORT --rate-limit N --rate-burst B
      a client under the rate gets no 429; a burst above it gets 429s in JSON, Retry-After

Each connection is bounded (10 s to answer, or --slow's header timeout + 10 s). Exit 0 when
every check passed, 1 otherwise (each failure is printed). Python 3 standard library only.
"""

import argparse
import json
import socket
import ssl
import sys
import time

# The SDK's status lines (sdk/src/error.rs), for the statuses checked here.
STATUS_LINES = {
    400: "400 Bad Request",
    408: "408 Request Timeout",
    413: "413 Content Too Large",
    414: "414 URI Too Long",
    429: "429 Too Many Requests",
    431: "431 Request Header Fields Too Large",
    500: "500 Internal Server Error",
    501: "501 Not Implemented",
    502: "502 Bad Gateway",
    503: "503 Service Unavailable",
    504: "504 Gateway Timeout",
    505: "505 HTTP Version Not Supported",
}

API = b"/api/v0/echo/read"
HEAD = b"POST " + API + b" HTTP/1.1\r\nHost: apiphant.test\r\n"

# (what, request bytes, status nginx answers). Every one is answered by nginx itself.
CASES = [
    ("request line of one word", b"GARBAGE\r\n\r\n", 400),
    ("request line with a fourth field", b"POST " + API + b" HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400),
    ("request line with a lower-case method", b"post " + API + b" HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("request target without a leading slash", b"POST api HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("control byte in the request target", b"POST /api/\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("HTTP version that is not a number", b"POST " + API + b" HTTP/x.y\r\nHost: x\r\n\r\n", 400),
    ("HTTP/2.0 request line over HTTP/1", b"POST " + API + b" HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ("HTTP/3.0 request line", b"POST " + API + b" HTTP/3.0\r\nHost: x\r\n\r\n", 505),
    ("HTTP/1.1 without Host", b"POST " + API + b" HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 400),
    ("two Host headers", HEAD + b"Host: y\r\nContent-Length: 2\r\n\r\n{}", 400),
    ("header folded onto a continuation line", HEAD + b"X-A: 1\r\n folded\r\n\r\n", 400),
    ("malformed Content-Length", HEAD + b"Content-Length: abc\r\n\r\n", 400),
    ("negative Content-Length", HEAD + b"Content-Length: -1\r\n\r\n", 400),
    ("conflicting Content-Length headers", HEAD + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400),
    ("Content-Length and Transfer-Encoding (smuggling)",
     HEAD + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400),
    ("Transfer-Encoding in HTTP/1.0",
     b"POST " + API + b" HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400),
    ("unknown Transfer-Encoding", HEAD + b"Transfer-Encoding: gzip\r\n\r\n", 501),
    ("malformed chunk size", HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400),
    ("body above max_body_bytes (Content-Length)", HEAD + b"Content-Length: 999999999999\r\n\r\n", 413),
    ("over-long URI", b"POST /api/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ("oversized header line", HEAD + b"X-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
    ("headers above 32 KiB in all",
     HEAD + b"".join(b"X-H%d: %s\r\n" % (i, b"h" * 4000) for i in range(10)) + b"\r\n", 431),
]

WAIT = 10.0


def connect(host, port, cafile):
    sock = socket.create_connection((host, port), timeout=WAIT)
    if cafile:
        context = ssl.create_default_context(cafile=cafile)
        context.set_alpn_protocols(["http/1.1"])
        sock = context.wrap_socket(sock, server_hostname="localhost")
    return sock


def exchange(host, port, cafile, request, wait=WAIT):
    """Sends request; returns every byte received until the peer closes, or the answer is
    complete (Content-Length), or wait seconds pass."""
    sock = connect(host, port, cafile)
    received = b""
    try:
        try:
            sock.sendall(request)
        except OSError:
            pass  # nginx may answer and close before it read everything
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except (socket.timeout, ssl.SSLError, ConnectionResetError):
                break
            if not chunk:
                break
            received += chunk
            if complete(received):
                break
    finally:
        sock.close()
    return received


def complete(received):
    head, sep, body = received.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip() or b"0")
    return False


def parse(received):
    """(status, headers {lower name: value}, body) or None when it is no HTTP/1 answer."""
    head, sep, body = received.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not sep or not lines[0].startswith(b"HTTP/1."):
        return None
    parts = lines[0].split(b" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return int(parts[1]), headers, body


def check(what, received, status):
    """A failure message, or None."""
    answer = parse(received)
    if answer is None:
        return f"{what}: not an HTTP/1 answer: {received[:200]!r}"
    got, headers, body = answer
    if got != status:
        return f"{what}: status {got}, expected {status}: {body[:200]!r}"
    if headers.get("content-type") != "application/json":
        return f"{what}: Content-Type {headers.get('content-type')!r}, not application/json: {body[:200]!r}"
    try:
        value = json.loads(body)
    except ValueError:
        return f"{what}: the body is not JSON: {body[:200]!r}"
    if value != {"error": STATUS_LINES[status]}:
        return f"{what}: body {value!r}, expected {{'error': {STATUS_LINES[status]!r}}}"
    return None


def post(host, port, cafile):
    """One echo POST on a fresh connection: (status, headers, body), or None."""
    request = HEAD + b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"
    return parse(exchange(host, port, cafile, request))


def rate_limit(host, port, cafile, rate, burst):
    """Failure messages of the rate-limit check (--rate-limit)."""
    failures = []
    time.sleep(burst / rate + 1.0)  # whatever came before is forgotten
    # Under the limit: half the rate, for 2 s; none may be refused.
    count = max(2, rate)
    for _ in range(count):
        started = time.monotonic()
        answer = post(host, port, cafile)
        if answer is None or answer[0] != 200:
            failures.append(f"a client at half the rate ({rate / 2:g}/s) got {answer and answer[0]}")
        time.sleep(max(0.0, 2.0 / rate - (time.monotonic() - started)))
    if not failures:
        print(f"ok: a client at half the rate ({rate / 2:g}/s): {count} requests, all 200")
    time.sleep(burst / rate + 1.0)
    # A burst: as fast as one connection after another goes, 3 times rate + burst.
    statuses = []
    started = time.monotonic()
    for _ in range(3 * (rate + burst)):
        answer = post(host, port, cafile)
        if answer is None:
            failures.append("a burst request got no HTTP answer")
            continue
        status, headers, body = answer
        statuses.append(status)
        if status == 429:
            if headers.get("retry-after") != "1":
                failures.append(f"429 without Retry-After: 1 ({headers})")
            if headers.get("content-type") != "application/json" or json.loads(body) != {
                    "error": STATUS_LINES[429]}:
                failures.append(f"429 not in JSON: {headers.get('content-type')} {body[:200]!r}")
        elif status != 200:
            failures.append(f"a burst request got {status}: {body[:200]!r}")
    elapsed = time.monotonic() - started
    passed = statuses.count(200)
    allowed = burst + 1 + rate * elapsed + 1
    if statuses.count(429) == 0:
        failures.append(f"a burst of {len(statuses)} requests in {elapsed:.2f} s got no 429")
    if passed > allowed:
        failures.append(f"a burst got {passed} answers 200 in {elapsed:.2f} s, above {allowed:.0f}")
    if not failures:
        print(f"ok: a burst of {len(statuses)} requests in {elapsed:.2f} s: {passed} answered 200 "
              f"(at most burst + 1 + rate x time = {allowed:.0f}), {statuses.count(429)} got 429 "
              f"in JSON with Retry-After: 1")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--tls", metavar="CAFILE", help="HTTPS, trusting this certificate")
    parser.add_argument("--slow", type=float, metavar="HEADER_TIMEOUT",
                        help="also a request head left unfinished: nginx closes it after the header timeout")
    parser.add_argument("--expect", type=int, metavar="STATUS", help="one POST, this status")
    parser.add_argument("--path", default=API.decode())
    parser.add_argument("--body-bytes", type=int, default=2)
    parser.add_argument("--rate-limit", type=int, metavar="N")
    parser.add_argument("--rate-burst", type=int, metavar="B", default=0)
    args = parser.parse_args()

    failures = []
    if args.rate_limit:
        failures = rate_limit(args.host, args.port, args.tls, args.rate_limit, args.rate_burst)
    elif args.expect:
        body = b"{}" if args.body_bytes <= 2 else b'{"a":"' + b"x" * (args.body_bytes - 8) + b'"}'
        request = (b"POST " + args.path.encode() + b" HTTP/1.1\r\nHost: apiphant.test\r\n"
                   b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)) + body
        what = f"POST {args.path} ({len(body)} bytes)"
        failure = check(what, exchange(args.host, args.port, args.tls, request, wait=30), args.expect)
        failures += [failure] if failure else []
        if not failure:
            print(f"ok: {what}: {args.expect} in JSON")
    else:
        for what, request, status in CASES:
            failure = check(what, exchange(args.host, args.port, args.tls, request), status)
            if failure:
                failures.append(failure)
            else:
                print(f"ok: {status} in JSON: {what}")
        # HTTP/0.9: a request line without a version is answered the HTTP/0.9 way, a body
        # without status line or headers; nginx cannot be made to send JSON with a status.
        received = exchange(args.host, args.port, args.tls, b"POST " + API + b"\r\n")
        if received.startswith(b"HTTP/"):
            failures.append(f"HTTP/0.9 request line: answered with a status line: {received[:200]!r}")
        else:
            print(f"ok: HTTP/0.9 request line (no version): answered the HTTP/0.9 way, no status line "
                  f"({received[:60]!r})")
        if args.slow:
            # nginx ends a request whose head stays unfinished past client_header_timeout by
            # closing the connection, sending nothing (never its 408 page).
            started = time.monotonic()
            received = exchange(args.host, args.port, args.tls, HEAD, wait=args.slow + WAIT)
            waited = time.monotonic() - started
            if received or waited >= args.slow + WAIT - 0.5:
                failures.append(f"unfinished head: {received[:200]!r} after {waited:.1f} s, expected a close")
            else:
                print(f"ok: unfinished head: closed after {waited:.1f} s, nothing sent (no HTML 408)")
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
