#!/usr/bin/env python3
"""policyd-hostile.py - well-behaved and hostile Postfix policy clients for
tests/integration/policyd-hostile.sh.  Each mode prints one line of
key=value results on stdout; the shell test judges them.  127.0.0.1 only,
every wait bounded.

  good PORT STOPFILE          alice/bob requests on one connection until
                              STOPFILE exists: ok= bad= max_ms= closed=
  nonl PORT MIB               MIB MiB without a newline
  attrs PORT N                one request with N attributes
  slowloris PORT MAXSECS      a request, one byte per second
  halfopen-shut PORT          half a request, then shutdown(SHUT_WR)
  halfopen-idle PORT MAXSECS  half a request, then nothing at all
  noread PORT N MAXSECS       N pipelined requests, answers never read
  flood PORT N HOLDSECS       N more connections, each tries a request
  nul PORT                    a good request, one with a NUL, another
  specials PORT               recipients with IMAP-special, 8-bit and
                              odd bytes, pipelined: one answer each
  bursts PORT NOUSER_ACTION   pipelined bursts of mixed answers (over
                              quota, fits, unknown, too large), each in one
                              write, sized so the answers end exactly on
                              the daemon's output buffer sizes
"""
import os
import socket
import sys
import time

GOOD = [(b"alice@example.test", b"action=DUNNO"),
        (b"bob@example.test", b"action=452 4.2.2 Mailbox full")]


def request(rcpt, size=0):
    return (b"request=smtpd_access_policy\nprotocol_state=RCPT\n"
            b"protocol_name=ESMTP\nclient_address=192.0.2.7\n"
            b"sender=hostile@remote.test\nrecipient=" + rcpt +
            b"\nsize=%d\n\n" % size)


def connect(port, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def out(mode, **kv):
    print(mode + " " + " ".join("%s=%s" % (k, v) for k, v in kv.items()),
          flush=True)


def read_until_eof(s, limit):
    """Read until EOF/RST or limit seconds; returns (data, closed)."""
    data = b""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except (ConnectionResetError, BrokenPipeError):
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def answers(data):
    """Complete answers (text before each empty line) in data."""
    parts = data.split(b"\n\n")
    return [p for p in parts[:-1]]


def mode_good(port, stopfile):
    s = connect(port)
    f = s.makefile("rb")
    ok = bad = 0
    max_ms = 0.0
    first_bad = "-"
    i = 0
    while not os.path.exists(stopfile):
        rcpt, want = GOOD[i % 2]
        i += 1
        t = time.monotonic()
        try:
            s.sendall(request(rcpt))
            line = f.readline().rstrip(b"\n")
            empty = f.readline()
        except (OSError, socket.timeout) as e:
            out("good", ok=ok, bad=bad + 1, max_ms="%.1f" % max_ms,
                closed=1, first_bad="exception:%s" % type(e).__name__)
            return 1
        ms = (time.monotonic() - t) * 1000
        max_ms = max(max_ms, ms)
        if line == want and empty == b"\n":
            ok += 1
        else:
            bad += 1
            if first_bad == "-":
                first_bad = repr(line + b"|" + empty).replace(" ", "_")
            if line == b"":
                out("good", ok=ok, bad=bad, max_ms="%.1f" % max_ms,
                    closed=1, first_bad=first_bad)
                return 1
        time.sleep(0.01)   # a busy, not a flooding, Postfix
    out("good", ok=ok, bad=bad, max_ms="%.1f" % max_ms, closed=0,
        first_bad=first_bad)
    return 0


def mode_nonl(port, mib):
    s = connect(port)
    block = b"A" * 65536
    sent = 0
    closed = False
    t = time.monotonic()
    try:
        while sent < mib * 1048576:
            sent += s.send(block)
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    except socket.timeout:
        pass  # the server stopped reading without closing
    data, eof = read_until_eof(s, 10) if not closed else (b"", True)
    out("nonl", port=s.getsockname()[1], sent=sent, closed=int(closed or eof),
        answers=len(answers(data)), secs="%.1f" % (time.monotonic() - t))


def mode_attrs(port, n):
    s = connect(port)
    body = b"".join(b"attr%d=value\n" % i for i in range(n))
    closed = False
    try:
        s.sendall(b"request=smtpd_access_policy\nprotocol_state=RCPT\n"
                  b"recipient=alice@example.test\n" + body + b"\n")
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    data, eof = read_until_eof(s, 10)
    out("attrs", port=s.getsockname()[1], n=n, closed=int(closed or eof), answers=len(answers(data)))


def mode_slowloris(port, maxsecs):
    s = connect(port)
    req = request(b"alice@example.test")
    t = time.monotonic()
    sent = 0
    closed = False
    while sent < len(req) and time.monotonic() - t < maxsecs:
        try:
            s.send(req[sent:sent + 1])
            sent += 1
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        # Sleep one second, noticing a close at once.
        data, eof = read_until_eof(s, 1.0)
        if eof or data:
            closed = eof
            break
    out("slowloris", port=s.getsockname()[1], bytes=sent, closed=int(closed),
        secs="%.1f" % (time.monotonic() - t))


def mode_nul(port):
    s = connect(port)
    s.sendall(request(b"alice@example.test") +
              request(b"ali\0ce@example.test") + request(b"bob@example.test"))
    data, eof = read_until_eof(s, 10)
    out("nul", port=s.getsockname()[1], closed=int(eof),
        answers=len(answers(data)))


def mode_halfopen_shut(port):
    s = connect(port)
    s.sendall(request(b"alice@example.test")[:60])
    s.shutdown(socket.SHUT_WR)
    t = time.monotonic()
    data, eof = read_until_eof(s, 10)
    out("halfopen-shut", port=s.getsockname()[1], closed=int(eof), answers=len(answers(data)),
        secs="%.1f" % (time.monotonic() - t))


def mode_halfopen_idle(port, maxsecs):
    s = connect(port)
    s.sendall(request(b"alice@example.test")[:60])
    t = time.monotonic()
    data, eof = read_until_eof(s, maxsecs)
    out("halfopen-idle", port=s.getsockname()[1], closed=int(eof), answers=len(answers(data)),
        secs="%.1f" % (time.monotonic() - t))


def mode_noread(port, n, maxsecs):
    """Pipeline n requests and never read: the daemon must stop reading
    (bounded buffers) and drop the client once it stays stuck.  Each
    request is the smallest there is, one attribute and no recipient
    (answered with action_fits at once): the most answer bytes per request
    byte, so the answers back up in the daemon, not in socket buffers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    req = b"a=1\n\n"
    blob = req * n
    sent = 0
    closed = False
    t = time.monotonic()
    # Write until the daemon stops taking bytes (or all is sent).
    stalled_since = None
    while sent < len(blob) and time.monotonic() - t < maxsecs:
        try:
            k = s.send(blob[sent:sent + 65536])
            sent += k
            stalled_since = None
        except BlockingIOError:
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > 1.0:
                break
            time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
    # Still never reading: wait for the daemon to give up on us.  A close
    # is visible as an error on send (RST after our unread data) or by a
    # peek at the end.
    while not closed and time.monotonic() - t < maxsecs:
        time.sleep(0.5)
        try:
            s.send(b"")
            if s.recv(1, socket.MSG_PEEK) == b"":
                closed = True   # EOF visible only once buffers drained
        except BlockingIOError:
            pass
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        if not closed:
            # Is the connection still ESTABLISHED on the daemon's side?
            # The daemon's fin shows as EOF after all queued answers,
            # which we never read: look at TCP state instead.
            if tcp_peer_closed(s):
                closed = True
    out("noread", port=s.getsockname()[1], requests_sent=sent // len(req), closed=int(closed),
        secs="%.1f" % (time.monotonic() - t))


def tcp_peer_closed(s):
    """True once the peer sent FIN or RST (TCP_INFO state CLOSE_WAIT,
    CLOSE or similar rather than ESTABLISHED)."""
    try:
        info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
    except OSError:
        return True
    return info[0] != 1   # 1 = TCP_ESTABLISHED


def mode_flood(port, n, hold):
    socks = []
    refused = 0
    for _ in range(n):
        try:
            socks.append(connect(port, timeout=2))
        except OSError:
            refused += 1
    # Each flooding connection asks once; those beyond max_clients must
    # not be served (refused, closed or left unaccepted).
    answered = closed = 0
    for s in socks:
        try:
            s.sendall(request(b"alice@example.test"))
        except OSError:
            closed += 1
    deadline = time.monotonic() + 2
    for s in socks:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            d = s.recv(4096)
            if d.startswith(b"action="):
                answered += 1
            elif d == b"":
                closed += 1
        except socket.timeout:
            pass
        except OSError:
            closed += 1
    time.sleep(hold)
    for s in socks:
        s.close()
    out("flood", opened=len(socks), refused=refused, answered=answered,
        closed=closed)


SPECIALS = [
    b'"quoted"@example.test', b'back\\slash@example.test',
    b'per%cent@example.test', b'st*r@example.test', b'{5}@example.test',
    b'{40+}@example.test', b'{4294967296}@example.test',
    b'(paren)@example.test', b'a"b\\"c@example.test', b'%%25@example.test',
    b'sp ace@example.test', b'tab\there@example.test',
    "j\u00f6rg@example.test".encode(), b'\xff\xfe@example.test',
    "\u7528\u6237@\u4f8b\u5b50.test".encode(), b'a' * 900 + b'@example.test',
    b'b' * 3900 + b'@example.test', b'', b'@', b'@@', b'+@example.test',
    b'alice+{40+}@example.test', b'nosuch@example.test',
    b'alice@example.test\rX',
]


def mode_specials(port):
    s = connect(port)
    blob = b"".join(request(r) for r in SPECIALS)
    s.sendall(blob)
    data = b""
    s.settimeout(15)
    try:
        while data.count(b"\n\n") < len(SPECIALS):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    # Nothing more may follow: one answer per request exactly.
    extra, eof = read_until_eof(s, 1.0)
    got = answers(data + extra)
    kinds = {}
    for a in got:
        kinds[a] = kinds.get(a, 0) + 1
    summary = ",".join("%s:%d" % (k.decode(errors="replace").replace(" ", "_"), v)
                       for k, v in sorted(kinds.items()))
    out("specials", port=s.getsockname()[1], requests=len(SPECIALS), answers=len(got),
        closed=int(eof), kinds=summary)


# The answers of policyd-hostile.sh's daemon, by recipient and size.
BURST_KINDS = {
    "over": (b"bob@example.test", 0, b"action=452 4.2.2 Mailbox full"),
    "fits": (b"alice@example.test", 0, b"action=DUNNO"),
    "nouser": (b"nosuch@example.test", 0, None),      # action_nouser
    "toolarge": (b"alice@example.test", 2000000,
                 b"action=552 5.2.3 Message larger than the mailbox quota"),
}


def burst_plans(nouser):
    """Bursts whose answers add up to exactly 512, 1024 and 2048 bytes
    (the daemon's output buffer starts at 512 and doubles), some bytes
    either side, and the burst of issue 8 (12 over quota, then 10 that
    fit).  Interleaved, so every answer length meets every offset."""
    size = {k: len(v[2] or b"action=" + nouser) + 2
            for k, v in BURST_KINDS.items()}
    plans = [["over"] * 12 + ["fits"] * 10]
    order = ["over", "fits", "nouser", "toolarge"]
    for target in (512, 1024, 2048):
        for delta in (-1, 0, 1):
            found = None
            for n_t in range(1, 20):
                for n_n in range(1, 20):
                    for n_o in range(1, 40):
                        rest = target + delta - n_t * size["toolarge"] - \
                            n_n * size["nouser"] - n_o * size["over"]
                        if rest > 0 and rest % size["fits"] == 0 and \
                                n_t + n_n + n_o + rest // size["fits"] <= 60:
                            found = (n_o, rest // size["fits"], n_n, n_t)
                            break
                    if found:
                        break
                if found:
                    break
            if not found:
                continue
            left = dict(zip(order, found))
            plan = []
            while any(left.values()):
                for k in order:
                    if left[k]:
                        plan.append(k)
                        left[k] -= 1
            plans.append(plan)
    return plans


def mode_bursts(port, nouser):
    nouser = nouser.encode()
    s = connect(port)
    s.settimeout(15)
    f = s.makefile("rb")
    bursts = requests = wrong = 0
    first_wrong = "-"
    for plan in burst_plans(nouser):
        # Warm the cache first, so the whole burst is answered in one
        # pass of the daemon's loop, into one output buffer.
        warm = b"".join(request(r, z) for r, z, _ in BURST_KINDS.values())
        try:
            s.sendall(warm)
            for _ in BURST_KINDS:
                f.readline()
                f.readline()
            s.sendall(b"".join(request(BURST_KINDS[k][0], BURST_KINDS[k][1])
                               for k in plan))
        except OSError as e:
            wrong += 1
            first_wrong = "%d:exception:%s" % (requests, type(e).__name__)
            break
        bursts += 1
        for k in plan:
            want = BURST_KINDS[k][2] or b"action=" + nouser
            try:
                line = f.readline().rstrip(b"\n")
                empty = f.readline()
            except (OSError, socket.timeout):
                line, empty = b"", b""
            requests += 1
            if line != want or empty != b"\n":
                wrong += 1
                if first_wrong == "-":
                    first_wrong = "%d:%s" % (requests, repr(line).replace(" ", "_"))
                if line == b"":
                    break
    out("bursts", port=s.getsockname()[1], bursts=bursts, requests=requests,
        wrong=wrong, first_wrong=first_wrong)


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    args = sys.argv[3:]
    if mode == "good":
        return mode_good(port, args[0])
    if mode == "nonl":
        return mode_nonl(port, int(args[0]))
    if mode == "attrs":
        return mode_attrs(port, int(args[0]))
    if mode == "slowloris":
        return mode_slowloris(port, float(args[0]))
    if mode == "nul":
        return mode_nul(port)
    if mode == "halfopen-shut":
        return mode_halfopen_shut(port)
    if mode == "halfopen-idle":
        return mode_halfopen_idle(port, float(args[0]))
    if mode == "noread":
        return mode_noread(port, int(args[0]), float(args[1]))
    if mode == "flood":
        return mode_flood(port, int(args[0]), float(args[1]))
    if mode == "specials":
        return mode_specials(port)
    if mode == "bursts":
        return mode_bursts(port, args[0])
    sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    sys.exit(main() or 0)
