#!/usr/bin/env python3
"""Echo requests over one keep-alive connection, 16 pipelined at a time: the load of
bench/instructions.sh (its own speed does not matter: only the server's instructions count).

usage: pipelined_client.py PORT REQUESTS
"""
import socket
import sys

BODY = b'{"hello": "world"}'
REQUEST = (
    b"POST /api/v0/echo/read HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
)
PIPELINED = 16


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise SystemExit("a response without Content-Length")


def main() -> None:
    port, total = int(sys.argv[1]), int(sys.argv[2])
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    pending = b""
    done = 0
    while done < total:
        batch = min(PIPELINED, total - done)
        sock.sendall(REQUEST * batch)
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
