#include "policy/triplet.hpp"

#include <vector>

#include "util/strings.hpp"

namespace postern::policy {
namespace {

bool word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool srs_tag(std::string_view local, char which) {
  return local.size() > 5 && util::istarts_with(local, "SRS") && local[3] == which &&
         (local[4] == '=' || local[4] == '+' || local[4] == '-');
}

// "HHH=TT=domain=local" (what follows "SRS0=") -> local@domain; "" if malformed.
std::string srs0_original(std::string_view rest) {
  std::size_t first = rest.find('=');
  if (first == std::string_view::npos) return {};
  std::size_t second = rest.find('=', first + 1);
  if (second == std::string_view::npos) return {};
  std::size_t third = rest.find('=', second + 1);
  if (third == std::string_view::npos) return {};
  auto domain = rest.substr(second + 1, third - second - 1);
  auto local = rest.substr(third + 1);
  if (domain.empty() || local.empty()) return {};
  return std::string(local) + "@" + std::string(domain);
}

// RFC-less but widespread: SRS (Shevek's scheme, as libsrs2 and postsrsd write it).
std::string strip_srs(std::string_view address) {
  auto at = address.rfind('@');
  if (at == std::string_view::npos) return std::string(address);
  auto local = address.substr(0, at);
  if (srs_tag(local, '0')) {
    auto original = srs0_original(local.substr(5));
    if (!original.empty()) return original;
  } else if (srs_tag(local, '1')) {
    // SRS1=HHH=first-forwarder==HHH=TT=domain=local
    auto dd = local.find("==");
    if (dd != std::string_view::npos) {
      auto original = srs0_original(local.substr(dd + 2));
      if (!original.empty()) return original;
    }
  }
  return std::string(address);
}

std::string strip_batv(std::string_view local) {
  for (std::string_view tag : {"prvs=", "msprvs1="}) {
    if (util::istarts_with(local, tag)) {
      auto rest = local.substr(tag.size());
      auto eq = rest.find('=');
      if (eq != std::string_view::npos && eq + 1 < rest.size()) return std::string(rest.substr(eq + 1));
    }
  }
  return std::string(local);
}

std::string verp_digits(std::string_view local) {
  if (auto plus = local.find('+'); plus != std::string_view::npos && plus > 0) local = local.substr(0, plus);
  std::string out;
  std::size_t i = 0;
  while (i < local.size()) {
    if (!word_char(local[i])) {
      out += local[i++];
      continue;
    }
    std::size_t j = i;
    bool digits = true;
    while (j < local.size() && word_char(local[j])) {
      if (local[j] < '0' || local[j] > '9') digits = false;
      ++j;
    }
    if (digits) {
      out += '#';
    } else {
      out.append(local.substr(i, j - i));
    }
    i = j;
  }
  return out;
}

}  // namespace

std::string normalize_sender(std::string_view reverse_path) {
  if (reverse_path.empty()) return "<>";
  std::string address = strip_srs(reverse_path);
  auto at = address.rfind('@');
  if (at == std::string::npos) return verp_digits(strip_batv(address));
  std::string local = verp_digits(strip_batv(std::string_view(address).substr(0, at)));
  return local + "@" + util::to_lower(std::string_view(address).substr(at + 1));
}

std::string normalize_recipient(std::string_view forward_path) {
  auto at = forward_path.rfind('@');
  if (at == std::string_view::npos) return util::to_lower(forward_path);  // <postmaster>
  return std::string(forward_path.substr(0, at)) + "@" + util::to_lower(forward_path.substr(at + 1));
}

std::string Triplet::key() const { return network + '\x1f' + sender + '\x1f' + recipient; }

std::string Triplet::str() const {
  std::string s = sender == "<>" ? sender : "<" + sender + ">";
  return network + " " + s + " <" + recipient + ">";
}

}  // namespace postern::policy
