"""A real SMTP server (aiosmtpd) for Cairn's tests.

Stores every accepted message as OUTDIR/<n>.eml and answers "451 try again later" to the first
FAIL_FIRST messages, so tests can see a transient failure followed by a delivery.

usage: /usr/bin/python3 tests/smtp_server.py OUTDIR PORT FAIL_FIRST
"""
import os
import sys
import time

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, outdir, fail_first):
        self.outdir = outdir
        self.fail_first = fail_first
        self.accepted = 0

    async def handle_DATA(self, server, session, envelope):
        if self.fail_first > 0:
            self.fail_first -= 1
            return "451 4.3.0 Try again later"
        self.accepted += 1
        path = os.path.join(self.outdir, "%06d.eml" % self.accepted)
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 Queued as %d" % self.accepted


def main():
    outdir, port, fail_first = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    controller = Controller(Handler(outdir, fail_first), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        controller.stop()


if __name__ == "__main__":
    main()
