// The HTTP side of releases (SPEC §10): `POST /api/messages/{id}/release`
// ({"to": [...], "server": "HOST:PORT"}), Mailpit's
// `POST /api/v1/message/{ID}/release` ({"To": [...]}) on the same code, and
// each release's state as JSON for `GET /api/messages/{id}` (`releases`).
#pragma once

#include <string_view>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "testbed/messages.hpp"
#include "testbed/releases.hpp"

namespace postern::testbed {

// A release body. `mailpit`: Mailpit's form ({"To": [...]}, no server).
// Throws std::invalid_argument saying what is wrong (bad JSON, a key that
// is not known, a type that is not right); the addresses are checked by
// check_release_request.
ReleaseRequest release_request_from_json(std::string_view text, bool mailpit);

// {id, to, server, status, attempts, last_reply, next_attempt, created, recipients}
nlohmann::json release_json(const Release& release);
// Every release of one kept message, oldest first.
nlohmann::json releases_json(const Releases& releases, const std::string& message_id);

void add_release_routes(httplib::Server& server, Messages& messages, Releases& releases);

}  // namespace postern::testbed
