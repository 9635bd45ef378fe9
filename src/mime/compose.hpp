// Writing a message from its parts (the testbed's POST /api/v1/send, as
// Mailpit's): addresses, subject and headers encoded as RFC 2047/5322 want
// them, text and HTML as multipart/alternative, attachments base64 in
// multipart/mixed (inline ones with their Content-ID). GMime writes it.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "mime/reader.hpp"

namespace postern::mime {

struct NewAttachment {
  std::string filename;
  std::string content_type;  // "" = application/octet-stream
  std::string content_id;    // set: an inline part
  std::string bytes;
};

struct NewMessage {
  Mailbox from;
  std::vector<Mailbox> to, cc, reply_to;
  std::string subject;
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields, in order
  std::string text, html;
  std::vector<NewAttachment> attachments;
};

// The message with CRLF line ends, a Date: of now and a fresh Message-ID:.
std::string compose_message(const NewMessage& m);

}  // namespace postern::mime
