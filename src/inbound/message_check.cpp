#include "inbound/message_check.hpp"

#include <random>

#include "dkim/signer.hpp"
#include "inbound/dmarc.hpp"
#include "inbound/spf.hpp"
#include "util/strings.hpp"

namespace postern::inbound {
namespace {

std::string field_name(std::string_view field) {
  auto colon = field.find(':');
  return std::string(util::trim(field.substr(0, colon == std::string_view::npos ? 0 : colon)));
}

std::string domain_of(std::string_view address) {
  auto at = address.rfind('@');
  return at == std::string_view::npos ? "" : util::to_lower(address.substr(at + 1));
}

bool ip_literal(std::string_view helo) {
  if (helo.starts_with("[")) return true;
  asio::error_code ec;
  (void)asio::ip::make_address(std::string(helo), ec);
  return !ec;
}

}  // namespace

MessageCheck::MessageCheck(CheckSettings settings, CheckEnvelope envelope)
    : settings_(std::move(settings)), envelope_(std::move(envelope)) {}

MessageCheck::~MessageCheck() = default;

bool MessageCheck::forged(std::string_view field) const {
  const std::string name = field_name(field);
  // Ours to add: one from outside would mark a message as quarantined here.
  if (util::iequals(name, "X-Postern-Quarantine")) return true;
  if (!util::iequals(name, "Authentication-Results")) return false;
  return util::iequals(authserv_id(field.substr(field.find(':') + 1)), settings_.authserv_id);
}

void MessageCheck::end_field() {
  if (field_mode_ != FieldMode::holding) {
    field_mode_ = FieldMode::holding;  // it went out (or was dropped) as it came
    return;
  }
  if (field_.empty()) return;
  if (forged(field_)) {
    ++removed_;
  } else {
    out_ += field_;
    kept_octets_ += field_.size();
    if (kept_octets_ > max_header_octets) header_overflow_ = true;
    else fields_.push_back({field_name(field_), field_});
  }
  field_.clear();
}

// Header octets for the field being read.
void MessageCheck::add_to_field(std::string_view bytes) {
  switch (field_mode_) {
    case FieldMode::passing:
      out_ += bytes;
      return;
    case FieldMode::dropping:
      return;
    case FieldMode::holding:
      field_ += bytes;
      if (field_.size() > max_field_octets) {
        // Too long to hold: judged on its start, then streamed (or dropped).
        header_overflow_ = true;
        if (forged(field_)) {
          ++removed_;
          field_mode_ = FieldMode::dropping;
        } else {
          out_ += field_;
          field_mode_ = FieldMode::passing;
        }
        field_.clear();
      }
      return;
  }
}

// line_, a whole line or the start of a long one: the next line of the
// current field (it begins with white space), or the first of a new one.
void MessageCheck::start_line() {
  if (line_.front() != ' ' && line_.front() != '\t') end_field();
  add_to_field(line_);
  line_.clear();
}

void MessageCheck::end_header() {
  end_field();
  in_header_ = false;
  if (!settings_.dkim || header_overflow_) return;
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    if (!util::iequals(fields_[i].name, "DKIM-Signature")) continue;
    Signed s;
    s.field = i;
    if (signatures_.size() >= max_signatures) {
      s.error = "too many signatures";
    } else {
      auto raw = std::string_view(fields_[i].raw);
      auto parsed = dkim::parse_signature(raw.substr(raw.find(':') + 1));
      if (auto* e = std::get_if<std::string>(&parsed)) {
        s.error = *e;
      } else {
        s.signature = std::get<dkim::Signature>(parsed);
        s.hasher.emplace(s.signature->relaxed_body, s.signature->length);
      }
    }
    signatures_.push_back(std::move(s));
  }
}

std::string MessageCheck::pass_through(std::string_view body) {
  for (auto& s : signatures_)
    if (s.hasher) s.hasher->feed(body);
  return std::string(body);
}

std::string MessageCheck::feed(std::string_view bytes) {
  if (!in_header_) return pass_through(bytes);
  std::size_t i = 0;
  while (i < bytes.size() && in_header_) {
    const auto lf = bytes.find('\n', i);
    const std::size_t end = lf == std::string_view::npos ? bytes.size() : lf + 1;
    const auto piece = bytes.substr(i, end - i);
    i = end;
    if (long_line_) {
      add_to_field(piece);
      long_line_ = lf == std::string_view::npos;
      continue;
    }
    line_.append(piece);
    if (lf == std::string_view::npos) {
      if (line_.size() > max_field_octets) {
        start_line();
        long_line_ = true;
      }
      continue;
    }
    if (line_ == "\r\n" || line_ == "\n") {
      end_header();
      out_ += line_;
      line_.clear();
    } else {
      start_line();
    }
  }
  std::string out;
  out.swap(out_);
  if (i < bytes.size()) out += pass_through(bytes.substr(i));
  return out;
}

std::string MessageCheck::flush() {
  if (in_header_) {
    // A message that is all header: the last field and a partial line.
    if (!long_line_ && !line_.empty()) start_line();
    end_header();
  }
  std::string out;
  out.swap(out_);
  for (auto& s : signatures_)
    if (s.hasher) s.body_hash = s.hasher->finish();
  return out;
}

asio::awaitable<CheckVerdict> MessageCheck::finish(DnsSource& dns, long long now) {
  CheckVerdict v;
  const bool helo_is_domain = !envelope_.helo.empty() && !ip_literal(envelope_.helo);

  // SPF: the MAIL FROM identity (for the null reverse-path, the HELO one is
  // what counts, RFC 7208 §2.4), then the HELO identity on its own.
  spf::Result mailfrom_spf = spf::Result::none, helo_spf = spf::Result::none;
  std::string spf_domain;
  if (settings_.spf) {
    spf::Query q;
    q.ip = envelope_.client;
    q.helo = envelope_.helo;
    q.receiver = settings_.authserv_id;
    q.timestamp = now;
    if (helo_is_domain) {
      q.sender = "postmaster@" + envelope_.helo;
      q.domain = envelope_.helo;
      auto out = co_await spf::check_host(dns, q);
      helo_spf = out.result;
    }
    if (!envelope_.mail_from.empty()) {
      q.sender = envelope_.mail_from;
      q.domain = domain_of(envelope_.mail_from);
      auto out = co_await spf::check_host(dns, q);
      mailfrom_spf = out.result;
      spf_domain = q.domain;
      v.results.push_back({"spf", std::string(spf::to_string(out.result)), out.problem, {{"smtp.mailfrom", envelope_.mail_from}}});
    } else {
      mailfrom_spf = helo_spf;
      spf_domain = helo_is_domain ? util::to_lower(envelope_.helo) : "";
    }
    if (helo_is_domain)
      v.results.push_back({"spf", std::string(spf::to_string(helo_spf)), "", {{"smtp.helo", envelope_.helo}}});
  }

  // DKIM: each signature on its own.
  std::vector<std::string> dkim_pass_domains;
  if (settings_.dkim) {
    if (header_overflow_) v.results.push_back({"dkim", "permerror", "header section too large", {}});
    else if (signatures_.empty()) v.results.push_back({"dkim", "none", "", {}});
    for (auto& s : signatures_) {
      AuthResult r{"dkim", "permerror", s.error, {}};
      if (s.signature) {
        const auto& sig = *s.signature;
        r.properties = {{"header.d", sig.domain}, {"header.s", sig.selector}, {"header.b", sig.b_text.substr(0, 8)}};
        auto key = co_await dns.txt(sig.selector + "._domainkey." + sig.domain);
        if (key.status == DnsAnswer::Status::error) {
          r.result = "temperror";
          r.comment = "key lookup failed";
        } else if (key.records.empty()) {
          r.result = "permerror";
          r.comment = "no key";
        } else {
          auto checked = dkim::verify(sig, fields_, s.field, key.records.front(), s.body_hash,
                                      s.hasher ? s.hasher->canonical_length() : 0, now);
          r.result = std::string(dkim::to_string(checked.result));
          r.comment = checked.reason;
          if (checked.result == dkim::Result::pass) dkim_pass_domains.push_back(sig.domain);
        }
      } else if (s.error == "too many signatures") {
        r.result = "policy";
      }
      v.results.push_back(std::move(r));
    }
  }

  // DMARC.
  if (settings_.dmarc) {
    std::size_t from_fields = 0;
    std::string header;
    for (const auto& f : fields_) {
      if (util::iequals(f.name, "From")) ++from_fields;
      header += f.raw;
    }
    const std::string from = from_fields == 1 ? dkim::from_domain(header + "\r\n") : "";
    AuthResult r{"dmarc", "none", "", {}};
    if (from.empty()) {
      r.result = "permerror";
      r.comment = "no single From domain";
    } else {
      r.properties = {{"header.from", from}};
      const std::string org = dmarc::organizational_domain(from);
      std::optional<dmarc::Record> record;
      bool temp = false, broken = false;
      for (const std::string& name : {"_dmarc." + from, "_dmarc." + org}) {
        auto txt = co_await dns.txt(name);
        if (txt.status == DnsAnswer::Status::error) {
          temp = true;
          break;
        }
        std::vector<std::string> records;
        for (auto& t : txt.records)
          if (dmarc::is_dmarc_record(t)) records.push_back(t);
        if (records.size() == 1) {
          auto parsed = dmarc::parse_record(records.front());
          if (auto* rec = std::get_if<dmarc::Record>(&parsed)) record = *rec;
          else broken = true;
          break;
        }
        if (name == "_dmarc." + org) break;
      }
      if (temp) {
        r.result = "temperror";
      } else if (broken) {
        r.result = "permerror";
        r.comment = "malformed record";
      } else if (record) {
        bool pass = false;
        for (const auto& d : dkim_pass_domains) pass = pass || dmarc::aligned(d, from, record->strict_dkim);
        if (mailfrom_spf == spf::Result::pass) pass = pass || dmarc::aligned(spf_domain, from, record->strict_spf);
        dmarc::Policy policy = (from != org && record->sp) ? *record->sp : record->p;
        if (!pass && record->pct < 100) {
          // §6.6.4: outside the sampled pct, the next milder policy.
          static thread_local std::mt19937 rng{std::random_device{}()};
          if (std::uniform_int_distribution<unsigned>(0, 99)(rng) >= record->pct)
            policy = policy == dmarc::Policy::reject ? dmarc::Policy::quarantine : dmarc::Policy::none;
        }
        r.result = pass ? "pass" : "fail";
        r.comment = "p=" + std::string(dmarc::to_string(record->p)) + " dis=" +
                    std::string(pass ? "none" : dmarc::to_string(policy));
        if (!pass && settings_.dmarc_enforce) {
          if (policy == dmarc::Policy::reject) v.reject = "Message rejected by the DMARC policy of " + from;
          if (policy == dmarc::Policy::quarantine) v.quarantined = true;
        }
        if (v.quarantined) v.header_note = from;
      }
    }
    v.results.push_back(std::move(r));
  }

  v.header = authentication_results(settings_.authserv_id, v.results);
  if (v.quarantined) v.header += "X-Postern-Quarantine: DMARC policy of " + v.header_note + " is quarantine\r\n";
  for (const auto& r : v.results) {
    if (!v.summary.empty()) v.summary += ' ';
    v.summary += r.method + "=" + r.result;
  }
  co_return v;
}

}  // namespace postern::inbound
