#include "sasl/gsasl_context.hpp"

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace postern::sasl::detail {
namespace {

int dispatch(Gsasl*, Gsasl_session* session, Gsasl_property property) {
  if (session == nullptr) return GSASL_NO_CALLBACK;
  auto* target = static_cast<CallbackTarget*>(gsasl_session_hook_get(session));
  if (target == nullptr) return GSASL_NO_CALLBACK;
  return target->on_property(session, property);
}

}  // namespace

Gsasl* context() {
  static Gsasl* ctx = nullptr;
  static std::once_flag once;
  std::call_once(once, [] {
    if (gsasl_check_version("2.0.0") == nullptr) {
      std::fprintf(stderr, "postern: GNU SASL 2.0.0 or newer is required\n");
      std::abort();
    }
    int rc = gsasl_init(&ctx);
    if (rc != GSASL_OK) {
      std::fprintf(stderr, "postern: cannot initialise GNU SASL: %s\n", gsasl_strerror(rc));
      std::abort();
    }
    gsasl_callback_set(ctx, dispatch);
  });
  return ctx;
}

}  // namespace postern::sasl::detail
