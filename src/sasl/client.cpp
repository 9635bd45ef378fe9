#include "sasl/client.hpp"

#include <gsasl.h>
#include <openssl/crypto.h>

#include <cstring>
#include <stdexcept>

#include "sasl/base64.hpp"
#include "sasl/gsasl_context.hpp"
#include "sasl/secrets.hpp"

namespace postern::sasl {
namespace {

void wipe_property(Gsasl_session* s, Gsasl_property p) {
  const char* v = gsasl_property_fast(s, p);
  if (v != nullptr) OPENSSL_cleanse(const_cast<char*>(v), std::strlen(v));
}

}  // namespace

struct ClientStepper::Impl {
  Mechanism mechanism;
  Gsasl_session* session = nullptr;
  int steps = 0;  // gsasl_step calls made
  bool complete = false;
  bool dead = false;

  ~Impl() {
    if (session != nullptr) {
      for (auto p : {GSASL_PASSWORD, GSASL_SCRAM_SALTED_PASSWORD}) wipe_property(session, p);
      gsasl_finish(session);
    }
  }

  Step failed(std::string error) {
    dead = true;
    return {Status::failed, {}, std::move(error)};
  }

  Step run(std::string_view input) {
    if (dead) return failed("the exchange already failed");
    if (complete) return failed("the server sent a challenge after the exchange completed");
    char* out = nullptr;
    size_t out_len = 0;
    int rc = gsasl_step(session, input.data(), input.size(), &out, &out_len);
    const int index = steps++;
    std::string output(out ? out : "", out ? out_len : 0);
    if (out) {
      OPENSSL_cleanse(out, out_len);
      gsasl_free(out);
    }
    if (rc == GSASL_NEEDS_MORE) return {Status::respond, std::move(output), {}};
    if (rc == GSASL_OK) {
      complete = true;
      return {Status::respond, std::move(output), {}};
    }
    dead = true;
    // SCRAM's third step checks the server-final message: v= must equal our
    // ServerSignature. GNU SASL reports a mismatch as an authentication error.
    if (is_scram(mechanism) && index == 2 && rc == GSASL_AUTHENTICATION_ERROR)
      return {Status::bad_server_signature, {}, "the server's SCRAM signature does not match"};
    if (rc == GSASL_MECHANISM_PARSE_ERROR) return {Status::failed, {}, "malformed challenge from the server"};
    return {Status::failed, {}, gsasl_strerror(rc)};
  }
};

ClientStepper::ClientStepper(Mechanism mechanism, ClientCredentials credentials, ChannelBindings cb)
    : impl_(std::make_unique<Impl>()) {
  impl_->mechanism = mechanism;
  if (is_plus(mechanism) && !cb.any()) {
    wipe(credentials.password);
    throw std::invalid_argument(std::string(mechanism_name(mechanism)) + " needs TLS channel binding data");
  }
  std::string name(mechanism_name(mechanism));
  int rc = gsasl_client_start(detail::context(), name.c_str(), &impl_->session);
  if (rc != GSASL_OK) {
    impl_->session = nullptr;
    wipe(credentials.password);
    throw std::runtime_error("GNU SASL cannot start " + name + ": " + gsasl_strerror(rc));
  }
  Gsasl_session* s = impl_->session;
  gsasl_property_set(s, GSASL_AUTHID, credentials.authcid.c_str());
  gsasl_property_set(s, GSASL_PASSWORD, credentials.password.c_str());
  if (!credentials.authzid.empty()) gsasl_property_set(s, GSASL_AUTHZID, credentials.authzid.c_str());
  // Channel binding data goes to -PLUS only. (Non-PLUS with data would mean
  // the "y" flag, but GNU SASL 2.2's client then also names a binding type,
  // which its own validator refuses; "n" is what it can send.)
  if (is_plus(mechanism)) {
    // GNU SASL prefers tls-exporter when both are set.
    if (!cb.tls_exporter.empty())
      gsasl_property_set(s, GSASL_CB_TLS_EXPORTER, base64_encode(cb.tls_exporter).c_str());
    else if (!cb.tls_unique.empty())
      gsasl_property_set(s, GSASL_CB_TLS_UNIQUE, base64_encode(cb.tls_unique).c_str());
  }
  wipe(credentials.password);
  wipe(cb.tls_exporter);
  wipe(cb.tls_unique);
}

ClientStepper::~ClientStepper() = default;

ClientStepper::Step ClientStepper::start() {
  if (!is_client_first(impl_->mechanism) || impl_->steps != 0)
    return impl_->failed(std::string(mechanism_name(impl_->mechanism)) + " has no initial response");
  return impl_->run({});
}

ClientStepper::Step ClientStepper::step(std::string_view challenge) { return impl_->run(challenge); }

bool ClientStepper::complete() const { return impl_->complete; }
Mechanism ClientStepper::mechanism() const { return impl_->mechanism; }

}  // namespace postern::sasl
