// Client and server steppers against each other, for every mechanism, and
// the server's refusals: wrong password, unknown user, store down, channel
// binding, downgrade, authzid.
#include <gtest/gtest.h>

#include <map>

#include "sasl/base64.hpp"
#include "sasl/client.hpp"
#include "sasl/secrets.hpp"
#include "sasl/server.hpp"

namespace postern::sasl {
namespace {

class MapStore : public CredentialStore {
 public:
  std::map<std::string, Credentials> users;
  bool down = false;
  int lookups = 0;
  std::optional<Credentials> find(std::string_view authcid) override {
    ++lookups;
    if (down) throw StoreUnavailable("database is locked");
    auto it = users.find(std::string(authcid));
    if (it == users.end()) return std::nullopt;
    return it->second;
  }
};

const std::string kSecret = "fedcba9876543210fedcba9876543210";

Credentials make_user(const std::string& name, const std::string& password, bool cram = false) {
  Credentials c;
  c.identity = name;
  c.password_hash = hash_password(password);
  c.scram_sha1 = make_scram_keys(ScramHash::sha1, password);
  c.scram_sha256 = make_scram_keys(ScramHash::sha256, password);
  if (cram) c.cram_md5_secret = password;
  return c;
}

MapStore& shared_store() {
  static MapStore* store = [] {
    auto* s = new MapStore;
    s->users["alice@example.org"] = make_user("alice@example.org", "correct horse", true);
    s->users["bob@example.org"] = make_user("bob@example.org", "battery staple", false);
    return s;
  }();
  return *store;
}

struct Outcome {
  ServerStepper::Status server = ServerStepper::Status::more;
  ClientStepper::Status client = ClientStepper::Status::respond;
  bool client_complete = false;
  std::string identity;
  std::string reason;
  int round_trips = 0;
};

// Runs one exchange the way an SMTP session does; stops at the first non-`more`.
Outcome exchange(Mechanism m, ClientCredentials creds, ServerOptions options, ChannelBindings client_cb = {},
                 CredentialStore* store = nullptr) {
  Outcome o;
  ServerStepper server(store ? *store : shared_store(), options);
  ClientStepper client(m, std::move(creds), client_cb);
  ServerStepper::Step s{ServerStepper::Status::failed, {}};
  if (is_client_first(m)) {
    auto first = client.start();
    EXPECT_EQ(first.status, ClientStepper::Status::respond) << first.error;
    s = server.begin(m, std::string_view(first.response));
  } else {
    s = server.begin(m, std::nullopt);
  }
  while (s.status == ServerStepper::Status::more && o.round_trips < 10) {
    ++o.round_trips;
    auto c = client.step(s.challenge);
    o.client = c.status;
    if (c.status != ClientStepper::Status::respond) break;
    s = server.step(c.response);
  }
  o.server = s.status;
  o.client_complete = client.complete();
  o.identity = server.identity();
  o.reason = std::string(server.reason());
  return o;
}

ServerOptions tls13(bool plus_offered = true) {
  return {kSecret, plus_offered, {std::string(32, '\x42'), {}}};
}

TEST(Steppers, EveryMechanismRoundTrips) {
  struct Case {
    Mechanism m;
    int round_trips;
  } cases[] = {
      {Mechanism::scram_sha256_plus, 2}, {Mechanism::scram_sha1_plus, 2}, {Mechanism::scram_sha256, 2},
      {Mechanism::scram_sha1, 2},        {Mechanism::plain, 0},           {Mechanism::login, 2},
      {Mechanism::cram_md5, 1},
  };
  for (const auto& c : cases) {
    ChannelBindings cb = is_plus(c.m) ? ChannelBindings{std::string(32, '\x42'), {}} : ChannelBindings{};
    auto o = exchange(c.m, {"alice@example.org", "correct horse", ""}, tls13(), cb);
    EXPECT_EQ(o.server, ServerStepper::Status::done) << mechanism_name(c.m) << " " << o.reason;
    EXPECT_TRUE(o.client_complete) << mechanism_name(c.m);
    EXPECT_EQ(o.identity, "alice@example.org") << mechanism_name(c.m);
    EXPECT_EQ(o.round_trips, c.round_trips) << mechanism_name(c.m);
  }
}

TEST(Steppers, TlsUniqueBindingOnTls12) {
  ServerOptions opts{kSecret, true, {{}, std::string(12, '\x07')}};
  auto o = exchange(Mechanism::scram_sha256_plus, {"alice@example.org", "correct horse", ""}, opts,
                    {{}, std::string(12, '\x07')});
  EXPECT_EQ(o.server, ServerStepper::Status::done) << o.reason;
  // A client bound to another channel (a man in the middle) fails.
  o = exchange(Mechanism::scram_sha256_plus, {"alice@example.org", "correct horse", ""}, opts,
               {{}, std::string(12, '\x08')});
  EXPECT_EQ(o.server, ServerStepper::Status::failed);
  // tls-exporter asked where only tls-unique exists.
  o = exchange(Mechanism::scram_sha256_plus, {"alice@example.org", "correct horse", ""}, opts,
               {std::string(32, '\x42'), {}});
  EXPECT_EQ(o.server, ServerStepper::Status::failed);
  EXPECT_EQ(o.reason, "channel-binding");
}

TEST(Steppers, PlusWithoutTlsFails) {
  ServerStepper server(shared_store(), {kSecret, false, {}});
  auto s = server.begin(Mechanism::scram_sha256_plus, std::nullopt);
  EXPECT_EQ(s.status, ServerStepper::Status::failed);
}

TEST(Steppers, WrongPasswordFailsForEveryMechanism) {
  for (auto m : kAllMechanisms) {
    ChannelBindings cb = is_plus(m) ? ChannelBindings{std::string(32, '\x42'), {}} : ChannelBindings{};
    auto o = exchange(m, {"alice@example.org", "wrong horse", ""}, tls13(), cb);
    EXPECT_EQ(o.server, ServerStepper::Status::failed) << mechanism_name(m);
    EXPECT_EQ(o.reason, "bad-credentials") << mechanism_name(m);
    EXPECT_TRUE(o.identity.empty());
  }
}

TEST(Steppers, UnknownUserFailsLikeAWrongPassword) {
  for (auto m : kAllMechanisms) {
    ChannelBindings cb = is_plus(m) ? ChannelBindings{std::string(32, '\x42'), {}} : ChannelBindings{};
    auto o = exchange(m, {"nobody@example.org", "correct horse", ""}, tls13(), cb);
    EXPECT_EQ(o.server, ServerStepper::Status::failed) << mechanism_name(m);
    EXPECT_EQ(o.reason, "unknown-user") << mechanism_name(m);
    // The client sees the whole exchange, as for a real user.
    auto real = exchange(m, {"alice@example.org", "wrong horse", ""}, tls13(), cb);
    EXPECT_EQ(o.round_trips, real.round_trips) << mechanism_name(m);
  }
}

std::string server_first_for(const std::string& user, Mechanism m, const std::string& secret = kSecret) {
  ServerStepper server(shared_store(), {secret, false, {}});
  auto s = server.begin(m, std::string_view("n,,n=" + user + ",r=abcdefghijklmnop"));
  EXPECT_EQ(s.status, ServerStepper::Status::more);
  return s.challenge.substr(s.challenge.find(",s="));  // ",s=SALT,i=COUNT"
}

TEST(Steppers, UnknownUserGetsAStableFakeSalt) {
  std::string a1 = server_first_for("nobody@example.org", Mechanism::scram_sha256);
  std::string a2 = server_first_for("nobody@example.org", Mechanism::scram_sha256);
  std::string b = server_first_for("someone@example.org", Mechanism::scram_sha256);
  std::string c = server_first_for("nobody@example.org", Mechanism::scram_sha1);
  std::string d = server_first_for("nobody@example.org", Mechanism::scram_sha256, "another secret of some length");
  EXPECT_EQ(a1, a2);
  EXPECT_NE(a1, b);
  EXPECT_NE(a1, c);
  EXPECT_NE(a1, d);
  EXPECT_NE(a1.find(",i=4096"), std::string::npos) << a1;
  // Same shape as a real user's salt (16 bytes, base64).
  std::string real = server_first_for("alice@example.org", Mechanism::scram_sha256);
  EXPECT_EQ(real.size(), a1.size()) << real << " vs " << a1;
}

TEST(Steppers, StoreUnavailableIsTemporary) {
  MapStore store;
  store.down = true;
  for (auto m : kAllMechanisms) {
    ChannelBindings cb = is_plus(m) ? ChannelBindings{std::string(32, '\x42'), {}} : ChannelBindings{};
    auto o = exchange(m, {"alice@example.org", "correct horse", ""}, tls13(), cb, &store);
    EXPECT_EQ(o.server, ServerStepper::Status::temporary) << mechanism_name(m);
    EXPECT_EQ(o.reason, "store-unavailable");
  }
}

TEST(Steppers, DowngradeFlagRefusedWhenPlusWasOffered) {
  // "y": the client can bind but believes the server cannot. With -PLUS on
  // offer that means someone removed it from the EHLO list (RFC 5802 §6).
  for (auto m : {Mechanism::scram_sha256, Mechanism::scram_sha1}) {
    ServerStepper offered(shared_store(), tls13(true));
    auto s = offered.begin(m, std::string_view("y,,n=alice@example.org,r=abcdefghijklmnop"));
    EXPECT_EQ(s.status, ServerStepper::Status::failed) << mechanism_name(m);
    // Without -PLUS on offer (or without TLS), "y" is an honest answer.
    ServerStepper not_offered(shared_store(), tls13(false));
    s = not_offered.begin(m, std::string_view("y,,n=alice@example.org,r=abcdefghijklmnop"));
    EXPECT_EQ(s.status, ServerStepper::Status::more) << mechanism_name(m);
    ServerStepper clear(shared_store(), {kSecret, false, {}});
    s = clear.begin(m, std::string_view("y,,n=alice@example.org,r=abcdefghijklmnop"));
    EXPECT_EQ(s.status, ServerStepper::Status::more) << mechanism_name(m);
  }
  // "n" (a client without binding) is fine either way, to the end.
  auto o = exchange(Mechanism::scram_sha256, {"alice@example.org", "correct horse", ""}, tls13(true), {});
  EXPECT_EQ(o.server, ServerStepper::Status::done) << o.reason;
}

TEST(Steppers, PlusRequiresTheBindingFlag) {
  // -PLUS with "n" or "y" in the gs2-header: not bound, refused.
  for (const char* first : {"n,,n=alice@example.org,r=abcdefghijklmnop", "y,,n=alice@example.org,r=abcdefghijklmnop",
                            "p=tls-server-end-point,,n=alice@example.org,r=abcdefghijklmnop"}) {
    ServerStepper server(shared_store(), tls13(true));
    EXPECT_EQ(server.begin(Mechanism::scram_sha256_plus, std::string_view(first)).status,
              ServerStepper::Status::failed)
        << first;
  }
}

TEST(Steppers, CramMd5NeedsACramSecret) {
  auto o = exchange(Mechanism::cram_md5, {"bob@example.org", "battery staple", ""}, tls13(), {});
  EXPECT_EQ(o.server, ServerStepper::Status::failed);
  // A server-first mechanism takes no initial response.
  ServerStepper server(shared_store(), tls13());
  EXPECT_EQ(server.begin(Mechanism::cram_md5, std::string_view("alice")).status, ServerStepper::Status::failed);
}

TEST(Steppers, OtherAuthorizationIdentityFails) {
  for (auto m : {Mechanism::plain, Mechanism::scram_sha256}) {
    auto o = exchange(m, {"alice@example.org", "correct horse", "bob@example.org"}, tls13(false), {});
    EXPECT_EQ(o.server, ServerStepper::Status::failed) << mechanism_name(m);
    EXPECT_EQ(o.reason, "authzid") << mechanism_name(m);
    o = exchange(m, {"alice@example.org", "correct horse", "alice@example.org"}, tls13(false), {});
    EXPECT_EQ(o.server, ServerStepper::Status::done) << mechanism_name(m) << " " << o.reason;
  }
}

TEST(Steppers, LoginWithInitialResponse) {
  ServerStepper server(shared_store(), tls13());
  auto s = server.begin(Mechanism::login, std::string_view("alice@example.org"));
  ASSERT_EQ(s.status, ServerStepper::Status::more);
  EXPECT_EQ(s.challenge, "Password:");  // the de-facto prompt, not GNU SASL's own
  EXPECT_EQ(server.step("correct horse").status, ServerStepper::Status::done);
}

TEST(Steppers, EmptyFirstChallengesAndMalformedInput) {
  ServerStepper plain(shared_store(), tls13());
  auto s = plain.begin(Mechanism::plain, std::nullopt);
  ASSERT_EQ(s.status, ServerStepper::Status::more);
  EXPECT_EQ(s.challenge, "");  // "334 " with nothing after it
  EXPECT_EQ(plain.step("no NULs here").status, ServerStepper::Status::failed);
  EXPECT_EQ(plain.reason(), "malformed");

  ServerStepper scram(shared_store(), tls13());
  s = scram.begin(Mechanism::scram_sha256, std::nullopt);
  ASSERT_EQ(s.status, ServerStepper::Status::more);
  EXPECT_EQ(s.challenge, "");
  EXPECT_EQ(scram.step("garbage").status, ServerStepper::Status::failed);
  // Nothing after a failure.
  EXPECT_EQ(scram.step("n,,n=alice@example.org,r=abc").status, ServerStepper::Status::failed);
}

TEST(Steppers, AnEmptyPlainMessageIsMalformed) {
  // "AUTH PLAIN =" (an empty initial response), or an empty answer to "334 ".
  ServerStepper initial(shared_store(), tls13());
  EXPECT_EQ(initial.begin(Mechanism::plain, std::string_view("")).status, ServerStepper::Status::failed);
  EXPECT_EQ(initial.reason(), "malformed");
  ServerStepper later(shared_store(), tls13());
  ASSERT_EQ(later.begin(Mechanism::plain, std::nullopt).status, ServerStepper::Status::more);
  EXPECT_EQ(later.step("").status, ServerStepper::Status::failed);
  EXPECT_EQ(later.reason(), "malformed");
}

TEST(Steppers, ScramFinalAckMustBeEmpty) {
  ServerStepper server(shared_store(), tls13(false));
  ClientStepper client(Mechanism::scram_sha256, {"alice@example.org", "correct horse", ""});
  auto s = server.begin(Mechanism::scram_sha256, std::string_view(client.start().response));
  s = server.step(client.step(s.challenge).response);
  ASSERT_EQ(s.status, ServerStepper::Status::more);
  ASSERT_EQ(s.challenge.rfind("v=", 0), 0u);
  EXPECT_EQ(server.step("not empty").status, ServerStepper::Status::failed);
}

TEST(Negotiation, PicksTheStrongestShared) {
  std::vector<std::string> offered{"PLAIN", "login", "SCRAM-SHA-1", "scram-sha-256-plus", "SCRAM-SHA-256", "X-FOO"};
  EXPECT_EQ(choose_mechanism(offered, true), Mechanism::scram_sha256_plus);
  EXPECT_EQ(choose_mechanism(offered, false), Mechanism::scram_sha256);
  EXPECT_EQ(choose_mechanism({"LOGIN", "PLAIN"}, true), Mechanism::plain);
  EXPECT_EQ(choose_mechanism({"LOGIN", "CRAM-MD5", "PLAIN"}, false), Mechanism::cram_md5);
  EXPECT_EQ(choose_mechanism({"GSSAPI"}, true), std::nullopt);
  EXPECT_EQ(choose_mechanism(offered, true, {Mechanism::plain, Mechanism::login}), Mechanism::plain);
  EXPECT_EQ(parse_mechanism("Scram-Sha-1-Plus"), Mechanism::scram_sha1_plus);
  EXPECT_EQ(parse_mechanism("DIGEST-MD5"), std::nullopt);
}

TEST(Secrets, PasswordHashVerifies) {
  std::string h = hash_password("s3cret");
  EXPECT_EQ(h.rfind("$y$", 0), 0u) << h;
  EXPECT_TRUE(verify_password("s3cret", h));
  EXPECT_FALSE(verify_password("s3cret ", h));
  EXPECT_FALSE(verify_password("s3cret", "not a hash"));
  EXPECT_FALSE(verify_password("s3cret", ""));
  EXPECT_THROW(hash_password(std::string("a\0b", 3)), std::invalid_argument);
  EXPECT_EQ(dummy_password_hash().rfind("$y$", 0), 0u);
}

TEST(Secrets, ClientRefusesPlusWithoutBinding) {
  EXPECT_THROW(ClientStepper(Mechanism::scram_sha256_plus, {"a", "b", ""}), std::invalid_argument);
}

}  // namespace
}  // namespace postern::sasl
