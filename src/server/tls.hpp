// TLS for the listeners (RFC 3207 STARTTLS and implicit TLS, RFC 8314):
// an OpenSSL server context with TLS 1.2 as the floor and AEAD suites only
// (Mozilla "intermediate"), loaded from the configured cert/key; when both
// files are missing, a self-signed certificate for the hostname is
// generated first (SPEC §3). Only server/ touches the key (STYLE §6).
// Errors throw std::runtime_error naming the file.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <asio/ssl/context.hpp>

namespace postern::server {

// Writes a fresh self-signed certificate (EC P-256, SHA-256, valid ~10 years,
// subjectAltName = hostname, localhost, 127.0.0.1 and ::1) and its key
// (mode 0600). Creates parent dirs.
void generate_self_signed(const std::filesystem::path& cert, const std::filesystem::path& key,
                          const std::string& hostname);

// Generates the certificate if both files are absent and `may_generate`
// (the default paths), then builds the context.
std::shared_ptr<asio::ssl::context> make_tls_context(const std::filesystem::path& cert,
                                                     const std::filesystem::path& key,
                                                     const std::string& hostname, bool may_generate = true);

}  // namespace postern::server
