#include "server/milter_stage.hpp"

#include "log/log.hpp"
#include "server/intake.hpp"
#include "server/message_sink.hpp"
#include "server/server.hpp"
#include "smtp/replies.hpp"
#include "util/strings.hpp"

namespace postern::server {
namespace {

// The header section is held in memory while the filters change it; past
// this the rest of the message counts as body.
constexpr std::size_t max_header_octets = 1024 * 1024;

std::string bracketed(const smtp::Path& path) {
  return "<" + (path.postmaster ? std::string("postmaster") : path.str()) + ">";
}

std::string domain_of(std::string_view address) {
  auto at = address.rfind('@');
  return at == std::string_view::npos ? std::string() : std::string(address.substr(at + 1));
}

// Where our Received: is among the fields (first, unless a filter inserted before it).
std::size_t own_received(const milter::HeaderSection& section, const MessageSink& sink) {
  for (std::size_t i = 0; i < section.fields.size(); ++i)
    if (section.fields[i].raw == sink.received_header()) return i;
  return std::size_t(-1);
}

// Bare LF to CRLF, and a CRLF at the end, in place: one resize, the
// text moved from the back, so a large body is never held twice.
void to_crlf(std::string& s) {
  std::size_t bare = 0;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) ++bare;
  const bool unterminated = !s.empty() && s.back() != '\n';
  if (bare == 0 && !unterminated) return;
  std::size_t from = s.size();
  s.resize(s.size() + bare + (unterminated ? 2 : 0));
  std::size_t to = s.size();
  if (unterminated) {
    s[--to] = '\n';
    s[--to] = '\r';
  }
  while (from > 0) {
    const char c = s[--from];
    s[--to] = c;
    if (c == '\n' && (from == 0 || s[from - 1] != '\r')) s[--to] = '\r';
  }
}

}  // namespace

std::unique_ptr<MilterStage> MilterStage::for_session(asio::any_io_executor executor, Server& server,
                                                      const admission::SessionInfo& info, std::string local_address) {
  std::vector<config::Milter> milters;
  for (auto& m : info.config->milters)
    if (std::find(m.roles.begin(), m.roles.end(), info.role) != m.roles.end()) milters.push_back(m);
  if (milters.empty()) return nullptr;
  return std::make_unique<MilterStage>(executor, server, info, std::move(local_address), std::move(milters));
}

MilterStage::MilterStage(asio::any_io_executor executor, Server& server, const admission::SessionInfo& info,
                         std::string local_address, std::vector<config::Milter> milters)
    : server_(server),
      info_(info),
      local_address_(std::move(local_address)),
      chain_(executor, std::move(milters), info.config->limits.max_message_size, info.config->limits.max_recipients) {
  lookup_ = [this](std::string_view name) { return macro(name); };
}

std::optional<std::string> MilterStage::macro(std::string_view name) const {
  auto some = [](const std::string& v) -> std::optional<std::string> {
    if (v.empty()) return std::nullopt;
    return v;
  };
  const std::string client_name = info_.client_name && !info_.client_name->empty() ? *info_.client_name : "unknown";
  if (name == "j" || name == "{daemon_name}") return info_.config->hostname;
  if (name == "{daemon_addr}") return some(local_address_);
  if (name == "v") return std::string("Postern");
  if (name == "_") return client_name + " [" + info_.peer_address + "]";
  if (name == "{client_addr}") return info_.peer_address;
  if (name == "{client_port}") return std::to_string(info_.peer_port);
  if (name == "{client_name}" || name == "{client_ptr}") return client_name;
  if (name == "{tls_version}") return some(tls_version_);
  if (name == "{cipher}") return some(cipher_);
  if (name == "{cipher_bits}") return cipher_bits_ > 0 ? std::optional(std::to_string(cipher_bits_)) : std::nullopt;
  if (name == "i") return some(queue_id_);
  if (name == "{auth_type}") return info_.authenticated() ? some(auth_type_) : std::nullopt;
  if (name == "{auth_authen}") return some(info_.auth_identity);
  if (name == "{auth_author}") return some(auth_author_);
  if (name == "{mail_addr}") return mail_addr_;
  if (name == "{mail_host}") return some(domain_of(mail_addr_));
  if (name == "{rcpt_addr}") return some(rcpt_addr_);
  if (name == "{rcpt_host}") return some(domain_of(rcpt_addr_));
  if (name == "{rcpt_mailer}")
    return rcpt_addr_.empty() ? std::nullopt
                              : std::optional<std::string>(info_.config->delivers_locally(rcpt_addr_) ? "local" : "smtp");
  return std::nullopt;
}

std::optional<MilterRefusal> MilterStage::refusal(const milter::Decision& d, const char* stage) const {
  using Kind = milter::Decision::Kind;
  if (d.kind != Kind::reject && d.kind != Kind::tempfail) return std::nullopt;
  log::Event("milter_reject")
      .add("session", info_.id)
      .add("client", info_.peer_address)
      .add("stage", stage)
      .add("filter", d.filter)
      .add("reply", d.reply.summary());
  return MilterRefusal{d.reply, d.close};
}

asio::awaitable<std::optional<MilterRefusal>> MilterStage::connect() {
  const bool v6 = info_.peer_address.find(':') != std::string::npos;
  std::string hostname =
      info_.client_name && !info_.client_name->empty() ? *info_.client_name : "[" + info_.peer_address + "]";
  auto d = co_await chain_.connect(std::move(hostname), v6 ? '6' : '4', info_.peer_port, info_.peer_address, lookup_);
  co_return refusal(d, "connect");
}

asio::awaitable<std::optional<MilterRefusal>> MilterStage::helo(std::string name, std::string tls, int cipher_bits) {
  auto space = tls.find(' ');
  tls_version_ = tls.substr(0, space);
  cipher_ = space == std::string::npos ? std::string() : tls.substr(space + 1);
  cipher_bits_ = cipher_bits;
  auto d = co_await chain_.helo(std::move(name), lookup_);
  co_return refusal(d, "helo");
}

asio::awaitable<std::optional<MilterRefusal>> MilterStage::mail(const smtp::Command& command) {
  queue_id_ = server_.intake().new_id();
  data_sent_ = false;
  mail_addr_ = command.path.str();
  rcpt_addr_.clear();
  auth_author_ = command.mail.auth ? *command.mail.auth : "";
  std::vector<std::string> args{bracketed(command.path)};
  if (command.mail.size) args.push_back("SIZE=" + std::to_string(*command.mail.size));
  if (command.mail.body == smtp::BodyType::eight_bit_mime) args.push_back("BODY=8BITMIME");
  if (command.mail.body == smtp::BodyType::seven_bit) args.push_back("BODY=7BIT");
  if (command.mail.smtputf8) args.push_back("SMTPUTF8");
  auto d = co_await chain_.mail(std::move(args), lookup_);
  co_return refusal(d, "mail");
}

asio::awaitable<std::optional<MilterRefusal>> MilterStage::rcpt(const smtp::Command& command) {
  rcpt_addr_ = command.path.postmaster ? std::string("postmaster") : command.path.str();
  std::vector<std::string> args{bracketed(command.path)};
  auto d = co_await chain_.rcpt(std::move(args), lookup_);
  co_return refusal(d, "rcpt");
}

asio::awaitable<std::optional<MilterRefusal>> MilterStage::data() {
  rcpt_addr_.clear();
  data_sent_ = true;
  auto d = co_await chain_.data(lookup_);
  co_return refusal(d, "data");
}

asio::awaitable<MilterStage::End> MilterStage::end_of_message(MessageSink& sink) {
  using Kind = milter::Decision::Kind;
  End end;
  auto decided = [&](const milter::Decision& d) {
    if (d.kind == Kind::discard) end.discard = true;
    end.refusal = refusal(d, "eom");
    return d.kind != Kind::go_on;
  };
  // Discarded at MAIL, RCPT or DATA: no filter listens any more, and the
  // message is dropped all the same.
  if (chain_.discarded()) {
    end.discard = true;
    co_return end;
  }
  // BDAT has no DATA command: the filters get their DATA event now.
  if (!data_sent_) {
    data_sent_ = true;
    rcpt_addr_.clear();
    if (decided(co_await chain_.data(lookup_))) co_return end;
  }
  // One filter after the other, each given the message as those before it left it.
  for (std::size_t filter = 0; filter < chain_.size(); ++filter) {
    if (!chain_.wants_content(filter)) continue;
    // The header section, read back from what will be stored (our Received: first).
    std::string head = co_await sink.read_back(0, max_header_octets);
    auto section = milter::split_header_section(head);
    const std::uint64_t body_offset = section.consumed;
    // The section went on past what is read: where its body starts is not known.
    const bool truncated = head.size() >= max_header_octets && !section.blank_line &&
                           head.find("\r\n", section.consumed) == std::string::npos;
    head.clear();
    // Our own Received: is not shown (as Postfix, for Sendmail compatibility).
    const auto ours = own_received(section, sink);
    for (std::size_t i = 0; i < section.fields.size(); ++i)
      if (i != ours && decided(co_await chain_.header(filter, section.fields[i].name, section.fields[i]))) co_return end;
    if (decided(co_await chain_.end_of_headers(filter, lookup_))) co_return end;
    // The body in chunks as the protocol allows, straight from the sink.
    for (std::uint64_t at = body_offset; chain_.wants_body(filter);) {
      auto chunk = co_await sink.read_back(at, milter::body_chunk_octets);
      if (chunk.empty()) break;
      at += chunk.size();
      if (decided(co_await chain_.body(filter, chunk))) co_return end;
    }
    milter::MessageChanges changes;
    if (decided(co_await chain_.end_of_message(filter, lookup_, changes))) co_return end;
    if (changes.body && truncated) {
      // Replacing "the body" would keep part of the header section as body
      // text: the filter's changes are refused, as those of one that failed.
      if (auto d = chain_.fail(filter, "replaced the body of a message whose header section is over " +
                                           std::to_string(max_header_octets / 1024) + " KiB")) {
        decided(*d);
        co_return end;
      }
      continue;
    }
    if (changes.any() && !co_await apply(sink, std::move(section), body_offset, std::move(changes))) {
      end.discard = true;
      co_return end;
    }
  }
  co_return end;
}

asio::awaitable<bool> MilterStage::apply(MessageSink& sink, milter::HeaderSection section, std::uint64_t body_offset,
                                         milter::MessageChanges changes) {
  auto envelope = sink.envelope();
  if (changes.sender) envelope.reverse_path = *changes.sender;
  for (auto& removed : changes.removed_recipients)
    std::erase_if(envelope.recipients, [&](const std::string& r) { return util::iequals(r, removed); });
  for (auto& added : changes.added_recipients)
    if (!added.empty() && std::none_of(envelope.recipients.begin(), envelope.recipients.end(),
                                       [&](const std::string& r) { return util::iequals(r, added); }))
      envelope.recipients.push_back(added);
  // A UTF-8 address from a filter needs SMTPUTF8 on the way out.
  const auto utf8 = [](const std::string& a) { return std::any_of(a.begin(), a.end(), [](char c) { return c & 0x80; }); };
  if ((changes.sender && utf8(*changes.sender)) || std::any_of(envelope.recipients.begin(), envelope.recipients.end(), utf8))
    envelope.smtputf8 = true;
  if (envelope.recipients.empty()) {
    log::Event("milter_no_recipients").add("session", info_.id).add("queue_id", queue_id_);
    co_return false;
  }
  // Inserts count our Received: (the message as delivered), changes do not
  // (the message as the filter saw it), as under Postfix.
  for (auto& edit : changes.headers) milter::apply_edit(section.fields, edit, own_received(section, sink));
  if (changes.quarantine) {
    // Kept and marked, not held: the mailbox's filters decide what a user sees.
    section.fields.push_back(milter::make_field("X-Postern-Quarantine", *changes.quarantine, false));
    log::Event("milter_quarantine").add("session", info_.id).add("queue_id", queue_id_)
        .add("reason", util::printable(*changes.quarantine, 200));
  }
  const bool replaced = changes.body.has_value();
  // CRLF lines, as everything in the spool.
  if (changes.body) to_crlf(*changes.body);
  const bool blank_line = section.blank_line || replaced;
  co_await sink.rewrite(std::move(envelope), milter::join(section.fields, blank_line), body_offset,
                        std::move(changes.body));
  log::Event("milter_changed")
      .add("session", info_.id)
      .add("queue_id", queue_id_)
      .add("headers", static_cast<long long>(changes.headers.size()))
      .add("body", replaced ? "replaced" : "kept")
      .add("sender", changes.sender ? "changed" : "kept")
      .add("recipients_added", static_cast<long long>(changes.added_recipients.size()))
      .add("recipients_removed", static_cast<long long>(changes.removed_recipients.size()));
  co_return true;
}

asio::awaitable<void> MilterStage::quit() { co_await chain_.quit(); }

}  // namespace postern::server
