#!/usr/bin/env python3
"""Accounting checks for quotachk-policyd against a real Cyrus behind a
real Postfix (policyd-accounting.sh starts them and passes the ports).

The rule under test: a refusal rests only on the server's own figures plus
messages Postfix really accepted (END-OF-MESSAGE), each counted once.  So
probes (RCPT then RSET or QUIT), repeated or concurrent RCPTs and
recipients refused later never make a mailbox look fuller; accepted
messages count once each.

Fixture (tests/servers/lib.sh): alice has 300 KiB of 1000 KiB used, so
716800 bytes free; carol has no quota; dave is over his message count.

  policyd-accounting.py SMTP_PORT POLICY_PORT DAEMON_PID DAEMON_LOG

Prints "ok - ..." / "FAIL - ..." lines; exit 1 when a check failed."""
import os, signal, socket, sys, threading, time

SMTP_PORT, POLICY_PORT, PD_PID = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
LOG = sys.argv[4]
FREE = 716800            # alice's free space as Cyrus reports it
FAILS = 0


def check(what, good, detail=""):
    global FAILS
    if good:
        print("ok - %s" % what)
    else:
        FAILS += 1
        print("FAIL - %s%s" % (what, ": " + detail if detail else ""))
    sys.stdout.flush()


# ---- the policy protocol, spoken directly ---------------------------------

def policy_request(rcpt, size, instance, state="RCPT", count=None):
    attrs = ["request=smtpd_access_policy", "protocol_state=%s" % state,
             "protocol_name=ESMTP", "client_address=192.0.2.1",
             "sender=", "recipient=%s" % rcpt, "instance=%s" % instance,
             "size=%d" % size]
    if count is not None:
        attrs.append("recipient_count=%d" % count)
    return ("\n".join(attrs) + "\n\n").encode()


def read_answers(sock, n, timeout=10):
    buf, out = b"", []
    sock.settimeout(timeout)
    while len(out) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf and len(out) < n:
            a, buf = buf.split(b"\n\n", 1)
            out.append(a.decode("ascii", "replace"))
    return out


def reload_daemon():
    """SIGHUP flushes the cache: the next scenario starts from the
    server's figures alone."""
    with open(LOG) as f:
        before = f.read().count("configuration reloaded")
    os.kill(PD_PID, signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline:
        with open(LOG) as f:
            if f.read().count("configuration reloaded") > before:
                return
        time.sleep(0.05)
    check("daemon reloaded", False, "no 'configuration reloaded' in the log")


# ---- SMTP, one session per object so that sessions can interleave --------

class Smtp:
    def __init__(self):
        self.sock = socket.create_connection(("127.0.0.1", SMTP_PORT), timeout=30)
        self.buf = b""
        self.reply()
        self.cmd("EHLO client.remote.test")

    def reply(self):
        texts = []
        while True:
            while b"\n" not in self.buf:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise ConnectionError("SMTP server closed the connection")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            line = line.rstrip(b"\r").decode("utf-8", "replace")
            texts.append(line[4:])
            if line[3:4] != "-":
                return line[:3] + " " + " | ".join(texts)

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def mail(self, size):
        return self.cmd("MAIL FROM:<sender@remote.test> SIZE=%d" % size)

    def rcpt(self, addr):
        return self.cmd("RCPT TO:<%s>" % addr)

    def data(self, body_bytes):
        got = self.cmd("DATA")
        if not got.startswith("354"):
            return got
        line = b"x" * 998 + b"\r\n"
        body = line * (body_bytes // len(line)) + b"y" * (body_bytes % len(line)) + b"\r\n"
        msg = (b"From: <sender@remote.test>\r\nTo: <rcpt@example.test>\r\n"
               b"Subject: quotachk accounting test\r\nMessage-Id: <%d@remote.test>\r\n\r\n"
               % time.time_ns()) + body + b".\r\n"
        self.sock.sendall(msg)
        return self.reply()

    def close(self, how="QUIT"):
        if how == "RSET":
            self.cmd("RSET")
        self.cmd("QUIT")
        self.sock.close()


def rcpt_code(size, addr="alice@example.test", then="RSET"):
    s = Smtp()
    s.mail(size)
    got = s.rcpt(addr)
    s.close(then)
    return got


def message(rcpts, body, declared=None):
    """One whole message; returns the RCPT replies and the DATA reply."""
    s = Smtp()
    s.mail(declared if declared is not None else body + 400)
    replies = [s.rcpt(r) for r in rcpts]
    final = s.data(body) if any(r.startswith("250") for r in replies) else None
    s.close()
    return replies, final


def charge_lines():
    with open(LOG) as f:
        return [l for l in f if "counted=" in l]


# ---- 1. the probe attack: SIZE=<free space>, RCPT, RSET --------------------
for i in range(5):
    got = rcpt_code(FREE, then="RSET" if i % 2 == 0 else "QUIT")
    check("probe %d: RCPT with SIZE=free space is accepted (250)" % (i + 1),
          got.startswith("250"), got)
got = rcpt_code(100000)
check("after 5 probes a real 100 kB message for the victim still gets 250",
      got.startswith("250"), got)

# ---- 2. repeated RCPTs on one policy connection ----------------------------
s = socket.create_connection(("127.0.0.1", POLICY_PORT))
s.sendall(b"".join(policy_request("alice@example.test", 102400, "rep.%d" % i)
                   for i in range(20)))
answers = read_answers(s, 20)
s.close()
check("20 repeated RCPTs of 100 KiB (700 KiB free): every one DUNNO",
      answers == ["action=DUNNO"] * 20, ",".join(answers))

# ---- 3. 50 concurrent RCPTs on a cold cache (one coalesced lookup) ---------
reload_daemon()
with open(LOG) as f:
    log_mark = len(f.read())
socks = [socket.create_connection(("127.0.0.1", POLICY_PORT)) for _ in range(50)]
results = [None] * 50
barrier = threading.Barrier(50)


def concurrent(i):
    barrier.wait()
    socks[i].sendall(policy_request("alice@example.test", 102400, "conc.%d" % i))
    results[i] = (read_answers(socks[i], 1) or ["none"])[0]
    socks[i].close()


threads = [threading.Thread(target=concurrent, args=(i,)) for i in range(50)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with open(LOG) as f:
    tail = f.read()[log_mark:]
check("50 concurrent RCPTs of 100 KiB: every one DUNNO",
      results == ["action=DUNNO"] * 50,
      "%d of 50 refused" % sum(r != "action=DUNNO" for r in results))
check("the concurrent RCPTs shared lookups (cached=coalesced seen)",
      "cached=coalesced" in tail or tail.count("cached=yes") > 0, tail[-300:])

# ---- 4. RSET and QUIT after RCPT never count -------------------------------
for how in ("RSET", "QUIT", "RSET", "QUIT"):
    rcpt_code(600000, then=how)
got = rcpt_code(600000)
check("after 4 RCPTs of 600000 ended by RSET/QUIT, one more still 250",
      got.startswith("250"), got)
check("nothing was counted without END-OF-MESSAGE", charge_lines() == [],
      "".join(charge_lines()))

# ---- 5. a multi-recipient message counts once, only for accepted mail ------
reload_daemon()
replies, final = message(["alice@example.test", "carol@example.test",
                          "dave@example.test"], 300000)
check("multi-recipient: alice 250, carol 250, dave (message count) 452",
      [r[:3] for r in replies] == ["250", "250", "452"], " / ".join(replies))
check("multi-recipient: DATA accepted (250)", final is not None and
      final.startswith("250"), str(final))
lines = charge_lines()
check("END-OF-MESSAGE with two recipients counted one mailbox (alice)",
      len(lines) == 1 and "counted=1" in lines[0], "".join(lines))
got = rcpt_code(400000)
check("after one 300 kB message, 400000 more still fits (counted once): 250",
      got.startswith("250"), got)
got = rcpt_code(450000)
check("after one 300 kB message, 450000 no longer fits (it was counted): 452",
      got.startswith("452"), got)

# ---- 5b. a recipient refused by a later restriction -----------------------
# Postfix refuses canary after the daemon let it through (the test's
# check_recipient_access): the message goes to alice and carol, and
# nothing may be counted on canary.  Postfix's recipient_count (2) is not
# the number the daemon let through (3), and nothing says which was
# refused: nothing is counted at all.
reload_daemon()
replies, final = message(["canary@example.test", "alice@example.test",
                          "carol@example.test"], 300000)
check("later restriction: canary refused by Postfix (554), alice, carol 250",
      [r[:3] for r in replies] == ["554", "250", "250"], " / ".join(replies))
check("later restriction: DATA accepted for alice", final is not None and
      final.startswith("250"), str(final))
s = socket.create_connection(("127.0.0.1", POLICY_PORT))
s.sendall(policy_request("canary@example.test", 1020000, "probe.canary"))
answers = read_answers(s, 1)
s.close()
check("canary, refused by Postfix, was not counted: 1020000 of its 1022976 "
      "free bytes still fit", answers == ["action=DUNNO"], ",".join(answers))
with open(LOG) as f:
    check("the daemon says why it did not count the message",
          "not counting the message" in f.read())

# ---- 6. a burst of real messages: the accepted ones count once each --------
reload_daemon()
accepted, refused_at = 0, None
for i in range(6):
    replies, final = message(["alice@example.test"], 150000)
    if final is not None and final.startswith("250"):
        accepted += 1
    elif refused_at is None:
        refused_at = (i + 1, replies[0] if final is None else final)
check("burst of 150 kB messages into 700 KiB free: 4 accepted", accepted == 4,
      "accepted %d, first refusal %r" % (accepted, refused_at))
check("the 5th message was refused at RCPT with 452 4.2.2",
      refused_at is not None and refused_at[0] == 5 and
      refused_at[1].startswith("452 4.2.2"), repr(refused_at))

# ---- 7. END-OF-MESSAGE with one recipient defers what no longer fits -------
reload_daemon()
a, b = Smtp(), Smtp()
a.mail(400400)
b.mail(400400)
ra, rb = a.rcpt("alice@example.test"), b.rcpt("alice@example.test")
check("two sessions, 400 kB each: both RCPTs 250 (RCPT never charges)",
      ra.startswith("250") and rb.startswith("250"), ra + " / " + rb)
da = a.data(400000)
check("the first message is accepted after DATA (250)", da.startswith("250"), da)
db = b.data(400000) if rb.startswith("250") else "no RCPT"
check("the second one no longer fits given the first: 452 4.2.2 after DATA",
      db.startswith("452 4.2.2"), db)
a.close()
b.close()

print("# accounting: %d failed" % FAILS)
sys.exit(1 if FAILS else 0)
