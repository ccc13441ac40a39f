#!/usr/bin/env python3
"""Tiny IMAP client for the quotachk integration tests (python3 imaplib).

usage: imap-tool.py --host H --port P --user U --password-file F [--authzid Z]
                    [--starttls | --tls] [--cafile CA | --insecure]
                    [--timeout S] CMD ARGS...

Commands:
  getquotaroot MBOX          print the raw untagged responses (QUOTAROOT, QUOTA)
  getquota ROOT              print the raw untagged responses (QUOTA)
  append MBOX SIZE [COUNT]   append COUNT (default 1) messages of exactly SIZE octets
  append-try MBOX SIZE       append once; print "OK" or "NO <server text>";
                             exit 0 for OK, 1 for NO (quota truth tests)
  expunge-all MBOX           delete every message in MBOX
  setquota ROOT STORAGE_KIB|none [MESSAGE_N]
                             SETQUOTA ROOT (STORAGE n [MESSAGE m]); "none" = ()
  status MBOX                print the MESSAGES count
  create MBOX                CREATE MBOX
  setacl MBOX ID RIGHTS      SETACL MBOX ID RIGHTS
  raw 'COMMAND'              send one command line verbatim, print every response line
  batch                      run commands (same syntax, one per line, '#' comments)
                             from stdin on one connection; stop at the first failure
  mkusers TEMPLATE COUNT STORAGE_KIB [FIRST [CONNECTIONS]]
                             CREATE + SETQUOTA (STORAGE n) for TEMPLATE % i,
                             i = FIRST (default 1) .. FIRST+COUNT-1, pipelined on
                             CONNECTIONS (default 4) connections

On Cyrus, when logged in as the admin without --authzid, append, append-try,
expunge-all and status first grant the admin full rights on MBOX with SETACL
(admins only have implicit "l" and "a" rights there).

Exit status: 0 OK, 1 tagged NO, 2 BAD / usage / connection or protocol error.
Mailbox names are always sent as quoted strings, except in "raw".
"""

import argparse
import email.utils
import imaplib
import re
import shlex
import ssl
import sys
import threading
import time
import uuid

ADMIN_RIGHTS = "lrswipkxtecda"


class Failed(Exception):
    """A command ended in tagged NO (exit 1) or BAD (exit 2)."""

    def __init__(self, status, text, command=""):
        super().__init__(f"{command}: {status} {text}" if command else f"{status} {text}")
        self.status = status
        self.text = text

    @property
    def exit_code(self):
        return 1 if self.status == "NO" else 2


def quote(name):
    """An IMAP quoted string: never an atom, so no name can smuggle syntax."""
    if any(c in name for c in "\r\n\0"):
        raise ValueError(f"name contains CR/LF/NUL: {name!r}")
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def make_message(size, n=1, rcpt="fixture@example.test"):
    """An RFC 5322 message of exactly `size` octets, CRLF line ends, 7-bit.

    Both servers count the CRLF form (Cyrus stores it as is, Dovecot's
    quota_vsizes counts CRLF), so the quota usage grows by exactly `size`."""
    header = (
        "From: quotachk fixture <fixture@example.test>\r\n"
        f"To: <{rcpt}>\r\n"
        f"Subject: quotachk fixture {n}\r\n"
        f"Date: {email.utils.formatdate(localtime=False)}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@example.test>\r\n"
        "\r\n"
    ).encode()
    left = size - len(header)
    if left < 0:
        # Too small for our headers: an empty header section and a body
        # ("\r\n" + "xx..."), which Cyrus accepts; a 1-octet message is
        # always "Message contains invalid header" there.
        if size < 2:
            raise ValueError("message size must be at least 2 octets")
        return b"\r\n" + b"x" * (size - 2)
    lines = []
    while left >= 78:
        lines.append(b"x" * 76 + b"\r\n")
        left -= 78
    if left >= 3:
        lines.append(b"x" * (left - 2) + b"\r\n")
    elif left and lines:
        lines[-1] = b"x" * left + lines[-1]  # 1-2 spare octets: widen a line
    elif left:
        lines.append(b"x" * left)
    msg = header + b"".join(lines)
    assert len(msg) == size
    return msg


class Session:
    """One logged-in IMAP connection."""

    def __init__(self, opts):
        self.opts = opts
        self._tag = 0
        ctx = None
        if opts.tls or opts.starttls:
            if opts.insecure:
                ctx = ssl._create_unverified_context()
            else:
                ctx = ssl.create_default_context(cafile=opts.cafile)
        try:
            if opts.tls:
                self.imap = imaplib.IMAP4_SSL(opts.host, opts.port, ssl_context=ctx,
                                              timeout=opts.timeout)
            else:
                self.imap = imaplib.IMAP4(opts.host, opts.port, timeout=opts.timeout)
                if opts.starttls:
                    self.imap.starttls(ssl_context=ctx)
        except (OSError, imaplib.IMAP4.error) as e:
            raise Failed("BAD", f"cannot connect to {opts.host}:{opts.port}: {e}")
        self.cyrus = b"Cyrus" in (self.imap.welcome or b"")
        password = open(opts.password_file).read().strip()
        authz = opts.authzid or ""
        # SASL PLAIN works on both servers and carries the authzid (proxy
        # login on Cyrus, master-user login on Dovecot).
        plain = f"{authz}\0{opts.user}\0{password}".encode()
        try:
            self.imap.authenticate("PLAIN", lambda _challenge: plain)
        except imaplib.IMAP4.error as e:
            raise Failed("NO", f"login failed: {e}")
        self.as_admin = self.cyrus and not opts.authzid

    # -- raw protocol -------------------------------------------------------

    def command(self, line):
        """Send one command line; return (status, text, response lines)."""
        self._tag += 1
        tag = f"qc{self._tag:04d}"
        self.imap.send(f"{tag} {line}\r\n".encode())
        lines = []
        while True:
            resp = self._read_response()
            if resp.startswith(tag + " "):
                lines.append(resp)
                rest = resp[len(tag) + 1:]
                status, _, text = rest.partition(" ")
                return status.upper(), text, lines
            if resp.startswith("+"):
                # We never send literals here: a continuation request means
                # the server waits for one (e.g. a "{5}" in a raw command).
                lines.append(resp)
                raise Failed("BAD", f"server wants a literal: {resp}", line)
            lines.append(resp)

    def _read_response(self):
        """One response line, with any server literals inlined."""
        out = b""
        while True:
            chunk = self.imap.readline()
            if not chunk:
                raise Failed("BAD", "connection closed by server")
            out += chunk
            m = re.search(rb"\{(\d+)\}\r\n$", chunk)
            if not m:
                return out.rstrip(b"\r\n").decode("utf-8", "replace")
            out = out[:-2] + b"\r\n" + self.imap.read(int(m.group(1)))

    def ok(self, line):
        status, text, lines = self.command(line)
        if status != "OK":
            raise Failed(status, text, line)
        return lines

    # -- helpers used by several commands -------------------------------

    def grant_admin(self, mbox):
        if self.as_admin:
            self.ok(f"SETACL {quote(mbox)} {quote(self.opts.user)} {ADMIN_RIGHTS}")

    def append(self, mbox, size, n=1):
        """APPEND with a synchronizing literal, by hand rather than with
        imaplib.append, to keep the server's exact text (imaplib drops
        response codes such as [OVERQUOTA]).  The server may answer NO
        before the literal (size checked against the quota up front)."""
        msg = make_message(size, n)
        self._tag += 1
        tag = f"qc{self._tag:04d}"
        self.imap.send(f"{tag} APPEND {quote(mbox)} {{{len(msg)}}}\r\n".encode())
        while True:
            resp = self._read_response()
            if resp.startswith("+"):
                self.imap.send(msg + b"\r\n")
                break
            if resp.startswith(tag + " "):
                status, _, text = resp[len(tag) + 1:].partition(" ")
                return status.upper(), text
        while True:
            resp = self._read_response()
            if resp.startswith(tag + " "):
                status, _, text = resp[len(tag) + 1:].partition(" ")
                return status.upper(), text

    def logout(self):
        try:
            self.imap.logout()
        except Exception:
            pass


# -- commands ------------------------------------------------------------------

def untagged(lines):
    return [l for l in lines if l.startswith("* ")]


def cmd_getquotaroot(s, mbox):
    for l in untagged(s.ok(f"GETQUOTAROOT {quote(mbox)}")):
        print(l)


def cmd_getquota(s, root):
    for l in untagged(s.ok(f"GETQUOTA {quote(root)}")):
        print(l)


def cmd_append(s, mbox, size, count="1"):
    s.grant_admin(mbox)
    for n in range(1, int(count) + 1):
        typ, text = s.append(mbox, int(size), n)
        if typ != "OK":
            raise Failed(typ, text, f"APPEND {mbox} (message {n})")


def cmd_append_try(s, mbox, size):
    s.grant_admin(mbox)
    typ, text = s.append(mbox, int(size))
    print("OK" if typ == "OK" else f"{typ} {text}")
    if typ != "OK":
        raise SystemExit(1 if typ == "NO" else 2)


def cmd_expunge_all(s, mbox):
    s.grant_admin(mbox)
    lines = s.ok(f"SELECT {quote(mbox)}")
    exists = 0
    for l in lines:
        m = re.match(r"\* (\d+) EXISTS", l)
        if m:
            exists = int(m.group(1))
    if exists:
        s.ok("STORE 1:* +FLAGS.SILENT (\\Deleted)")
        s.ok("EXPUNGE")
    s.ok("CLOSE")


def cmd_setquota(s, root, storage, messages=None):
    res = []
    if storage.lower() != "none":
        res += ["STORAGE", str(int(storage))]
    if messages is not None:
        res += ["MESSAGE", str(int(messages))]
    s.ok(f"SETQUOTA {quote(root)} ({' '.join(res)})")


def cmd_status(s, mbox):
    s.grant_admin(mbox)
    for l in s.ok(f"STATUS {quote(mbox)} (MESSAGES)"):
        m = re.search(r"\(MESSAGES (\d+)\)", l)
        if l.startswith("* STATUS") and m:
            print(m.group(1))
            return
    raise Failed("BAD", "no STATUS response", f"STATUS {mbox}")


def cmd_create(s, mbox):
    s.ok(f"CREATE {quote(mbox)}")


def cmd_setacl(s, mbox, ident, rights):
    s.ok(f"SETACL {quote(mbox)} {quote(ident)} {rights}")


def cmd_raw(s, line):
    status, _text, lines = s.command(line)
    for l in lines:
        print(l)
    if status != "OK":
        raise SystemExit(1 if status == "NO" else 2)


def pipelined(s, commands, batch=200):
    """Send commands without waiting for each answer (batches keep both
    socket buffers from filling up); raise on the first tagged non-OK."""
    for start in range(0, len(commands), batch):
        chunk = commands[start:start + batch]
        tags = {}
        out = []
        for c in chunk:
            s._tag += 1
            tag = f"qc{s._tag:05d}"
            tags[tag] = c
            out.append(f"{tag} {c}\r\n")
        s.imap.send("".join(out).encode())
        failures = []
        while tags:
            resp = s._read_response()
            tag, _, rest = resp.partition(" ")
            if tag in tags:
                c = tags.pop(tag)
                status, _, text = rest.partition(" ")
                if status.upper() != "OK":
                    failures.append(Failed(status.upper(), text, c))
        if failures:
            raise failures[0]


def cmd_mkusers(opts, template, count, storage, first="1", connections="4"):
    names = [template % i for i in range(int(first), int(first) + int(count))]
    n = max(1, min(int(connections), len(names)))
    errors = []

    def worker(part):
        try:
            s = Session(opts)
            cmds = []
            for name in part:
                cmds.append(f"CREATE {quote(name)}")
                cmds.append(f"SETQUOTA {quote(name)} (STORAGE {int(storage)})")
            pipelined(s, cmds)
            s.logout()
        except Exception as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(names[i::n],)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


COMMANDS = {
    "getquotaroot": (cmd_getquotaroot, 1, 1),
    "getquota": (cmd_getquota, 1, 1),
    "append": (cmd_append, 2, 3),
    "append-try": (cmd_append_try, 2, 2),
    "expunge-all": (cmd_expunge_all, 1, 1),
    "setquota": (cmd_setquota, 2, 3),
    "status": (cmd_status, 1, 1),
    "create": (cmd_create, 1, 1),
    "setacl": (cmd_setacl, 3, 3),
    "raw": (cmd_raw, 1, 1),
}


def run_one(s, argv):
    name, args = argv[0], argv[1:]
    if name not in COMMANDS:
        raise Failed("BAD", f"unknown command {name!r} (see --help)")
    fn, lo, hi = COMMANDS[name]
    if not lo <= len(args) <= hi:
        raise Failed("BAD", f"{name}: expected {lo}..{hi} arguments, got {len(args)}")
    fn(s, *args)


def cmd_batch(s):
    for lineno, line in enumerate(sys.stdin, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            run_one(s, shlex.split(line))
        except Failed as e:
            raise Failed(e.status, e.text, f"stdin line {lineno} ({line})")


def main():
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1].split("Commands:", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password-file", required=True)
    p.add_argument("--authzid", help="authorization id (Cyrus proxy / Dovecot master login)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--starttls", action="store_true")
    g.add_argument("--tls", action="store_true", help="implicit TLS (imaps)")
    p.add_argument("--cafile", help="CA to verify the server certificate")
    p.add_argument("--insecure", action="store_true", help="do not verify the certificate")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    opts = p.parse_args()
    if not opts.cmd:
        p.error("no command given")

    try:
        if opts.cmd[0] == "mkusers":
            if not 4 <= len(opts.cmd) <= 6:
                p.error("mkusers TEMPLATE COUNT STORAGE_KIB [FIRST [CONNECTIONS]]")
            t0 = time.monotonic()
            cmd_mkusers(opts, *opts.cmd[1:])
            print(f"mkusers: {opts.cmd[2]} mailboxes in {time.monotonic() - t0:.2f}s",
                  file=sys.stderr)
            return 0
        s = Session(opts)
        if opts.cmd[0] == "batch":
            if len(opts.cmd) != 1:
                p.error("batch takes no arguments (commands come from stdin)")
            cmd_batch(s)
        else:
            run_one(s, opts.cmd)
        s.logout()
        return 0
    except Failed as e:
        print(f"imap-tool: {e}", file=sys.stderr)
        return e.exit_code
    except (OSError, ValueError, imaplib.IMAP4.error) as e:
        print(f"imap-tool: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
