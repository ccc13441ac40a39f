#!/usr/bin/env python3
"""A misbehaving IMAP peer on loopback, for faults a real server cannot make.

  fake-imap.py [--port PORT] [--stage greeting|command] [--faults N]
               [--log FILE] MODE

Listens on 127.0.0.1:PORT (0, the default, picks a free port) and prints
"ready PORT" once it accepts connections.  Every connection gets MODE:

  silent   accept and never send a byte (not even the greeting)
  close    send half a line, then close the connection
  garbage  send 8 KiB of random bytes (CR, LF, "{", NUL included), then
           nothing more (the client must not hang on it)
  endless  send one line that never ends, as fast as the client reads
  drip     send a valid answer one byte per second
  freeze   stop reading and answering, the TCP connection left open (a
           server SIGSTOPped or wedged mid-session); LOGOUT gets no answer
  ok       behave: log in anyone; GETQUOTAROOT of any name is over quota
           (STORAGE 200 of 100 KiB, or --storage), LIST "" "" gives "."
           (a self-check: the client works against this peer, so a
           failure in the other modes is the fault's doing)
  unavailable  log in anyone, answer every GETQUOTAROOT with
           "NO Server(s) unavailable to complete operation", as a Cyrus
           Murder frontend does while the mailbox's backend is down

Options of mode ok, for faults about one mailbox: --storage "USED LIMIT"
(KiB) for every answer; --bad-name NAME answers GETQUOTAROOT NAME with a
tagged BAD, --garbled-name NAME with a QUOTA line whose figure is not a
number; --slow-name NAME answers NAME only after --slow seconds.

--stage says where the fault strikes: "greeting" replaces the greeting
(the connect/login phase, handled by libcurl); "command" (the default)
greets and accepts the login normally (CAPABILITY, LOGIN, AUTHENTICATE
PLAIN) and strikes at the first other command, the quota query (handled
by quotachk's own transport).  --faults N: only the first N connections
get the fault, later ones behave as in mode ok (a server that recovers).
--log appends one line per connection and per client command (never the
password).  Runs until killed.
"""
import argparse
import random
import socket
import sys
import threading
import time

GREETING = b"* OK [CAPABILITY IMAP4rev1 QUOTA] fake-imap ready\r\n"
CAPABILITY = b"* CAPABILITY IMAP4rev1 QUOTA\r\n"
LINE_MAX = 8192

log_lock = threading.Lock()


def log(args, text):
    if args.log:
        with log_lock, open(args.log, "a") as f:
            f.write("%.3f %s\n" % (time.time(), text))


def fault(args, conn, where, tag=b""):
    """Misbehave on conn at "greeting" or at a "command" tagged tag;
    return when the client is gone."""
    mode = args.mode
    if mode == "silent":
        drain(conn)
    elif mode == "close":
        # Half a line: a greeting or a response cut off mid-way.
        conn.sendall(b"* OK [CAPAB" if where == "greeting"
                     else b"* QUOTAROOT \"user.x\" \"user.x\"\r\n* QUOTA \"user.x\" (STORAGE 1")
    elif mode == "garbage":
        rnd = random.Random(5)  # the same garbage every run
        alphabet = bytes(range(256)) + b"\r\n{}()\"*" * 16
        conn.sendall(bytes(rnd.choice(alphabet) for _ in range(8192)))
        drain(conn)
    elif mode == "endless":
        conn.sendall(b"* OK " if where == "greeting" else b"* QUOTAROOT ")
        chunk = b"x" * 65536
        while True:
            conn.sendall(chunk)
    elif mode == "freeze":
        # Neither read nor answer; the kernel keeps the connection open
        # (and its buffers fill) until the client gives up.
        while True:
            time.sleep(3600)
    elif mode == "drip":
        answer = GREETING if where == "greeting" else (
            b"* QUOTAROOT \"user.x\" \"user.x\"\r\n"
            b"* QUOTA \"user.x\" (STORAGE 200 100)\r\n" + tag + b" OK done\r\n")
        for i in range(len(answer)):
            conn.sendall(answer[i:i + 1])
            time.sleep(1)
        drain(conn)


def drain(conn):
    """Read and drop whatever the client sends until it closes."""
    while conn.recv(65536):
        pass


def read_line(conn, pending):
    while b"\n" not in pending[0]:
        if len(pending[0]) > LINE_MAX:
            raise OSError("client line too long")
        data = conn.recv(4096)
        if not data:
            raise OSError("client closed")
        pending[0] += data
    line, pending[0] = pending[0].split(b"\n", 1)
    return line.rstrip(b"\r")


def ok_answer(args, tag, words):
    """The well-behaved answers of mode "ok"."""
    cmd = words[0].upper() if words else b""
    if cmd == b"GETQUOTAROOT" and len(words) > 1:
        name = words[1]
        bare = name.strip(b'"').decode("ascii", "replace")
        if bare == args.bad_name:
            return tag + b" BAD Invalid mailbox name\r\n"
        storage = args.storage.encode()
        if bare == args.garbled_name:
            storage = b"12x 100"
        if bare == args.slow_name:
            time.sleep(args.slow)
        return (b"* QUOTAROOT " + name + b" " + name + b"\r\n* QUOTA " + name +
                b" (STORAGE " + storage + b")\r\n" + tag + b" OK done\r\n")
    if cmd == b"LIST":
        return b"* LIST (\\Noselect) \".\" \"\"\r\n" + tag + b" OK done\r\n"
    return tag + b" OK done\r\n"


connections = [0]


def serve(args, conn, peer):
    pending = [b""]
    log(args, "connection from %s:%d" % peer)
    with log_lock:
        connections[0] += 1
        faulty = args.faults is None or connections[0] <= args.faults
    if not faulty:
        args = argparse.Namespace(**dict(vars(args), mode="ok"))
    if args.stage == "greeting" and args.mode != "ok":
        fault(args, conn, "greeting")
        return
    conn.sendall(GREETING)
    while True:
        line = read_line(conn, pending)
        tag, _, rest = line.partition(b" ")
        words = rest.split(b" ")
        cmd = words[0].upper()
        # Log the command name only: LOGIN and AUTHENTICATE carry secrets.
        log(args, "command %s" % cmd.decode("ascii", "replace")[:40])
        if cmd == b"CAPABILITY":
            conn.sendall(CAPABILITY + tag + b" OK done\r\n")
        elif cmd == b"LOGIN":
            conn.sendall(tag + b" OK logged in\r\n")
        elif cmd == b"AUTHENTICATE":
            if len(words) < 3:          # no SASL-IR: ask for the response
                conn.sendall(b"+ \r\n")
                read_line(conn, pending)
            conn.sendall(tag + b" OK logged in\r\n")
        elif cmd == b"LOGOUT":
            log(args, "logout answered")
            conn.sendall(b"* BYE bye\r\n" + tag + b" OK done\r\n")
            return
        elif args.mode == "ok":
            conn.sendall(ok_answer(args, tag, words))
        elif args.mode == "unavailable":
            conn.sendall(tag + b" NO Server(s) unavailable to complete operation\r\n")
        else:
            fault(args, conn, "command", tag)
            return


def handle(args, conn, peer):
    try:
        serve(args, conn, peer)
    except OSError:
        pass                            # the client went away: fine
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--stage", choices=("greeting", "command"), default="command")
    p.add_argument("--faults", type=int)
    p.add_argument("--log")
    p.add_argument("--storage", default="200 100")
    p.add_argument("--bad-name")
    p.add_argument("--garbled-name")
    p.add_argument("--slow-name")
    p.add_argument("--slow", type=float, default=0)
    p.add_argument("mode", choices=("silent", "close", "garbage", "endless", "drip",
                                    "freeze", "ok", "unavailable"))
    args = p.parse_args()
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", args.port))
    server.listen(128)
    print("ready %d" % server.getsockname()[1], flush=True)
    while True:
        conn, peer = server.accept()
        threading.Thread(target=handle, args=(args, conn, peer), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
