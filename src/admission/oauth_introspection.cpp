#include "admission/oauth_introspection.hpp"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "sasl/secrets.hpp"
#include "util/strings.hpp"

namespace postern::admission {
namespace {

constexpr std::size_t kMaxAnswer = 64 * 1024;

using Clock = std::chrono::system_clock;

std::string sha256(std::string_view s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(md), len);
}

struct Answer {
  std::string text;
  bool too_big = false;
};

std::size_t on_data(char* data, std::size_t size, std::size_t n, void* user) {
  auto* a = static_cast<Answer*>(user);
  if (a->text.size() + size * n > kMaxAnswer) {
    a->too_big = true;
    return 0;
  }
  a->text.append(data, size * n);
  return size * n;
}

struct EasyFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct ListFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// RFC 6749 §2.3.1: client id and secret are form-encoded before Basic.
std::string form_encode(CURL* c, std::string_view s) {
  char* e = curl_easy_escape(c, s.data(), static_cast<int>(s.size()));
  std::string out = e ? e : "";
  curl_free(e);
  return out;
}

sasl::TokenInfo unavailable(std::string detail) {
  sasl::TokenInfo t;
  t.state = sasl::TokenInfo::State::unavailable;
  t.detail = std::move(detail);
  return t;
}

// The client secret: the first line of the file, which must not be readable by everyone.
std::optional<std::string> read_secret(const std::filesystem::path& file, std::string& error) {
  struct stat st{};
  if (::stat(file.c_str(), &st) != 0) {
    error = "cannot read auth.oauth_client_secret_file " + file.string();
    return std::nullopt;
  }
  if (st.st_mode & S_IROTH) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    error = "auth.oauth_client_secret_file " + file.string() + " is readable by everyone (mode " + mode +
            "): chmod 600 it";
    return std::nullopt;
  }
  std::ifstream in(file);
  std::string line;
  if (!in || !std::getline(in, line)) {
    error = "cannot read auth.oauth_client_secret_file " + file.string();
    return std::nullopt;
  }
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  return line;
}

// The URL for the log, without any user:password@ it carries.
std::string without_userinfo(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const auto host = scheme + 3;
  const auto at = url.find('@', host), slash = url.find('/', host);
  if (at == std::string::npos || (slash != std::string::npos && at > slash)) return url;
  return url.substr(0, host) + url.substr(at + 1);
}

}  // namespace

IntrospectionVerifier::Settings IntrospectionVerifier::settings_of(const config::Config& c) {
  return {c.auth.oauth_introspection_url, c.auth.oauth_client_id, c.auth.oauth_client_secret_file,
          c.auth.oauth_introspection_ca, c.auth.oauth_scope};
}

IntrospectionVerifier::IntrospectionVerifier(Settings settings) : settings_(std::move(settings)) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

sasl::TokenInfo IntrospectionVerifier::verify(std::string_view token) {
  const std::string key = sha256(token);
  const auto now = Clock::now();
  {
    std::lock_guard lock(mutex_);
    if (auto it = cache_.find(key); it != cache_.end()) {
      if (it->second.expires > now) return {sasl::TokenInfo::State::active, it->second.user, {}};
      cache_.erase(it);
    }
  }
  Clock::time_point expires{};
  auto info = ask(token, &expires);
  if (info.state == sasl::TokenInfo::State::active && expires > now) {
    std::lock_guard lock(mutex_);
    if (cache_.size() >= kMaxCached) {
      std::erase_if(cache_, [&](const auto& e) { return e.second.expires <= now; });
      if (cache_.size() >= kMaxCached) cache_.clear();  // a flood of fresh tokens: start over
    }
    cache_[key] = {info.user, expires};
  }
  return info;
}

sasl::TokenInfo IntrospectionVerifier::ask(std::string_view token, Clock::time_point* expires) {
  const std::string url = without_userinfo(settings_.url);  // for messages
  std::unique_ptr<CURL, EasyFree> easy(curl_easy_init());
  if (!easy) return unavailable("libcurl cannot start");
  CURL* c = easy.get();
  std::string secret, error;
  if (!settings_.secret_file.empty()) {
    auto s = read_secret(settings_.secret_file, error);
    if (!s) return unavailable(error);
    secret = std::move(*s);
  }
  std::string user = form_encode(c, settings_.client_id), password = form_encode(c, secret);
  sasl::wipe(secret);
  std::string form = "token=" + form_encode(c, token) + "&token_type_hint=access_token";
  std::unique_ptr<curl_slist, ListFree> headers(curl_slist_append(nullptr, "Accept: application/json"));
  Answer answer;
  char detail[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_URL, settings_.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (!settings_.ca.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, settings_.ca.c_str());
  else if (const char* ca = std::getenv(X509_get_default_cert_file_env()); ca && *ca) curl_easy_setopt(c, CURLOPT_CAINFO, ca);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(kTimeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "Postern OAuth");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, form.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(form.size()));
  if (!settings_.client_id.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(c, CURLOPT_USERNAME, user.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, password.c_str());
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, detail);
  const CURLcode rc = curl_easy_perform(c);
  sasl::wipe(form);
  sasl::wipe(password);
  if (answer.too_big) return unavailable(url + ": answer larger than 64 KiB");
  if (rc == CURLE_OPERATION_TIMEDOUT)
    return unavailable(url + ": no answer within " + std::to_string(kTimeout.count() / 1000) + " s");
  if (rc != CURLE_OK) return unavailable(url + ": " + util::printable(*detail ? detail : curl_easy_strerror(rc), 300));
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) return unavailable(url + ": HTTP " + std::to_string(status));

  auto json = nlohmann::json::parse(answer.text, nullptr, false);
  if (json.is_discarded() || !json.is_object() || !json.contains("active") || !json["active"].is_boolean())
    return unavailable(url + ": not an RFC 7662 answer (no boolean \"active\")");
  sasl::TokenInfo info;
  info.state = sasl::TokenInfo::State::inactive;
  if (!json["active"].get<bool>()) return info;
  for (const char* name : {"username", "sub"}) {
    if (auto it = json.find(name); it != json.end() && it->is_string() && !it->get<std::string>().empty()) {
      info.user = it->get<std::string>();
      break;
    }
  }
  if (auto it = json.find("exp"); it != json.end() && it->is_number()) {
    const auto exp = Clock::time_point(std::chrono::seconds(it->get<long long>()));
    if (exp <= Clock::now()) return info;  // expired, whatever "active" says
    *expires = exp;
  }
  if (info.user.empty()) {  // a token that names nobody authenticates nobody
    info.state = sasl::TokenInfo::State::unowned;
    return info;
  }
  info.state = sasl::TokenInfo::State::active;
  return info;
}

}  // namespace postern::admission
