// Internal: the one GNU SASL library handle of the process and the bridge
// from its C callback to the C++ stepper that owns a session. Not part of
// the public interface of postern_sasl.
#pragma once

#include <gsasl.h>

namespace postern::sasl::detail {

// Receives GNU SASL property requests for one Gsasl_session (set as its
// session hook). Must not throw: the call comes through C code.
class CallbackTarget {
 public:
  virtual ~CallbackTarget() = default;
  virtual int on_property(Gsasl_session* session, Gsasl_property property) noexcept = 0;
};

// Initialised once, thread-safe; mechanisms are started from any thread.
// Aborts if GNU SASL cannot be initialised (a broken installation).
Gsasl* context();

}  // namespace postern::sasl::detail
