#include "mta_sts/fetch.hpp"

#include <curl/curl.h>
#include <openssl/x509.h>

#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

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

// One fetch. Set up by the caller, run by the fetch thread, which writes
// `result`, frees the handle and then posts `finished` to the executor.
struct Transfer {
  explicit Transfer(const asio::any_io_executor& executor) : done(executor, asio::steady_timer::time_point::max()) {}

  std::unique_ptr<CURL, EasyFree> easy;
  std::unique_ptr<curl_slist, ListFree> resolve;
  std::string url;
  std::chrono::milliseconds timeout{};
  Body body;
  char detail[CURL_ERROR_SIZE] = "";
  FetchResult result;
  bool finished = false;    // on the executor
  asio::steady_timer done;  // cancelled when finished
};

bool set_up(Transfer& t, const std::string& domain, const std::vector<std::string>& addresses, std::uint16_t port,
            std::chrono::milliseconds timeout) {
  const std::string host = "mta-sts." + domain;
  t.timeout = timeout;
  t.url = "https://" + host + (port == 443 ? "" : ":" + std::to_string(port)) + "/.well-known/mta-sts.txt";
  t.easy.reset(curl_easy_init());
  if (!t.easy) return false;
  std::string pinned;
  for (const auto& a : addresses) pinned += (pinned.empty() ? "" : ",") + (a.find(':') != std::string::npos ? "[" + a + "]" : a);
  t.resolve.reset(curl_slist_append(nullptr, (host + ":" + std::to_string(port) + ":" + pinned).c_str()));
  CURL* c = t.easy.get();
  curl_easy_setopt(c, CURLOPT_URL, t.url.c_str());
  curl_easy_setopt(c, CURLOPT_RESOLVE, t.resolve.get());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // §3.3: redirects are not followed
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (const char* ca = std::getenv(X509_get_default_cert_file_env()); ca && *ca) curl_easy_setopt(c, CURLOPT_CAINFO, ca);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);  // one request per host now and then: keep no idle connection
  curl_easy_setopt(c, CURLOPT_USERAGENT, "Postern MTA-STS");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t.body);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, t.detail);
  return true;
}

// What a finished transfer means (§3.3).
FetchResult outcome(Transfer& t, CURLcode rc) {
  FetchResult r;
  if (t.body.too_big) {
    r.error = t.url + ": policy larger than 64 KiB";
    return r;
  }
  if (rc == CURLE_OPERATION_TIMEDOUT) {  // curl words it by phase ("SSL connection timeout", …): one wording
    const auto ms = t.timeout.count();
    r.error = t.url + ": timed out after " + (ms % 1000 ? std::to_string(ms) + " ms" : std::to_string(ms / 1000) + " s");
    return r;
  }
  if (rc != CURLE_OK) {
    r.error = t.url + ": " + util::printable(*t.detail ? t.detail : curl_easy_strerror(rc), 300);
    return r;
  }
  long status = 0;
  curl_easy_getinfo(t.easy.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    r.error = t.url + ": HTTP " + std::to_string(status) + " (only 200 is a policy; redirects are not followed)";
    return r;
  }
  const char* type = nullptr;
  curl_easy_getinfo(t.easy.get(), CURLINFO_CONTENT_TYPE, &type);
  const std::string media = util::to_lower(type ? std::string_view(type).substr(0, std::string_view(type).find(';')) : "");
  if (media != "text/plain") {
    r.error = t.url + ": Content-Type \"" + util::printable(type ? type : "", 80) + "\", not text/plain";
    return r;
  }
  r.ok = true;
  r.body = std::move(t.body.text);
  return r;
}

}  // namespace

struct Fetcher::Impl {
  explicit Impl(asio::any_io_executor e) : executor(std::move(e)) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    multi = curl_multi_init();
  }
  ~Impl() {
    if (multi) curl_multi_cleanup(multi);
  }

  // The fetch thread: adds what comes in, drives every transfer, hands
  // back what is done; woken by curl_multi_wakeup.
  void run() {
    std::map<CURL*, std::shared_ptr<Transfer>> running;
    for (;;) {
      std::vector<std::shared_ptr<Transfer>> fresh;
      bool stop = false;
      {
        std::lock_guard lock(mutex);
        fresh.swap(incoming);
        stop = stopping;
      }
      if (stop) {
        for (auto& t : fresh) finish(std::move(t), "stopped before it began");
        for (auto& [easy, t] : running) {
          curl_multi_remove_handle(multi, easy);
          std::string why = t->url + ": stopped (the server is shutting down)";
          finish(std::move(t), std::move(why));
        }
        return;
      }
      for (auto& t : fresh) {
        CURL* easy = t->easy.get();
        if (curl_multi_add_handle(multi, easy) != CURLM_OK) finish(std::move(t), "libcurl cannot start");
        else running.emplace(easy, std::move(t));
      }
      int active = 0;
      curl_multi_perform(multi, &active);
      int left = 0;
      while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
        if (m->msg != CURLMSG_DONE) continue;
        const CURLcode rc = m->data.result;  // `m` is gone once the handle is removed
        auto it = running.find(m->easy_handle);
        if (it == running.end()) continue;
        auto t = std::move(it->second);
        running.erase(it);
        curl_multi_remove_handle(multi, t->easy.get());
        t->result = outcome(*t, rc);
        finish(std::move(t));
      }
      // curl shortens the wait to its own next timeout; new work wakes it.
      curl_multi_poll(multi, nullptr, 0, running.empty() ? 60'000 : 1000, nullptr);
    }
  }

  // Frees the handle here, then resumes the caller on its executor; the
  // caller holds the last reference, so the timer dies there.
  void finish(std::shared_ptr<Transfer> t, std::string error = {}) {
    if (!error.empty()) t->result.error = std::move(error);
    t->easy.reset();
    t->resolve.reset();
    asio::post(executor, [t = std::move(t)] {
      t->finished = true;
      t->done.cancel();
    });
  }

  asio::any_io_executor executor;
  CURLM* multi = nullptr;
  std::mutex mutex;
  std::vector<std::shared_ptr<Transfer>> incoming;  // under `mutex`
  bool stopping = false;                            // under `mutex`
  std::thread thread;                               // started by the first fetch, under `mutex`
};

Fetcher::Fetcher(asio::any_io_executor executor) : impl_(std::make_shared<Impl>(std::move(executor))) {}

Fetcher::~Fetcher() {
  stop();
  std::thread thread;
  {
    std::lock_guard lock(impl_->mutex);
    thread.swap(impl_->thread);
  }
  if (thread.joinable()) thread.join();
}

void Fetcher::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  if (impl_->multi) curl_multi_wakeup(impl_->multi);
}

asio::awaitable<FetchResult> Fetcher::fetch(std::string domain, std::vector<std::string> addresses,
                                            std::uint16_t port, std::chrono::milliseconds timeout) {
  auto impl = impl_;
  auto t = std::make_shared<Transfer>(impl->executor);
  bool queued = false;
  if (impl->multi && set_up(*t, domain, addresses, port, timeout)) {
    std::lock_guard lock(impl->mutex);
    if (!impl->stopping) {
      impl->incoming.push_back(t);
      queued = true;
      if (!impl->thread.joinable()) impl->thread = std::thread([raw = impl.get()] { raw->run(); });
    }
  }
  if (!queued) {
    FetchResult r;
    r.error = "https://mta-sts." + domain + "/: not fetched (libcurl cannot start, or the server is shutting down)";
    co_return r;
  }
  curl_multi_wakeup(impl->multi);
  if (!t->finished) co_await t->done.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  co_return std::move(t->result);
}

std::uint16_t https_port_from_environment() { return util::port_from_environment("POSTERN_MTA_STS_PORT", 443); }

}  // namespace postern::mta_sts
