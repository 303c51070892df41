#!/usr/bin/env python3
"""check_mail.py — checks the messages smtp_peer.py received.

    check_mail.py DIR CASE

CASE "full": the message of tests/workflows/integrations/email.json;
CASE "tls": the one of email_tls.json. Prints one line per failed check;
exit 1 if any failed.
"""
import email
import email.policy
import glob
import json
import os
import sys

directory, case = sys.argv[1], sys.argv[2]
failed = []


def check(ok, what):
    if not ok:
        failed.append(what)


msgs = []
for meta in sorted(glob.glob(os.path.join(directory, "*.json"))):
    info = json.load(open(meta))
    raw = open(meta[:-5] + ".eml", "rb").read()
    msgs.append((info, raw, email.message_from_bytes(raw, policy=email.policy.default)))

if case == "tls":
    got = [m for m in msgs if m[0]["server"] == "tls"]
    check(len(got) == 1, f"one message through the STARTTLS server, got {len(got)}")
    if got:
        info, raw, m = got[0]
        check(info["auth"] == "mailer", f"authenticated as mailer: {info['auth']}")
        check(m["Subject"] == "over TLS", f"subject: {m['Subject']}")
else:
    got = [m for m in msgs if m[0]["server"] == "plain"]
    check(len(got) == 1, f"one message through the plain server, got {len(got)}")
    if got:
        info, raw, m = got[0]
        check(info["mail_from"] == "bot@example.com", f"envelope from: {info['mail_from']}")
        check(sorted(info["rcpt_tos"]) == sorted(["zoe@example.com", "john@example.com",
                                                  "carol@example.com", "audit@example.com"]),
              f"envelope recipients (bcc included): {info['rcpt_tos']}")
        subj = "Résumé ✓ for <script>alert(1)</script> & Co"
        check(m["Subject"] == subj, f"subject decoded: {m['Subject']!r}")
        check(b"=?UTF-8?B?" in raw.split(b"\r\n\r\n")[0], "the subject is an RFC 2047 encoded word")
        check(str(m["From"]) == "Cronflow Bot <bot@example.com>", f"from: {m['From']}")
        to = m["To"].addresses
        check([(a.display_name, a.addr_spec) for a in to] ==
              [("Zoë Müller", "zoe@example.com"), ("Doe, John", "john@example.com")],
              f"to with names: {[(a.display_name, a.addr_spec) for a in to]}")
        check(str(m["Cc"]) == "carol@example.com", f"cc: {m['Cc']}")
        check(m["Bcc"] is None and b"audit@example.com" not in raw, "no Bcc in the message")
        check(m["Message-ID"] and m["Message-ID"].startswith("<cronflow.") and
              m["Message-ID"].endswith("@example.com>"), f"message-id: {m['Message-ID']}")
        check(m["Date"] is not None and m["Date"].datetime is not None, f"date: {m['Date']}")
        check(m.get_content_type() == "multipart/mixed", f"top: {m.get_content_type()}")
        parts = list(m.iter_parts())
        alt = parts[0] if parts else None
        check(alt is not None and alt.get_content_type() == "multipart/alternative",
              "first part is multipart/alternative")
        if alt is not None:
            sub = list(alt.iter_parts())
            types = [p.get_content_type() for p in sub]
            check(types == ["text/plain", "text/html"], f"alternative parts: {types}")
            if types == ["text/plain", "text/html"]:
                text, html = sub[0].get_content(), sub[1].get_content()
                check(text.startswith("Hello <script>alert(1)</script> & Co,\n"),
                      f"text part as written: {text!r}")
                check("<p>Hello <b>&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co</b></p>" in html,
                      f"html escapes the interpolated value: {html!r}")
                check("<div><em>raw</em></div>" in html, f"raw() is not escaped: {html!r}")
        atts = [(p.get_filename(), p.get_content_type(), p.get_payload(decode=True)) for p in parts[1:]]
        check(atts == [("report.csv", "text/csv", b"a,b\n1,2\n"),
                       ("logo.bin", "application/octet-stream", bytes([0, 1, 2, 3, 0xfe, 0xff]))],
              f"attachments: {atts}")

for f in failed:
    print("FAIL", f)
sys.exit(1 if failed else 0)
