#!/usr/bin/env python3
"""Echo requests over one keep-alive connection, 16 pipelined at a time: the load of
bench/instructions.sh (its own speed does not matter: only the server's instructions count).

usage: pipelined_client.py [--depth N] PORT REQUESTS [PATH [HEADER ...]]
    --depth N: requests sent at a time (default 16); 1 sends the next only once the last
    is answered, so every request costs the server a wake-up, as at a fixed rate.
    PATH: default /api/v0/echo/read; each HEADER a "Name: value" line added to every request.
"""
import socket
import sys

BODY = b'{"hello": "world"}'
PIPELINED = 16


def request(path: str, headers: list) -> bytes:
    extra = b"".join(h.encode() + b"\r\n" for h in headers)
    return (
        b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (path.encode(), extra, len(BODY), BODY)
    )


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise SystemExit("a response without Content-Length")


def main() -> None:
    args = sys.argv[1:]
    depth = PIPELINED
    if args[:1] == ["--depth"]:
        depth, args = max(1, int(args[1])), args[2:]
    port, total = int(args[0]), int(args[1])
    path = args[2] if len(args) > 2 else "/api/v0/echo/read"
    one = request(path, args[3:])
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    pending = b""
    done = 0
    while done < total:
        batch = min(depth, total - done)
        sock.sendall(one * batch)
        answered = 0
        while answered < batch:
            end = pending.find(b"\r\n\r\n")
            if end >= 0 and len(pending) >= end + 4 + content_length(pending[:end]):
                if not pending.startswith(b"HTTP/1.1 200 "):
                    raise SystemExit(f"unexpected answer: {pending[:80]!r}")
                pending = pending[end + 4 + content_length(pending[:end]):]
                answered += 1
                continue
            data = sock.recv(65536)
            if not data:
                raise SystemExit("the server closed the connection")
            pending += data
        done += batch
    print(f"{done} requests answered")


if __name__ == "__main__":
    main()
