// Mailpit's REST API (SPEC §10 "Mailpit-compatible API"), so test code
// written for Mailpit (the mailpit-api npm client, cypress-mailpit,
// playwright-mailpit, pytest plugins) runs unchanged against the testbed:
// /api/v1/… with Mailpit's paths, methods, PascalCase JSON and search
// syntax (search.hpp), `latest` for an ID, /view/{ID}.html|.txt, /livez
// and /readyz. Served by the testbed's guarded HTTP server (its Host and
// CSRF checks apply). Errors are JSON: {"Error": "..."} with 400 or 404.
//
// Where it differs from Mailpit: IDs are the testbed's queue ids; read
// flags and tags set over the API live in memory; POST /api/v1/send keeps
// the message without passing it through the SMTP scenarios; a bad JSON
// body to DELETE /api/v1/messages is a 400 (Mailpit deletes everything);
// HTML views carry `Content-Security-Policy: sandbox` (no script of a
// captured mail runs with the API's origin); no websocket, no HTML, link
// or SpamAssassin checks, no chaos (rules do that, deterministically).
#pragma once

#include <chrono>

#include <optional>
#include <stdexcept>
#include <string>

namespace httplib {
class Server;
struct Request;
}

namespace postern::testbed {

class Messages;
class Transcripts;

struct SearchTooSlow : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The message an {ID} path names: the id when it is kept; "latest" is the
// newest (of those matching the request's ?query=, when given). Throws
// std::invalid_argument for a ?query= that is no search, SearchTooSlow
// for one that ran past its time.
std::optional<std::string> resolve_message_id(const Messages& messages, const httplib::Request& req, const std::string& id);

// Adds the routes to `server`. `started`: for the uptime in /api/v1/info.
void add_mailpit_routes(httplib::Server& server, Messages& messages, Transcripts& transcripts,
                        std::chrono::steady_clock::time_point started);

}  // namespace postern::testbed
