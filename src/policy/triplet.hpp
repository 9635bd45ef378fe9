// The greylist triplet (RFC 6647 §2): client network, envelope sender,
// recipient, each normalised so that one legitimate sender retrying does
// not look like a new triplet every time:
//  * domains are compared in lower case (RFC 5321 §2.4);
//  * SRS0/SRS1 forwarder addresses become the original sender;
//  * BATV (prvs=, msprvs1=) tags are stripped;
//  * as postgrey does for VERP, a "+extension" is dropped and every number
//    that stands alone between separators ("bounce-1234-5678") becomes '#'.
// The null reverse-path is kept as "<>" and greylisted like any sender.
#pragma once

#include <string>
#include <string_view>

namespace postern::policy {

// `reverse_path` without angle brackets, "" for the null sender.
std::string normalize_sender(std::string_view reverse_path);
// `forward_path` without angle brackets: the domain in lower case.
std::string normalize_recipient(std::string_view forward_path);

struct Triplet {
  std::string network;    // "192.0.2.0/24"
  std::string sender;     // normalised
  std::string recipient;  // normalised

  // One string naming the triplet in stores; fields joined by 0x1F, which
  // no SMTP address or network can contain.
  std::string key() const;
  // "192.0.2.0/24 <a@b> <c@d>" for logs and `greylist list`.
  std::string str() const;
};

}  // namespace postern::policy
