#include "testbed/messages.hpp"

#include <gmime/gmime.h>

#include <algorithm>
#include <mutex>

namespace postern::testbed {
namespace {

void init_gmime() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

template <typename T>
struct Unref {
  T* p;
  ~Unref() {
    if (p) g_object_unref(p);
  }
};

std::string decoded_content(GMimePart* part) {
  GMimeDataWrapper* content = g_mime_part_get_content(part);
  if (!content) return {};
  Unref<GMimeStream> mem{g_mime_stream_mem_new()};
  g_mime_data_wrapper_write_to_stream(content, mem.p);
  GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem.p));
  return std::string(reinterpret_cast<const char*>(bytes->data), bytes->len);
}

// Text as people read it: LF line ends.
std::string lf(const char* text) {
  std::string out;
  for (const char* p = text; *p; ++p)
    if (!(p[0] == '\r' && p[1] == '\n')) out += *p;
  return out;
}

void visit(GMimeObject*, GMimeObject* part, gpointer data) {
  auto& out = *static_cast<ParsedMessage*>(data);
  if (GMIME_IS_MESSAGE_PART(part) || GMIME_IS_MULTIPART(part) || !GMIME_IS_PART(part)) return;
  GMimePart* p = GMIME_PART(part);
  GMimeContentType* type = g_mime_object_get_content_type(part);
  const bool attachment = g_mime_part_is_attachment(p);
  if (!attachment && GMIME_IS_TEXT_PART(part) && g_mime_content_type_is_type(type, "text", "plain") && out.text.empty()) {
    char* text = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
    if (text) out.text = lf(text);
    g_free(text);
    return;
  }
  if (!attachment && GMIME_IS_TEXT_PART(part) && g_mime_content_type_is_type(type, "text", "html") && out.html.empty()) {
    char* text = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
    if (text) out.html = lf(text);
    g_free(text);
    return;
  }
  Attachment a;
  if (const char* name = g_mime_part_get_filename(p)) a.filename = name;
  char* mime = g_mime_content_type_get_mime_type(type);
  if (mime) a.content_type = mime;
  g_free(mime);
  a.size = decoded_content(p).size();
  out.attachments.push_back(std::move(a));
}

}  // namespace

ParsedMessage parse_message(std::string_view bytes) {
  init_gmime();
  ParsedMessage out;
  Unref<GMimeStream> stream{g_mime_stream_mem_new_with_buffer(bytes.data(), bytes.size())};
  Unref<GMimeParser> parser{g_mime_parser_new_with_stream(stream.p)};
  Unref<GMimeMessage> message{g_mime_parser_construct_message(parser.p, nullptr)};
  if (!message.p) return out;
  if (const char* s = g_mime_message_get_subject(message.p)) out.subject = s;
  GMimeHeaderList* headers = g_mime_object_get_header_list(GMIME_OBJECT(message.p));
  const int n = g_mime_header_list_get_count(headers);
  for (int i = 0; i < n; ++i) {
    GMimeHeader* h = g_mime_header_list_get_header_at(headers, i);
    const char* name = g_mime_header_get_name(h);
    const char* value = g_mime_header_get_value(h);
    out.headers.emplace_back(name ? name : "", value ? value : "");
  }
  g_mime_message_foreach(message.p, visit, &out);
  return out;
}

std::optional<MessageInfo> Messages::get(const std::string& id) const {
  if (!store::Spool::valid_id(id)) return std::nullopt;
  auto entry = spool_.load(id);
  if (!entry) return std::nullopt;
  auto bytes = spool_.message(id);
  if (!bytes) return std::nullopt;
  MessageInfo m;
  m.id = id;
  m.from = entry->envelope.reverse_path;
  m.to = entry->envelope.recipients;
  m.size = bytes->size();
  m.received = entry->envelope.received_at;
  m.parsed = parse_message(*bytes);
  return m;
}

std::vector<MessageInfo> Messages::list() const {
  std::vector<MessageInfo> out;
  for (const auto& id : spool_.list())
    if (auto m = get(id)) out.push_back(std::move(*m));
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.received > b.received; });
  return out;
}

std::optional<std::string> Messages::raw(const std::string& id) const {
  if (!store::Spool::valid_id(id)) return std::nullopt;
  return spool_.message(id);
}

void Messages::clear() {
  for (const auto& id : spool_.list()) spool_.remove(id);
}

}  // namespace postern::testbed
