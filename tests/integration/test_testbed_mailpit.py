"""The testbed's Mailpit-compatible API (SPEC §10) and its inboxes: the
mailpit-api npm client (Mailpit's own REST client) runs its calls against
the real testbed, and urllib drives every /api/v1/ route, `latest`, the
search operators, tags from X-Tags and +tag addresses, read status, the
send API, /view/, /livez and /readyz, the inbox filter, and bad input
(bad JSON, bad IDs, bad searches) with its JSON errors. Mail comes in
over real SMTP (smtplib, nodemailer)."""
import email.message
import email.policy
import email.utils
import hashlib
import json
import os
import smtplib
import subprocess
import unittest
import urllib.error
import urllib.parse
import urllib.request

from test_testbed import JS, Testbed


class Case(unittest.TestCase):
    def setUp(self):
        self.tb = Testbed()
        self.addCleanup(self.tb.cleanup)

    def send(self, msg, to, sender="app@example.com", user=None):
        with smtplib.SMTP("127.0.0.1", self.tb.ports["smtp"], timeout=30) as s:
            if user:
                s.login(user, "secret")
            raw = msg.as_bytes(policy=email.policy.SMTP) if isinstance(msg, email.message.EmailMessage) else msg.encode()
            s.sendmail(sender, to, raw)
        return raw

    def simple(self, subject, to="ann@example.org", **headers):
        m = email.message.EmailMessage()
        m["From"] = headers.pop("From", "Shop Team <shop@example.com>")
        m["To"] = to
        m["Subject"] = subject
        for k, v in headers.items():
            m[k.replace("_", "-")] = v
        m.set_content("plain body of %s\n" % subject)
        return m

    def call(self, method, path, body=None, headers=None, raw_body=None):
        """(status, headers, parsed JSON or text)"""
        data = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else None)
        h = {"Content-Type": "application/json"} if data is not None else {}
        h.update(headers or {})
        req = urllib.request.Request(self.tb.url(path), data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                payload, status, rh = r.read(), r.status, r.headers
        except urllib.error.HTTPError as e:
            payload, status, rh = e.read(), e.code, e.headers
        ctype = rh.get("Content-Type", "")
        return status, rh, json.loads(payload) if ctype.startswith("application/json") else payload.decode("utf-8", "replace")

    def get(self, path):
        status, _, body = self.call("GET", path)
        return status, body

    def search(self, query, **params):
        status, body = self.get("/api/v1/search?" + urllib.parse.urlencode(dict(query=query, **params)))
        self.assertEqual(status, 200, body)
        return [m["Subject"] for m in body["messages"]]

    def assert_json_error(self, status, body, code):
        self.assertEqual(status, code, body)
        self.assertIsInstance(body, dict, "errors are JSON")
        self.assertTrue(body.get("Error"), body)


class Routes(Case):
    def test_health_info_and_webui(self):
        for path in ("/livez", "/readyz"):
            self.assertEqual(self.call("GET", path)[0], 200, path)
        self.send(self.simple("one", X_Tags="a, b"), ["ann@example.org"])
        status, info = self.get("/api/v1/info")
        self.assertEqual(status, 200)
        self.assertRegex(info["Version"], r"^postern testbed ")
        self.assertEqual((info["Messages"], info["Unread"], info["Tags"]), (1, 1, {"a": 1, "b": 1}))
        self.assertEqual(info["RuntimeStats"]["SMTPAccepted"], 1)
        self.assertGreater(info["RuntimeStats"]["Memory"], 0)
        status, ui = self.get("/api/v1/webui")
        self.assertEqual((status, ui["MessageRelay"]["Enabled"]), (200, False))
        status, _, body = self.call("GET", "/api/v1/chaos")
        self.assert_json_error(status, body, 400)

    def test_list_newest_first_with_pages(self):
        for n in range(3):
            self.send(self.simple("number %d" % n), ["ann@example.org"])
        status, page = self.get("/api/v1/messages")
        self.assertEqual(status, 200)
        self.assertEqual([m["Subject"] for m in page["messages"]], ["number 2", "number 1", "number 0"])
        self.assertEqual((page["total"], page["unread"], page["messages_count"], page["start"]), (3, 3, 3, 0))
        _, page = self.get("/api/v1/messages?start=1&limit=1")
        self.assertEqual(([m["Subject"] for m in page["messages"]], page["messages_count"], page["start"]),
                         (["number 1"], 3, 1))
        _, page = self.get("/api/v1/messages?limit=many&start=-4")
        self.assertEqual(len(page["messages"]), 3, "what is no number is the default, as Mailpit")
        m = page["messages"][0]
        for key in ("ID", "MessageID", "Read", "From", "To", "Cc", "Bcc", "ReplyTo", "Subject", "Created", "Username",
                    "Tags", "Size", "Attachments", "Snippet"):
            self.assertIn(key, m)
        self.assertEqual(m["From"], {"Name": "Shop Team", "Address": "shop@example.com"})
        self.assertEqual(m["Snippet"], "plain body of number 2")
        self.assertRegex(m["Created"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

    def test_message_latest_headers_raw_parts_and_views(self):
        m = email.message.EmailMessage()
        m["From"] = '"Ann Ä. Example" <ann@example.com>'
        m["To"] = "To One <one@example.org>"
        m["Cc"] = "cc@example.org"
        m["Reply-To"] = "replies@example.com"
        m["Subject"] = "Grüße und mehr"
        m["Message-ID"] = "<unique-42@example.com>"
        m["Date"] = "Tue, 04 Mar 2025 10:00:00 +0100"
        m["List-Unsubscribe"] = "<mailto:unsub@example.com>, <https://example.com/unsub>"
        m.set_content("the text part\n")
        m.add_alternative('<p>the <b>html</b> part <img src="cid:logo@x"></p>', subtype="html")
        m.get_payload()[1].add_related(b"\x89PNG fake", maintype="image", subtype="png", cid="<logo@x>")
        m.add_attachment(b"%PDF-1.4 bytes", maintype="application", subtype="pdf", filename="bill.pdf")
        raw = self.send(m, ["one@example.org", "cc@example.org", "hidden@example.org"])
        self.send(self.simple("newer, no html"), ["x@example.org"])

        _, page = self.get("/api/v1/messages")
        first = page["messages"][1]["ID"]
        status, latest = self.get("/api/v1/message/latest")
        self.assertEqual((status, latest["Subject"]), (200, "newer, no html"))
        _, latest = self.get("/api/v1/message/latest?query=" + urllib.parse.quote("subject:grüße"))
        self.assertEqual(latest["ID"], first, "latest of those matching ?query=")

        _, msg = self.get("/api/v1/message/" + first)
        self.assertEqual(msg["Subject"], "Grüße und mehr")
        self.assertEqual(msg["From"], {"Name": "Ann Ä. Example", "Address": "ann@example.com"})
        self.assertEqual(msg["To"], [{"Name": "To One", "Address": "one@example.org"}])
        self.assertEqual([a["Address"] for a in msg["Cc"]], ["cc@example.org"])
        self.assertEqual([a["Address"] for a in msg["Bcc"]], ["hidden@example.org"], "envelope-only recipient")
        self.assertEqual([a["Address"] for a in msg["ReplyTo"]], ["replies@example.com"])
        self.assertEqual((msg["MessageID"], msg["ReturnPath"]), ("unique-42@example.com", "app@example.com"))
        self.assertEqual(msg["Date"][:19], "2025-03-04T09:00:00")
        self.assertEqual(msg["Text"], "the text part\n")
        self.assertIn("<b>html</b>", msg["HTML"])
        self.assertEqual(msg["ListUnsubscribe"]["Links"], ["mailto:unsub@example.com", "https://example.com/unsub"])
        self.assertEqual([(a["FileName"], a["ContentType"]) for a in msg["Attachments"]], [("bill.pdf", "application/pdf")])
        self.assertEqual([(a["ContentID"], a["ContentType"]) for a in msg["Inline"]], [("logo@x", "image/png")])
        pdf = msg["Attachments"][0]
        self.assertEqual(pdf["Checksums"]["SHA256"], hashlib.sha256(b"%PDF-1.4 bytes").hexdigest())
        self.assertEqual(pdf["Size"], len(b"%PDF-1.4 bytes"))

        status, h, body = self.call("GET", "/api/v1/message/%s/part/%s" % (first, pdf["PartID"]))
        self.assertEqual((status, h["Content-Type"], body), (200, "application/pdf", "%PDF-1.4 bytes"))
        self.assertIn('filename="bill.pdf"', h["Content-Disposition"])
        status, h, body = self.call("GET", "/api/v1/message/%s/part/1.1" % first)
        self.assertEqual((status, h["Content-Type"], body), (200, "text/plain; charset=utf-8", "the text part\r\n"),
                         "a text part keeps its charset")
        status, _, body = self.call("GET", "/api/v1/message/%s/part/9.9" % first)
        self.assert_json_error(status, body, 404)

        status, headers = self.get("/api/v1/message/%s/headers" % first)
        self.assertEqual(status, 200)
        self.assertEqual(headers["Message-Id"], ["<unique-42@example.com>"])
        self.assertIn("=?utf-8?", headers["Subject"][0].lower(), "as written, encoded words left alone")
        self.assertIn("Received", headers, "the testbed's own trace field")

        status, h, body = self.call("GET", "/api/v1/message/%s/raw" % first)
        self.assertEqual((status, h["Content-Type"]), (200, "text/plain; charset=utf-8"))
        self.assertTrue(body.encode().endswith(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")))

        status, h, html = self.call("GET", "/view/%s.html" % first)
        self.assertEqual(status, 200)
        self.assertEqual(h["Content-Security-Policy"], "sandbox")
        self.assertIn('src="/api/v1/message/%s/part/' % first, html, "cid: points at the part")
        status, h, text = self.call("GET", "/view/latest.txt")
        self.assertEqual((status, text), (200, "plain body of newer, no html\n"))
        status, _, body = self.call("GET", "/view/latest.html")
        self.assert_json_error(status, body, 404)

    def test_an_html_only_message_has_a_text_version(self):
        # Mailpit down-converts HTML when there is no text/plain part: tests read links from Text.
        self.send("From: app@example.com\r\nTo: html@example.org\r\nSubject: html only\r\nMIME-Version: 1.0\r\n"
                  "Content-Type: text/html; charset=utf-8\r\n\r\n<h1>Reset your password</h1><p>Click "
                  "<a href=\"https://x.test/r?t=abc\">here</a></p><script>track()</script>\r\n", ["html@example.org"])
        _, msg = self.get("/api/v1/message/latest")
        self.assertEqual(msg["Text"], "Reset your password\n\nClick here ( https://x.test/r?t=abc )")
        self.assertIn("<h1>Reset your password</h1>", msg["HTML"])
        status, h, text = self.call("GET", "/view/latest.txt")
        self.assertEqual((status, text), (200, msg["Text"]))

    def test_bad_ids_are_404_with_a_json_error(self):
        for path in ("/api/v1/message/0000000000000000", "/api/v1/message/nope/headers", "/api/v1/message/x/raw",
                     "/api/v1/message/x/part/1", "/view/x.html", "/view/x.txt", "/api/v1/message/latest"):
            status, _, body = self.call("GET", path)
            self.assert_json_error(status, body, 404)

    def test_read_status(self):
        self.send(self.simple("a", X_Tags="alpha"), ["ann@example.org"])
        self.send(self.simple("b"), ["ann@example.org"])
        _, page = self.get("/api/v1/messages")
        b, a = (m["ID"] for m in page["messages"])
        self.assertEqual(page["unread"], 2)
        self.get("/api/v1/message/" + a)
        self.assertEqual(self.search("is:read"), ["a"], "reading a message marks it read")
        self.assertEqual(self.call("PUT", "/api/v1/messages", {"IDs": [a], "Read": False})[2], "ok")
        self.assertEqual(self.search("is:unread"), ["b", "a"])
        self.call("PUT", "/api/v1/messages", {"Search": "tag:alpha", "Read": True})
        self.assertEqual(self.search("is:read"), ["a"])
        self.call("PUT", "/api/v1/messages", {"Read": True})
        self.assertEqual(self.get("/api/v1/messages")[1]["unread"], 0)
        self.call("PUT", "/api/v1/messages", {})
        self.assertEqual(self.get("/api/v1/messages")[1]["unread"], 2, "Read defaults to false")
        for body in ({"IDs": [a], "Search": "x"}, {"Read": "yes"}, {"IDs": "a"}, {"Search": "before:someday"}, [1]):
            status, _, err = self.call("PUT", "/api/v1/messages", body)
            self.assert_json_error(status, err, 400)
        status, _, err = self.call("PUT", "/api/v1/messages", raw_body=b"{not json")
        self.assert_json_error(status, err, 400)
        status, _, err = self.call("PUT", "/api/v1/messages", raw_body=b'{"Read": true}',
                                   headers={"Content-Type": "text/plain"})
        self.assertEqual(status, 415, "the CSRF guard: a write must be JSON")

    def test_delete(self):
        for n in range(3):
            self.send(self.simple("d%d" % n), ["ann@example.org"])
        ids = [m["ID"] for m in self.get("/api/v1/messages")[1]["messages"]]
        status, _, err = self.call("DELETE", "/api/v1/messages", raw_body=b"[oops")
        self.assert_json_error(status, err, 400)
        self.assertEqual(self.get("/api/v1/messages")[1]["total"], 3, "a bad body deletes nothing")
        status, _, err = self.call("DELETE", "/api/v1/messages", headers={"Origin": "http://evil.example"})
        self.assertEqual(status, 403)
        self.assertEqual(self.call("DELETE", "/api/v1/messages", {"IDs": [ids[0], "0000000000000000"]})[2], "ok")
        self.assertEqual(self.search("d"), ["d1", "d0"])
        self.assertEqual(self.call("DELETE", "/api/v1/search?query=d1")[0], 200)
        self.assertEqual(self.search("d"), ["d0"])
        status, _, err = self.call("DELETE", "/api/v1/search?query=")
        self.assert_json_error(status, err, 400)
        # As Mailpit's clients send it: DELETE with no body at all deletes every message.
        self.assertEqual(self.call("DELETE", "/api/v1/messages")[0], 200)
        self.assertEqual(self.get("/api/v1/messages")[1]["total"], 0)

    def test_search_operators(self):
        self.send(self.simple("Invoice March", to="Ann <ann@example.org>", Cc="boss@example.org",
                              Message_ID="<inv-1@shop.example>", X_Tags="billing"), ["ann@example.org", "boss@example.org", "audit@example.net"])
        m = self.simple("Newsletter weekly digest", to="bob@example.org", From="News <news@example.com>")
        m.add_attachment(b"data", maintype="application", subtype="octet-stream", filename="report.csv")
        self.send(m, ["bob@example.org"])
        self.get("/api/v1/message/latest")  # the newsletter is read
        self.assertEqual(self.search("from:shop@example.com"), ["Invoice March"])
        self.assertEqual(self.search('from:"shop team"'), ["Invoice March"])
        self.assertEqual(self.search("to:bob"), ["Newsletter weekly digest"])
        self.assertEqual(self.search("to:ann@example.org"), ["Invoice March"])
        self.assertEqual(self.search("cc:boss"), ["Invoice March"])
        self.assertEqual(self.search("bcc:audit@example.net"), ["Invoice March"])
        self.assertEqual(self.search("subject:digest"), ["Newsletter weekly digest"])
        self.assertEqual(self.search('subject:"weekly digest"'), ["Newsletter weekly digest"])
        self.assertEqual(self.search("message-id:inv-1"), ["Invoice March"])
        self.assertEqual(self.search("tag:billing"), ["Invoice March"])
        self.assertEqual(self.search("tag:bill"), [], "a tag matches whole")
        self.assertEqual(self.search("is:read"), ["Newsletter weekly digest"])
        self.assertEqual(self.search("is:unread"), ["Invoice March"])
        self.assertEqual(self.search("has:attachment"), ["Newsletter weekly digest"])
        self.assertEqual(self.search("report.csv"), ["Newsletter weekly digest"], "file names are text")
        self.assertEqual(self.search("plain body"), ["Newsletter weekly digest", "Invoice March"])
        self.assertEqual(self.search('"body of invoice"'), ["Invoice March"], "a quoted phrase")
        self.assertEqual(self.search("-has:attachment"), ["Invoice March"])
        self.assertEqual(self.search("!from:news"), ["Invoice March"])
        self.assertEqual(self.search("body -invoice"), ["Newsletter weekly digest"])
        self.assertEqual(self.search("after:2000-01-01"), ["Newsletter weekly digest", "Invoice March"])
        self.assertEqual(self.search("before:2000-01-01T00:00:00Z"), [])
        self.assertEqual(self.search("inbox:audit@example.net"), ["Invoice March"])
        self.assertEqual(self.search("to:ann", inbox="boss@example.org"), ["Invoice March"])
        _, page = self.get("/api/v1/search?query=is%3Aunread")
        self.assertEqual((page["messages_count"], page["messages_unread"], page["total"]), (1, 1, 2))
        for bad in ("", "   ", "before:someday", "after:2025-02-30", " ".join("w%d" % n for n in range(40))):
            status, body = self.get("/api/v1/search?" + urllib.parse.urlencode({"query": bad}))
            self.assert_json_error(status, body, 400)

    def test_tags_from_x_tags_and_plus_addresses_not_scenarios(self):
        self.send(self.simple("tagged", to="user+Orders+urgent@example.org", X_Tags="one, Two ,one"),
                  ["user+Orders+urgent@example.org", "slow+0@example.org", "locked+0@example.org",
                   "tempfail-data+0@example.org"])
        _, msg = self.get("/api/v1/message/latest")
        # Mailpit sorts tags without regard to case (its NOCASE collation).
        self.assertEqual(msg["Tags"], ["one", "Orders", "Two", "urgent"])
        self.assertEqual(self.get("/api/v1/tags")[1], ["one", "Orders", "Two", "urgent"])

    def test_tags_api(self):
        self.send(self.simple("t"), ["ann@example.org"])
        mid = self.get("/api/v1/messages")[1]["messages"][0]["ID"]
        self.assertEqual(self.call("PUT", "/api/v1/tags", {"IDs": [mid], "Tags": ["x/y", "keep", "KEEP"]})[2], "ok")
        self.assertEqual(self.get("/api/v1/tags")[1], ["keep", "x y"])
        self.assertEqual(self.call("PUT", "/api/v1/tags/" + urllib.parse.quote("x y"), {"Name": "renamed"})[0], 200)
        self.assertEqual(self.get("/api/v1/tags")[1], ["keep", "renamed"])
        self.assertEqual(self.call("DELETE", "/api/v1/tags/keep")[0], 200)
        self.assertEqual(self.get("/api/v1/message/" + mid)[1]["Tags"], ["renamed"])
        # Mailpit's refusals: a tag nobody carries, a name another tag has.
        self.call("PUT", "/api/v1/tags", {"IDs": [mid], "Tags": ["renamed", "other"]})
        for method, path, body, why in (("PUT", "/api/v1/tags/renamed", {"Name": "OTHER"}, "tag already exists: OTHER"),
                                        ("PUT", "/api/v1/tags/nothing", {"Name": "q"}, "tag not found: nothing"),
                                        ("DELETE", "/api/v1/tags/nothing", None, "tag not found: nothing")):
            status, _, err = self.call(method, path, body)
            self.assert_json_error(status, err, 400)
            self.assertEqual(err["Error"], why)
        self.assertEqual(self.get("/api/v1/tags")[1], ["other", "renamed"])
        self.assertEqual(self.call("PUT", "/api/v1/tags/renamed", {"Name": "Renamed"})[0], 200, "a change of case")
        self.call("PUT", "/api/v1/tags", {"IDs": [mid], "Tags": ["renamed"]})
        status, _, err = self.call("PUT", "/api/v1/tags/renamed", {"Name": "!!!"})
        self.assert_json_error(status, err, 400)
        status, _, err = self.call("PUT", "/api/v1/tags", {"IDs": [mid], "Tags": "one"})
        self.assert_json_error(status, err, 400)
        self.call("PUT", "/api/v1/tags", {"IDs": [mid]})
        self.assertEqual(self.get("/api/v1/tags")[1], [], "no Tags: none left")

    def test_send(self):
        status, _, sent = self.call("POST", "/api/v1/send", {
            "From": {"Email": "api@example.com", "Name": "Ä Sender"},
            "To": [{"Email": "to@example.org"}], "Cc": [{"Email": "cc@example.org", "Name": "C C"}],
            "Bcc": ["b@example.org"], "ReplyTo": [{"Email": "r@example.com"}],
            "Subject": "Grüße via API", "Text": "text body", "HTML": "<p>html body</p>", "Tags": ["api", "t/2"],
            "Headers": {"X-Test": "1"},
            "Attachments": [{"Filename": "a.txt", "Content": "data:text/plain;base64,aGVsbG8="},
                            {"Filename": "i.png", "Content": "iVBORw==", "ContentType": "image/png", "ContentID": "pic"}]},
            headers={"Authorization": "Basic dXNlckBleGFtcGxlLmNvbTpwdw=="})
        self.assertEqual(status, 200, sent)
        _, msg = self.get("/api/v1/message/" + sent["ID"])
        self.assertEqual((msg["Subject"], msg["From"]["Name"], msg["Text"].strip()), ("Grüße via API", "Ä Sender", "text body"))
        self.assertEqual(msg["Tags"], ["api", "t 2"])
        self.assertEqual(msg["Username"], "user@example.com")
        self.assertEqual([a["Address"] for a in msg["Bcc"]], ["b@example.org"])
        self.assertEqual([a["FileName"] for a in msg["Attachments"]], ["a.txt"])
        self.assertEqual([a["ContentID"] for a in msg["Inline"]], ["pic"])
        self.assertEqual(self.get("/api/v1/message/%s/headers" % sent["ID"])[1]["X-Test"], ["1"])
        _, inbox = self.get("/api/messages?inbox=b@example.org")
        self.assertEqual([m["id"] for m in inbox], [sent["ID"]])
        for body in ({}, {"From": {"Email": "not an address"}, "To": [{"Email": "a@b.c"}]},
                     {"From": {"Email": "a@b.c"}}, {"From": {"Email": "a@b.c"}, "To": [{"Email": "a@b.c"}], "Headers": {"Subject": "x"}},
                     {"From": {"Email": "a@b.c"}, "To": [{"Email": "a@b.c"}], "Headers": {"X-A": "1\r\nBcc: x@y"}},
                     {"From": {"Email": "a@b.c"}, "To": [{"Email": "a@b.c"}], "Subject": "nul \u0000 here"},
                     {"From": {"Email": "a@b.c"}, "To": [{"Email": "a@b.c"}], "Attachments": [{"Filename": "x", "Content": "***"}]}):
            status, _, err = self.call("POST", "/api/v1/send", body)
            self.assert_json_error(status, err, 400)
        self.assertEqual(self.get("/api/v1/messages")[1]["total"], 1, "nothing kept from a refused send")


class Inboxes(Case):
    def test_recipients_and_the_authenticated_user(self):
        self.send(self.simple("to both"), ["Alice@example.org", "bob@example.org"], user="Sender@Example.com")
        self.send(self.simple("to bob"), ["bob@example.org"])
        def inbox(addr):
            status, body = self.get("/api/messages?inbox=" + urllib.parse.quote(addr))
            self.assertEqual(status, 200)
            return [m["subject"] for m in body]
        self.assertEqual(inbox("alice@EXAMPLE.org"), ["to both"])
        self.assertEqual(inbox("bob@example.org"), ["to bob", "to both"])
        self.assertEqual(inbox("sender@example.com"), ["to both"], "the AUTH user's inbox")
        self.assertEqual(inbox("nobody@example.org"), [])
        self.get("/api/v1/message/latest")  # "to bob" is read
        self.assertEqual(self.get("/api/inboxes")[1], [
            {"address": "alice@example.org", "messages": 1, "unread": 1},
            {"address": "bob@example.org", "messages": 2, "unread": 1},
            {"address": "sender@example.com", "messages": 1, "unread": 1}])
        _, page = self.get("/api/v1/messages?inbox=sender%40example.com")
        self.assertEqual([m["Subject"] for m in page["messages"]], ["to both"])
        self.assertEqual(page["messages"][0]["Username"], "Sender@Example.com")
        both = [m for m in self.get("/api/messages")[1] if m["subject"] == "to both"][0]
        self.assertEqual(both["inboxes"], ["alice@example.org", "bob@example.org", "sender@example.com"])
        self.assertEqual(both["user"], "Sender@Example.com")

        status, _, out = self.call("DELETE", "/api/messages/%s?inbox=alice@example.org" % both["id"])
        self.assertEqual((status, out["deleted"], out["inboxes"]), (200, False, ["bob@example.org", "sender@example.com"]))
        self.assertEqual(inbox("alice@example.org"), [])
        self.assertEqual(inbox("bob@example.org"), ["to bob", "to both"])
        status, _, err = self.call("DELETE", "/api/messages/%s?inbox=alice@example.org" % both["id"])
        self.assertEqual(status, 404)
        self.call("DELETE", "/api/messages/%s?inbox=bob@example.org" % both["id"])
        status, _, out = self.call("DELETE", "/api/messages/%s?inbox=sender@example.com" % both["id"])
        self.assertEqual((status, out["deleted"]), (200, True), "in no inbox any more: deleted")
        self.assertEqual(self.get("/api/messages/" + both["id"])[0], 404)
        self.assertEqual([m["subject"] for m in self.get("/api/messages")[1]], ["to bob"])

    def test_max_messages_still_bounds(self):
        tb = Testbed(config="[testbed]\nmax_messages = 2\n")
        self.addCleanup(tb.cleanup)
        with smtplib.SMTP("127.0.0.1", tb.ports["smtp"], timeout=30) as s:
            for n in range(4):
                s.sendmail("a@example.com", ["in@example.org"], "Subject: n%d\r\n\r\nx\r\n" % n)
        with urllib.request.urlopen(tb.url("/api/v1/messages"), timeout=30) as r:
            page = json.loads(r.read())
        self.assertEqual([m["Subject"] for m in page["messages"]], ["n3", "n2"])
        with urllib.request.urlopen(tb.url("/api/messages?inbox=in@example.org"), timeout=30) as r:
            self.assertEqual(len(json.loads(r.read())), 2)


class BrowserSafety(Case):
    """What another site can make a browser do with the API, and what the API
    tells a browser about mail it serves as is."""

    def message_id(self):
        status, body = self.get("/api/v1/messages")
        self.assertEqual(status, 200, body)
        return body["messages"][0]["ID"]

    def is_read(self, msg_id):
        status, body = self.get("/api/v1/message/%s/headers" % msg_id)  # reads no flag
        self.assertEqual(status, 200, body)
        return {m["ID"]: m["Read"] for m in self.get("/api/v1/messages")[1]["messages"]}[msg_id]

    def test_a_cross_site_navigation_does_not_mark_a_message_read(self):
        self.send(self.simple("opened elsewhere"), ["ann@example.org"])
        msg_id = self.message_id()
        navigation = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
        for site in ("cross-site", "same-site"):
            status, _, body = self.call("GET", "/api/v1/message/" + msg_id, headers=dict(navigation, **{"Sec-Fetch-Site": site}))
            self.assertEqual(status, 200, body)
            self.assertEqual(body["Subject"], "opened elsewhere")
            self.assertFalse(self.is_read(msg_id), "a %s navigation marked it read" % site)
        # The user's own reads still mark it, as in Mailpit: typed in, from our page, or no browser at all.
        status, _, _ = self.call("GET", "/api/v1/message/" + msg_id, headers=dict(navigation, **{"Sec-Fetch-Site": "none"}))
        self.assertEqual(status, 200)
        self.assertTrue(self.is_read(msg_id))
        self.call("PUT", "/api/v1/messages", {"IDs": [msg_id], "Read": False})
        self.assertFalse(self.is_read(msg_id))
        self.call("GET", "/api/v1/message/" + msg_id, headers={"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"})
        self.assertTrue(self.is_read(msg_id))
        self.call("PUT", "/api/v1/messages", {"IDs": [msg_id], "Read": False})
        self.call("GET", "/api/v1/message/" + msg_id)
        self.assertTrue(self.is_read(msg_id))

    def test_raw_messages_are_neither_sniffed_nor_run(self):
        self.send("From: x@example.com\r\nSubject: html\r\n\r\n<html><script>alert(1)</script></html>\r\n",
                  ["ann@example.org"])
        msg_id = self.message_id()
        for path in ("/api/v1/message/%s/raw" % msg_id, "/api/v1/message/latest/raw", "/api/v1/message/%s/raw?dl=1" % msg_id,
                     "/api/messages/%s/raw" % msg_id):
            status, headers, body = self.call("GET", path)
            self.assertEqual(status, 200, path)
            self.assertIn("<script>", body)
            self.assertEqual(headers.get("X-Content-Type-Options"), "nosniff", path)
            self.assertEqual(headers.get("Content-Security-Policy"), "sandbox", path)

    def test_searches_over_the_limits_are_400_with_a_json_error(self):
        self.send(self.simple("w1"), ["ann@example.org"])
        too_long = "a" * 5000
        too_many = " ".join("w%d" % i for i in range(300))
        for query in (too_long, too_many):
            q = urllib.parse.quote(query)
            for method, path in (("GET", "/api/v1/search?query=" + q), ("DELETE", "/api/v1/search?query=" + q),
                                 ("GET", "/api/v1/message/latest?query=" + q),
                                 ("GET", "/api/v1/message/latest/raw?query=" + q),
                                 ("GET", "/api/v1/message/latest/headers?query=" + q),
                                 ("GET", "/view/latest.html?query=" + q)):
                status, headers, body = self.call(method, path)
                self.assertNotIn("EXCEPTION_WHAT", headers)
                self.assert_json_error(status, body, 400)
            status, headers, body = self.call("PUT", "/api/v1/messages", {"Search": query, "Read": True})
            self.assert_json_error(status, body, 400)
            status, headers, body = self.call("POST", "/api/v1/message/latest/release?query=" + q, {"To": ["b@example.org"]})
            self.assertEqual(status, 400, body)
        self.assertEqual(self.get("/api/v1/messages")[1]["unread"], 1, "nothing was marked read")


@unittest.skipUnless(os.path.isdir(os.path.join(JS, "node_modules", "mailpit-api")),
                     "mailpit-api is installed into tests/js by make test (npm)")
class MailpitApiClient(Case):
    def test_the_npm_client_unchanged(self):
        m = self.simple("first message", to="user+orders@example.org", X_Tags="alpha")
        m.add_attachment(b"attached bytes", maintype="text", subtype="plain", filename="a.txt")
        raw = self.send(m, ["user+orders@example.org"], user="me@example.com")
        self.send(self.simple("second message"), ["ann@example.org"])
        out = subprocess.run(["node", os.path.join(JS, "mailpit.mjs"),
                              json.dumps({"http": self.tb.ports["http"], "smtp": self.tb.ports["smtp"]})],
                             capture_output=True, text=True, timeout=120, cwd=JS)
        self.assertEqual(out.returncode, 0, out.stderr)
        r = json.loads(out.stdout)
        self.assertEqual((r["info"]["Messages"], r["info"]["Unread"]), (2, 2), r["info"])
        self.assertEqual([x["Subject"] for x in r["list"]["messages"]], ["second message", "first message"])
        self.assertEqual(r["latest"]["Subject"], "second message")
        s = r["summary"]
        self.assertEqual((s["Subject"], s["Username"], s["Tags"]), ("first message", "me@example.com", ["alpha", "orders"]))
        self.assertEqual([a["FileName"] for a in s["Attachments"]], ["a.txt"])
        self.assertEqual(r["headers"]["Subject"], ["first message"])
        self.assertTrue(r["source"].endswith(raw.decode().replace("\r\n", "\n").replace("\n", "\r\n")))
        self.assertEqual([x["Subject"] for x in r["search"]["messages"]], ["second message"])
        self.assertEqual(r["searchNone"]["messages_count"], 0)
        self.assertEqual(r["setUnread"], "ok")
        # getMessageSummary() read both; the first is unread again, then read by its tag.
        self.assertEqual([x["Subject"] for x in r["afterUnread"]["messages"]], ["first message"])
        self.assertEqual([x["Subject"] for x in r["afterReadBySearch"]["messages"]], ["second message", "first message"])
        self.assertEqual(r["tags"], ["x-one", "y two"])
        self.assertEqual(r["tagsAfter"], ["renamed"])
        self.assertEqual(r["attachment"]["blob"], "attached bytes")
        self.assertEqual(r["text"].strip(), "plain body of first message")
        self.assertIn("error", r["html"], "no HTML part: 404, as Mailpit")
        self.assertRegex(r["send"]["ID"], r"^[0-9a-f]{16}$")
        sent = r["sentSummary"]
        self.assertEqual((sent["Subject"], sent["Tags"]), ("via api", ["from-api"]))
        self.assertEqual([a["Address"] for a in sent["Bcc"]], ["hidden@example.org"])
        self.assertEqual(r["waited"]["Subject"], "late one", r["waited"])
        self.assertEqual(r["waitedMany"]["messages_count"], 1)
        self.assertNotIn("via api", [x["Subject"] for x in r["afterDeleteBySearch"]["messages"]])
        self.assertNotIn("first message", [x["Subject"] for x in r["afterDeleteOne"]["messages"]])
        self.assertIn("404", r["missing"]["error"])
        self.assertIn("400", r["badSearch"]["error"])
        self.assertIn("400", r["chaos"]["error"])
        self.assertEqual(r["afterDeleteAll"]["total"], 0)


if __name__ == "__main__":
    unittest.main()
