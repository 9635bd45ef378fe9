// The built-in checks of one message on an mx listener (SPEC §13): SPF
// for the MAIL FROM and HELO identities, every DKIM signature, DMARC, and
// the Authentication-Results field that reports them.
//
// The message streams through feed() on its way to the spool: the header
// section is read one field at a time (a forged Authentication-Results
// for our authserv-id, or an X-Postern-Quarantine, is dropped there,
// before it is stored), and once it
// ends every body octet goes to one DKIM body hasher per signature. So
// the body hash is ready at the end of DATA without holding the message
// or reading it back. finish() then does the DNS work.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/address.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dkim/canon.hpp"
#include "dkim/verifier.hpp"
#include "inbound/auth_results.hpp"
#include "inbound/dns_source.hpp"

namespace postern::inbound {

struct CheckSettings {
  bool spf = false;
  bool dkim = false;
  bool dmarc = false;
  bool dmarc_enforce = false;
  std::string authserv_id;  // our host name
};

struct CheckEnvelope {
  asio::ip::address client;
  std::string helo;
  std::string mail_from;  // "" for the null reverse-path
};

struct CheckVerdict {
  std::vector<AuthResult> results;
  std::string header;  // Authentication-Results (and X-Postern-Quarantine), CRLF-terminated fields
  std::optional<std::string> reject;  // dmarc_enforce and p=reject: the text after "550 5.7.1 "
  bool quarantined = false;
  std::string summary;  // "spf=pass dkim=pass dmarc=pass", for the log
  std::string header_note;  // the From domain whose policy quarantined it
};

class MessageCheck {
 public:
  // At most this many DKIM signatures are checked (the rest: dkim=policy).
  static constexpr std::size_t max_signatures = 8;
  // Header fields beyond this many octets in all are not kept for DKIM and
  // DMARC (dkim=permerror), and a field longer than max_field_octets is
  // judged on its start and streamed on; forged fields are removed anyway.
  static constexpr std::size_t max_header_octets = 256 * 1024;
  static constexpr std::size_t max_field_octets = 64 * 1024;

  MessageCheck(CheckSettings settings, CheckEnvelope envelope);
  ~MessageCheck();

  // Message octets in; out, the octets to store (the same, less a forged
  // Authentication-Results field). Some may be held back until the next
  // call or flush().
  std::string feed(std::string_view bytes);
  // The end of the message: whatever was held back.
  std::string flush();
  // Forged Authentication-Results fields removed so far.
  unsigned removed() const { return removed_; }

  // The lookups and the verdict; after flush(). `now`: Unix time.
  asio::awaitable<CheckVerdict> finish(DnsSource& dns, long long now);

 private:
  void start_line();
  void add_to_field(std::string_view bytes);
  bool forged(std::string_view field) const;
  void end_field();
  void end_header();
  std::string pass_through(std::string_view body);

  enum class FieldMode { holding, passing, dropping };

  CheckSettings settings_;
  CheckEnvelope envelope_;
  bool in_header_ = true;
  bool header_overflow_ = false;
  std::size_t kept_octets_ = 0;  // in fields_
  std::string line_;   // the header line being read
  bool long_line_ = false;  // the line read so far went to its field already
  std::string field_;  // the header field being read (with its continuation lines)
  FieldMode field_mode_ = FieldMode::holding;
  std::string out_;
  std::vector<dkim::Field> fields_;
  unsigned removed_ = 0;

  struct Signed {
    std::size_t field = 0;
    std::optional<dkim::Signature> signature;
    std::string error;
    std::optional<dkim::BodyHasher> hasher;
    std::string body_hash;
  };
  std::vector<Signed> signatures_;
};

}  // namespace postern::inbound
