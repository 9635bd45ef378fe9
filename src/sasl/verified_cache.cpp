#include "sasl/verified_cache.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

#include "sasl/secrets.hpp"

namespace postern::sasl {

VerifiedCache::VerifiedCache(std::size_t max_entries, Clock clock)
    : max_entries_(max_entries == 0 ? 1 : max_entries), clock_(std::move(clock)), key_(32, '\0') {
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key_.data()), static_cast<int>(key_.size())) != 1)
    throw std::runtime_error("no random bytes from OpenSSL");
}

VerifiedCache::~VerifiedCache() {
  wipe(key_);
  for (auto& [user, entry] : entries_) wipe(entry.digest);
}

VerifiedCache& VerifiedCache::process() {
  static VerifiedCache cache;
  return cache;
}

// The user and H are inside the MAC, so an entry moved to another user or
// paired with another hash does not verify.
std::string VerifiedCache::digest(std::string_view user, std::string_view hash, std::string_view password) const {
  std::string message;
  message.reserve(user.size() + hash.size() + password.size() + 2);
  message.append(user).append(1, '\0').append(hash).append(1, '\0').append(password);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const bool ok = HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &len) != nullptr;
  wipe(message);
  if (!ok) throw std::runtime_error("HMAC-SHA-256 failed");
  std::string result(reinterpret_cast<char*>(mac), len);
  OPENSSL_cleanse(mac, sizeof mac);
  return result;
}

void VerifiedCache::erase(std::unordered_map<std::string, Entry>::iterator it) {
  wipe(it->second.digest);
  recent_.erase(it->second.lru);
  entries_.erase(it);
}

void VerifiedCache::clear() {
  std::lock_guard lock(mutex_);
  while (!entries_.empty()) erase(entries_.begin());
}

bool VerifiedCache::contains(std::string_view user, std::string_view hash, std::string_view password,
                             std::chrono::seconds ttl) {
  if (ttl.count() <= 0) {
    clear();
    return false;
  }
  std::string offered = digest(user, hash, password);  // outside the lock: the pool runs these side by side
  const auto now = clock_();
  std::lock_guard lock(mutex_);
  auto it = entries_.find(std::string(user));
  if (it == entries_.end()) {
    wipe(offered);
    return false;
  }
  Entry& e = it->second;
  if (e.hash != hash || now - e.verified_at >= ttl || now < e.verified_at) {
    wipe(offered);
    erase(it);
    return false;
  }
  const bool match = e.digest.size() == offered.size() &&
                     CRYPTO_memcmp(e.digest.data(), offered.data(), offered.size()) == 0;
  wipe(offered);
  // A wrong password leaves the entry: the right one is still the right one.
  if (match) recent_.splice(recent_.begin(), recent_, e.lru);
  return match;
}

void VerifiedCache::remember(std::string_view user, std::string_view hash, std::string_view password) {
  std::string d = digest(user, hash, password);
  const auto now = clock_();
  std::lock_guard lock(mutex_);
  auto it = entries_.find(std::string(user));
  if (it != entries_.end()) erase(it);
  while (entries_.size() >= max_entries_ && !recent_.empty()) erase(entries_.find(recent_.back()));
  recent_.emplace_front(user);
  entries_.emplace(std::string(user), Entry{std::string(hash), std::move(d), now, recent_.begin()});
}

std::size_t VerifiedCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace postern::sasl
