#include "sasl/server.hpp"

#include <gsasl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstring>
#include <vector>

#include "sasl/base64.hpp"
#include "sasl/gsasl_context.hpp"
#include "sasl/secrets.hpp"
#include "util/strings.hpp"

namespace postern::sasl {
namespace {

bool is_sha1(Mechanism m) { return m == Mechanism::scram_sha1 || m == Mechanism::scram_sha1_plus; }

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n));
  return out;
}

// Overwrites a GNU SASL property's buffer before the library frees it
// (gsasl_property_free and gsasl_finish free without wiping).
void wipe_property(Gsasl_session* s, Gsasl_property p) {
  const char* v = gsasl_property_fast(s, p);
  if (v != nullptr) OPENSSL_cleanse(const_cast<char*>(v), std::strlen(v));
}

}  // namespace

struct ServerStepper::Impl final : detail::CallbackTarget {
  CredentialStore& store;
  ServerOptions options;
  Mechanism mechanism = Mechanism::plain;
  Gsasl_session* session = nullptr;
  bool looked_up = false;
  std::optional<Credentials> user;
  bool temporary = false;
  bool awaiting_final_ack = false;
  bool finished = false;
  bool verified_by_cache = false;
  bool blocked = false;  // a deferred password check stopped the step
  // With deferred checks: what the client sent, to run the exchange again.
  std::optional<std::string> initial;
  std::vector<std::string> responses;
  std::string identity;
  std::string authcid;
  std::string reason;

  Impl(CredentialStore& s, ServerOptions o) : store(s), options(std::move(o)) {}

  ~Impl() override {
    end_session();
    if (user) wipe(*user);
    forget_inputs();
    wipe(options.secret);
    wipe(options.channel_binding.tls_exporter);
    wipe(options.channel_binding.tls_unique);
  }

  void end_session() {
    if (session == nullptr) return;
    for (auto p : {GSASL_PASSWORD, GSASL_SCRAM_SALTED_PASSWORD, GSASL_SCRAM_STOREDKEY, GSASL_SCRAM_SERVERKEY})
      wipe_property(session, p);
    gsasl_finish(session);
    session = nullptr;
  }

  // Only PLAIN and LOGIN check passwords, and they have no random challenge.
  bool replayable() const {
    return options.defer_password_checks && (mechanism == Mechanism::plain || mechanism == Mechanism::login);
  }

  void forget_inputs() {
    if (initial) wipe(*initial);
    initial.reset();
    for (auto& r : responses) wipe(r);
    responses.clear();
  }

  // Looks the user up once; the store's exception becomes `temporary`.
  void lookup(const char* name) {
    if (looked_up) return;
    looked_up = true;
    authcid = name ? name : "";
    try {
      user = store.find(authcid);
    } catch (const StoreUnavailable&) {
      temporary = true;
    } catch (const std::exception&) {
      temporary = true;
    }
  }

  // HMAC-SHA-256(secret, "postern-scram-salt" NUL hash NUL lower(name)), cut to the salt size.
  std::string fake_salt(std::string_view name) const {
    std::string msg = "postern-scram-salt";
    msg += '\0';
    msg += is_sha1(mechanism) ? "SHA-1" : "SHA-256";
    msg += '\0';
    msg += util::to_lower(name);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), options.secret.data(), static_cast<int>(options.secret.size()),
         reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), mac, &len);
    return std::string(reinterpret_cast<char*>(mac), kScramSaltOctets);
  }

  ScramKeys scram_keys() {
    const char* name = gsasl_property_fast(session, GSASL_AUTHID);
    lookup(name);
    if (user) {
      const ScramKeys& k = is_sha1(mechanism) ? user->scram_sha1 : user->scram_sha256;
      if (!k.empty() && k.iterations > 0 && !k.salt_b64.empty()) return k;
    }
    ScramKeys fake;
    fake.salt_b64 = base64_encode(fake_salt(authcid));
    fake.iterations = kScramIterations;
    const std::size_t n = is_sha1(mechanism) ? 20 : 32;
    fake.stored_key_b64 = base64_encode(random_bytes(n));
    fake.server_key_b64 = base64_encode(random_bytes(n));
    return fake;
  }

  int set(Gsasl_property p, const std::string& v) { return gsasl_property_set(session, p, v.c_str()); }

  int channel_binding(Gsasl_property p) {
    const std::string& data =
        p == GSASL_CB_TLS_EXPORTER ? options.channel_binding.tls_exporter : options.channel_binding.tls_unique;
    if (is_plus(mechanism)) {
      if (data.empty()) return GSASL_NO_CALLBACK;
      return set(p, base64_encode(data));
    }
    // Non-PLUS: GNU SASL asks only to decide on a "y" flag. Answering means
    // "we support channel binding", which refuses "y" (RFC 5802 §6) when
    // -PLUS was offered on this connection.
    if (options.plus_offered) return set(p, base64_encode(data.empty() ? std::string("-") : data));
    return GSASL_NO_CALLBACK;
  }

  // The known user's password against the hash just read from the store:
  // the verified cache, else yescrypt (and a success is remembered).
  bool password_matches(std::string_view password) {
    const std::string& hash = user->password_hash;
    const std::string& who = user->identity.empty() ? authcid : user->identity;
    VerifiedCache* cache = options.verified_ttl.count() > 0 ? options.verified : nullptr;
    if (!cache && options.verified) options.verified->clear();  // turned off: nothing stays in memory
    if (cache && cache->contains(who, hash, password, options.verified_ttl)) return verified_by_cache = true;
    if (options.defer_password_checks) {
      blocked = true;
      return false;
    }
    if (!verify_password(password, hash)) return false;
    if (cache) cache->remember(who, hash, password);
    return true;
  }

  int validate_simple() {
    const char* name = gsasl_property_fast(session, GSASL_AUTHID);
    const char* password = gsasl_property_fast(session, GSASL_PASSWORD);
    const char* authzid = gsasl_property_fast(session, GSASL_AUTHZID);
    lookup(name);
    if (temporary) return GSASL_AUTHENTICATION_ERROR;
    const bool known = user.has_value() && !user->password_hash.empty();
    if (!known) {
      if (options.defer_password_checks) {
        blocked = true;
        return GSASL_AUTHENTICATION_ERROR;
      }
      // Unknown users are checked against a dummy hash: same work, same answer.
      verify_password(password ? password : "", dummy_password_hash());
      return GSASL_AUTHENTICATION_ERROR;
    }
    if (!password_matches(password ? password : "")) return GSASL_AUTHENTICATION_ERROR;
    if (authzid != nullptr && *authzid != '\0' && std::strcmp(authzid, name) != 0 &&
        !util::iequals(authzid, user->identity)) {
      reason = "authzid";
      return GSASL_AUTHENTICATION_ERROR;
    }
    return GSASL_OK;
  }

  int on_property(Gsasl_session*, Gsasl_property p) noexcept override {
    try {
      switch (p) {
        case GSASL_VALIDATE_SIMPLE:
          if (mechanism != Mechanism::plain && mechanism != Mechanism::login) return GSASL_AUTHENTICATION_ERROR;
          return validate_simple();
        case GSASL_SCRAM_ITER:
        case GSASL_SCRAM_SALT:
        case GSASL_SCRAM_STOREDKEY:
        case GSASL_SCRAM_SERVERKEY: {
          if (!is_scram(mechanism)) return GSASL_NO_CALLBACK;
          ScramKeys k = scram_keys();
          if (temporary) return GSASL_NO_CALLBACK;
          // Set all four at once: GNU SASL asks for the rest only if unset.
          set(GSASL_SCRAM_ITER, std::to_string(k.iterations));
          set(GSASL_SCRAM_SALT, k.salt_b64);
          set(GSASL_SCRAM_STOREDKEY, k.stored_key_b64);
          set(GSASL_SCRAM_SERVERKEY, k.server_key_b64);
          wipe(k.stored_key_b64);
          wipe(k.server_key_b64);
          return GSASL_OK;
        }
        case GSASL_CB_TLS_EXPORTER:
        case GSASL_CB_TLS_UNIQUE:
          if (!is_scram(mechanism)) return GSASL_NO_CALLBACK;
          return channel_binding(p);
        case GSASL_PASSWORD: {
          // Only CRAM-MD5 asks for the plaintext-equivalent secret. A user
          // without one (or unknown) gets a random one and fails the digest.
          if (mechanism != Mechanism::cram_md5) return GSASL_NO_CALLBACK;
          lookup(gsasl_property_fast(session, GSASL_AUTHID));
          if (temporary) return GSASL_NO_CALLBACK;
          std::string secret = (user && !user->cram_md5_secret.empty()) ? user->cram_md5_secret
                                                                        : base64_encode(random_bytes(24));
          int rc = set(GSASL_PASSWORD, secret);
          wipe(secret);
          return rc;
        }
        default:
          return GSASL_NO_CALLBACK;
      }
    } catch (...) {
      temporary = true;
      return GSASL_AUTHENTICATION_ERROR;
    }
  }

  Step fail(std::string_view why) {
    finished = true;
    if (reason.empty()) reason = why;
    return {Status::failed, {}};
  }

  Step run(std::string_view input) {
    if (finished) return fail("malformed");
    if (awaiting_final_ack) {
      // The client's answer to the SCRAM server-final message must be empty.
      awaiting_final_ack = false;
      if (!input.empty()) return fail("malformed");
      return succeed();
    }
    char* out = nullptr;
    size_t out_len = 0;
    int rc = gsasl_step(session, input.data(), input.size(), &out, &out_len);
    std::string output(out ? out : "", out ? out_len : 0);
    gsasl_free(out);
    if (blocked) return {Status::blocked, {}};
    if (temporary) {
      finished = true;
      reason = "store-unavailable";
      return {Status::temporary, {}};
    }
    if (rc == GSASL_NEEDS_MORE) {
      // LOGIN's prompts as every other server sends them and some clients
      // match on (draft-murchison-sasl-login §2), not GNU SASL's own.
      if (mechanism == Mechanism::login) {
        if (output == "User Name") output = "Username:";
        else if (output == "Password") output = "Password:";
      }
      return {Status::more, std::move(output)};
    }
    if (rc == GSASL_OK) {
      if (!output.empty()) {
        awaiting_final_ack = true;
        return {Status::more, std::move(output)};
      }
      return succeed();
    }
    if (rc == GSASL_MECHANISM_PARSE_ERROR) return fail("malformed");
    if (rc == GSASL_NO_CB_TLS_EXPORTER || rc == GSASL_NO_CB_TLS_UNIQUE) return fail("channel-binding");
    if (looked_up && !user) return fail("unknown-user");
    return fail(looked_up ? "bad-credentials" : "malformed");
  }

  Step succeed() {
    finished = true;
    if (!user) return fail("unknown-user");  // cannot happen: fake secrets never verify
    // SCRAM carries an authzid in its gs2-header; PLAIN/LOGIN checked it already.
    const char* authzid = gsasl_property_fast(session, GSASL_AUTHZID);
    if (authzid != nullptr && *authzid != '\0' && authzid != authcid && !util::iequals(authzid, user->identity)) {
      reason = "authzid";
      return {Status::failed, {}};
    }
    identity = user->identity.empty() ? authcid : user->identity;
    return {Status::done, {}};
  }
};

ServerStepper::ServerStepper(CredentialStore& store, ServerOptions options)
    : impl_(std::make_unique<Impl>(store, std::move(options))) {}

ServerStepper::~ServerStepper() = default;

ServerStepper::Step ServerStepper::begin(Mechanism mechanism, std::optional<std::string_view> initial_response) {
  Impl& s = *impl_;
  s.mechanism = mechanism;
  if (s.session != nullptr) return s.fail("malformed");
  if (is_plus(mechanism) && !s.options.channel_binding.any()) return s.fail("channel-binding");
  if (s.replayable() && initial_response) s.initial.emplace(*initial_response);
  int rc = gsasl_server_start(detail::context(), std::string(mechanism_name(mechanism)).c_str(), &s.session);
  if (rc != GSASL_OK) {
    s.session = nullptr;
    return s.fail("malformed");
  }
  gsasl_session_hook_set(s.session, &s);
  if (!initial_response) return s.run({});
  // RFC 4422 §4: a server-first mechanism takes no initial response.
  if (mechanism == Mechanism::cram_md5) return s.fail("malformed");
  // GNU SASL's LOGIN always opens with its "User Name" prompt; with an
  // initial response (the user name) skip the prompt and go on.
  if (mechanism == Mechanism::login) {
    Step first = s.run({});
    if (first.status != Status::more) return first;
    if (initial_response->empty()) return first;
  }
  // An empty initial response ("=") is a response like any other; PLAIN's
  // one message is never empty (RFC 4616 §2), and GNU SASL would take it
  // for no response at all and ask again.
  if (mechanism == Mechanism::plain && initial_response->empty()) return s.fail("malformed");
  return s.run(*initial_response);
}

ServerStepper::Step ServerStepper::step(std::string_view response) {
  if (impl_->session == nullptr) return impl_->fail("malformed");
  if (impl_->mechanism == Mechanism::plain && response.empty()) return impl_->fail("malformed");
  if (impl_->replayable()) impl_->responses.emplace_back(response);
  return impl_->run(response);
}

ServerStepper::Step ServerStepper::run_blocked() {
  Impl& s = *impl_;
  if (!s.blocked || s.finished) return s.fail("malformed");
  s.end_session();
  if (s.user) wipe(*s.user);
  s.user.reset();
  s.looked_up = s.temporary = s.blocked = false;
  s.options.defer_password_checks = false;
  // No longer deferring, begin() and step() record nothing: replay in place.
  Step last = begin(s.mechanism, s.initial ? std::optional<std::string_view>(*s.initial) : std::nullopt);
  for (const auto& r : s.responses) {
    if (last.status != Status::more) break;
    last = step(r);
  }
  s.forget_inputs();
  return last;
}

const std::string& ServerStepper::identity() const { return impl_->identity; }
const std::string& ServerStepper::authcid() const { return impl_->authcid; }
std::string_view ServerStepper::reason() const { return impl_->reason; }
bool ServerStepper::verified_by_cache() const { return impl_->verified_by_cache; }

}  // namespace postern::sasl
