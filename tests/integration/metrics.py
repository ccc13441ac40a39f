#!/usr/bin/env python3
"""Clients for tests/integration/metrics.sh.

  metrics.py policy ADDR RCPT... [then-get ADDR2]
                                     one connection, one RCPT request per
                                     recipient; prints each answer line,
                                     and seconds=S (connect to last
                                     answer) on stderr
                                     (then GET /metrics from ADDR2 at once,
                                     from this process: no start-up delay)
  metrics.py get ADDR [PATH [METHOD]] one HTTP/1.0 request; prints the
                                     status line, headers and body
  metrics.py hostile ADDR SECONDS    for SECONDS: 40 silent connections,
                                     20 slowloris ones (a header byte each
                                     0.3 s), 1 MiB headers in a loop;
                                     prints "ready" once the first two
                                     kinds are connected, then what it
                                     managed

ADDR is inet:PORT (on 127.0.0.1) or unix:PATH.
"""
import socket
import sys
import time


def connect(addr, timeout=10):
    if addr.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(addr[5:])
    else:
        s = socket.create_connection(("127.0.0.1", int(addr[5:])), timeout)
    return s


def policy(addr, rcpts):
    start = time.monotonic()
    s = connect(addr, 30)
    f = s.makefile("rb")
    for rcpt in rcpts:
        s.sendall(("request=smtpd_access_policy\nprotocol_state=RCPT\n"
                   "recipient=%s\nsize=0\n\n" % rcpt).encode())
        answer = f.readline().decode().rstrip("\n")
        f.readline()
        print(answer)
    s.close()
    # From connect to the last answer: the caller's own start-up (slow
    # on a loaded machine) is not the daemon's.
    sys.stderr.write("seconds=%.3f\n" % (time.monotonic() - start))


def get(addr, path="/metrics", method="GET"):
    s = connect(addr)
    s.sendall(("%s %s HTTP/1.0\r\nHost: x\r\n\r\n" % (method, path)).encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    sys.stdout.write(data.decode("utf-8", "replace").replace("\r\n", "\n"))


def hostile(addr, seconds):
    silent, slow, big, refused = [], [], 0, 0
    for _ in range(40):
        try:
            silent.append(connect(addr))
        except OSError:
            refused += 1
    for _ in range(20):
        try:
            s = connect(addr)
            s.sendall(b"GET /metrics HTTP/1.0\r\n")
            slow.append(s)
        except OSError:
            refused += 1
    header = b"GET /metrics HTTP/1.0\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"
    print("ready", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for s in list(slow):
            try:
                s.send(b"X")
            except OSError:
                slow.remove(s)
        s = None
        try:
            s = connect(addr, 2)
            s.sendall(header)
        except OSError:
            pass  # closed under us: that is the point
        finally:
            big += 1
            if s is not None:
                s.close()
        time.sleep(0.3)
    for s in silent + slow:
        s.close()
    print("hostile: silent=40 slowloris=20 big_headers=%d refused=%d"
          % (big, refused))


def main():
    cmd, addr = sys.argv[1], sys.argv[2]
    if cmd == "policy":
        args = sys.argv[3:]
        then = None
        if len(args) >= 2 and args[-2] == "then-get":
            then = args[-1]
            args = args[:-2]
        policy(addr, args)
        if then is not None:
            get(then)
    elif cmd == "get":
        get(addr, *sys.argv[3:])
    elif cmd == "hostile":
        hostile(addr, float(sys.argv[3]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
