#include "mime/reader.hpp"

#include <gmime/gmime.h>

#include "mime/header_section.hpp"
#include "mime/html_text.hpp"
#include "util/strings.hpp"

#include <functional>
#include <mutex>

namespace postern::mime {
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

// Calls `leaf` for each part that is no multipart, depth first, with its
// section number ("1", "2.1"); an attached message (message/rfc822) is one leaf.
template <typename Leaf>
void walk_parts(GMimeObject* part, const std::string& id, Leaf&& leaf) {
  if (!part) return;
  if (GMIME_IS_MULTIPART(part)) {
    GMimeMultipart* multi = GMIME_MULTIPART(part);
    const int n = g_mime_multipart_get_count(multi);
    for (int i = 0; i < n; ++i)
      walk_parts(g_mime_multipart_get_part(multi, i), id.empty() ? std::to_string(i + 1) : id + "." + std::to_string(i + 1),
                 leaf);
    return;
  }
  leaf(part, id.empty() ? std::string("1") : id);
}

std::string mime_type_of(GMimeObject* part) {
  char* mime = g_mime_content_type_get_mime_type(g_mime_object_get_content_type(part));
  std::string out = mime ? mime : "";
  g_free(mime);
  return out;
}

// The decoded content of a leaf part (the whole message of a message/rfc822).
std::string leaf_content(GMimeObject* part) {
  if (GMIME_IS_PART(part)) return decoded_content(GMIME_PART(part));
  if (GMIME_IS_MESSAGE_PART(part)) {
    GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(part));
    if (!inner) return {};
    Unref<GMimeStream> mem{g_mime_stream_mem_new()};
    g_mime_object_write_to_stream(GMIME_OBJECT(inner), nullptr, mem.p);
    GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem.p));
    return std::string(reinterpret_cast<const char*>(bytes->data), bytes->len);
  }
  return {};
}

std::string filename_of(GMimeObject* part) {
  if (GMIME_IS_PART(part))
    if (const char* name = g_mime_part_get_filename(GMIME_PART(part))) return name;
  return {};
}

void visit(GMimeObject* part, const std::string& id, ParsedMessage& out) {
  GMimeContentType* type = g_mime_object_get_content_type(part);
  const bool attachment = GMIME_IS_PART(part) && g_mime_part_is_attachment(GMIME_PART(part));
  for (auto [subtype, into] : {std::pair{"plain", &out.text}, std::pair{"html", &out.html}}) {
    if (!attachment && GMIME_IS_TEXT_PART(part) && g_mime_content_type_is_type(type, "text", subtype) && into->empty()) {
      char* text = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
      if (text) *into = lf(text);
      g_free(text);
      return;
    }
  }
  Attachment a;
  a.filename = filename_of(part);
  a.content_type = mime_type_of(part);
  a.size = leaf_content(part).size();
  a.part_id = id;
  if (const char* cid = g_mime_object_get_content_id(part)) a.content_id = cid;
  a.inline_part = !a.content_id.empty() && !attachment;
  out.attachments.push_back(std::move(a));
}

std::vector<Mailbox> mailboxes(InternetAddressList* list) {
  std::vector<Mailbox> out;
  std::function<void(InternetAddressList*)> walk = [&](InternetAddressList* l) {
    if (!l) return;
    for (int i = 0; i < internet_address_list_length(l); ++i) {
      InternetAddress* a = internet_address_list_get_address(l, i);
      if (INTERNET_ADDRESS_IS_GROUP(a)) {
        walk(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)));
      } else if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
        const char* addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
        const char* name = internet_address_get_name(a);
        if (addr && *addr) out.push_back({name ? name : "", addr});
      }
    }
  };
  walk(list);
  return out;
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
  walk_parts(g_mime_message_get_mime_part(message.p), "", [&](GMimeObject* part, const std::string& id) { visit(part, id, out); });
  if (out.text.empty() && !out.html.empty()) out.text = html_to_text(out.html);
  if (const char* id = g_mime_message_get_message_id(message.p)) out.message_id = id;
  if (GDateTime* date = g_mime_message_get_date(message.p)) out.date = g_date_time_to_unix(date);
  out.from = mailboxes(g_mime_message_get_addresses(message.p, GMIME_ADDRESS_TYPE_FROM));
  out.to = mailboxes(g_mime_message_get_addresses(message.p, GMIME_ADDRESS_TYPE_TO));
  out.cc = mailboxes(g_mime_message_get_addresses(message.p, GMIME_ADDRESS_TYPE_CC));
  out.bcc = mailboxes(g_mime_message_get_addresses(message.p, GMIME_ADDRESS_TYPE_BCC));
  out.reply_to = mailboxes(g_mime_message_get_addresses(message.p, GMIME_ADDRESS_TYPE_REPLY_TO));
  return out;
}

std::optional<PartContent> part_content(std::string_view bytes, std::string_view part_id) {
  for (auto& [id, part] : leaf_parts(bytes))
    if (id == part_id) return std::move(part);
  return std::nullopt;
}

std::vector<std::pair<std::string, PartContent>> leaf_parts(std::string_view bytes) {
  init_gmime();
  Unref<GMimeStream> stream{g_mime_stream_mem_new_with_buffer(bytes.data(), bytes.size())};
  Unref<GMimeParser> parser{g_mime_parser_new_with_stream(stream.p)};
  Unref<GMimeMessage> message{g_mime_parser_construct_message(parser.p, nullptr)};
  std::vector<std::pair<std::string, PartContent>> out;
  if (!message.p) return out;
  walk_parts(g_mime_message_get_mime_part(message.p), "", [&](GMimeObject* part, const std::string& id) {
    const char* charset = g_mime_object_get_content_type_parameter(part, "charset");
    out.emplace_back(id, PartContent{mime_type_of(part), filename_of(part), leaf_content(part), charset ? charset : ""});
  });
  return out;
}

namespace {

std::vector<std::string> addresses(std::string_view bytes, std::initializer_list<GMimeAddressType> types) {
  init_gmime();
  std::vector<std::string> out;
  Unref<GMimeStream> stream{g_mime_stream_mem_new_with_buffer(bytes.data(), bytes.size())};
  Unref<GMimeParser> parser{g_mime_parser_new_with_stream(stream.p)};
  Unref<GMimeMessage> message{g_mime_parser_construct_message(parser.p, nullptr)};
  if (!message.p) return out;
  std::function<void(InternetAddressList*)> walk = [&](InternetAddressList* list) {
    if (!list) return;
    for (int i = 0; i < internet_address_list_length(list); ++i) {
      InternetAddress* a = internet_address_list_get_address(list, i);
      if (INTERNET_ADDRESS_IS_GROUP(a)) walk(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)));
      else if (INTERNET_ADDRESS_IS_MAILBOX(a))
        if (const char* addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a)); addr && *addr)
          out.emplace_back(addr);
    }
  };
  for (auto type : types) walk(g_mime_message_get_addresses(message.p, type));
  return out;
}

}  // namespace

std::vector<std::string> header_recipients(std::string_view bytes) {
  return addresses(bytes, {GMIME_ADDRESS_TYPE_TO, GMIME_ADDRESS_TYPE_CC, GMIME_ADDRESS_TYPE_BCC});
}

std::vector<std::string> from_addresses(std::string_view bytes) { return addresses(bytes, {GMIME_ADDRESS_TYPE_FROM}); }

std::string without_bcc(std::string_view bytes) {
  std::string out;
  bool in_header = true, dropping = false;
  for (std::size_t pos = 0; pos < bytes.size();) {
    auto nl = bytes.find('\n', pos);
    const auto end = nl == std::string_view::npos ? bytes.size() : nl + 1;
    std::string_view line = bytes.substr(pos, end - pos);
    pos = end;
    if (in_header) {
      if (line == "\n" || line == "\r\n") {
        in_header = false;
      } else if (line[0] == ' ' || line[0] == '\t') {
        if (dropping) continue;  // a folded continuation of Bcc
      } else {
        // "Bcc :" too (RFC 5322 §4.5 obsolete syntax), which GMime reads as Bcc.
        const auto name = field_name(line);
        dropping = name && (util::iequals(*name, "Bcc") || util::iequals(*name, "Resent-Bcc"));
        if (dropping) continue;
      }
    }
    out.append(line);
  }
  return out;
}

}  // namespace postern::mime
