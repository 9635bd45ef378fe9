// The session's side of the milters (SPEC §13, src/inbound/milter): the
// events of the SMTP dialogue and the macros that go with them, handed to
// the chain of filters that serve this listener's role, and the filters'
// answers turned into replies and changes to the message.
//
// The body reaches the filters at the end of DATA, read back from the
// message sink (memory, or the spool file when it went to disk), so the
// streamed spool of SPEC §5 stays as it is; their changes are applied by
// rewriting the message before it is committed, so the 250 (and any
// delivery before it, the journal path) sees the message as filtered.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>

#include "admission/session_info.hpp"
#include "inbound/milter/chain.hpp"
#include "smtp/command.hpp"
#include "smtp/reply.hpp"

namespace postern::server {

class MessageSink;
class Server;

struct MilterRefusal {
  smtp::Reply reply;
  bool close = false;  // a 421: the connection ends after it
};

class MilterStage {
 public:
  // nullptr when no [[milter]] serves the session's role.
  static std::unique_ptr<MilterStage> for_session(asio::any_io_executor executor, Server& server,
                                                  const admission::SessionInfo& info, std::string local_address);
  MilterStage(asio::any_io_executor executor, Server& server, const admission::SessionInfo& info,
              std::string local_address, std::vector<config::Milter> milters);

  asio::awaitable<std::optional<MilterRefusal>> connect();
  // `name`: the EHLO/HELO argument; `tls`: "TLSv1.3 TLS_AES_256_GCM_SHA384", "" without TLS.
  asio::awaitable<std::optional<MilterRefusal>> helo(std::string name, std::string tls, int cipher_bits);
  void authenticated(std::string mechanism) { auth_type_ = std::move(mechanism); }
  asio::awaitable<std::optional<MilterRefusal>> mail(const smtp::Command& command);
  asio::awaitable<std::optional<MilterRefusal>> rcpt(const smtp::Command& command);
  asio::awaitable<std::optional<MilterRefusal>> data();

  struct End {
    std::optional<MilterRefusal> refusal;
    bool discard = false;  // answer 250, store nothing
  };
  // The message in `sink` to the filters; their changes applied to it.
  asio::awaitable<End> end_of_message(MessageSink& sink);
  // The queue id chosen at MAIL (filters are told it as the macro `i`).
  const std::string& queue_id() const { return queue_id_; }
  asio::awaitable<void> quit();
  void cancel() { chain_.cancel(); }

 private:
  std::optional<std::string> macro(std::string_view name) const;
  std::optional<MilterRefusal> refusal(const milter::Decision& decision, const char* stage) const;
  // One filter's changes made to the message in `sink`; false when no recipient is left.
  asio::awaitable<bool> apply(MessageSink& sink, milter::HeaderSection section, std::uint64_t body_offset,
                              milter::MessageChanges changes);

  Server& server_;
  const admission::SessionInfo& info_;
  std::string local_address_;
  milter::Chain chain_;
  milter::MacroLookup lookup_;
  std::string tls_version_, cipher_, auth_type_, auth_author_, queue_id_, mail_addr_, rcpt_addr_;
  int cipher_bits_ = 0;
  bool data_sent_ = false;  // SMFIC_DATA of this transaction (BDAT has no DATA command)
};

}  // namespace postern::server
