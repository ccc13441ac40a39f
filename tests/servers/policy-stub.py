#!/usr/bin/env python3
"""Stub Postfix policy server (stand-in for quotachk while wiring tests).

  policy-stub.py --port PORT [--log FILE]   TCP on 127.0.0.1:PORT (threaded, many requests per connection)
  policy-stub.py --stdio [--log FILE]       one client on stdin/stdout (Postfix spawn(8) mode)

Replies: recipient starting with "full" -> 452 4.2.2 Mailbox full; size > 1000000 -> 552 5.2.3 too large;
otherwise DUNNO. Never write to stderr in --stdio mode: spawn(8) connects stderr to smtpd too."""
import argparse, socketserver, sys

def decide(req):
    if req.get("recipient", "").lower().startswith("full"):
        return "action=452 4.2.2 Mailbox full"
    if int(req.get("size") or 0) > 1000000:
        return "action=552 5.2.3 too large"
    return "action=DUNNO"

def serve(rfile, wfile, log):
    req = {}
    for raw in rfile:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line:
            k, _, v = line.partition("=")
            req[k] = v
            continue
        reply = decide(req)
        if log:
            with open(log, "a") as f:
                f.write("recipient=%s size=%s -> %s\n" % (req.get("recipient"), req.get("size"), reply))
        wfile.write(reply.encode() + b"\n\n")
        wfile.flush()
        req = {}

class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        serve(self.rfile, self.wfile, self.server.log)

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int)
    ap.add_argument("--stdio", action="store_true")
    ap.add_argument("--log")
    a = ap.parse_args()
    if a.stdio:
        serve(sys.stdin.buffer, sys.stdout.buffer, a.log)
        sys.exit(0)
    if a.port is None:
        ap.error("--port or --stdio required")
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.daemon_threads = True
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", a.port), Handler)
    srv.log = a.log
    srv.serve_forever()
