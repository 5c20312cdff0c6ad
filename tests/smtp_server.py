#!/usr/bin/env python3
"""A real SMTP server for apiphant-background's email tests (tests/it/background.rs).

Runs aiosmtpd (pip install aiosmtpd) on 127.0.0.1 on a port the kernel picks, prints
"PORT <n>" on stdout once it listens, and writes each received message to OUT_DIR as
<n>.eml, preceded by X-Envelope-From / X-Envelope-To lines (written to a temporary name,
then renamed, so a reader never sees half a message).

With --reject-login it advertises AUTH (over plain TCP), requires it, and refuses every
login with 535. Runs until killed.
"""

import argparse
import asyncio
import os
import sys

from aiosmtpd.smtp import SMTP, AuthResult


class Saver:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        path = os.path.join(self.out_dir, f"{self.count}.eml")
        head = (
            f"X-Envelope-From: {envelope.mail_from}\r\n"
            f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        with open(path + ".tmp", "wb") as out:
            out.write(head + (envelope.original_content or b""))
        os.rename(path + ".tmp", path)
        return "250 OK"


def refuse_every_login(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=False, handled=False)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--reject-login", action="store_true")
    args = parser.parse_args()
    handler = Saver(args.out_dir)
    options = {}
    if args.reject_login:
        options = dict(
            authenticator=refuse_every_login,
            auth_required=True,
            auth_require_tls=False,
        )
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(lambda: SMTP(handler, **options), host="127.0.0.1", port=0)
    )
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    loop.run_forever()


if __name__ == "__main__":
    sys.exit(main())
