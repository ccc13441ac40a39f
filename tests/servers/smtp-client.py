#!/usr/bin/env python3
"""Raw SMTP client for the end-to-end tests (smtplib cannot control MAIL FROM ... SIZE=).

  smtp-client.py --port P [--host 127.0.0.1] [--from ADDR] [--size N] [--data] [--helo NAME]
                 [--timeout 30] [--verbose] RCPT...

EHLO, MAIL FROM:<ADDR> [SIZE=N], one RCPT TO:<rcpt> per argument, then RSET + QUIT
(or, with --data and at least one accepted RCPT, DATA + a small message + QUIT).
stdout, one line per reply (multi-line replies: code of the last line, texts joined by " | "):
  MAIL <code text>
  RCPT <addr> <code text>
  DATA <code text>          (only with --data: the reply after the final ".")
--verbose copies the whole dialogue to stderr as "S: ..." / "C: ...".
Exit 0 when the dialogue completed (whatever the SMTP codes), 2 on connect/timeout/protocol errors."""
import argparse, socket, sys, time


class Smtp:
    def __init__(self, host, port, timeout, verbose):
        self.verbose = verbose
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)  # per read
        self.buf = b""

    def _line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("connection closed by server")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        line = line.rstrip(b"\r").decode("utf-8", "replace")
        if self.verbose:
            print("S: " + line, file=sys.stderr)
        return line

    def reply(self):
        texts = []
        while True:
            line = self._line()
            if len(line) < 3 or not line[:3].isdigit():
                raise ConnectionError("malformed reply line: %r" % line)
            texts.append(line[4:])
            if line[3:4] != "-":
                return line[:3], " | ".join(texts)

    def send(self, line):
        if self.verbose:
            print("C: " + line, file=sys.stderr)
        self.sock.sendall(line.encode("utf-8") + b"\r\n")

    def cmd(self, line):
        self.send(line)
        return self.reply()


def bare(addr):
    return addr[1:-1] if addr.startswith("<") and addr.endswith(">") else addr


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--from", dest="sender", default="sender@remote.test")
    ap.add_argument("--size", type=int)
    ap.add_argument("--data", action="store_true")
    ap.add_argument("--helo", default="client.remote.test")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--verbose", "-v", action="store_true")
    ap.add_argument("rcpts", nargs="+", metavar="RCPT")
    a = ap.parse_args()

    try:
        s = Smtp(a.host, a.port, a.timeout, a.verbose)
        code, text = s.reply()
        if code != "220":
            print("GREETING %s %s" % (code, text))
            return 2
        code, text = s.cmd("EHLO " + a.helo)
        if code != "250":
            code, text = s.cmd("HELO " + a.helo)
        mail = "MAIL FROM:<%s>" % bare(a.sender)
        if a.size is not None:
            mail += " SIZE=%d" % a.size
        code, text = s.cmd(mail)
        print("MAIL %s %s" % (code, text), flush=True)
        accepted = 0
        for r in a.rcpts:
            code, text = s.cmd("RCPT TO:<%s>" % bare(r))
            print("RCPT %s %s %s" % (bare(r), code, text), flush=True)
            accepted += code.startswith("2")
        if a.data and accepted:
            code, text = s.cmd("DATA")
            if code == "354":
                msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: quotachk e2e test\r\n"
                       "Date: %s\r\nMessage-Id: <%d.qc-test@client.remote.test>\r\n\r\n"
                       "quotachk end-to-end test message\r\n.") % (
                    bare(a.sender), bare(a.rcpts[0]),
                    time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()), time.time_ns())
                for line in msg.split("\r\n"):
                    s.send(line)
                code, text = s.reply()
            print("DATA %s %s" % (code, text), flush=True)
        else:
            s.cmd("RSET")
        s.cmd("QUIT")
        s.sock.close()
    except (OSError, ConnectionError) as e:  # socket.timeout is an OSError
        print("smtp-client: %s" % (e or type(e).__name__), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
