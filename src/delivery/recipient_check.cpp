#include "delivery/recipient_check.hpp"

#include "delivery/lmtp.hpp"
#include "dovecot/userdb_client.hpp"
#include "log/log.hpp"
#include "smtp/replies.hpp"

namespace postern::delivery {

bool checks_recipients(const config::Config& config) {
  return !config.auth.dovecot_userdb.empty() || config.delivery.lmtp();
}

namespace {

asio::awaitable<std::optional<smtp::Reply>> ask_userdb(asio::any_io_executor executor, const config::Config& config,
                                                       std::string address) {
  std::string error;
  auto where = dovecot::parse_socket_address(config.auth.dovecot_userdb, &error);
  if (!where) {
    log::Event("userdb_unavailable").add("to", "<" + address + ">").add("error", error);
    co_return smtp::Reply(451, "4.4.0", "User database unavailable, try again later");
  }
  dovecot::ClientOptions options;
  options.address = *where;
  options.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(config.auth.dovecot_timeout);
  // Named, not temporaries: GCC 12 destroys temporaries in a co_await expression twice.
  std::string user = address;
  auto answer = co_await dovecot::lookup_user(executor, std::move(options), std::move(user));
  switch (answer.kind) {
    case dovecot::UserLookup::Kind::found: co_return std::nullopt;
    case dovecot::UserLookup::Kind::not_found: co_return smtp::replies::no_such_user();
    case dovecot::UserLookup::Kind::failed:
      log::Event("userdb_failed").add("to", "<" + address + ">").add("error", answer.detail);
      co_return smtp::Reply(451, "4.3.0", "Temporary user lookup failure, try again later");
    case dovecot::UserLookup::Kind::unreachable: break;
  }
  log::Event("userdb_unavailable").add("to", "<" + address + ">").add("socket", config.auth.dovecot_userdb)
      .add("error", answer.detail);
  co_return smtp::Reply(451, "4.4.0", "User database unavailable, try again later");
}

}  // namespace

asio::awaitable<std::optional<smtp::Reply>> check_recipient(asio::any_io_executor executor,
                                                            const config::Config& config, std::string address,
                                                            LmtpSessionPool* pool) {
  if (!config.auth.dovecot_userdb.empty()) co_return co_await ask_userdb(executor, config, std::move(address));
  if (config.delivery.lmtp()) co_return co_await lmtp_check_recipient(executor, config, std::move(address), pool);
  co_return std::nullopt;
}

}  // namespace postern::delivery
