#include "dkim/signer.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>
#include <memory>

#include "dkim/canon.hpp"
#include "mime/reader.hpp"
#include "sasl/base64.hpp"
#include "util/strings.hpp"

namespace postern::dkim {

namespace {

// The fields RFC 6376 §5.4.1 recommends signing (not Received: or
// Return-Path:, which hops add).
const char* const signed_fields[] = {
    "from", "sender", "reply-to", "subject", "date", "message-id", "to", "cc", "mime-version", "content-type",
    "content-transfer-encoding", "content-id", "content-description", "resent-date", "resent-from", "resent-sender",
    "resent-to", "resent-cc", "resent-message-id", "in-reply-to", "references", "list-id", "list-help",
    "list-unsubscribe", "list-unsubscribe-post", "list-subscribe", "list-post", "list-owner", "list-archive"};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) throw SignError("SHA-256 failed");
  return std::string(reinterpret_cast<char*>(md), len);
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

std::shared_ptr<EVP_PKEY> load(const SigningKey& key) {
  std::shared_ptr<EVP_PKEY> pkey = key.pkey;
  if (!pkey) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(key.pem.data(), static_cast<int>(key.pem.size())),
                                                  &BIO_free);
    if (EVP_PKEY* p = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr)
      pkey.reset(p, EVP_PKEY_free);
  }
  const int want = key.algorithm == Algorithm::ed25519 ? EVP_PKEY_ED25519 : EVP_PKEY_RSA;
  if (!pkey || EVP_PKEY_get_base_id(pkey.get()) != want)
    throw SignError("the key of " + key.selector + "._domainkey." + key.domain + " is not a usable " +
                    (key.algorithm == Algorithm::ed25519 ? "Ed25519" : "RSA") + " private key");
  return pkey;
}

// rsa-sha256: RSASSA-PKCS1-v1_5 with SHA-256 over the data (RFC 6376
// §3.3.1). ed25519-sha256: PureEd25519 over the SHA-256 of the data
// (RFC 8463 §3).
std::string signature(const SigningKey& key, std::string_view data) {
  auto pkey = load(key);
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  const bool ed = key.algorithm == Algorithm::ed25519;
  const std::string digest = ed ? sha256(data) : std::string();
  const std::string_view input = ed ? std::string_view(digest) : data;
  std::size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, ed ? nullptr : EVP_sha256(), nullptr, pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    throw SignError("cannot sign with " + key.selector + "._domainkey." + key.domain);
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    throw SignError("cannot sign with " + key.selector + "._domainkey." + key.domain);
  sig.resize(len);
  return sig;
}

// "h=" with every signed field that is present, once per occurrence, and
// From: once more (oversigning, §8.15: no From: can be added unnoticed).
std::vector<std::string> names_to_sign(const SplitMessage& m) {
  std::vector<std::string> names;
  for (const auto& f : m.fields) {
    const std::string n = lower(f.name);
    if (std::find(std::begin(signed_fields), std::end(signed_fields), n) != std::end(signed_fields)) names.push_back(n);
  }
  names.push_back("from");
  return names;
}

// The canonical fields named in `names`, chosen as §5.4.2 says: each name
// takes the last not yet used field of that name; a name with none left
// contributes nothing.
std::string hashed_fields(const SplitMessage& m, const std::vector<std::string>& names) {
  std::map<std::string, std::vector<const Field*>> by_name;
  for (const auto& f : m.fields) by_name[lower(f.name)].push_back(&f);
  std::string out;
  for (const auto& n : names) {
    auto it = by_name.find(n);
    if (it == by_name.end() || it->second.empty()) continue;
    out += relaxed_header(it->second.back()->raw);
    it->second.pop_back();
  }
  return out;
}

// The tag list folded a tag per line, h= at its colons, under 78 columns.
std::string fold_list(const std::vector<std::string>& names) {
  std::string out = "h=";
  std::size_t col = 3;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string piece = names[i] + (i + 1 < names.size() ? ":" : ";");
    if (col + piece.size() > 76) {
      out += "\r\n\t";
      col = 1;
    }
    out += piece;
    col += piece.size();
  }
  return out;
}

}  // namespace

std::string sign(std::string_view message, const std::vector<SigningKey>& keys) {
  const SplitMessage m = split(message);
  if (keys.empty()) return {};
  const std::string body_hash = sasl::base64_encode(sha256(relaxed_body(m.body)));
  const auto names = names_to_sign(m);
  const std::string fields = hashed_fields(m, names);
  const std::string now = std::to_string(static_cast<long long>(std::time(nullptr)));
  std::string out;
  for (const auto& key : keys) {
    // b= empty: that is how the field itself enters the hash (§3.7).
    const std::string head = std::string("DKIM-Signature: v=1; a=") +
                             (key.algorithm == Algorithm::ed25519 ? "ed25519-sha256" : "rsa-sha256") +
                             "; c=relaxed/relaxed;\r\n\td=" + key.domain + "; s=" + key.selector + "; t=" + now +
                             ";\r\n\t" + fold_list(names) + "\r\n\tbh=" + body_hash + ";\r\n\tb=";
    std::string canonical = relaxed_header(head);
    canonical.resize(canonical.size() - 2);  // the field itself enters without its CRLF
    const std::string b = sasl::base64_encode(signature(key, fields + canonical));
    out += head;
    for (std::size_t pos = 0; pos < b.size(); pos += 72) out += (pos ? "\r\n\t " : "") + b.substr(pos, 72);
    out += "\r\n";
  }
  return out;
}

std::string from_domain(std::string_view message) {
  // RFC 5322 §3.6: one From: field. With two, readers show either; a
  // signature would vouch for the one it was not asked about.
  std::size_t from_fields = 0;
  for (const auto& f : split(message).fields)
    if (util::iequals(util::trim(f.name), "from")) ++from_fields;
  if (from_fields != 1) return "";
  const auto end = message.find("\r\n\r\n");
  auto from = mime::from_addresses(message.substr(0, end == std::string_view::npos ? message.size() : end + 4));
  if (from.empty()) return "";
  const auto at = from.front().rfind('@');
  return at == std::string::npos ? "" : lower(from.front().substr(at + 1));
}

}  // namespace postern::dkim
