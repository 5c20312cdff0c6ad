#!/usr/bin/env python3
"""Idle keep-alive connections' cost: opens N connections to a server, sends one POST on
each and reads its answer, keeps them all open and silent for S seconds, then prints the
server's resident memory (VmRSS) before and after, in KiB, as `BENCH rss_before=..
rss_idle=.. conns=.. answered=..` (the line `bench/run.sh --conns` reads).

Loopback only; bounded by N and by a deadline on every read."""

import argparse
import socket
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit(f"no VmRSS for pid {pid}")


def read_answer(sock, deadline):
    """Reads one HTTP/1.1 answer with a Content-Length; True when it is a 200."""
    data = b""
    while b"\r\n\r\n" not in data:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = sock.recv(4096)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = sock.recv(4096)
        if not chunk:
            return False
        body += chunk
    return head.startswith(b"HTTP/1.1 200")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/api/v0/echo/read")
    parser.add_argument("--pid", type=int, required=True, help="the server's process id")
    parser.add_argument("--conns", type=int, default=10000)
    parser.add_argument("--idle-secs", type=float, default=3.0)
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args()

    body = b'{"hello": "world"}'
    extra = "".join(f"{h}\r\n" for h in args.header)
    request = (
        f"POST {args.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"{extra}Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    before = rss_kib(args.pid)
    socks = []
    answered = 0
    deadline = time.monotonic() + 120
    # In batches, so the server's accept backlog is never the limit being measured.
    batch = 500
    for start in range(0, args.conns, batch):
        opened = []
        for _ in range(min(batch, args.conns - start)):
            sock = socket.create_connection(("127.0.0.1", args.port), timeout=10)
            sock.sendall(request)
            opened.append(sock)
        for sock in opened:
            answered += read_answer(sock, deadline)
        socks.extend(opened)
        if time.monotonic() > deadline:
            sys.exit("idle_conns: 120 s deadline passed while opening connections")
    time.sleep(args.idle_secs)
    idle = rss_kib(args.pid)
    print(f"BENCH rss_before={before} rss_idle={idle} conns={len(socks)} answered={answered}")
    for sock in socks:
        sock.close()


if __name__ == "__main__":
    main()
