"""A private Dovecot for tests: its own config, base_dir, state_dir, log and
mail under one scratch directory, a passwd-file user database, the
auth-client and auth-userdb sockets (and optionally LMTP, quota, Sieve),
started with `dovecot -F -c FILE` and stopped by its PID.

    dc = Dovecot({"alice@example.org": "pw"}, mechanisms=("plain", "login"))
    dc.auth_socket, dc.userdb_socket, dc.lmtp_socket  # unix socket paths
    dc.doveadm("user", "alice@example.org")           # CompletedProcess
    dc.stop()

As root (the usual case in CI containers) the auth service runs as the
packaged `dovecot` user, login processes as `dovenull` and mail as `nobody`,
as a packaged Dovecot would; as another user everything runs as that user.
"""
import grp
import os
import pwd
import shutil
import socket
import subprocess
import time

from support.processes import stop_process
from support.scratch import scratch_dir

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"


def available():
    return os.path.exists(DOVECOT) and os.path.exists(DOVEADM)


def dovecot_version():
    """(major, minor) of the installed Dovecot, e.g. (2, 3)."""
    out = subprocess.run([DOVECOT, "--version"], capture_output=True, text=True, check=True).stdout
    major, minor = out.split()[0].split(".")[:2]
    return int(major), int(minor)


def _accounts():
    """(internal user, login user, mail uid, mail gid) to run Dovecot with."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return me.pw_name, me.pw_name, me.pw_uid, me.pw_gid
    def exists(name):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            return None
    internal = "dovecot" if exists("dovecot") else "nobody"
    login = "dovenull" if exists("dovenull") else "nobody"
    mail = exists("nobody")
    return internal, login, mail.pw_uid, mail.pw_gid


class Dovecot:
    """users: {address: password} (plaintext, stored as {PLAIN} so every
    mechanism, CRAM-MD5 and SCRAM included, can be served).
    mechanisms: Dovecot's auth_mechanisms.
    protocols: e.g. ("lmtp",); () runs only the auth service.
    quota: None, or a quota_rule such as "*:storage=10k" for every user;
    user_quota: {address: rule} overriding it per user (userdb_quota_rule).
    sieve: None, or the text of a Sieve script made active for every user.
    auth_inet: True also listens for auth clients on a loopback TCP port
    (self.auth_port). extra: text appended to dovecot.conf."""

    def __init__(self, users, mechanisms=("plain", "login"), protocols=(), quota=None,
                 user_quota=None, sieve=None, auth_inet=False, disable_plaintext_auth=True,
                 extra="", debug=False, start=True):
        self.users = dict(users)
        self.dir = scratch_dir("postern-dovecot-")
        os.chmod(self.dir, 0o755)  # Dovecot's unprivileged processes reach their sockets under it
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.log_path = os.path.join(self.dir, "dovecot.log")
        self.auth_socket = os.path.join(self.dir, "auth-client")
        self.userdb_socket = os.path.join(self.dir, "auth-userdb")
        self.lmtp_socket = os.path.join(self.dir, "lmtp") if "lmtp" in protocols else None
        self.auth_port = _free_port() if auth_inet else None
        self.protocols = tuple(protocols)
        self.quota, self.user_quota, self.sieve = quota, dict(user_quota or {}), sieve
        self.internal_user, self.login_user, self.mail_uid, self.mail_gid = _accounts()
        self.proc = None
        self._write_users()
        self._write_config(mechanisms, auth_inet, disable_plaintext_auth, extra, debug)
        if start:
            self.start()

    # -- files ---------------------------------------------------------------

    def home(self, user):
        return os.path.join(self.dir, "home", user)

    def maildir(self, user):
        return os.path.join(self.dir, "mail", user)

    def _owned_dir(self, path):
        os.makedirs(path, exist_ok=True)
        os.chown(path, self.mail_uid, self.mail_gid)

    def _write_users(self):
        for top in ("home", "mail"):
            self._owned_dir(os.path.join(self.dir, top))
        lines = []
        for user, password in self.users.items():
            if ":" in user or ":" in password or "\n" in user + password:
                raise ValueError("passwd-file fields may not hold ':' or newlines")
            self._owned_dir(self.home(user))
            extra = ""
            rule = self.user_quota.get(user)
            if rule:
                extra = f"userdb_quota_rule={rule}"
            lines.append(f"{user}:{{PLAIN}}{password}:{self.mail_uid}:{self.mail_gid}::{self.home(user)}::{extra}")
            if self.sieve is not None:
                script = os.path.join(self.home(user), ".dovecot.sieve")
                with open(script, "w") as f:
                    f.write(self.sieve)
                os.chown(script, self.mail_uid, self.mail_gid)
        self.passwd_file = os.path.join(self.dir, "users.passwd")
        with open(self.passwd_file, "w") as f:
            f.write("\n".join(lines) + "\n")
        # Passwords: readable by Dovecot's auth process alone.
        os.chmod(self.passwd_file, 0o640)
        if os.geteuid() == 0:
            os.chown(self.passwd_file, 0, grp.getgrgid(pwd.getpwnam(self.internal_user).pw_gid).gr_gid)

    def _write_config(self, mechanisms, auth_inet, disable_plaintext_auth, extra, debug):
        d = self.dir
        mail_plugins = []
        if self.quota is not None or self.user_quota:
            mail_plugins.append("quota")
        lmtp_plugins = ["sieve"] if self.sieve is not None else []
        inet = ""
        if auth_inet:
            inet = f"""  inet_listener auth-client {{
    address = 127.0.0.1
    port = {self.auth_port}
  }}
"""
        lmtp = ""
        if self.lmtp_socket:
            lmtp = f"""service lmtp {{
  unix_listener {self.lmtp_socket} {{
    mode = 0666
  }}
}}
protocol lmtp {{
  mail_plugins = $mail_plugins {' '.join(lmtp_plugins)}
  postmaster_address = postmaster@example.org
}}
lmtp_rcpt_check_quota = yes
lda_mailbox_autocreate = yes
lda_mailbox_autosubscribe = yes
"""
        plugin = []
        if "quota" in mail_plugins:
            plugin.append("quota = maildir:User quota")
            if self.quota:
                plugin.append(f"quota_rule = {self.quota}")
            plugin.append("quota_full_tempfail = no")
        if self.sieve is not None:
            plugin.append("sieve = file:~/sieve;active=~/.dovecot.sieve")
        plugin_block = ""
        if plugin:
            plugin_block = "plugin {\n" + "".join(f"  {p}\n" for p in plugin) + "}\n"
        debug_lines = "auth_debug = yes\nauth_verbose = yes\nmail_debug = yes\n" if debug else ""
        with open(self.conf, "w") as f:
            f.write(f"""base_dir = {d}/run
state_dir = {d}/state
log_path = {self.log_path}
protocols = {' '.join(self.protocols) or 'none'}
listen = 127.0.0.1
ssl = no
hostname = dovecot.test
disable_plaintext_auth = {'yes' if disable_plaintext_auth else 'no'}
auth_mechanisms = {' '.join(mechanisms)}
mail_location = maildir:{d}/mail/%u
default_internal_user = {self.internal_user}
default_login_user = {self.login_user}
first_valid_uid = {min(self.mail_uid, 500)}
first_valid_gid = 0
mail_plugins = $mail_plugins {' '.join(mail_plugins)}
{debug_lines}passdb {{
  driver = passwd-file
  args = scheme=PLAIN {self.passwd_file}
}}
userdb {{
  driver = passwd-file
  args = {self.passwd_file}
}}
service auth {{
  unix_listener {self.auth_socket} {{
    mode = 0666
  }}
  unix_listener {self.userdb_socket} {{
    mode = 0666
  }}
{inet}}}
service anvil {{
  chroot =
}}
{lmtp}{plugin_block}{extra}
""")

    # -- process -------------------------------------------------------------

    def start(self, timeout=20):
        err = open(os.path.join(self.dir, "dovecot.stderr"), "wb")
        try:
            self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.conf],
                                         stdout=subprocess.DEVNULL, stderr=err)
        finally:
            err.close()
        sockets = [self.auth_socket, self.userdb_socket] + ([self.lmtp_socket] if self.lmtp_socket else [])
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dovecot exited with {self.proc.returncode}: {self.stderr()}{self.log()}")
            if all(_unix_connects(s) for s in sockets) and (
                    self.auth_port is None or _tcp_connects(self.auth_port)):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"dovecot did not open its sockets: {self.log()}")
            time.sleep(0.05)

    def stop(self):
        """Stops the master by PID (it ends its children); the files stay
        until cleanup()."""
        if self.proc is not None:
            stop_process(self.proc, timeout=20)
            self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stderr(self):
        try:
            with open(os.path.join(self.dir, "dovecot.stderr"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    # -- doveadm -------------------------------------------------------------

    def doveadm(self, *args, input=None, timeout=30, check=False):
        """`doveadm -c FILE ARGS...` against this instance."""
        return subprocess.run([DOVEADM, "-c", self.conf, *args], input=input, capture_output=True,
                              text=True, timeout=timeout, check=check)

    def auth_test(self, user, password):
        """True when Dovecot itself accepts the password (doveadm auth test)."""
        return self.doveadm("auth", "test", "-a", self.auth_socket, user, password).returncode == 0

    def messages(self, user, mailbox="INBOX"):
        """The bodies of the messages in `mailbox`, as doveadm reads them."""
        out = self.doveadm("fetch", "-u", user, "text", "mailbox", mailbox, check=True).stdout
        return [m[len("text:\n"):] if m.startswith("text:\n") else m
                for m in out.split("\f\n") if m.strip()]

    def quota_report(self, user):
        return self.doveadm("quota", "get", "-u", user, check=True).stdout


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unix_connects(path):
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(0.5)
            s.connect(path)
            return True
    except OSError:
        return False


def _tcp_connects(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
