"""One SMTP transaction with smtplib, for the milter tests: what the
client sees at each step."""
import smtplib


def transaction(addr, sender, recipients, message, helo="client.example.net"):
    """Returns {"mail": (code, text), "rcpt": [(code, text)...], "data": (code, text) or None}."""
    if isinstance(recipients, str):
        recipients = [recipients]
    if isinstance(message, str):
        message = message.encode()
    out = {"mail": None, "rcpt": [], "data": None}
    with smtplib.SMTP(addr[0], addr[1], timeout=30) as s:
        s.ehlo(helo)
        code, text = s.mail(sender)
        out["mail"] = (code, text.decode())
        if code != 250:
            return out
        for r in recipients:
            code, text = s.rcpt(r)
            out["rcpt"].append((code, text.decode()))
        if not any(c == 250 for c, _ in out["rcpt"]):
            return out
        try:
            code, text = s.data(message)
        except smtplib.SMTPDataError as e:  # refused at DATA or after the dot
            code, text = e.smtp_code, e.smtp_error
        out["data"] = (code, text.decode())
    return out


def message(subject, body, sender="alice@sender.example", to="bob@example.org", extra=""):
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{abs(hash(subject + body))}@sender.example>\r\n"
            f"{extra}\r\n{body}\r\n")
