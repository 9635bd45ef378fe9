// One host: a main connection (greeting, EHLO, STARTTLS, EHLO again, the
// RCPT probe, QUIT), a second one for the STARTTLS injection check, and
// with --wait a third for the retry.
#include <thread>

#include "explain/explain.hpp"
#include "probe/connection.hpp"
#include "probe/probe.hpp"
#include "smtp/capabilities.hpp"

namespace postern::probe {
namespace {

// Greeting, EHLO and (when offered) STARTTLS and EHLO again.
bool hello(Connection& c, const std::string& name, const Options& options, HostReport& out) {
  auto greeting = c.read_reply();
  if (!greeting) {
    out.error = "greeting: " + c.error();
    return false;
  }
  out.greeting = *greeting;
  if (greeting->code / 100 != 2) {
    out.error = "the server refused the connection: " + greeting->summary();
    return false;
  }
  auto ehlo = c.command("EHLO " + options.helo_name);
  if (!ehlo) {
    out.error = "EHLO: " + c.error();
    return false;
  }
  if (ehlo->code != 250) {
    out.error = "EHLO refused: " + ehlo->summary();
    return false;
  }
  out.before_tls = smtp::parse_capabilities(*ehlo);
  if (!out.before_tls->starttls) return true;
  out.tls.attempted = true;
  auto ready = c.command("STARTTLS");
  if (!ready || ready->code != 220) {
    out.tls.error = ready ? "STARTTLS refused: " + ready->summary() : "STARTTLS: " + c.error();
    return true;
  }
  if (!c.start_tls(name, out.tls)) return false;
  auto again = c.command("EHLO " + options.helo_name);
  if (!again || again->code != 250) {
    out.error = again ? "EHLO after STARTTLS refused: " + again->summary() : "EHLO after STARTTLS: " + c.error();
    return false;
  }
  out.after_tls = smtp::parse_capabilities(*again);
  return true;
}

// CVE-2011-0411: STARTTLS and NOOP in one write. A server that keeps the
// NOOP across the handshake answers it inside TLS, before our QUIT's 221.
void check_injection(const std::string& name, std::uint16_t port,
                     const Options& options, HostReport& out) {
  Connection c;
  std::string address, error;
  bool temporary = false;
  if (!c.open({out.address}, port, options.timeout, address, error, temporary)) {
    out.injection_note = error;
    return;
  }
  auto greeting = c.read_reply();
  auto ehlo = greeting ? c.command("EHLO " + options.helo_name) : std::nullopt;
  if (!ehlo || ehlo->code != 250 || !c.write("STARTTLS\r\nNOOP\r\n")) {
    out.injection_note = "the check could not start: " + c.error();
    return;
  }
  auto ready = c.read_reply();
  if (!ready || ready->code != 220) {
    // Refusing pipelined input after STARTTLS is what a fixed server may do.
    out.starttls_injection = false;
    out.injection_note = ready ? "STARTTLS with a NOOP behind it: " + ready->summary() : c.error();
    return;
  }
  if (c.buffered()) {
    out.starttls_injection = false;
    out.injection_note = "the server answered the NOOP in clear text before the handshake";
    return;
  }
  TlsResult tls;
  if (!c.start_tls(name, tls)) {
    out.injection_note = tls.error;
    return;
  }
  if (!c.write("QUIT\r\n")) {
    out.injection_note = c.error();
    return;
  }
  std::optional<smtp::Reply> before_quit;  // a reply inside TLS that QUIT did not ask for
  for (int i = 0; i < 3; ++i) {
    auto reply = c.read_reply();
    if (!reply) break;
    if (reply->code == 221) {
      out.starttls_injection = before_quit.has_value();
      out.injection_note = before_quit ? "the NOOP was answered inside TLS: " + before_quit->summary()
                                       : "only QUIT was answered";
      return;
    }
    if (!before_quit) before_quit = reply;
  }
  if (before_quit) {
    out.starttls_injection = true;
    out.injection_note = "answered inside TLS before QUIT: " + before_quit->summary();
  } else {
    out.injection_note = "no reply to QUIT inside TLS: " + c.error();
  }
}

// MAIL FROM:<> and RCPT TO, then RSET: never DATA.
void rcpt_probe(Connection& c, const Options& options, RcptResult& out) {
  out.mail = c.command("MAIL FROM:<>");
  if (!out.mail) {
    out.error = "MAIL: " + c.error();
    return;
  }
  if (out.mail->code / 100 == 2) {
    out.rcpt = c.command("RCPT TO:<" + options.rcpt + ">");
    if (!out.rcpt) out.error = "RCPT: " + c.error();
  }
  c.command("RSET");
}

}  // namespace

bool looks_greylisted(const smtp::Reply& reply) {
  if (reply.code != 450 && reply.code != 451) return false;
  if (reply.enhanced == "4.2.0" || reply.enhanced == "4.7.1") return true;
  auto e = explain::explain_reply(reply.code, reply.enhanced, reply.text());
  for (const auto& h : e.hints) {
    if (h.id == "greylisting") return true;
  }
  return false;
}

HostReport probe_host(const std::string& host, const std::vector<std::string>& addresses, std::uint16_t port,
                      const Options& options) {
  HostReport out;
  out.host = host;
  out.port = port;
  Connection c;
  if (!c.open(addresses, port, options.timeout, out.address, out.error, out.temporary)) return out;
  out.answered = true;
  bool usable = hello(c, host, options, out);
  if (!out.greeting || out.greeting->code / 100 != 2) {
    // No usable greeting (none, malformed, or a refusal): the host did not answer as a mail server.
    out.answered = false;
    out.temporary = !(out.greeting && out.greeting->permanent());
    return out;
  }
  if (usable && !options.rcpt.empty()) {
    RcptResult r;
    r.recipient = options.rcpt;
    rcpt_probe(c, options, r);
    r.greylisted = r.rcpt && looks_greylisted(*r.rcpt);
    out.rcpt = r;
  }
  if (usable) c.command("QUIT");
  c.close();
  if (out.tls.ok) check_injection(host, port, options, out);
  if (out.rcpt && out.rcpt->greylisted && options.wait) {
    std::this_thread::sleep_for(*options.wait);
    out.rcpt->waited = *options.wait;
    HostReport again;
    Connection c2;
    std::string address;
    bool temporary = false;
    if (!c2.open({out.address}, port, options.timeout, address, again.error, temporary) ||
        !hello(c2, host, options, again)) {
      out.rcpt->error = "retry: " + again.error;
      return out;
    }
    RcptResult r;
    r.recipient = options.rcpt;
    rcpt_probe(c2, options, r);
    out.rcpt->retry = r.rcpt;
    if (!r.error.empty()) out.rcpt->error = "retry: " + r.error;
    c2.command("QUIT");
  }
  return out;
}

}  // namespace postern::probe
