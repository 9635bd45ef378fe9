#include "mta_sts/fetch.hpp"

#include <curl/curl.h>
#include <openssl/x509.h>

#include <cstdlib>
#include <memory>
#include <mutex>

#include "util/env.hpp"
#include "util/strings.hpp"

namespace postern::mta_sts {

namespace {

constexpr std::size_t max_policy = 64 * 1024;  // RFC 8461 §3.3: policies are small; 64 KiB as chasquid allows

struct Body {
  std::string text;
  bool too_big = false;
};

std::size_t on_data(char* data, std::size_t size, std::size_t n, void* user) {
  auto* body = static_cast<Body*>(user);
  if (body->text.size() + size * n > max_policy) {
    body->too_big = true;
    return 0;  // libcurl ends the transfer
  }
  body->text.append(data, size * n);
  return size * n;
}

struct EasyFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct ListFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

std::uint16_t https_port_from_environment() { return util::port_from_environment("POSTERN_MTA_STS_PORT", 443); }

FetchResult fetch_policy(const std::string& domain, const std::vector<std::string>& addresses, std::uint16_t port,
                         std::chrono::milliseconds timeout) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  FetchResult r;
  const std::string host = "mta-sts." + domain;
  const std::string url = "https://" + host + (port == 443 ? "" : ":" + std::to_string(port)) +
                          "/.well-known/mta-sts.txt";
  std::unique_ptr<CURL, EasyFree> curl(curl_easy_init());
  if (!curl) {
    r.error = "libcurl cannot start";
    return r;
  }
  std::string pinned;
  for (const auto& a : addresses) pinned += (pinned.empty() ? "" : ",") + (a.find(':') != std::string::npos ? "[" + a + "]" : a);
  std::unique_ptr<curl_slist, ListFree> resolve(
      curl_slist_append(nullptr, (host + ":" + std::to_string(port) + ":" + pinned).c_str()));
  Body body;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_RESOLVE, resolve.get());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // §3.3: redirects are not followed
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (const char* ca = std::getenv(X509_get_default_cert_file_env()); ca && *ca) curl_easy_setopt(c, CURLOPT_CAINFO, ca);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "Postern MTA-STS");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  char detail[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, detail);
  const CURLcode rc = curl_easy_perform(c);
  if (body.too_big) {
    r.error = url + ": policy larger than 64 KiB";
    return r;
  }
  if (rc != CURLE_OK) {
    r.error = url + ": " + util::printable(*detail ? detail : curl_easy_strerror(rc), 300);
    return r;
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    r.error = url + ": HTTP " + std::to_string(status) + " (only 200 is a policy; redirects are not followed)";
    return r;
  }
  const char* type = nullptr;
  curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
  const std::string media = util::to_lower(type ? std::string_view(type).substr(0, std::string_view(type).find(';')) : "");
  if (media != "text/plain") {
    r.error = url + ": Content-Type \"" + util::printable(type ? type : "", 80) + "\", not text/plain";
    return r;
  }
  r.ok = true;
  r.body = std::move(body.text);
  return r;
}

}  // namespace postern::mta_sts
