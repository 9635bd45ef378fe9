// A deterministic host for pop3::Dialogue, shared by the dialogue scripts
// (dialogue_test.cpp) and the fuzz target: a small fixed policy, so that a
// script can say exactly which replies a client sees.
//
//   USER alice / PASS secret, or AUTH PLAIN for alice:secret → logged in
//   (initial response, or after "+ "); any other login → -ERR [AUTH]
//   user "tempfail" → -ERR [SYS/TEMP];  user "bye" → -ERR [AUTH] and close
//   the maildrop: three messages, uids m1 m2 m3 (see messages())
//   STLS → the handshake always succeeds
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pop3/dialogue.hpp"
#include "sasl/auth_line.hpp"

namespace postern::pop3::scripted {

inline std::map<std::string, std::string> messages() {
  return {
      {"m1", "From: a@example.org\r\nSubject: one\r\n\r\nHello\r\n"},
      {"m2", "Subject: two\r\n\r\n.dot first\r\nline 2\r\n..two dots\r\n.\r\nlast\r\n"},
      {"m3", "Subject: three\nX-Bare: lf\n\nbody without final newline"},
  };
}

class FixedMaildrop : public Maildrop {
 public:
  explicit FixedMaildrop(std::vector<std::string>& removed) : removed_(removed), messages_(messages()) {}
  std::vector<MaildropEntry> entries() override {
    std::vector<MaildropEntry> out;
    for (const auto& [uid, text] : messages_) out.push_back({uid, octets(text)});
    return out;
  }
  std::optional<std::string> content(const std::string& uid) override {
    auto it = messages_.find(uid);
    if (it == messages_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<std::size_t> remove(const std::vector<std::string>& uids) override {
    for (const auto& u : uids) removed_.push_back(u);
    return uids.size();
  }

 private:
  std::vector<std::string>& removed_;
  std::map<std::string, std::string> messages_;
};

class ScriptedHost {
 public:
  explicit ScriptedHost(Dialogue& dialogue) : d_(dialogue) { d_.set_mechanisms({"PLAIN"}); }

  // Answers events until the dialogue needs input (true) or closes (false).
  bool run() {
    for (;;) {
      Event e = d_.next();
      switch (e.kind) {
        case Event::Kind::need_input:
          return true;
        case Event::Kind::close:
          closed_ = true;
          return false;
        case Event::Kind::flush:
        case Event::Kind::bad_command:
          break;
        case Event::Kind::stls:
          d_.tls_started();
          d_.set_mechanisms({"PLAIN", "SCRAM-SHA-256-PLUS"});
          break;
        case Event::Kind::login:
          finish(e.user, e.text);
          break;
        case Event::Kind::auth:
          start_auth(e.text);
          break;
        case Event::Kind::auth_response:
          plain(e.text);
          break;
      }
    }
  }

  std::string take_output() {
    std::string wire;
    for (auto& r : d_.replies()) wire += r.wire();
    d_.replies().clear();
    return wire;
  }

  bool closed() const { return closed_; }
  const std::vector<std::string>& removed() const { return removed_; }

 private:
  void finish(const std::string& user, const std::string& password) {
    if (user == "tempfail") return d_.login_failed(Reply::err("Temporary authentication failure", "SYS/TEMP"));
    if (user == "bye") return d_.login_failed(Reply::err("Too many authentication failures", "AUTH"), true);
    if (user == "alice" && password == "secret") return d_.logged_in(user, std::make_unique<FixedMaildrop>(removed_));
    d_.login_failed(Reply::err("Authentication credentials invalid", "AUTH"));
  }
  void plain(std::string_view response) {
    // authzid NUL authcid NUL password
    auto first = response.find('\0');
    auto second = first == std::string_view::npos ? first : response.find('\0', first + 1);
    if (second == std::string_view::npos) return d_.login_failed(Reply::err("Authentication credentials invalid", "AUTH"));
    finish(std::string(response.substr(first + 1, second - first - 1)), std::string(response.substr(second + 1)));
  }
  void start_auth(std::string_view argument) {
    auto parsed = sasl::parse_auth_command(argument);
    auto* cmd = std::get_if<sasl::AuthCommand>(&parsed);
    if (!cmd) return d_.login_failed(Reply::err("Syntax: AUTH mechanism [initial-response]"));
    if (cmd->mechanism != "PLAIN" && cmd->mechanism != "plain")
      return d_.login_failed(Reply::err("Unrecognized authentication type"));
    if (!cmd->initial_response) return d_.challenge("");
    auto r = sasl::decode_initial_response(*cmd->initial_response);
    if (std::holds_alternative<sasl::Cancelled>(r)) return d_.login_failed(Reply::err("Authentication cancelled"));
    if (std::holds_alternative<sasl::BadBase64>(r)) return d_.login_failed(Reply::err("Cannot decode response"));
    plain(std::get<std::string>(r));
  }

  Dialogue& d_;
  std::vector<std::string> removed_;
  bool closed_ = false;
};

}  // namespace postern::pop3::scripted
