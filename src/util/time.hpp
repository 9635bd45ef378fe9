// Dates as mail headers write them.
#pragma once

#include <chrono>
#include <string>

namespace postern::util {

// RFC 5322 §3.3 date-time in UTC: "Sun, 29 Nov 2026 09:00:00 +0000".
std::string rfc5322_date(std::chrono::system_clock::time_point when);

}  // namespace postern::util
