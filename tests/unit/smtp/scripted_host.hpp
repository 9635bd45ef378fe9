// A deterministic host for smtp::ServerDialogue, shared by the dialogue
// scripts (dialogue_test.cpp) and the dialogue fuzz target: it answers
// every question the way a small, fixed policy would, so that a script
// can say exactly which replies a client sees.
//
//   EHLO/HELO refused.example   → 550 5.7.1 Go away; any other name is accepted (AUTH PLAIN offered)
//   MAIL FROM:<blocked@…>       → 550 5.7.1 Sender blocked
//   RCPT TO:<unknown@…>         → 550 5.1.1 No such user;  <busy@…> → 450 4.2.1 (the catalogue's)
//   AUTH PLAIN, user "user", password "secret" (initial response or after a 334)
//   every clean message         → 250 2.0.0 OK queued as Q1, Q2, …
#pragma once

#include <string>
#include <vector>

#include "sasl/auth_line.hpp"
#include "smtp/dialogue.hpp"
#include "smtp/replies.hpp"

namespace postern::smtp::scripted {

class ScriptedHost {
 public:
  explicit ScriptedHost(ServerDialogue& dialogue) : d_(dialogue) {}

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
        case Event::Kind::line:
        case Event::Kind::bad_command:
          break;
        case Event::Kind::hello:
          if (e.command->argument == "refused.example")
            d_.refuse(Reply{550, "5.7.1", "Go away"});
          else
            d_.accept_hello({"PLAIN"});
          break;
        case Event::Kind::mail:
          if (e.command->path.mailbox.local_part == "blocked")
            d_.refuse(Reply{550, "5.7.1", "Sender blocked"});
          else
            d_.accept();
          break;
        case Event::Kind::rcpt:
          if (e.command->path.mailbox.local_part == "unknown")
            d_.refuse(replies::no_such_user());
          else if (e.command->path.mailbox.local_part == "busy")
            d_.refuse(replies::mailbox_unavailable());
          else
            d_.accept();
          break;
        case Event::Kind::data:
          d_.accept();
          break;
        case Event::Kind::starttls:
          d_.tls_started();
          break;
        case Event::Kind::auth:
          start_auth(e.command->argument);
          break;
        case Event::Kind::auth_response:
          finish_auth(e.text);
          break;
        case Event::Kind::auth_cancelled:
          d_.auth_done(replies::auth_cancelled());
          break;
        case Event::Kind::body_begin:
          body_.clear();
          break;
        case Event::Kind::body:
          body_ += e.text;
          break;
        case Event::Kind::body_end:
          messages_.push_back(body_);
          d_.message_done(replies::queued("Q" + std::to_string(messages_.size())));
          break;
        case Event::Kind::body_abandoned:
          body_.clear();
          break;
      }
    }
  }

  // Everything queued so far, as it goes on the wire.
  std::string take_output() {
    std::string wire;
    for (auto& o : d_.replies()) wire += o.reply.wire();
    d_.replies().clear();
    return wire;
  }

  const std::vector<std::string>& messages() const { return messages_; }
  bool closed() const { return closed_; }

 private:
  void start_auth(std::string_view argument) {
    auto parsed = sasl::parse_auth_command(argument);
    auto* cmd = std::get_if<sasl::AuthCommand>(&parsed);
    if (!cmd) return d_.auth_done(replies::auth_syntax());
    if (cmd->mechanism != "PLAIN" && cmd->mechanism != "plain") return d_.auth_done(replies::unknown_mechanism());
    if (!cmd->initial_response) return d_.challenge("");
    auto r = sasl::decode_initial_response(*cmd->initial_response);
    if (std::holds_alternative<sasl::Cancelled>(r)) return d_.auth_done(replies::auth_cancelled());
    if (std::holds_alternative<sasl::BadBase64>(r)) return d_.auth_done(replies::cannot_decode());
    finish_auth(std::get<std::string>(r));
  }
  void finish_auth(std::string_view response) {
    using namespace std::string_view_literals;
    if (response == "\0user\0secret"sv)
      d_.auth_done(replies::authenticated(), "user");
    else
      d_.auth_done(replies::bad_credentials());
  }

  ServerDialogue& d_;
  std::string body_;
  std::vector<std::string> messages_;
  bool closed_ = false;
};

}  // namespace postern::smtp::scripted
