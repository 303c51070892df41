#!/usr/bin/env python3
"""smtp_peer.py — the SMTP servers the integration tests send to, on
127.0.0.1 only, with Debian's python3-aiosmtpd.

    smtp_peer.py DIR CERT KEY

Starts three servers and prints one JSON line {"plain": port, "tls":
port, "refusing": port}:
  plain     accepts every message;
  tls       requires STARTTLS (CERT/KEY) and then AUTH (LOGIN or PLAIN) as
            user "mailer" with password "smtp-pass-7f3a9c";
  refusing  answers RCPT for any refused@... address with 550.
Each accepted message is saved as DIR/N.eml (the bytes received) with
DIR/N.json: {"server", "mail_from", "rcpt_tos", "auth"}.
Runs until SIGTERM or SIGINT.
"""
import json
import os
import signal
import socket
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = b"mailer", b"smtp-pass-7f3a9c"
lock = threading.Lock()
count = [0]


class Handler:
    def __init__(self, name, directory):
        self.name, self.dir = name, directory

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.name == "refusing" and address.lower().startswith("refused@"):
            return "550 5.1.1 <%s>: Recipient address rejected: no such user" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with lock:
            count[0] += 1
            n = count[0]
        base = os.path.join(self.dir, str(n))
        with open(base + ".eml", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        auth = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        with open(base + ".json", "w") as f:
            json.dump({"server": self.name, "mail_from": envelope.mail_from,
                       "rcpt_tos": envelope.rcpt_tos, "auth": auth}, f)
        return "250 2.0.0 Ok: queued as Q%d" % n


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER and auth_data.password == PASSWORD
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    directory, cert, key = sys.argv[1:4]
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    servers, ports = [], {}
    for name in ("plain", "tls", "refusing"):
        port = free_port()
        kw = {}
        if name == "tls":
            kw = dict(tls_context=ctx, require_starttls=True, authenticator=authenticator,
                      auth_required=True, auth_require_tls=True)
        c = Controller(Handler(name, directory), hostname="127.0.0.1", port=port,
                       server_hostname="127.0.0.1", **kw)
        c.start()
        servers.append(c)
        ports[name] = port
    print(json.dumps(ports), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    stop.wait()
    for c in servers:
        c.stop()


if __name__ == "__main__":
    main()
