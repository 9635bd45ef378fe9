"""Short SMTP dialogues with smtplib that return what a client sees, for
the greylist, mailbox and policy tests, and the greylist settings they
start from."""
import smtplib


def greylist_config(**overrides):
    cfg = {"enabled": True, "delay": "2s", "retry_window": "1h", "max_age": "1d",
           "auto_allow_after": 0}
    cfg.update(overrides)
    return cfg


def rcpt(addr, sender, recipient, helo="client.example.net"):
    """One transaction up to RCPT: returns (code, text) of the RCPT reply."""
    with smtplib.SMTP(addr[0], addr[1], timeout=10) as s:
        s.ehlo(helo)
        code, msg = s.mail(sender)
        if code != 250:
            return code, msg.decode()
        code, msg = s.rcpt(recipient)
        s.rset()
        return code, msg.decode()


def send(addr, sender, recipients, body=b"Subject: hi\r\n\r\nhello\r\n"):
    """A whole transaction; returns ({rcpt: (code, text)}, data_reply or None)."""
    if isinstance(recipients, str):
        recipients = [recipients]
    with smtplib.SMTP(addr[0], addr[1], timeout=10) as s:
        s.ehlo("client.example.net")
        code, msg = s.mail(sender)
        if code != 250:
            return {"MAIL": (code, msg.decode())}, None
        replies = {}
        ok = False
        for r in recipients:
            code, msg = s.rcpt(r)
            replies[r] = (code, msg.decode())
            ok = ok or code == 250
        if not ok:
            s.rset()
            return replies, None
        code, msg = s.data(body)
        return replies, (code, msg.decode())
