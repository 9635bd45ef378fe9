// AUTH inside the server (RFC 4954): the seam the SASL side fills.
//
// auth_mechanisms_for() gives the mechanisms the EHLO reply advertises
// on "250-AUTH ..." (empty: no AUTH line). handle_auth() runs the whole
// exchange for one AUTH command: it may read continuation lines with
// Session::read_line() and send 334 challenges with Session::send(); it
// marks success with Session::set_authenticated() and returns the final
// reply (235, 535, 501, 504, 538, 503, 454, or 421 after calling
// Session::close_after_reply()). The session writes the returned reply,
// counts 5xx toward max_errors and logs it; AUTH payloads are never logged.
#pragma once

#include <string>
#include <vector>

#include <asio/awaitable.hpp>

#include "smtp/command.hpp"
#include "smtp/reply.hpp"

namespace postern::server {

class Session;

std::vector<std::string> auth_mechanisms_for(const Session& session);

asio::awaitable<smtp::Reply> handle_auth(Session& session, const smtp::Command& command);

}  // namespace postern::server
