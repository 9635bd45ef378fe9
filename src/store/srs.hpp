// The Sender Rewriting Scheme (SRS, Shevek's scheme as used by postsrsd and
// libsrs2): when a local alias forwards mail to another domain, the
// envelope sender becomes an address of ours, so the next hop's SPF check
// sees our domain, and a bounce still finds its way back:
//
//   alice@sender.example  ->  SRS0=HHHHHH=TT=sender.example=alice@ours.example
//   SRS0=h=t=d=l@fwd.example  ->  SRS1=HHHHHH=fwd.example==h=t=d=l@ours.example
//
// HHHHHH is an HMAC-SHA1 of the rest under a secret of this installation,
// TT the day (mod 1024), both in base32 so that a peer that lower-cases
// the local part breaks nothing. reverse() accepts an address of ours for
// max_age_days and nothing forged. Debian packages no SRS library (postsrsd
// is a daemon), so the scheme is written here on OpenSSL's HMAC; the hash
// is longer than libsrs2's (30 bits, not 24), so the two do not mix.
//
// The secret lives in data_dir/srs.key (0600), made on first use.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace postern::store {

class Srs {
 public:
  static constexpr int max_age_days = 21;

  explicit Srs(std::string secret) : secret_(std::move(secret)) {}
  // The secret in `file`, created (random, 0600) if absent. Throws IoError.
  static Srs from_file(const std::filesystem::path& file);

  // `sender` rewritten into `domain` (ours). An address without a domain
  // is returned unchanged.
  std::string forward(std::string_view sender, std::string_view domain,
                      std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;
  // The address `local_part` (an SRS0= or SRS1= local part of ours) stands
  // for; nullopt when it is forged, damaged or too old.
  std::optional<std::string> reverse(std::string_view local_part,
                                     std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;

  // True when `local_part` has the SRS0=/SRS1= form (any case).
  static bool is_srs(std::string_view local_part);

 private:
  std::string hash(std::string_view data) const;
  std::string secret_;
};

}  // namespace postern::store
