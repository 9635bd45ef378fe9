#include "dkim/verifier.hpp"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>

#include "sasl/base64.hpp"

namespace postern::dkim {
namespace {

bool wsp(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && wsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && wsp(s.back())) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string no_space(std::string_view s) {
  std::string out;
  for (char c : s)
    if (!wsp(c)) out += c;
  return out;
}

std::optional<std::string> base64(std::string_view s) { return sasl::base64_decode(no_space(s)); }

std::optional<long long> number(std::string_view s, std::size_t max_digits = 12) {
  if (s.empty() || s.size() > max_digits) return std::nullopt;
  long long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::vector<std::string> split_colons(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    auto c = s.find(':', start);
    auto item = trim(s.substr(start, c == std::string_view::npos ? std::string_view::npos : c - start));
    out.push_back(lower(item));
    if (c == std::string_view::npos) break;
    start = c + 1;
  }
  return out;
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// OpenSSL 3 decodes a key slowly (its decoder framework takes locks);
// the same few keys sign most mail, so each thread keeps the last ones.
std::shared_ptr<EVP_PKEY> public_key(const std::string& der, bool ed25519) {
  static constexpr std::size_t kept = 64;
  thread_local std::map<std::string, std::shared_ptr<EVP_PKEY>> cache;
  const std::string id = (ed25519 ? "e" : "r") + der;
  if (auto it = cache.find(id); it != cache.end()) return it->second;
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  EVP_PKEY* raw = nullptr;
  if (ed25519) {
    if (der.size() == 32) raw = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, p, der.size());
  } else {
    raw = d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size()));
    if (!raw) {
      p = reinterpret_cast<const unsigned char*>(der.data());
      raw = d2i_PublicKey(EVP_PKEY_RSA, nullptr, &p, static_cast<long>(der.size()));
    }
    if (raw && EVP_PKEY_get_base_id(raw) != EVP_PKEY_RSA) {
      EVP_PKEY_free(raw);
      raw = nullptr;
    }
  }
  if (!raw) return nullptr;
  std::shared_ptr<EVP_PKEY> key(raw, PkeyDeleter{});
  if (cache.size() >= kept) cache.erase(cache.begin());
  cache.emplace(id, key);
  return key;
}

}  // namespace

std::optional<std::map<std::string, std::string>> parse_tag_list(std::string_view text) {
  std::map<std::string, std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto semi = text.find(';', start);
    auto spec = text.substr(start, semi == std::string_view::npos ? std::string_view::npos : semi - start);
    start = semi == std::string_view::npos ? text.size() + 1 : semi + 1;
    if (trim(spec).empty()) {
      if (semi == std::string_view::npos) break;
      continue;  // a trailing ';' (§3.2 allows it); empty specs in between are tolerated too
    }
    auto eq = spec.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    auto name = trim(spec.substr(0, eq));
    if (name.empty() || !std::isalpha(static_cast<unsigned char>(name.front()))) return std::nullopt;
    for (char c : name)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return std::nullopt;
    if (!out.emplace(std::string(name), std::string(trim(spec.substr(eq + 1)))).second) return std::nullopt;
  }
  return out;
}

std::variant<Signature, std::string> parse_signature(std::string_view value) {
  auto tags = parse_tag_list(value);
  if (!tags) return std::string("malformed tag list");
  auto& t = *tags;
  for (const char* required : {"v", "a", "b", "bh", "d", "h", "s"})
    if (!t.count(required)) return std::string("missing ") + required + "=";
  if (t["v"] != "1") return std::string("unknown version");
  Signature s;
  s.algorithm = lower(t["a"]);
  if (s.algorithm == "rsa-sha1") return std::string("rsa-sha1 is not accepted (RFC 8301)");
  if (s.algorithm != "rsa-sha256" && s.algorithm != "ed25519-sha256") return "unknown algorithm " + s.algorithm;
  auto b = base64(t["b"]);
  auto bh = base64(t["bh"]);
  if (!b || b->empty()) return std::string("malformed b=");
  if (!bh || bh->size() != SHA256_DIGEST_LENGTH) return std::string("malformed bh=");
  s.b = *b;
  s.b_text = no_space(t["b"]);
  s.bh = *bh;
  if (auto c = t.find("c"); c != t.end()) {
    std::string v = lower(c->second);
    auto slash = v.find('/');
    std::string head = v.substr(0, slash), body = slash == std::string::npos ? "simple" : v.substr(slash + 1);
    if ((head != "simple" && head != "relaxed") || (body != "simple" && body != "relaxed"))
      return std::string("unknown canonicalization");
    s.relaxed_header = head == "relaxed";
    s.relaxed_body = body == "relaxed";
  }
  s.domain = lower(t["d"]);
  while (!s.domain.empty() && s.domain.back() == '.') s.domain.pop_back();
  if (s.domain.empty() || s.domain.size() > 253) return std::string("malformed d=");
  s.selector = lower(t["s"]);
  if (s.selector.empty() || s.selector.size() > 253) return std::string("malformed s=");
  for (char c : s.selector)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') return std::string("malformed s=");
  s.headers = split_colons(t["h"]);
  if (s.headers.size() > 256) return std::string("too many h= fields");
  if (std::find(s.headers.begin(), s.headers.end(), "from") == s.headers.end()) return std::string("h= does not sign From");
  for (const auto& h : s.headers)
    if (h.empty()) return std::string("malformed h=");
  s.identity = t.count("i") ? lower(t["i"]) : "@" + s.domain;
  {
    auto at = s.identity.rfind('@');
    if (at == std::string::npos) return std::string("malformed i=");
    std::string idom = s.identity.substr(at + 1);
    if (idom != s.domain && !(idom.size() > s.domain.size() && idom.ends_with("." + s.domain)))
      return std::string("i= is not in d=");
  }
  if (auto l = t.find("l"); l != t.end()) {
    auto v = number(l->second, 76);
    if (!v || l->second.size() > 18) return std::string("malformed l=");
    s.length = static_cast<std::uint64_t>(*v);
  }
  if (auto x = t.find("t"); x != t.end()) {
    auto v = number(x->second);
    if (!v) return std::string("malformed t=");
    s.timestamp = *v;
  }
  if (auto x = t.find("x"); x != t.end()) {
    auto v = number(x->second);
    if (!v) return std::string("malformed x=");
    s.expires = *v;
    if (s.timestamp && *s.expires < *s.timestamp) return std::string("x= is before t=");
  }
  if (auto q = t.find("q"); q != t.end()) {
    bool dns = false;
    for (const auto& m : split_colons(q->second)) dns = dns || m == "dns/txt";
    if (!dns) return std::string("q= names no dns/txt");
  }
  return s;
}

std::variant<KeyRecord, std::string> parse_key_record(std::string_view text) {
  auto tags = parse_tag_list(text);
  if (!tags) return std::string("malformed key record");
  auto& t = *tags;
  if (auto v = t.find("v"); v != t.end() && v->second != "DKIM1") return std::string("key record version is not DKIM1");
  auto p = t.find("p");
  if (p == t.end()) return std::string("key record without p=");
  KeyRecord k;
  if (auto kt = t.find("k"); kt != t.end()) k.type = lower(kt->second);
  if (k.type != "rsa" && k.type != "ed25519") return "unknown key type " + k.type;
  if (!trim(p->second).empty()) {
    auto decoded = base64(p->second);
    if (!decoded) return std::string("malformed p=");
    k.key = *decoded;
  }
  if (auto h = t.find("h"); h != t.end()) k.hashes = split_colons(h->second);
  if (auto s = t.find("s"); s != t.end()) {
    bool email = false;
    for (const auto& v : split_colons(s->second)) email = email || v == "*" || v == "email";
    if (!email) return std::string("key is not for email (s=)");
  }
  if (auto f = t.find("t"); f != t.end()) {
    for (const auto& v : split_colons(f->second)) {
      k.testing = k.testing || v == "y";
      k.strict = k.strict || v == "s";
    }
  }
  return k;
}

// ---- BodyHasher ----

struct BodyHasher::Ctx {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  ~Ctx() { EVP_MD_CTX_free(md); }
};

BodyHasher::BodyHasher(bool relaxed, std::optional<std::uint64_t> limit)
    : ctx_(std::make_unique<Ctx>()), relaxed_(relaxed), limit_(limit) {
  EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr);
}
BodyHasher::~BodyHasher() = default;
BodyHasher::BodyHasher(BodyHasher&&) noexcept = default;
BodyHasher& BodyHasher::operator=(BodyHasher&&) noexcept = default;

void BodyHasher::emit(std::string_view s) {
  const std::uint64_t before = length_;
  length_ += s.size();
  if (limit_) {
    if (before >= *limit_) return;
    s = s.substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(s.size(), *limit_ - before)));
  }
  out_ += s;
  if (out_.size() >= 16384) {
    EVP_DigestUpdate(ctx_->md, out_.data(), out_.size());
    out_.clear();
  }
}

// One content octet of a line: the empty lines and the white space held
// back before it are real after all.
void BodyHasher::emit_char(char c) {
  line_has_content_ = true;
  if (empty_lines_ == 0 && !wsp_ && !limit_) {  // the common case, one octet at a time
    ++length_;
    out_ += c;
    if (out_.size() >= 16384) {
      EVP_DigestUpdate(ctx_->md, out_.data(), out_.size());
      out_.clear();
    }
    return;
  }
  while (empty_lines_ > 0) {
    emit("\r\n");
    --empty_lines_;
  }
  if (wsp_) emit(" ");
  wsp_ = false;
  emit(std::string_view(&c, 1));
  line_has_content_ = true;
}

void BodyHasher::feed(std::string_view body) {
  for (char c : body) {
    if (cr_) {
      cr_ = false;
      if (c == '\n') {
        // End of a line: relaxed drops its trailing white space; an empty
        // line waits, since empty lines at the end of the body do not count.
        wsp_ = false;
        if (line_has_content_) emit("\r\n");
        else ++empty_lines_;
        line_has_content_ = false;
        continue;
      }
      emit_char('\r');
    }
    if (c == '\r') {
      cr_ = true;
    } else if (relaxed_ && (c == ' ' || c == '\t')) {
      wsp_ = true;
    } else {
      emit_char(c);
    }
  }
}

std::string BodyHasher::finish() {
  if (cr_) emit_char('\r');
  cr_ = false;
  if (line_has_content_) emit("\r\n");  // a last line without its CRLF gets one
  // simple: an empty body is one CRLF (§3.4.3)
  if (!relaxed_ && length_ == 0) emit("\r\n");
  if (!out_.empty()) EVP_DigestUpdate(ctx_->md, out_.data(), out_.size());
  out_.clear();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx_->md, digest, &n);
  return std::string(reinterpret_cast<char*>(digest), n);
}

// ---- verification ----

std::string_view to_string(Result result) {
  switch (result) {
    case Result::pass: return "pass";
    case Result::fail: return "fail";
    case Result::neutral: return "neutral";
    case Result::policy: return "policy";
    case Result::temperror: return "temperror";
    case Result::permerror: return "permerror";
  }
  return "permerror";
}

std::string signature_field_for_hashing(std::string_view raw, bool relaxed) {
  std::string field(raw);
  // The b= tag's value goes, everything else stays as it was (§3.7).
  const auto colon = field.find(':');
  if (colon != std::string::npos) {
    std::size_t pos = colon + 1;
    while (pos <= field.size()) {
      auto semi = field.find(';', pos);
      const std::size_t end = semi == std::string::npos ? field.size() : semi;
      std::string_view spec(field.data() + pos, end - pos);
      auto eq = spec.find('=');
      if (eq != std::string_view::npos && trim(spec.substr(0, eq)) == "b") {
        std::size_t value_start = pos + eq + 1;
        std::size_t value_end = end;
        // Keep the field's own final CRLF.
        if (semi == std::string::npos && field.ends_with("\r\n") && value_end >= 2) value_end -= 2;
        if (value_end > value_start) field.erase(value_start, value_end - value_start);
        break;
      }
      if (semi == std::string::npos) break;
      pos = semi + 1;
    }
  }
  std::string out = relaxed ? relaxed_header(field) : field;
  while (out.ends_with("\r\n")) out.resize(out.size() - 2);
  return out;
}

Verification verify(const Signature& sig, const std::vector<Field>& fields, std::size_t signature_index,
                    std::string_view key_text, const std::string& body_hash, std::uint64_t body_length,
                    long long now) {
  auto parsed = parse_key_record(key_text);
  if (auto* e = std::get_if<std::string>(&parsed)) return {Result::permerror, *e};
  const KeyRecord& key = std::get<KeyRecord>(parsed);
  if (key.key.empty()) return {Result::permerror, "key revoked"};
  const bool ed = sig.algorithm == "ed25519-sha256";
  if ((ed && key.type != "ed25519") || (!ed && key.type != "rsa")) return {Result::permerror, "key type does not match a="};
  if (!key.hashes.empty() && std::find(key.hashes.begin(), key.hashes.end(), "sha256") == key.hashes.end())
    return {Result::permerror, "key does not allow sha256"};
  if (key.strict && sig.identity.substr(sig.identity.rfind('@') + 1) != sig.domain)
    return {Result::permerror, "key requires i= to be d= (t=s)"};
  if (sig.expires && now > *sig.expires) return {Result::fail, "signature expired"};
  if (sig.length && *sig.length > body_length) return {Result::fail, "l= is longer than the body"};
  if (body_hash != sig.bh) return {Result::fail, "body hash mismatch"};

  // The signed header fields, each instance taken from the bottom up (§5.4.2).
  std::string data;
  std::vector<bool> used(fields.size(), false);
  for (const auto& name : sig.headers) {
    for (std::size_t i = fields.size(); i-- > 0;) {
      if (used[i] || i == signature_index || lower(trim(fields[i].name)) != name) continue;
      used[i] = true;
      data += sig.relaxed_header ? relaxed_header(fields[i].raw) : fields[i].raw;
      break;
    }
  }
  data += signature_field_for_hashing(fields[signature_index].raw, sig.relaxed_header);

  std::shared_ptr<EVP_PKEY> pkey = public_key(key.key, ed);
  if (!pkey) return {Result::permerror, ed ? "malformed Ed25519 key" : "malformed public key"};
  if (!ed && EVP_PKEY_get_bits(pkey.get()) < 1024) return {Result::permerror, "RSA key shorter than 1024 bits"};
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  int ok;
  const auto* sigbytes = reinterpret_cast<const unsigned char*>(sig.b.data());
  if (ed) {
    // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the canonical data.
    unsigned char hash[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), hash);
    ok = EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), sigbytes, sig.b.size(), hash, sizeof hash) == 1;
  } else {
    ok = EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), sigbytes, sig.b.size(), reinterpret_cast<const unsigned char*>(data.data()),
                          data.size()) == 1;
  }
  if (!ok) return {Result::fail, "signature does not verify"};
  return {Result::pass, ""};
}

}  // namespace postern::dkim
