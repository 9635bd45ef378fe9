// The filters of one SMTP session, in the order of [[milter]]: each event
// of the session (connect, HELO, MAIL, RCPT, DATA, the header fields, the
// end of the headers, the body, the end of the message) goes to every
// filter still listening, with the macros of its stage, and the first
// filter that refuses decides. A filter that fails (down, slow, nonsense)
// is dropped for the rest of the session; with on_error = "tempfail"
// every transaction from then on gets 451 4.7.1, as Postfix's
// milter_default_action = tempfail does.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "inbound/milter/filter.hpp"
#include "inbound/milter/header_edits.hpp"
#include "smtp/reply.hpp"

namespace postern::milter {

struct Decision {
  enum class Kind { go_on, reject, tempfail, discard } kind = Kind::go_on;
  smtp::Reply reply;   // reject and tempfail: what the client is told
  bool close = false;  // a 421 (SMFIR_SHUTDOWN, or the filter's own 421): close after the reply
  std::string filter;  // which filter decided (its address), for the log
};

// What the filters asked for at the end of the message, in order.
struct MessageChanges {
  std::vector<HeaderEdit> headers;
  std::optional<std::string> body;    // the replacement body (CRLF lines)
  std::optional<std::string> sender;  // the new reverse-path, without brackets
  std::vector<std::string> added_recipients;    // without brackets
  std::vector<std::string> removed_recipients;  // without brackets
  std::optional<std::string> quarantine;        // the reason
  bool any() const {
    return !headers.empty() || body || sender || !added_recipients.empty() || !removed_recipients.empty() || quarantine;
  }
};

// The value of a macro ("j", "{client_addr}") at this point of the session, or nullopt.
using MacroLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The macros sent at each stage unless a filter asks for others, as
// Postfix's milter_*_macros defaults (plus the client's address, name and
// port at connect).
const std::vector<std::string>& default_macros(MacroStage stage);

// What one filter may ask for at the end of one message; past these it has
// failed (its on_error applies), so a filter cannot make the MTA hold
// unbounded headers or recipients.
inline constexpr std::size_t max_header_edits = 1000;
inline constexpr std::uint64_t max_header_edit_octets = 1024 * 1024;

class Chain {
 public:
  // `max_body_octets`: the largest replacement body taken from a filter;
  // `max_recipients`: the most recipients one filter may add (or remove).
  Chain(asio::any_io_executor executor, std::vector<config::Milter> milters, std::uint64_t max_body_octets,
        std::size_t max_recipients);
  ~Chain();

  // `family`: '4', '6' or 'U'.
  asio::awaitable<Decision> connect(std::string hostname, char family, std::uint16_t port, std::string address,
                                    const MacroLookup& macros);
  asio::awaitable<Decision> helo(std::string name, const MacroLookup& macros);
  // `args`: "<address>" then the ESMTP parameters.
  asio::awaitable<Decision> mail(std::vector<std::string> args, const MacroLookup& macros);
  asio::awaitable<Decision> rcpt(std::vector<std::string> args, const MacroLookup& macros);
  asio::awaitable<Decision> data(const MacroLookup& macros);
  // The message, read back from the spool at the end of DATA, goes to one
  // filter after the other (`filter`: 0 to size() - 1), as under Postfix:
  // each sees the message with the changes of those before it applied, so
  // OpenDMARC after OpenDKIM sees its Authentication-Results:.
  std::size_t size() const { return slots_.size(); }
  asio::awaitable<Decision> header(std::size_t filter, const std::string& name, const HeaderField& field);
  asio::awaitable<Decision> end_of_headers(std::size_t filter, const MacroLookup& macros);
  asio::awaitable<Decision> body(std::size_t filter, std::string_view chunk);  // at most body_chunk_octets
  asio::awaitable<Decision> end_of_message(std::size_t filter, const MacroLookup& macros, MessageChanges& changes);
  // Whether the filter still wants this message (its end), and its body.
  bool wants_content(std::size_t filter) const;
  bool wants_body(std::size_t filter) const;
  // Whether a filter discarded the message under way (at any stage from MAIL on).
  bool discarded() const { return discard_; }
  // The filter failed at the end of the message for a reason found outside
  // the chain: closed, and its on_error applies (a tempfail, or nullopt).
  std::optional<Decision> fail(std::size_t filter, const std::string& error);
  asio::awaitable<void> quit();
  // Closes every filter's connection at once (a forced shutdown): a wait
  // under way ends now instead of at the filter's timeout.
  void cancel();

 private:
  struct Slot;
  enum class Stage { connect, helo, mail, rcpt, data, header, eoh, body, eom };
  using Builder = std::function<std::string(const Negotiated&)>;
  // `only`: the one filter to send it to; all that listen otherwise.
  asio::awaitable<Decision> event(Stage stage, char command, const Builder& packet, const MacroLookup* macros,
                                  MessageChanges* changes, std::optional<std::size_t> only = std::nullopt);
  std::optional<Decision> failed(Slot& slot, Stage stage, const std::string& error);
  bool listening(const Slot& slot, Stage stage) const;

  asio::any_io_executor executor_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::uint64_t max_body_octets_;
  std::size_t max_recipients_;
  std::optional<Decision> sticky_;  // a failed filter's tempfail, for every later transaction
  bool discard_ = false;            // a filter discarded the message under way
};

}  // namespace postern::milter
