#include <gtest/gtest.h>

#include <random>

#include "dkim/canon.hpp"
#include "dkim/key.hpp"
#include "dkim/signer.hpp"
#include "dkim/verifier.hpp"
#include "sasl/base64.hpp"

using namespace postern::dkim;

namespace {

std::string body_hash(bool relaxed, std::string_view body, std::optional<std::uint64_t> limit = std::nullopt,
                      std::size_t chunk = 0) {
  BodyHasher h(relaxed, limit);
  if (chunk == 0) {
    h.feed(body);
  } else {
    for (std::size_t i = 0; i < body.size(); i += chunk) h.feed(body.substr(i, chunk));
  }
  return postern::sasl::base64_encode(h.finish());
}

const std::string message =
    "From: Alice <alice@example.com>\r\n"
    "To: bob@example.org\r\n"
    "Subject: verifier test\r\n"
    "Date: Mon, 07 Dec 2026 09:00:00 +0000\r\n"
    "Message-ID: <v1@example.com>\r\n"
    "\r\n"
    "Hello Bob,  \r\n"
    "\tthis is a test.\r\n"
    "\r\n"
    "\r\n";

struct Signed {
  std::string text;  // the signed message
  std::string record;
};

Signed sign_with(Algorithm algorithm) {
  SigningKey key{"example.com", algorithm == Algorithm::rsa ? "r1" : "e1", algorithm, generate(algorithm), nullptr};
  return {sign(message, {key}) + message, txt_record(key.pem)};
}

Verification check(const std::string& text, const std::string& record, long long now = 1800000000) {
  auto split_message = split(text);
  const auto& field = split_message.fields.front();
  auto parsed = parse_signature(std::string_view(field.raw).substr(field.raw.find(':') + 1));
  EXPECT_TRUE(std::holds_alternative<Signature>(parsed)) << std::get<std::string>(parsed);
  const auto& sig = std::get<Signature>(parsed);
  BodyHasher h(sig.relaxed_body, sig.length);
  h.feed(split_message.body);
  const auto hash = h.finish();
  return verify(sig, split_message.fields, 0, record, hash, h.canonical_length(), now);
}

std::string parse_error(const std::string& value) {
  auto r = parse_signature(value);
  return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "";
}

const std::string good = "v=1; a=rsa-sha256; d=example.com; s=s1; h=from:to; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA";

}  // namespace

TEST(DkimBodyHash, EmptyBodiesAsRfc6376Says) {
  // §3.4.3 and §3.4.4: simple hashes one CRLF, relaxed hashes nothing.
  EXPECT_EQ(body_hash(false, ""), "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=");
  EXPECT_EQ(body_hash(true, ""), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  EXPECT_EQ(body_hash(false, "\r\n\r\n\r\n"), body_hash(false, ""));
  EXPECT_EQ(body_hash(true, " \r\n\t\r\n"), body_hash(true, ""));
}

TEST(DkimBodyHash, StreamedInAnyPiecesItIsTheWholeBodysHash) {
  const std::string body = " C \r\nD \t E\r\n\r\n\r\nlast  \t\r\n\r\n";
  for (bool relaxed : {false, true})
    for (std::size_t chunk : {1u, 2u, 3u, 7u})
      EXPECT_EQ(body_hash(relaxed, body, std::nullopt, chunk), body_hash(relaxed, body)) << relaxed << chunk;
  // Relaxed canonicalization streamed is canon.hpp's relaxed_body() hashed as it is.
  EXPECT_EQ(body_hash(true, body), body_hash(false, relaxed_body(body)));
  // A last line without CRLF gets one.
  EXPECT_EQ(body_hash(false, "a\r\nb"), body_hash(false, "a\r\nb\r\n"));
  // Empty lines in the middle count.
  EXPECT_NE(body_hash(true, "a\r\n\r\nb\r\n"), body_hash(true, "a\r\nb\r\n"));
}

TEST(DkimBodyHash, LengthLimitHashesOnlyThatManyCanonicalOctets) {
  EXPECT_EQ(body_hash(false, "hello\r\nworld\r\n", 7), body_hash(false, "hello\r\n"));
  BodyHasher h(false, 3);
  h.feed("hello\r\n\r\n");
  h.finish();
  EXPECT_EQ(h.canonical_length(), 7u);  // the whole canonical body, for the check against l=
}

TEST(DkimVerify, OurOwnSignaturesVerifyRsaAndEd25519) {
  for (auto algorithm : {Algorithm::rsa, Algorithm::ed25519}) {
    auto s = sign_with(algorithm);
    auto v = check(s.text, s.record);
    EXPECT_EQ(v.result, Result::pass) << v.reason;
  }
}

TEST(DkimVerify, ATamperedBodyOrHeaderFails) {
  auto s = sign_with(Algorithm::ed25519);
  auto body = s.text;
  body.replace(body.find("Hello Bob"), 9, "Hello Eve");
  auto v = check(body, s.record);
  EXPECT_EQ(v.result, Result::fail);
  EXPECT_EQ(v.reason, "body hash mismatch");
  auto header = s.text;
  header.replace(header.find("Subject: verifier test"), 22, "Subject: verifier fest");
  v = check(header, s.record);
  EXPECT_EQ(v.result, Result::fail);
  EXPECT_EQ(v.reason, "signature does not verify");
  // White space the relaxed canonicalization ignores does not matter.
  auto spaced = s.text;
  spaced.replace(spaced.find("Subject: verifier"), 17, "Subject:   verifier");
  EXPECT_EQ(check(spaced, s.record).result, Result::pass);
}

TEST(DkimVerify, KeyRecordProblems) {
  auto s = sign_with(Algorithm::rsa);
  auto v = check(s.text, "v=DKIM1; k=rsa; p=");
  EXPECT_EQ(v.result, Result::permerror);
  EXPECT_EQ(v.reason, "key revoked");
  EXPECT_EQ(check(s.text, "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=").result, Result::permerror);
  EXPECT_EQ(check(s.text, s.record + "; h=sha1").result, Result::permerror);
  EXPECT_EQ(check(s.text, "v=DKIM2; p=AAAA").result, Result::permerror);
  EXPECT_EQ(check(s.text, "garbage").result, Result::permerror);
  // Another key of the same type: the signature does not verify.
  EXPECT_EQ(check(s.text, txt_record(generate(Algorithm::rsa))).result, Result::fail);
}

TEST(DkimVerify, ExpiredSignaturesFail) {
  auto s = sign_with(Algorithm::ed25519);
  auto split_message = split(s.text);
  const auto& raw = split_message.fields.front().raw;
  auto sig = std::get<Signature>(parse_signature(std::string_view(raw).substr(raw.find(':') + 1)));
  sig.expires = 1000;
  BodyHasher h(sig.relaxed_body, std::nullopt);
  h.feed(split_message.body);
  auto v = verify(sig, split_message.fields, 0, s.record, h.finish(), h.canonical_length(), 2000);
  EXPECT_EQ(v.result, Result::fail);
  EXPECT_EQ(v.reason, "signature expired");
}

TEST(DkimVerify, StrictKeysWantIdentityInTheDomainItself) {
  auto s = sign_with(Algorithm::ed25519);
  auto split_message = split(s.text);
  const auto& raw = split_message.fields.front().raw;
  auto sig = std::get<Signature>(parse_signature(std::string_view(raw).substr(raw.find(':') + 1)));
  sig.identity = "@sub.example.com";
  auto v = verify(sig, split_message.fields, 0, s.record + "; t=s", "", 0, 0);
  EXPECT_EQ(v.result, Result::permerror);
}

TEST(DkimSignatureParse, MalformedFieldsSayWhy) {
  EXPECT_EQ(parse_error(good), "");
  EXPECT_EQ(parse_error("v=1; a=rsa-sha256"), "missing b=");
  EXPECT_EQ(parse_error(good + "; d=other.example"), "malformed tag list");  // a tag twice
  EXPECT_EQ(parse_error("v=1; a=rsa-sha256; d=example.com; s=s1; h=to:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA"),
            "h= does not sign From");
  EXPECT_EQ(parse_error(good + "; i=@example.net"), "i= is not in d=");
  EXPECT_EQ(parse_error("v=1; a=rsa-sha1; d=example.com; s=s1; h=from; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA"),
            "rsa-sha1 is not accepted (RFC 8301)");
  EXPECT_EQ(parse_error(good + "; t=200; x=100"), "x= is before t=");
  EXPECT_EQ(parse_error(good + "; l=abc"), "malformed l=");
  EXPECT_EQ(parse_error("v=1; a=rsa-sha256; d=example.com; s=s1; h=from; bh=short; b=AAAA"), "malformed bh=");
  EXPECT_EQ(parse_error("v=2; a=rsa-sha256; d=example.com; s=s1; h=from; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA"),
            "unknown version");
  EXPECT_EQ(parse_error(good + "; c=loose/simple"), "unknown canonicalization");
  EXPECT_NE(parse_error(""), "");
  EXPECT_NE(parse_error(";;;==;"), "");
}

TEST(DkimSignatureParse, TagsAndDefaults) {
  auto s = std::get<Signature>(parse_signature(
      "v=1; a=ed25519-sha256; c=relaxed; d=Example.COM; s=s1; h=From : To;\r\n\tl=100; t=5; x=10;\r\n"
      " bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\r\n BBBB"));
  EXPECT_TRUE(s.relaxed_header);
  EXPECT_FALSE(s.relaxed_body);  // "relaxed" alone is relaxed/simple
  EXPECT_EQ(s.domain, "example.com");
  EXPECT_EQ(s.identity, "@example.com");
  EXPECT_EQ(s.headers, (std::vector<std::string>{"from", "to"}));
  EXPECT_EQ(*s.length, 100u);
  EXPECT_EQ(s.b_text, "AAAABBBB");
}

TEST(DkimSignatureParse, OnlyTheBValueIsRemovedForHashing) {
  const std::string raw = "DKIM-Signature: v=1; bh=abc=; b=XYZ\r\n  123;\r\n d=example.com\r\n";
  EXPECT_EQ(signature_field_for_hashing(raw, false), "DKIM-Signature: v=1; bh=abc=; b=;\r\n d=example.com");
  EXPECT_EQ(signature_field_for_hashing("DKIM-Signature: a=1; b=XYZ\r\n", true), "dkim-signature:a=1; b=");
}
