#!/usr/bin/env python3
"""Queue path benchmark: N journeys of an email and an SMS through a real `cairn serve`.

Usage: scripts/bench-queues.py [N] [-- serve arguments]
  cargo build --release
  scripts/bench-queues.py 5000                         # apalis-sqlite queues in the same file (default)
  scripts/bench-queues.py 5000 -- --direct-delivery    # in-process delivery from the outbox
  REDIS_URL=redis://127.0.0.1:6379 scripts/bench-queues.py 5000   # Redis queues (FLUSHDB it first)

Posts N entries (16 at a time) to a fresh SQLite file, then polls the flow's stats until every
email and SMS is `sent`, and prints how long entries and delivery took.
"""
import concurrent.futures as cf
import json
import os
import subprocess
import sys
import time
import urllib.request

FLOW = """{"format": "cairn.flow/v1", "name": "Crash", "nodes": [
  {"id": "start", "type": "webhook_entry"},
  {"id": "tag", "type": "add_tag", "tag": "crash"},
  {"id": "mail", "type": "send_email", "subject": "Hi {{contact.id}}", "html": "<p>Hi</p>"},
  {"id": "pause", "type": "wait", "duration": "1s"},
  {"id": "text", "type": "send_sms", "text": "Hi again"},
  {"id": "done", "type": "exit"}],
  "edges": [{"from": "start", "to": "tag"}, {"from": "tag", "to": "mail"}, {"from": "mail", "to": "pause"},
            {"from": "pause", "to": "text"}, {"from": "text", "to": "done"}]}"""

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    argv = sys.argv[1:]
    serve_args = argv[argv.index("--") + 1:] if "--" in argv else []
    head = argv[: argv.index("--")] if "--" in argv else argv
    n = int(head[0]) if head else 5000
    db = f"/tmp/cairn-bench-queues-{os.getpid()}.db"
    env = dict(os.environ, CAIRN_LISTEN="127.0.0.1:0", DATABASE_URL=f"sqlite://{db}?mode=rwc", RUST_LOG="warn")
    serve = subprocess.Popen([os.path.join(ROOT, "target/release/cairn"), "serve", *serve_args],
                             env=env, stderr=subprocess.PIPE, text=True)
    base = None
    for line in serve.stderr:
        if line.startswith("Cairn is listening on "):
            base = line.split()[-1]
            break
    if base is None:
        sys.exit("cairn serve did not start")

    def call(method, path, body=None):
        request = urllib.request.Request(base + path, method=method, data=body.encode() if body else None,
                                         headers={"content-type": "application/json"})
        return json.loads(urllib.request.urlopen(request).read() or b"null")

    try:
        flow = call("POST", "/api/flows", FLOW)["id"]
        call("POST", f"/api/flows/{flow}/activate")
        started = time.time()

        def enter(i):
            contact = {"id": f"c{i}", "email": f"c{i}@example.com", "phone": "+3725550000"}
            call("POST", f"/api/flows/{flow}/entries", json.dumps({"contact": contact}))

        with cf.ThreadPoolExecutor(16) as pool:
            list(pool.map(enter, range(n)))
        entered = time.time() - started
        while True:
            nodes = call("GET", f"/api/flows/{flow}/stats")["nodes"]
            sent = [nodes.get(node, {}).get("actions", {}).get("sent", 0) for node in ("mail", "text")]
            if sent == [n, n]:
                break
            if time.time() - started > 600:
                sys.exit(f"not all sent after 600 s: {nodes}")
            time.sleep(0.2)
        print(json.dumps({"journeys": n, "messages": 2 * n, "serve_args": serve_args,
                          "redis": bool(os.environ.get("REDIS_URL")),
                          "entries_seconds": round(entered, 2),
                          "all_sent_seconds": round(time.time() - started, 2)}))
    finally:
        serve.kill()
        serve.wait()
        for suffix in ("", "-wal", "-shm"):
            try:
                os.remove(db + suffix)
            except OSError:
                pass


if __name__ == "__main__":
    main()
