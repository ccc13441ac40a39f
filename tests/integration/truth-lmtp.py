#!/usr/bin/env python3
"""Truth test against real LMTP delivery (issue 9).

  truth-lmtp.py --server cyrus|dovecot --env FILE --quotachk PATH
                --setting LABEL:PORT:RULE:GRACE [--setting ...]

For every server setting (an LMTP port of the server described by the env
file of tests/servers/cyrus.sh or dovecot.sh, and the quota_rule and
quota_grace quotachk is told to follow) and every point of a grid -- usage
levels (empty, half, 800 bytes under the limit, exactly at it,
just over, over by more than a KiB) by message sizes around the free space
(well under, one byte under, equal, one byte over, and around limit + grace
for Dovecot, bigger than the whole limit), plus message-count limits --
it asks `quotachk --json ADDRESS SIZE`, then delivers a message of exactly
SIZE stored octets over LMTP (MAIL FROM:<> [SIZE=n], RCPT, DATA) and
compares accepted/refused.  The mailbox is restored after every point.

Stored size: the server adds headers (Cyrus ~260 octets: Return-Path,
Received, X-Cyrus-Session-Id, X-Sieve; Dovecot ~215: Return-Path,
Delivered-To, Received) whose length depends on the session (Cyrus's
session id; Dovecot's ":T2" transaction suffix).  Each point therefore
opens its own LMTP session, delivers two calibration messages to a mailbox
without quota, measures what the second one gained (the third transaction,
the real one, gains the same), and sends the real message that much
smaller; an accepted message is checked to have been stored with exactly
SIZE octets.  SIZE= (when the server offers it) declares the stored size.

"Inside the rounding window" is decided here, independently of quotachk,
from the KiB figures as quotachk sees them (Cyrus: used rounded down;
Dovecot: used and limit rounded up): the point is inside when the rule
accepts at one end of the window and refuses at the other.  Outside it,
quotachk must agree with the server; inside it, quotachk must accept
(lean towards accepting) and its "rounding_window" must say true.

Prints one line per point and an agreement table per setting; exit 1 when
any point disagrees, leans towards refusing, or goes wrong.
"""
import argparse
import imaplib
import json
import os
import socket
import subprocess
import sys
import time
import uuid

K = 1024
LIMIT_KIB = 100
L = LIMIT_KIB * K
MSG_LIMIT = 2
# Local parts all of one length: Dovecot's Delivered-To and Received name
# the recipient, so calibration and real message must have equal ones.
CALIB = "calib"
LEVELS = [  # name, stored octets of usage
    ("lvl01", 0, "empty"),
    ("lvl02", L // 2, "half"),
    ("lvl03", L - 800, "800 B under"),
    ("lvl04", L, "at the limit"),
    ("lvl05", L + 200, "200 B over"),
    ("lvl06", L + 1500, "1500 B over"),
]
MSG_LEVELS = [("msg01", 1), ("msg02", 2), ("msg03", 3)]
FILL_CHUNK = 60000  # octets per filler message


def make_message(size, msgid):
    """A message of exactly size octets (CRLF), or None if too small."""
    head = (f"Message-ID: <{msgid}>\r\nSubject: truth\r\n"
            "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\n").encode()
    left = size - len(head)
    if left < 3:
        return None
    lines = []
    while left > 0:
        n = min(78, left)
        if 0 < left - n < 3:   # never leave a remainder too short for a line
            n = left - 3
        lines.append(b"x" * (n - 2) + b"\r\n")
        left -= n
    msg = head + b"".join(lines)
    assert len(msg) == size, (len(msg), size)
    return msg


def new_msgid():
    return uuid.uuid4().hex + "@truth.test"


class Lmtp:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.f = self.sock.makefile("rb")
        code, _ = self.reply()
        if code != "220":
            raise RuntimeError(f"LMTP greeting {code}")
        self.sock.sendall(b"LHLO truth.test\r\n")
        code, text = self.reply()
        self.size_ext = "SIZE" in text.split(" | ")

    def reply(self):
        texts = []
        while True:
            line = self.f.readline().decode("utf-8", "replace").rstrip("\r\n")
            if len(line) < 3:
                raise RuntimeError(f"bad LMTP reply {line!r}")
            texts.append(line[4:])
            if line[3:4] != "-":
                return line[:3], " | ".join(texts)

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def deliver(self, rcpt, data, declared):
        """("accepted"|"refused", stage, code, text)."""
        mail = "MAIL FROM:<>" + (f" SIZE={declared}" if self.size_ext else "")
        code, text = self.cmd(mail)
        if code != "250":
            return "error", "MAIL", code, text
        code, text = self.cmd(f"RCPT TO:<{rcpt}@example.test>")
        if code != "250":
            self.cmd("RSET")
            return "refused" if code[0] in "45" else "error", "RCPT", code, text
        code, text = self.cmd("DATA")
        if code != "354":
            return "error", "DATA", code, text
        self.sock.sendall(data + b".\r\n")
        code, text = self.reply()
        if code == "250":
            return "accepted", "DATA", code, text
        return "refused" if code[0] in "45" else "error", "DATA", code, text

    def close(self):
        try:
            self.cmd("QUIT")
        except Exception:
            pass
        self.sock.close()


def login(port, user, password_file, authzid=""):
    im = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    pw = open(password_file).read().strip()
    im.authenticate("PLAIN", lambda _: f"{authzid}\0{user}\0{pw}".encode())
    return im


def check(typ, data, what):
    if typ != "OK":
        raise RuntimeError(f"{what}: {typ} {data}")
    return data


class Server:
    """Mailbox access as the admin (Cyrus) or master user (Dovecot)."""

    def __init__(self, env):
        self.env = env
        self.sessions = {}

    def find(self, name, msgid):
        """(seq, size) of the message with that Message-ID, or None."""
        im = self.session(name)
        check(*im.select(self.mailbox(name)), "SELECT")
        data = check(*im.search(None, "HEADER", "Message-ID", msgid), "SEARCH")
        seqs = data[0].split()
        if not seqs:
            return None
        data = check(*im.fetch(seqs[-1], "(RFC822.SIZE)"), "FETCH")
        size = int(data[0].decode().split("RFC822.SIZE ")[1].rstrip(")"))
        return seqs[-1], size

    def delete(self, name, seq):
        im = self.session(name)
        check(*im.store(seq, "+FLAGS", "\\Deleted"), "STORE")
        check(*im.expunge(), "EXPUNGE")

    def append(self, name, size):
        im = self.session(name)
        check(*im.append(self.mailbox(name), None, None,
                         make_message(size, new_msgid())), "APPEND")

    def fill(self, name, octets, count=0):
        while octets > 0:
            n = min(FILL_CHUNK, octets)
            if 0 < octets - n < 200:
                n = octets - 200
            self.append(name, n)
            octets -= n
        for _ in range(count):
            self.append(name, 1000)


class Cyrus(Server):
    def session(self, name):
        if "admin" not in self.sessions:
            self.sessions["admin"] = login(int(self.env["CYRUS_PORT"]), "cyrus",
                                           self.env["CYRUS_PASSWORD_FILE"])
        return self.sessions["admin"]

    def mailbox(self, name):
        return "user." + name

    def setup(self):
        im = self.session(None)
        names = [CALIB] + [n for n, _, _ in LEVELS] + [n for n, _ in MSG_LEVELS]
        for n in names:
            check(*im.create(self.mailbox(n)), "CREATE")
            check(*im.setacl(self.mailbox(n), "cyrus", "lrswipkxtecda"), "SETACL")
        # Fill first: Cyrus refuses an APPEND beyond the quota.
        for n, used, _ in LEVELS:
            self.fill(n, used)
            check(*im.setquota(self.mailbox(n), f"(STORAGE {LIMIT_KIB})"), "SETQUOTA")
        for n, count in MSG_LEVELS:
            self.fill(n, 0, count)
            check(*im.setquota(self.mailbox(n), f"(MESSAGE {MSG_LIMIT})"), "SETQUOTA")

    def quotachk_args(self):
        return [f"--imap_url=imap://127.0.0.1:{self.env['CYRUS_PORT']}/",
                "--imap_tls=none", "--imap_user=cyrus",
                f"--imap_password_file={self.env['CYRUS_PASSWORD_FILE']}"]

    def rounding(self):
        return "floor"


class Dovecot(Server):
    def session(self, name):
        if name not in self.sessions:
            self.sessions[name] = login(int(self.env["DOVECOT_PORT"]),
                                        self.env["DOVECOT_MASTER"],
                                        self.env["DOVECOT_PASSWORD_FILE"], name)
        return self.sessions[name]

    def mailbox(self, name):
        return "INBOX"

    def write_users(self, rules):
        d = self.env["DOVECOT_DIR"]
        pw = open(self.env["DOVECOT_USER_PASSWORD_FILE"]).read().strip()
        base = getattr(self, "base_users", None)
        if base is None:
            base = self.base_users = open(f"{d}/users").read()
        lines = [f"{CALIB}:{{PLAIN}}{pw}::::::"]
        for n, _, _ in LEVELS:
            r = f"userdb_quota_rule=*:storage={LIMIT_KIB}K" if rules else ""
            lines.append(f"{n}:{{PLAIN}}{pw}::::::{r}")
        for n, _ in MSG_LEVELS:
            r = f"userdb_quota_rule=*:messages={MSG_LIMIT}" if rules else ""
            lines.append(f"{n}:{{PLAIN}}{pw}::::::{r}")
        tmp = f"{d}/users.truth"
        with open(tmp, "w") as f:
            f.write(base + "\n".join(lines) + "\n")
        os.chmod(tmp, 0o640)
        os.chown(tmp, 0, int(subprocess.check_output(
            ["getent", "group", "dovecot"]).decode().split(":")[2]))
        os.replace(tmp, f"{d}/users")
        # Dovecot stat()s a passwd-file at most once a second, and an open
        # IMAP session keeps the limits it logged in with.
        for im in self.sessions.values():
            try:
                im.logout()
            except Exception:
                pass
        self.sessions = {}
        time.sleep(int(time.time()) + 1.05 - time.time())

    def setup(self):
        self.write_users(False)
        for n in [CALIB] + [n for n, _, _ in LEVELS] + [n for n, _ in MSG_LEVELS]:
            self.wait_login(n)
        for n, used, _ in LEVELS:
            self.fill(n, used)
        for n, count in MSG_LEVELS:
            self.fill(n, 0, count)
        self.write_users(True)
        for _ in range(20):
            typ, data = self.session("lvl01").getquotaroot("INBOX")
            if typ == "OK" and any(b"STORAGE" in (x or b"") for x in data[1]):
                return
            self.sessions.pop("lvl01").logout()
            time.sleep(0.2)
        raise RuntimeError("Dovecot does not apply the quota rules")

    def wait_login(self, name):
        for _ in range(25):
            try:
                return self.session(name)
            except imaplib.IMAP4.error:
                time.sleep(0.2)
        raise RuntimeError(f"Dovecot does not know user {name}")

    def quotachk_args(self):
        return [f"--imap_url=imap://127.0.0.1:{self.env['DOVECOT_PORT']}/",
                "--imap_tls=none", f"--imap_user={self.env['DOVECOT_MASTER']}",
                f"--imap_password_file={self.env['DOVECOT_PASSWORD_FILE']}",
                "--imap_authzid=%u", "--mailbox_format=INBOX"]

    def rounding(self):
        return "ceil"


def grace_bytes(grace, limit):
    if grace.endswith("%"):
        return limit * int(grace[:-1]) // 100
    mult = {"K": K, "M": K * K, "G": K ** 3}.get(grace[-1:].upper(), 1)
    return int(grace.rstrip("KMGkmg")) * mult


def rule_accepts(rule, grace, st, used, limit, msgs, size):
    if st is not None:
        if rule == "strict" and used + size > limit:
            return False
        if rule == "cyrus" and used > limit:
            return False
        if rule == "dovecot" and (used >= limit or
                                  used + size > limit + grace_bytes(grace, limit)):
            return False
    if msgs is not None:
        m, n = msgs["used"], msgs["limit"]
        if (m > n) if rule == "cyrus" else (m + 1 > n):
            return False
    return True


def in_window(rounding, rule, grace, report, size):
    """From the figures quotachk printed (KiB scaled to bytes)."""
    st, msgs = report.get("storage"), report.get("messages")
    used = limit = 0
    if st is not None:
        used, limit = st["used"], st["limit"]
    if rounding == "floor":
        ends = [(used, limit), (used + 1023, limit)]
    else:
        ends = [(max(0, used - 1023), limit), (used, max(0, limit - 1023))]
    verdicts = {rule_accepts(rule, grace, st, u, lim, msgs, max(size, 1))
                for u, lim in ends}
    return len(verdicts) == 2


class Setting:
    def __init__(self, spec):
        self.label, port, self.rule, self.grace = spec.split(":")
        self.port = int(port)
        self.agree = self.window = self.disagree = self.errors = 0
        self.window_accepted = self.skipped = self.lean_refuse = 0


def run_point(srv, st, qc, name, level_desc, size, out):
    cmd = [qc] + srv.quotachk_args() + [f"--quota_rule={st.rule}",
                                        f"--quota_grace={st.grace}", "--json",
                                        f"{name}@example.test", str(size)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    try:
        report = json.loads(p.stdout)
    except ValueError:
        report = {}
    ours = {0: "accept", 1: "refuse"}.get(p.returncode, "error")
    where = f"{st.label} {name} ({level_desc}) size={size}"
    if ours == "error" or report.get("rule") != st.rule:
        st.errors += 1
        out(f"FAIL - {where}: quotachk exit {p.returncode}: {p.stdout.strip()} {p.stderr.strip()}")
        return
    lm = Lmtp(st.port)
    try:
        overhead = None
        for _ in range(2):
            mid = new_msgid()
            res = lm.deliver(CALIB, make_message(1000, mid), 1000)
            if res[0] != "accepted":
                raise RuntimeError(f"calibration delivery {res}")
            found = srv.find(CALIB, mid)
            overhead = found[1] - 1000
        mid = new_msgid()
        data = make_message(size - overhead, mid)
        if data is None:
            st.skipped += 1
            out(f"skip - {where}: smaller than the headers (overhead {overhead})")
            return
        outcome, stage, code, text = lm.deliver(name, data, size)
    finally:
        lm.close()
    if outcome == "error":
        st.errors += 1
        out(f"FAIL - {where}: LMTP {stage} {code} {text}")
        return
    if outcome == "accepted":
        found = srv.find(name, mid)
        if found is None or found[1] != size:
            st.errors += 1
            out(f"FAIL - {where}: stored as {found and found[1]} octets, not {size} (calibration)")
        if found is not None:
            srv.delete(name, found[0])
    theirs = "accept" if outcome == "accepted" else "refuse"
    win = in_window(srv.rounding(), st.rule, st.grace, report, size)
    flag = report.get("rounding_window")
    figures = (f"storage={report.get('storage')} messages={report.get('messages')}"
               f" verdict={report.get('verdict')} server={stage} {code} {text[:60]}")
    if flag != win:
        st.errors += 1
        out(f"FAIL - {where}: rounding_window={flag}, expected {win}; {figures}")
    if win:
        st.window += 1
        st.window_accepted += theirs == "accept"
        if ours != "accept":
            st.lean_refuse += 1
            out(f"FAIL - {where}: inside the window quotachk refuses; {figures}")
        else:
            out(f"info - {where}: ours={ours} server={theirs} (inside the rounding window); {figures}")
    elif ours == theirs:
        st.agree += 1
        out(f"ok   - {where}: ours={ours} server={theirs}; {figures}")
    else:
        st.disagree += 1
        out(f"FAIL - {where}: ours={ours} server={theirs}; {figures}")


def sizes_for(used, grace):
    free = L - used
    sizes = {1000, 2 * L + 1000}
    if free > 0:
        # free - 1024: just outside the rounding window on the accepting
        # side; the next three lie on the server's own boundary.
        sizes |= {free // 2, free - 1024, free - 1, free, free + 1}
    g = grace_bytes(grace, L)
    if g:
        fg = L + g - used
        if fg > 0:
            sizes |= {fg - 1024, fg - 1, fg, fg + 1}
    return sorted(s for s in sizes if s >= 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", choices=["cyrus", "dovecot"], required=True)
    ap.add_argument("--env", required=True)
    ap.add_argument("--quotachk", required=True)
    ap.add_argument("--setting", action="append", required=True)
    ap.add_argument("--no-setup", action="store_true")
    a = ap.parse_args()
    env = dict(l.strip().split("=", 1) for l in open(a.env) if "=" in l)
    srv = Cyrus(env) if a.server == "cyrus" else Dovecot(env)
    out = lambda s: print(s, flush=True)
    t0 = time.monotonic()
    if not a.no_setup:
        srv.setup()
    out(f"# setup {time.monotonic() - t0:.1f}s")
    settings = [Setting(s) for s in a.setting]
    for st in settings:
        t1 = time.monotonic()
        for name, used, desc in LEVELS:
            for size in sizes_for(used, st.grace if st.rule == "dovecot" else "0"):
                run_point(srv, st, a.quotachk, name, desc, size, out)
        for name, count in MSG_LEVELS:
            run_point(srv, st, a.quotachk, name,
                      f"{count} of {MSG_LIMIT} messages", 1000, out)
        st.seconds = time.monotonic() - t1
    out("")
    out(f"# agreement with real LMTP delivery ({a.server}); limit {LIMIT_KIB} KiB, "
        f"message limit {MSG_LIMIT}")
    out("# setting                          rule     grace  agree  window(server accepted)  disagree  errors  skipped  seconds")
    failed = False
    for st in settings:
        out(f"# {st.label:<32} {st.rule:<8} {st.grace:<6} {st.agree:>5}  "
            f"{st.window:>6} ({st.window_accepted:>2}){'':>14}{st.disagree:>8}  "
            f"{st.errors + st.lean_refuse:>6}  {st.skipped:>7}  {st.seconds:>7.1f}")
        failed |= bool(st.disagree or st.errors or st.lean_refuse)
        failed |= st.agree == 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
