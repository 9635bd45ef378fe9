#include "mime/compose.hpp"

#include <gmime/gmime.h>

#include <mutex>

namespace postern::mime {
namespace {

template <typename T>
struct Owned {
  T* p;
  ~Owned() {
    if (p) g_object_unref(p);
  }
};

void add_mailboxes(GMimeMessage* message, GMimeAddressType type, const std::vector<Mailbox>& list) {
  for (const auto& m : list) g_mime_message_add_mailbox(message, type, m.name.empty() ? nullptr : m.name.c_str(), m.address.c_str());
}

GMimeObject* text_part(const char* subtype, const std::string& text) {
  GMimeTextPart* part = g_mime_text_part_new_with_subtype(subtype);
  g_mime_text_part_set_text(part, text.c_str());
  g_mime_part_set_content_encoding(GMIME_PART(part),
                                   g_mime_part_get_best_content_encoding(GMIME_PART(part), GMIME_ENCODING_CONSTRAINT_7BIT));
  return GMIME_OBJECT(part);
}

GMimeObject* attachment_part(const NewAttachment& a) {
  const std::string type = a.content_type.empty() ? "application/octet-stream" : a.content_type;
  Owned<GMimeContentType> parsed{g_mime_content_type_parse(nullptr, type.c_str())};
  const char* media = parsed.p ? g_mime_content_type_get_media_type(parsed.p) : nullptr;
  const char* sub = parsed.p ? g_mime_content_type_get_media_subtype(parsed.p) : nullptr;
  GMimePart* part = g_mime_part_new_with_type(media && *media ? media : "application", sub && *sub ? sub : "octet-stream");
  Owned<GMimeStream> stream{g_mime_stream_mem_new_with_buffer(a.bytes.data(), a.bytes.size())};
  Owned<GMimeDataWrapper> content{g_mime_data_wrapper_new_with_stream(stream.p, GMIME_CONTENT_ENCODING_DEFAULT)};
  g_mime_part_set_content(part, content.p);
  g_mime_part_set_content_encoding(part, GMIME_CONTENT_ENCODING_BASE64);
  g_mime_object_set_disposition(GMIME_OBJECT(part), a.content_id.empty() ? "attachment" : "inline");
  if (!a.filename.empty()) g_mime_part_set_filename(part, a.filename.c_str());
  if (!a.content_id.empty()) g_mime_object_set_content_id(GMIME_OBJECT(part), a.content_id.c_str());
  return GMIME_OBJECT(part);
}

}  // namespace

std::string compose_message(const NewMessage& m) {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
  Owned<GMimeMessage> message{g_mime_message_new(TRUE)};
  add_mailboxes(message.p, GMIME_ADDRESS_TYPE_FROM, {m.from});
  add_mailboxes(message.p, GMIME_ADDRESS_TYPE_TO, m.to);
  add_mailboxes(message.p, GMIME_ADDRESS_TYPE_CC, m.cc);
  add_mailboxes(message.p, GMIME_ADDRESS_TYPE_REPLY_TO, m.reply_to);
  g_mime_message_set_subject(message.p, m.subject.c_str(), "utf-8");
  GDateTime* now = g_date_time_new_now_utc();
  g_mime_message_set_date(message.p, now);
  g_date_time_unref(now);
  char* id = g_mime_utils_generate_message_id("postern.testbed");
  g_mime_message_set_message_id(message.p, id);
  g_free(id);
  for (const auto& [name, value] : m.headers)
    g_mime_object_append_header(GMIME_OBJECT(message.p), name.c_str(), value.c_str(), "utf-8");

  GMimeObject* body = text_part("plain", m.text);
  if (!m.html.empty()) {
    GMimeMultipart* alternative = g_mime_multipart_new_with_subtype("alternative");
    g_mime_multipart_add(alternative, body);
    g_object_unref(body);
    GMimeObject* html = text_part("html", m.html);
    g_mime_multipart_add(alternative, html);
    g_object_unref(html);
    body = GMIME_OBJECT(alternative);
  }
  if (!m.attachments.empty()) {
    GMimeMultipart* mixed = g_mime_multipart_new_with_subtype("mixed");
    g_mime_multipart_add(mixed, body);
    g_object_unref(body);
    for (const auto& a : m.attachments) {
      GMimeObject* part = attachment_part(a);
      g_mime_multipart_add(mixed, part);
      g_object_unref(part);
    }
    body = GMIME_OBJECT(mixed);
  }
  g_mime_message_set_mime_part(message.p, body);
  g_object_unref(body);

  GMimeFormatOptions* options = g_mime_format_options_new();
  g_mime_format_options_set_newline_format(options, GMIME_NEWLINE_FORMAT_DOS);
  char* text = g_mime_object_to_string(GMIME_OBJECT(message.p), options);
  g_mime_format_options_free(options);
  std::string out = text ? text : "";
  g_free(text);
  return out;
}

}  // namespace postern::mime
