#include "inbound/milter/chain.hpp"

#include "log/log.hpp"
#include "smtp/address.hpp"
#include "util/strings.hpp"

namespace postern::milter {

struct Chain::Slot {
  explicit Slot(asio::any_io_executor executor, config::Milter settings) : filter(executor, std::move(settings)) {}
  Filter filter;
  bool dead = false;             // failed or never reached: out for the session
  bool done_connection = false;  // accepted the connection: nothing more to see
  bool done_message = false;     // accepted (or refused) the message under way
  bool skip_body = false;        // SMFIR_SKIP: no more body chunks
  bool in_message = false;       // saw MAIL of the message under way
  bool saw_eom = false;          // saw its end
};

namespace {

smtp::Reply default_reject(bool at_connect) {
  return at_connect ? smtp::Reply(554, "5.7.1", "Connection rejected") : smtp::Reply(550, "5.7.1", "Command rejected");
}
smtp::Reply default_tempfail() { return smtp::Reply(451, "4.7.1", "Service unavailable - try again later"); }
smtp::Reply shutdown_reply() { return smtp::Reply(421, "4.7.0", "Server closing connection"); }

const char* stage_name(int stage) {
  static const char* names[] = {"connect", "helo", "mail", "rcpt", "data", "header", "eoh", "body", "eom"};
  return names[stage];
}

std::string braced(std::string_view name) {
  if (name.size() <= 1 || name.front() == '{') return std::string(name);
  return "{" + std::string(name) + "}";
}

void merge(MessageChanges& into, MessageChanges from) {
  for (auto& h : from.headers) into.headers.push_back(std::move(h));
  if (from.body) into.body = std::move(from.body);
  if (from.sender) into.sender = std::move(from.sender);
  for (auto& a : from.added_recipients) into.added_recipients.push_back(std::move(a));
  for (auto& a : from.removed_recipients) into.removed_recipients.push_back(std::move(a));
  if (from.quarantine) into.quarantine = std::move(from.quarantine);
}

std::string unbracket(std::string_view address) {
  if (address.size() >= 2 && address.front() == '<' && address.back() == '>') address = address.substr(1, address.size() - 2);
  return std::string(address);
}

// A filter's address as an RFC 5321 path ("<" and ">" optional): its
// canonical text, or nullopt when it is not one (CR, LF, NUL, a source
// route, junk after it), so nothing a filter sends can reach a later
// RCPT TO or MAIL FROM but an address.
std::optional<std::string> filter_address(std::string_view text, bool null_allowed) {
  const auto bare = unbracket(text);
  const auto parsed = smtp::parse_path("<" + bare + ">");
  if (!parsed.path || parsed.consumed != bare.size() + 2 || !parsed.path->source_route.empty()) return std::nullopt;
  if (parsed.path->null && !null_allowed) return std::nullopt;
  return parsed.path->str();
}

}  // namespace

const std::vector<std::string>& default_macros(MacroStage stage) {
  static const std::vector<std::string> lists[macro_stages] = {
      {"j", "_", "{daemon_name}", "{daemon_addr}", "v", "{client_addr}", "{client_name}", "{client_port}",
       "{client_ptr}"},
      {"{tls_version}", "{cipher}", "{cipher_bits}", "{cert_subject}", "{cert_issuer}"},
      {"i", "{auth_type}", "{auth_authen}", "{auth_author}", "{mail_addr}", "{mail_host}", "{mail_mailer}"},
      {"i", "{rcpt_addr}", "{rcpt_host}", "{rcpt_mailer}"},
      {"i"},
      {"i"},
      {"i"},
  };
  return lists[static_cast<std::size_t>(stage)];
}

Chain::Chain(asio::any_io_executor executor, std::vector<config::Milter> milters, std::uint64_t max_body_octets,
             std::size_t max_recipients)
    : executor_(executor), max_body_octets_(max_body_octets), max_recipients_(max_recipients) {
  for (auto& m : milters) slots_.push_back(std::make_unique<Slot>(executor, std::move(m)));
}

Chain::~Chain() = default;

bool Chain::listening(const Slot& s, Stage stage) const {
  if (s.dead || s.done_connection || !s.filter.is_open()) return false;
  if (stage >= Stage::data && (s.done_message || discard_)) return false;
  const auto steps = s.filter.options().steps;
  switch (stage) {
    case Stage::connect: return !(steps & step::noconnect);
    case Stage::helo: return !(steps & step::nohelo);
    case Stage::mail: return !(steps & step::nomail);
    case Stage::rcpt: return !(steps & step::norcpt) && !s.done_message && !discard_;
    case Stage::data: return !(steps & step::nodata);
    case Stage::header: return !(steps & step::nohdrs);
    case Stage::eoh: return !(steps & step::noeoh);
    case Stage::body: return !(steps & step::nobody) && !s.skip_body;
    case Stage::eom: return true;
  }
  return false;
}

bool Chain::wants_content(std::size_t filter) const {
  return filter < slots_.size() && listening(*slots_[filter], Stage::eom);
}

bool Chain::wants_body(std::size_t filter) const {
  return filter < slots_.size() && listening(*slots_[filter], Stage::body);
}

std::optional<Decision> Chain::failed(Slot& s, Stage stage, const std::string& error) {
  s.filter.close();
  s.dead = true;
  const bool tempfail = s.filter.settings().on_error == config::MilterOnError::tempfail;
  log::Event("milter_error")
      .add("filter", s.filter.name())
      .add("stage", stage_name(static_cast<int>(stage)))
      .add("error", util::printable(error, 200))
      .add("action", tempfail ? "tempfail" : "accept");
  if (!tempfail) return std::nullopt;
  Decision d;
  d.kind = Decision::Kind::tempfail;
  d.reply = default_tempfail();
  d.filter = s.filter.name();
  sticky_ = d;
  // Before MAIL there is nothing to refuse yet; the transaction will be.
  if (stage < Stage::mail) return std::nullopt;
  return d;
}

asio::awaitable<Decision> Chain::event(Stage stage, char command, const Builder& packet, const MacroLookup* macros,
                                       MessageChanges* changes, std::optional<std::size_t> only) {
  if (stage >= Stage::mail && sticky_) co_return *sticky_;
  const auto macro_stage = stage == Stage::connect ? MacroStage::connect
                           : stage == Stage::helo  ? MacroStage::helo
                           : stage == Stage::mail  ? MacroStage::mail
                           : stage == Stage::rcpt  ? MacroStage::rcpt
                           : stage == Stage::data  ? MacroStage::data
                           : stage == Stage::eoh   ? MacroStage::eoh
                                                   : MacroStage::eom;
  for (std::size_t index = 0; index < slots_.size(); ++index) {
    if (only && index != *only) continue;
    auto& s = *slots_[index];
    if (!listening(s, stage)) continue;
    const auto& options = s.filter.options();
    std::string out;
    if (macros) {
      Macros values;
      const auto& asked = options.macros[static_cast<std::size_t>(macro_stage)];
      for (const auto& name : asked ? *asked : default_macros(macro_stage)) {
        auto canonical = braced(name);
        if (auto v = (*macros)(canonical)) values.emplace_back(canonical, std::move(*v));
      }
      if (!values.empty()) out = macro_packet(command, values);
    }
    out += packet(options);
    if (stage == Stage::mail) {
      s.in_message = true;
      s.saw_eom = false;
    }
    if (stage == Stage::eom) s.saw_eom = true;
    if (auto error = co_await s.filter.send(out)) {
      if (auto d = failed(s, stage, *error)) co_return *d;
      continue;
    }
    const auto steps = options.steps;
    const bool no_reply = (stage == Stage::connect && (steps & step::nr_conn)) ||
                          (stage == Stage::helo && (steps & step::nr_helo)) ||
                          (stage == Stage::mail && (steps & step::nr_mail)) ||
                          (stage == Stage::rcpt && (steps & step::nr_rcpt)) ||
                          (stage == Stage::data && (steps & step::nr_data)) ||
                          (stage == Stage::header && (steps & step::nr_hdr)) ||
                          (stage == Stage::eoh && (steps & step::nr_eoh)) ||
                          (stage == Stage::body && (steps & step::nr_body));
    if (no_reply) continue;
    std::uint64_t body_octets = 0, header_octets = 0;
    // This filter's changes count only once its final reply came: a filter
    // that fails half-way leaves the message as it was.
    MessageChanges mine;
    s.filter.begin_stage();
    for (bool waiting = true; waiting;) {
      auto answer = co_await s.filter.reply();
      if (auto* error = std::get_if<std::string>(&answer)) {
        if (auto d = failed(s, stage, *error)) co_return *d;
        break;
      }
      auto& r = std::get<Response>(answer);
      if (r.modification()) {
        const auto actions = options.actions;
        using K = Response::Kind;
        std::string refused;
        if (stage != Stage::eom) refused = "a modification before the end of the message";
        else if (r.kind == K::header && r.header.kind == HeaderChange::Kind::change && !(actions & action::chghdrs))
          refused = "a header change it did not negotiate";
        else if (r.kind == K::header && r.header.kind != HeaderChange::Kind::change && !(actions & action::addhdrs))
          refused = "a header addition it did not negotiate";
        else if (r.kind == K::replace_body && !(actions & action::chgbody)) refused = "a body it did not negotiate";
        else if (r.kind == K::add_rcpt && !(actions & (action::addrcpt | action::addrcpt_par)))
          refused = "a recipient addition it did not negotiate";
        else if (r.kind == K::del_rcpt && !(actions & action::delrcpt)) refused = "a recipient removal it did not negotiate";
        else if (r.kind == K::change_from && !(actions & action::chgfrom)) refused = "a sender change it did not negotiate";
        else if (r.kind == K::quarantine && !(actions & action::quarantine)) refused = "a quarantine it did not negotiate";
        if (refused.empty() && r.kind == K::header) {
          header_octets += r.header.name.size() + r.header.value.size();
          if (mine.headers.size() >= max_header_edits) refused = "more than " + std::to_string(max_header_edits) + " header changes";
          else if (header_octets > max_header_edit_octets) refused = "header changes over the size limit";
        }
        if (refused.empty() && (r.kind == K::add_rcpt || r.kind == K::change_from)) {
          auto address = filter_address(r.text, r.kind == K::change_from);
          if (!address) refused = "an address that is not one: " + util::printable(r.text, 100);
          else r.text = std::move(*address);
        }
        if (refused.empty() && r.kind == K::add_rcpt && mine.added_recipients.size() >= max_recipients_)
          refused = "more recipient additions than limits.max_recipients";
        if (refused.empty() && r.kind == K::del_rcpt && mine.removed_recipients.size() >= max_recipients_)
          refused = "more recipient removals than limits.max_recipients";
        if (!refused.empty()) {
          if (auto d = failed(s, stage, "sent " + refused)) co_return *d;
          break;
        }
        switch (r.kind) {
          case K::header:
            mine.headers.push_back({std::move(r.header), (options.steps & step::hdr_leadspc) != 0});
            break;
          case K::replace_body:
            body_octets += r.text.size();
            if (body_octets > max_body_octets_) {
              if (auto d = failed(s, stage, "sent a body over the size limit")) co_return *d;
              waiting = false;
              continue;
            }
            if (!mine.body) mine.body = std::move(r.text);
            else *mine.body += r.text;
            break;
          case K::add_rcpt: mine.added_recipients.push_back(std::move(r.text)); break;
          case K::del_rcpt: mine.removed_recipients.push_back(unbracket(r.text)); break;
          case K::change_from: mine.sender = std::move(r.text); break;
          case K::quarantine: mine.quarantine = r.text; break;
          default: break;
        }
        continue;
      }
      if (changes && r.kind != Response::Kind::discard && r.kind != Response::Kind::reject &&
          r.kind != Response::Kind::tempfail && r.kind != Response::Kind::reply_code)
        merge(*changes, std::move(mine));
      Decision d;
      d.filter = s.filter.name();
      switch (r.kind) {
        case Response::Kind::cont:
          break;
        case Response::Kind::skip:
          if (stage == Stage::body) s.skip_body = true;
          break;
        case Response::Kind::accept:
          if (stage <= Stage::helo) s.done_connection = true;
          else if (stage != Stage::rcpt) s.done_message = true;
          break;
        case Response::Kind::discard:
          if (stage >= Stage::mail) {
            discard_ = true;
            log::Event("milter_discard").add("filter", s.filter.name()).add("stage", stage_name(static_cast<int>(stage)));
            if (stage == Stage::eom) {
              d.kind = Decision::Kind::discard;
              co_return d;
            }
            co_return Decision{};
          }
          break;
        case Response::Kind::reject:
          d.kind = Decision::Kind::reject;
          d.reply = default_reject(stage == Stage::connect);
          break;
        case Response::Kind::tempfail:
          d.kind = Decision::Kind::tempfail;
          d.reply = default_tempfail();
          break;
        case Response::Kind::reply_code:
          d.kind = r.reply.permanent() ? Decision::Kind::reject : Decision::Kind::tempfail;
          d.close = r.reply.code == 421;
          d.reply = std::move(r.reply);
          break;
        case Response::Kind::shutdown:
        case Response::Kind::conn_fail:
          d.kind = Decision::Kind::tempfail;
          d.reply = shutdown_reply();
          d.close = true;
          break;
        default:
          break;
      }
      if (d.kind != Decision::Kind::go_on) {
        // A refused message is over for every filter; a refused recipient only for itself.
        if (stage >= Stage::mail && stage != Stage::rcpt)
          for (auto& other : slots_) other->done_message = true;
        co_return d;
      }
      waiting = false;
    }
  }
  if (stage == Stage::eom && discard_) {
    Decision d;
    d.kind = Decision::Kind::discard;
    co_return d;
  }
  co_return Decision{};
}

asio::awaitable<Decision> Chain::connect(std::string hostname, char family, std::uint16_t port, std::string address,
                                         const MacroLookup& macros) {
  for (auto& slot : slots_) {
    if (auto error = co_await slot->filter.open()) {
      failed(*slot, Stage::connect, *error);
      continue;
    }
    log::Event("milter_open")
        .add("filter", slot->filter.name())
        .add("version", static_cast<long long>(slot->filter.options().version))
        .add("actions", static_cast<long long>(slot->filter.options().actions))
        .add("steps", static_cast<long long>(slot->filter.options().steps));
  }
  co_return co_await event(Stage::connect, cmd::connect,
                           [&](const Negotiated&) { return connect_packet(hostname, family, port, address); }, &macros,
                           nullptr);
}

asio::awaitable<Decision> Chain::helo(std::string name, const MacroLookup& macros) {
  co_return co_await event(Stage::helo, cmd::helo,
                           [&](const Negotiated&) { return strings_packet(cmd::helo, std::vector<std::string>{name}); },
                           &macros, nullptr);
}

asio::awaitable<Decision> Chain::mail(std::vector<std::string> args, const MacroLookup& macros) {
  // A message whose end the filters never saw is aborted first.
  for (auto& slot : slots_) {
    auto& s = *slot;
    if (s.in_message && !s.saw_eom && !s.dead && s.filter.is_open() && !s.done_connection) {
      if (auto error = co_await s.filter.send(packet(cmd::abort))) failed(s, Stage::mail, *error);
    }
    s.in_message = false;
    s.done_message = false;
    s.skip_body = false;
  }
  discard_ = false;
  co_return co_await event(Stage::mail, cmd::mail, [&](const Negotiated&) { return strings_packet(cmd::mail, args); },
                           &macros, nullptr);
}

asio::awaitable<Decision> Chain::rcpt(std::vector<std::string> args, const MacroLookup& macros) {
  co_return co_await event(Stage::rcpt, cmd::rcpt, [&](const Negotiated&) { return strings_packet(cmd::rcpt, args); },
                           &macros, nullptr);
}

asio::awaitable<Decision> Chain::data(const MacroLookup& macros) {
  co_return co_await event(Stage::data, cmd::data, [](const Negotiated&) { return packet(cmd::data); }, &macros,
                           nullptr);
}

asio::awaitable<Decision> Chain::header(std::size_t filter, const std::string& name, const HeaderField& field) {
  co_return co_await event(
      Stage::header, cmd::header,
      [&](const Negotiated& n) {
        return strings_packet(cmd::header,
                              std::vector<std::string>{name, field_value(field, (n.steps & step::hdr_leadspc) != 0)});
      },
      nullptr, nullptr, filter);
}

asio::awaitable<Decision> Chain::end_of_headers(std::size_t filter, const MacroLookup& macros) {
  co_return co_await event(Stage::eoh, cmd::eoh, [](const Negotiated&) { return packet(cmd::eoh); }, &macros, nullptr,
                           filter);
}

asio::awaitable<Decision> Chain::body(std::size_t filter, std::string_view chunk) {
  co_return co_await event(Stage::body, cmd::body, [&](const Negotiated&) { return packet(cmd::body, chunk); }, nullptr,
                           nullptr, filter);
}

asio::awaitable<Decision> Chain::end_of_message(std::size_t filter, const MacroLookup& macros,
                                                MessageChanges& changes) {
  if (discard_) {
    Decision d;
    d.kind = Decision::Kind::discard;
    co_return d;
  }
  co_return co_await event(Stage::eom, cmd::eob, [](const Negotiated&) { return packet(cmd::eob); }, &macros, &changes,
                           filter);
}

std::optional<Decision> Chain::fail(std::size_t filter, const std::string& error) {
  if (filter >= slots_.size()) return std::nullopt;
  return failed(*slots_[filter], Stage::eom, error);
}

void Chain::cancel() {
  for (auto& slot : slots_) slot->filter.close();
}

asio::awaitable<void> Chain::quit() {
  for (auto& slot : slots_) {
    if (!slot->filter.is_open()) continue;
    co_await slot->filter.send(packet(cmd::quit));
    slot->filter.close();
  }
}

}  // namespace postern::milter
