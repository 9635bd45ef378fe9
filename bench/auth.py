#!/usr/bin/env python3
"""AUTH handshakes per second against a build of `postern serve`, and
beside Postfix with Cyrus SASL (sasldb) in the same run.

For each scenario (SCRAM-SHA-256 and PLAIN, over STARTTLS and in the clear)
20 concurrent clients repeat: connect, EHLO, [STARTTLS, EHLO], AUTH ...,
235, QUIT. A handshake is counted at the 235. The server's CPU time per
handshake (utime + stime from /proc) is printed too.

Then a private Postfix instance (lib/postfix.sh) with smtpd_sasl_type =
cyrus, its smtpd.conf in its own config directory (auxprop sasldb, a
private sasldb made with `saslpasswd2 -f`, mech_list PLAIN SCRAM-SHA-256),
gets the same clients in the clear, and both mechanisms are compared with
Postern's clear-text rows. Its CPU is the whole instance's (master, live
and retired children). Cyrus's sasldb keeps the password itself
(userPassword), so its SCRAM derives the SaltedPassword for every session;
the iteration count each server announces is printed. Skipped (with a
note) when not root or when postfix or saslpasswd2 (sasl2-bin) is missing.

Postern runs with its default [auth] verified_cache_ttl (1 h): after the
first session, the user's PLAIN password is checked against the remembered
digest instead of yescrypt (docs/sasl.md), as a client logging in again
and again would be.

The client is bench/tools/auth_load.c, compiled here with cc (libssl,
libcrypto) into the scratch directory: one thread drives the 20 sessions
over epoll and checks every reply (220, 250, [220, TLS, 250], 334/235 with
the SCRAM server signature verified, 221), so on a small machine it costs a
fraction of what the server does. Its CPU (user + system, as a share of
one core) is printed beside each row. BENCH_AUTH_CLIENT=python selects the
former client instead (20 Python threads, which need most of a core and so
bound the figure on 2 CPUs; it does not wait for the 221).

Clients cache SCRAM's SaltedPassword per salt (RFC 5802 §5.1 allows it), so
client-side PBKDF2 does not dominate on a small machine.

Usage: bench/auth.py [--postern $POSTERN_BIN or build/postern] [--seconds 10] [--clients 20] [--no-postfix]
       bench/auth.py --check   # the load generator's own sanity check, against Postern alone
"""
import argparse
import base64
import hashlib
import hmac
import os
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

USER, PASSWORD = "bench@example.org", "bench password 1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""

    def reply(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode())
            if len(line) < 4 or line[3:4] == b" ":
                return int(lines[-1][:3]), lines

    def cmd(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.reply()


_salted_cache = {}
_cache_lock = threading.Lock()
announced_iterations = [0]  # the i= of the last server-first-message


def salted_password(salt, iterations):
    key = (salt, iterations)
    with _cache_lock:
        if key in _salted_cache:
            return _salted_cache[key]
    value = hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), salt, iterations)
    with _cache_lock:
        _salted_cache[key] = value
    return value


def scram(conn):
    nonce = base64.b64encode(os.urandom(18)).decode()
    bare = f"n={USER},r={nonce}"
    code, lines = conn.cmd("AUTH SCRAM-SHA-256 " + base64.b64encode(("n,," + bare).encode()).decode())
    assert code == 334, lines
    server_first = base64.b64decode(lines[0][4:]).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    announced_iterations[0] = int(attrs["i"])
    salted = salted_password(base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    without_proof = "c=biws,r=" + attrs["r"]
    auth_message = ",".join([bare, server_first, without_proof]).encode()
    sig = hmac.new(stored_key, auth_message, "sha256").digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, sig))).decode()
    code, lines = conn.cmd(base64.b64encode((without_proof + ",p=" + proof).encode()).decode())
    assert code == 334, lines
    code, lines = conn.cmd("")
    assert code == 235, lines


def plain(conn):
    code, lines = conn.cmd("AUTH PLAIN " + base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode())
    assert code == 235, lines


def handshake(port, tls, mech, ctx):
    conn = Conn(port)
    try:
        conn.reply()
        conn.cmd("EHLO bench.example.net")
        if tls:
            code, _ = conn.cmd("STARTTLS")
            assert code == 220
            conn.sock = ctx.wrap_socket(conn.sock, server_hostname="localhost")
            conn.buf = b""
            conn.cmd("EHLO bench.example.net")
        mech(conn)
        conn.sock.sendall(b"QUIT\r\n")
    finally:
        conn.sock.close()


MECHS = {"SCRAM-SHA-256": scram, "PLAIN": plain}


def build_client(scratch):
    """Compiles bench/tools/auth_load.c into scratch; returns its path."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tools", "auth_load.c")
    exe = os.path.join(scratch, "auth_load")
    r = subprocess.run([os.environ.get("CC", "cc"), "-O2", "-o", exe, src, "-lssl", "-lcrypto"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("bench/auth.py: building the load generator failed (needs cc and libssl-dev):\n" + r.stderr)
    return exe


def run_auth_load(exe, port, tls, mech_name, clients, seconds, count=0, password=PASSWORD, stderr=None):
    """Runs the C client; returns its key=value line as a dict. Its error
    lines go to our stderr (or to `stderr`, a file)."""
    cmd = [exe, "--port", str(port), "--user", USER, "--password", password, "--mech", mech_name,
           "--tls", "starttls" if tls else "none", "--concurrency", str(clients), "--seconds", str(seconds)]
    if count:
        cmd += ["--count", str(count)]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True)
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    if not last.startswith("auth_load "):
        sys.exit(f"bench/auth.py: auth_load printed no result (exit {r.returncode})")
    return dict(kv.split("=", 1) for kv in last.split()[1:])


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run_scenario(port, server_cpu, tls, mech_name, clients, seconds, exe=None):
    """Returns handshakes/s, errors, the server's CPU ms per handshake (from
    server_cpu(), seconds so far) and the client's CPU as a share of one core."""
    if exe:
        warm = run_auth_load(exe, port, tls, mech_name, 1, 30, count=1)
        if warm["handshakes"] != "1":
            sys.exit(f"bench/auth.py: the warm-up {mech_name} handshake failed")
        cpu0 = server_cpu()
        res = run_auth_load(exe, port, tls, mech_name, clients, seconds)
        cpu, n = server_cpu() - cpu0, int(res["handshakes"])
        announced_iterations[0] = int(res["scram_iterations"]) or announced_iterations[0]
        return (float(res["per_second"]), int(res["errors"]), (cpu / n * 1000) if n else float("nan"),
                float(res["client_cpu_share"]))
    mech = MECHS[mech_name]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    count, errors = [0], [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker():
        while time.monotonic() < stop:
            try:
                handshake(port, tls, mech, ctx)
                with lock:
                    count[0] += 1
            except Exception:
                with lock:
                    errors[0] += 1

    handshake(port, tls, mech, ctx)  # warm up (and fill the SaltedPassword cache)
    cpu0, t0, own0 = server_cpu(), time.monotonic(), process_cpu_seconds()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed, cpu = time.monotonic() - t0, server_cpu() - cpu0
    own = (process_cpu_seconds() - own0) / elapsed
    return count[0] / elapsed, errors[0], (cpu / count[0] * 1000) if count[0] else float("nan"), own


def postfix_cyrus_start(work, port):
    """A private Postfix with Cyrus SASL over a private sasldb; returns its
    directory (stop it with postfix_private_stop)."""
    here = os.path.dirname(os.path.abspath(__file__))
    pf = os.path.join(work, "postfix")
    sasl = os.path.join(pf, "etc", "sasl")
    os.makedirs(sasl)
    db = os.path.join(sasl, "sasldb2")
    user, realm = USER.split("@")
    r = subprocess.run(["saslpasswd2", "-p", "-c", "-f", db, "-u", realm, user],
                       input=PASSWORD + "\n", capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("saslpasswd2: " + r.stderr)
    with open(os.path.join(sasl, "smtpd.conf"), "w") as f:
        f.write(f"pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: {db}\n"
                f"mech_list: PLAIN SCRAM-SHA-256\n")
    os.chmod(work, 0o755)  # Postfix's unprivileged processes reach their directories under it
    shutil.chown(db, "postfix", "postfix")
    r = subprocess.run(
        ["bash", "-c", f'source "{here}/lib/postfix.sh" && postfix_private_start "$@"', "bench", pf, str(port),
         "smtpd_sasl_auth_enable = yes", "smtpd_sasl_type = cyrus", "smtpd_sasl_path = smtpd",
         f"cyrus_sasl_config_path = {sasl}", "smtpd_tls_security_level = none"],
        capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("postfix: " + r.stdout + r.stderr)
    return pf


def postfix_stop(pf):
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run(["bash", "-c", f'source "{here}/lib/postfix.sh" && postfix_private_stop "$1"', "bench", pf],
                   capture_output=True)


def postfix_cpu_seconds(pf):
    """CPU of the whole instance: the master with the children it reaped,
    plus its live children."""
    with open(os.path.join(pf, "spool", "pid", "master.pid")) as f:
        master = int(f.read().strip())
    tick = os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{master}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    total = sum(int(x) for x in fields[11:15]) / tick
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == master:
                total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, ValueError):
            pass
    return total


def postfix_missing():
    if os.geteuid() != 0:
        return "not root (the private Postfix's daemons run as the postfix user)"
    for tool in ("postfix", "saslpasswd2"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (Debian: postfix, sasl2-bin, libsasl2-modules)"
    return None


def check_client(exe, port, scratch):
    """Returns 0 when auth_load counts good sessions and bad ones right."""
    failed = 0
    for mech_name in ("PLAIN", "SCRAM-SHA-256"):
        for tls in (False, True):
            name = f"{mech_name} {'STARTTLS' if tls else 'clear'}"
            res = run_auth_load(exe, port, tls, mech_name, 4, 1)
            ok = int(res["handshakes"]) > 0 and res["errors"] == "0"
            failed += not ok
            print(f"{'ok' if ok else 'FAIL':<5} {name}, right password: {res['handshakes']} handshakes, {res['errors']} errors")
            with open(os.path.join(scratch, "errors.txt"), "w+") as err:
                res = run_auth_load(exe, port, tls, mech_name, 2, 1, password="wrong " + PASSWORD, stderr=err)
                err.seek(0)
                first = err.readline().strip()
            ok = res["handshakes"] == "0" and int(res["errors"]) > 0 and "535" in first
            failed += not ok
            print(f"{'ok' if ok else 'FAIL':<5} {name}, wrong password: {res['handshakes']} handshakes, "
                  f"{res['errors']} errors ({first})")
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--postern", default=os.environ.get("POSTERN_BIN")
                    or os.path.join(os.path.dirname(__file__), "..", "build", "postern"))
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--no-postfix", action="store_true", help="Postern alone")
    ap.add_argument("--check", action="store_true",
                    help="sanity-check the load generator: 1 s per row must give handshakes and no error, "
                         "and a wrong password must give errors and no handshake")
    args = ap.parse_args()

    data = tempfile.mkdtemp(prefix="postern-bench-auth-", dir=os.environ.get("BENCH_TMP"))
    port = free_port()
    config = os.path.join(data, "postern.toml")
    with open(config, "w") as f:
        f.write(f'hostname = "localhost"\ndata_dir = "{data}/postern"\nlocal_domains = ["example.org"]\n'
                f'[auth]\nrequire_tls = false\nlockout_failures = 1000000000\nmax_failures_per_session = 1000\n'
                f'[limits]\nmax_connections_per_ip = 1000\n'
                f'[greylist]\nenabled = false\n'
                f'[[listener]]\naddress = "127.0.0.1:{port}"\nrole = "submission"\ntls = "starttls"\n')
    log = open(os.path.join(data, "server.log"), "wb")
    proc = subprocess.Popen([args.postern, "serve", "--config", config], stdout=log, stderr=log)
    pf = None
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        r = subprocess.run([args.postern, "user", "add", "--config", config, "--password-stdin", USER],
                           input=PASSWORD + "\n", capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("user add failed: " + r.stderr)
        if args.check:
            sys.exit(check_client(build_client(data), port, data))
        client = os.environ.get("BENCH_AUTH_CLIENT", "c")
        if client not in ("c", "python"):
            sys.exit("BENCH_AUTH_CLIENT is c (the default) or python")
        exe = build_client(os.environ.get("BENCH_TMP") or data) if client == "c" else None
        print(f"AUTH handshakes/s, {args.clients} concurrent clients, {args.seconds:g} s each; client: "
              + ("bench/tools/auth_load.c (one thread, epoll)" if exe else "Python threads (BENCH_AUTH_CLIENT=python)"))
        print(f"{'mechanism':<15} {'transport':<10} {'handshakes/s':>13} {'errors':>7} {'server CPU ms/handshake':>24}"
              f" {'client CPU %':>13}")
        clear = {}
        iterations = {}
        for mech_name in ("SCRAM-SHA-256", "PLAIN"):
            for tls in (True, False):
                rate, errors, cpu_ms, own = run_scenario(port, lambda: cpu_seconds(proc.pid), tls, mech_name, args.clients, args.seconds, exe)
                print(f"{mech_name:<15} {'STARTTLS' if tls else 'clear':<10} {rate:>13.1f} {errors:>7} {cpu_ms:>24.2f}"
                      f" {own * 100:>13.0f}")
                if not tls:
                    clear[mech_name] = (rate, errors, cpu_ms, own)
            if mech_name == "SCRAM-SHA-256":
                iterations["postern"] = announced_iterations[0]

        missing = None if not args.no_postfix else "--no-postfix"
        missing = missing or postfix_missing()
        if missing:
            print(f"(Postfix with Cyrus SASL skipped: {missing})")
            return
        pf_port = free_port()
        pf = postfix_cyrus_start(data, pf_port)
        pf_rows = {}
        for mech_name in ("SCRAM-SHA-256", "PLAIN"):
            pf_rows[mech_name] = run_scenario(pf_port, lambda: postfix_cpu_seconds(pf), False, mech_name,
                                              args.clients, args.seconds, exe)
            if mech_name == "SCRAM-SHA-256":
                iterations["postfix"] = announced_iterations[0]
        sasl_version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libsasl2-2"],
                                      capture_output=True, text=True).stdout or "?"
        print()
        print(f"beside Postfix {subprocess.run(['postconf', '-d', '-h', 'mail_version'], capture_output=True, text=True).stdout.strip()}"
              f" with Cyrus SASL {sasl_version} (sasldb, auxprop), clear text on loopback, "
              f"same clients; SCRAM iterations announced: postern {iterations['postern']}, "
              f"postfix {iterations['postfix']}")
        print(f"{'mechanism':<15} {'postern/s':>10} {'postfix/s':>10} {'ratio':>6} {'errors pt/pf':>13} "
              f"{'postern CPU ms':>15} {'postfix CPU ms':>15} {'client CPU % pt/pf':>19}")
        for mech_name in ("SCRAM-SHA-256", "PLAIN"):
            pt, pfr = clear[mech_name], pf_rows[mech_name]
            ratio = pt[0] / pfr[0] if pfr[0] else float("nan")
            print(f"{mech_name:<15} {pt[0]:>10.1f} {pfr[0]:>10.1f} {ratio:>6.2f} {f'{pt[1]}/{pfr[1]}':>13} "
                  f"{pt[2]:>15.2f} {pfr[2]:>15.2f} {f'{pt[3] * 100:.0f}/{pfr[3] * 100:.0f}':>19}")
        print("(ratio = postern / postfix sessions/s; CPU per session: postern's process, Postfix's whole instance;"
              " client CPU: the load generator's user + system time over the wall time, 100 = one core)")
    finally:
        if pf:
            postfix_stop(pf)
        proc.terminate()
        proc.wait(timeout=40)
        log.close()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
