"""`postern explain` through the real binary: every argument form, both
languages, JSON checked by Python's json module, the 334/450 comparison
checked for its facts, 80 columns, colour only on a terminal."""
import json
import os
import pty
import re
import select
import subprocess
import unittest

from harness import POSTERN, run

ANSI = re.compile(r"\x1b\[[0-9;]*m")
GREYLIST_LINE = "450 4.2.0 Greylisted, try again in 300 seconds"
TR_HEADINGS = ["Açıklama", "Gördüğünüzde", "Nasıl Düzeltilir", "Temel Farklar",
               "Hangisini Ne Zaman Kullanmalı"]


def explain(*args, lang_env="C.UTF-8", extra_env=None):
    env = {"LANG": lang_env, "LC_ALL": "", "LC_MESSAGES": "", "NO_COLOR": ""}
    env.update(extra_env or {})
    return run("explain", *args, env=env)


class Forms(unittest.TestCase):
    def ok(self, *args, **kw):
        r = explain(*args, **kw)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        return r.stdout

    def test_basic_code(self):
        out = self.ok("450")
        self.assertIn("450", out)
        self.assertIn("4xx Transient Negative Completion", out)
        self.assertIn("Meaning", out)
        self.assertIn("When you see it", out)
        self.assertIn("How to fix it", out)
        self.assertIn("greylist", out.lower())

    def test_enhanced_code(self):
        out = self.ok("4.2.0")
        self.assertIn("4.2.0", out)
        self.assertIn("Persistent Transient Failure", out)
        self.assertIn("Mailbox Status", out)

    def test_reply_line_explains_both_codes_and_the_text(self):
        out = self.ok(GREYLIST_LINE)
        self.assertIn("Reply: " + GREYLIST_LINE, out)
        self.assertIn("450 Mailbox unavailable", out)
        self.assertIn("4.2.0 Other or undefined mailbox status", out)
        self.assertIn("Greylisting", out)
        self.assertIn("300 seconds", out)

    def test_reply_line_turkish(self):
        out = self.ok(GREYLIST_LINE, "--lang", "tr")
        self.assertIn("Yanıt: " + GREYLIST_LINE, out)
        self.assertIn("Gri liste", out)
        self.assertIn("300 saniye", out)
        self.assertIn("Geçici Olumsuz Tamamlanma", out)

    def test_comparison_334_450_english_facts(self):
        out = self.ok("334", "450")
        flat = " ".join(out.split())
        for section in ["Class", "Meaning", "When you see it", "How to fix it", "Key differences",
                        "When to expect or use which"]:
            self.assertRegex(out, r"(?m)^" + re.escape(section) + r"$", section)
        self.assertIn("334 is a 3xx Positive Intermediate reply, while 450 is a 4xx Transient Negative", flat)
        self.assertIn("base64", flat)
        self.assertIn("SASL", flat)
        self.assertIn("AUTH", flat)
        self.assertIn("greylist", flat.lower())
        self.assertRegex(flat, r"retry (after|later)")
        # The sections come in the page's order.
        positions = [out.index(s) for s in ["Meaning", "When you see it", "How to fix it", "Key differences",
                                            "When to expect or use which"]]
        self.assertEqual(positions, sorted(positions))

    def test_comparison_334_450_turkish(self):
        out = self.ok("334", "450", "--lang", "tr")
        flat = " ".join(out.split())
        for h in TR_HEADINGS:
            self.assertRegex(out, r"(?m)^" + re.escape(h) + r"$", h)
        self.assertIn("3xx Olumlu Ara Yanıt", flat)
        self.assertIn("4xx Geçici Olumsuz Tamamlanma", flat)
        self.assertIn("base64", flat)
        self.assertIn("SASL", flat)
        self.assertIn("gri liste", flat.lower())
        self.assertIn("yeniden deneyin", flat)

    def test_brief(self):
        out = self.ok("--brief", "550 5.1.1 No such user", GREYLIST_LINE)
        self.assertIn("Reply: 550 5.1.1 No such user", out)
        self.assertIn("Unknown recipient", out)
        self.assertIn("Reply: " + GREYLIST_LINE, out)
        self.assertIn("300 seconds", out)
        self.assertLessEqual(len(out.splitlines()), 16)
        r = explain("--brief", "--json", "450")
        self.assertEqual(r.returncode, 64)

    def test_language_from_environment(self):
        tr = self.ok("450", lang_env="tr_TR.UTF-8")
        self.assertIn("Açıklama", tr)
        self.assertIn("Gördüğünüzde", tr)
        en = self.ok("450", lang_env="en_US.UTF-8")
        self.assertIn("Meaning", en)
        self.assertNotIn("Açıklama", en)
        lc_all = self.ok("450", lang_env="en_US.UTF-8", extra_env={"LC_ALL": "tr_TR.UTF-8"})
        self.assertIn("Açıklama", lc_all)
        # --lang wins over the environment.
        forced = self.ok("450", "--lang", "en", lang_env="tr_TR.UTF-8")
        self.assertIn("Meaning", forced)


class Json(unittest.TestCase):
    def load(self, *args):
        r = explain(*args, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def check_entry(self, entry, code):
        self.assertEqual(entry["code"], code)
        for key in ["title", "meaning", "when"]:
            self.assertTrue(entry[key], key)
        self.assertTrue(entry["fix"]["sender"])
        self.assertTrue(entry["fix"]["admin"])
        self.assertTrue(entry["class"]["name"])
        self.assertIsInstance(entry["related"], list)

    def test_basic(self):
        doc = self.load("450")
        self.assertEqual(doc["lang"], "en")
        e = doc["explanation"]
        self.assertEqual(e["code"], 450)
        self.assertIsNone(e["enhanced"])
        self.check_entry(e["basic"], "450")
        self.assertEqual(e["basic"]["class"]["id"], "4xx")

    def test_enhanced(self):
        e = self.load("4.2.0")["explanation"]
        self.assertIsNone(e["code"])
        self.check_entry(e["enhanced"], "4.2.0")
        self.assertEqual(e["enhanced"]["class"]["name"], "Persistent Transient Failure")
        self.assertEqual(e["enhanced"]["subject"]["id"], "X.2.X")

    def test_reply_line(self):
        e = self.load(GREYLIST_LINE)["explanation"]
        self.assertEqual(e["code"], 450)
        self.assertEqual(e["enhanced_code"], "4.2.0")
        self.assertEqual(e["text"], "Greylisted, try again in 300 seconds")
        self.assertEqual(e["retry_after_seconds"], 300)
        self.assertEqual([h["id"] for h in e["recognised"]][:1], ["greylisting"])
        self.check_entry(e["basic"], "450")
        self.check_entry(e["enhanced"], "4.2.0")

    def test_comparison_turkish(self):
        r = explain("334", "450", "--json", "--lang", "tr")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["lang"], "tr")
        self.assertEqual([i["code"] for i in doc["compare"]], [334, 450])
        self.assertEqual(doc["compare"][0]["basic"]["class"]["name"], "Olumlu Ara Yanıt")
        self.assertIn("Geçici Olumsuz", doc["key_difference"])
        self.assertEqual(len(doc["when_to_use"]), 2)

    def test_hostile_reply_text_stays_valid_json(self):
        line = '550 5.7.1 "quoted" \\ back\tslash \x7f and ünïcödé'
        e = self.load(line)["explanation"]
        self.assertEqual(e["text"], '"quoted" \\ back\tslash \x7f and ünïcödé')


def fixture(name):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "unit", "explain", "data", name)
    with open(path, encoding="utf-8") as f:
        return [line.split("\t")[0] for line in f if line.strip() and not line.startswith("#")]


class EveryCode(unittest.TestCase):
    """Every listed basic code and every IANA registry code, through the binary, in both languages."""

    def test_every_code_in_both_languages(self):
        basic = fixture("basic_codes.txt")
        registry = fixture("iana_enhanced.txt")
        self.assertGreaterEqual(len(basic), 38)
        self.assertGreaterEqual(len(registry), 81)
        # Registry codes as they appear on the wire, under the class that is
        # most common for each (5 for all, which every code may carry).
        codes = basic + ["5" + c[1:] for c in registry]
        for lang in ["en", "tr"]:
            r = explain(*codes, "--json", "--lang", lang)
            self.assertEqual(r.returncode, 0, r.stderr)
            doc = json.loads(r.stdout)
            self.assertEqual(len(doc["compare"]), len(codes))
            for code, item in zip(codes, doc["compare"]):
                entry = item["basic"] or item["enhanced"]
                self.assertEqual(entry["code"], code)
                self.assertFalse(entry["generic"], code)
                for key in ["title", "meaning", "when"]:
                    self.assertTrue(entry[key].strip(), (lang, code, key))
                self.assertTrue(entry["fix"]["sender"].strip(), (lang, code))
                self.assertTrue(entry["fix"]["admin"].strip(), (lang, code))
                self.assertTrue(entry["class"]["name"], (lang, code))
                if lang == "tr":
                    text = entry["meaning"] + entry["when"] + entry["fix"]["sender"] + entry["fix"]["admin"]
                    self.assertRegex(text, "[çğıİöşüÇĞÖŞÜ]", code)


class Errors(unittest.TestCase):
    def check(self, *args, want):
        r = explain(*args)
        self.assertEqual(r.returncode, 64, (args, r.stdout, r.stderr))
        self.assertEqual(r.stdout, "")
        self.assertIn(want, r.stderr)

    def test_unknown_and_malformed_codes(self):
        self.check("299", want="299 is not a known SMTP reply code")
        self.check("4.2.99", want="4.2.99 is not a known")
        self.check("999", want='"999" is not an SMTP reply code')
        self.check("4.2", want="not an SMTP reply code")
        self.check("hello", want="not an SMTP reply code")
        self.check("", want="empty code")
        self.check("650 Something", want="not an SMTP reply code")

    def test_one_bad_code_in_a_comparison(self):
        self.check("334", "nonsense", want='"nonsense" is not an SMTP reply code')

    def test_turkish_error(self):
        r = explain("999", "--lang", "tr")
        self.assertEqual(r.returncode, 64)
        self.assertIn("değil", r.stderr)

    def test_bad_options(self):
        r = explain("450", "--lang", "de")
        self.assertEqual(r.returncode, 64)
        self.assertIn("--lang", r.stderr)
        r = explain()
        self.assertEqual(r.returncode, 64)
        self.assertIn("CODE", r.stderr)


FORMS = [["4.2.0"], [GREYLIST_LINE], ["334", "450"], ["221", "X.7.8", "454"],
         ["554 5.7.1 Service unavailable; client host [192.0.2.1] blocked using zen.spamhaus.org; " + "x" * 120]]


class Terminal(unittest.TestCase):
    def test_eighty_columns_and_no_ansi_when_piped(self):
        for lang in ["en", "tr"]:
            for args in FORMS:
                r = explain(*args, "--lang", lang)
                self.assertEqual(r.returncode, 0, (args, r.stderr))
                self.assertIsNone(ANSI.search(r.stdout), args)
                self.assertNotIn("\x1b", r.stdout)
                for line in r.stdout.splitlines():
                    self.assertLessEqual(len(line), 80, (args, lang, line))

    def run_on_pty(self, *args, env_extra=None):
        """Runs postern explain with stdout on a pseudo-terminal; returns the output."""
        master, slave = pty.openpty()
        env = dict(os.environ, LANG="C.UTF-8", LC_ALL="", TERM="xterm")
        env.pop("NO_COLOR", None)
        env.update(env_extra or {})
        proc = subprocess.Popen([POSTERN, "explain", *args], stdout=slave, stderr=subprocess.PIPE, env=env)
        os.close(slave)
        chunks = []
        try:
            while True:
                ready, _, _ = select.select([master], [], [], 30)
                if not ready:
                    break
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
        finally:
            os.close(master)
            proc.wait(timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr.read())
        proc.stderr.close()
        return b"".join(chunks).decode()

    def test_colour_on_a_terminal(self):
        out = self.run_on_pty("450")
        self.assertIsNotNone(ANSI.search(out), out[:200])
        plain = ANSI.sub("", out)
        self.assertIn("Transient Negative Completion", plain)

    def test_no_colour_with_no_color(self):
        out = self.run_on_pty("450", env_extra={"NO_COLOR": "1"})
        self.assertIsNone(ANSI.search(out))
        self.assertIn("Transient Negative Completion", out)


if __name__ == "__main__":
    unittest.main()
