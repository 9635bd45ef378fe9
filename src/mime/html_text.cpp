#include "mime/html_text.hpp"

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include <memory>
#include <set>

namespace postern::mime {
namespace {

constexpr std::size_t max_html = 4 << 20;
constexpr int max_depth = 200;

const std::set<std::string_view> skipped{"head", "script", "style", "noscript", "template", "title"};
// Paragraphs: a blank line before and after.
const std::set<std::string_view> paragraphs{"p",  "h1",    "h2", "h3", "h4", "h5",         "h6",
                                           "ul", "ol",    "dl", "pre", "blockquote", "table", "hr"};
// Other blocks: a line of their own.
const std::set<std::string_view> lines{"div",    "li",     "tr",   "dt",         "dd",     "address", "article",
                                      "aside",  "center", "form", "figcaption", "footer", "header",  "main",
                                      "nav",    "section", "fieldset", "figure", "caption", "legend"};

std::string_view name_of(const xmlNode* n) {
  return n->name ? std::string_view(reinterpret_cast<const char*>(n->name)) : std::string_view();
}

std::string attribute(const xmlNode* n, const char* name) {
  xmlChar* v = xmlGetProp(n, reinterpret_cast<const xmlChar*>(name));
  std::string out = v ? reinterpret_cast<const char*>(v) : "";
  xmlFree(v);
  return out;
}

class Writer {
 public:
  void text(std::string_view t, bool pre) {
    for (char c : t) {
      if (pre) {
        if (c == '\r') continue;
        out_ += c;
        space_ = false;
        continue;
      }
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
        space_ = true;
        continue;
      }
      if (space_ && !out_.empty() && out_.back() != '\n') out_ += ' ';
      space_ = false;
      out_ += c;
    }
  }
  void line_break() {
    trim_spaces();
    out_ += '\n';
    space_ = false;
  }
  void block(bool paragraph) {
    trim_spaces();
    if (out_.empty()) return;
    if (out_.back() != '\n') out_ += '\n';
    if (paragraph && (out_.size() < 2 || out_[out_.size() - 2] != '\n')) out_ += '\n';
    space_ = false;
  }
  std::size_t mark() const { return out_.size(); }
  std::string since(std::size_t mark) const { return out_.substr(mark); }

  std::string finish() {
    trim_spaces();
    while (!out_.empty() && out_.back() == '\n') out_.pop_back();
    std::size_t start = out_.find_first_not_of('\n');
    return start == std::string::npos ? std::string() : out_.substr(start);
  }

 private:
  void trim_spaces() {
    while (!out_.empty() && (out_.back() == ' ' || out_.back() == '\t')) out_.pop_back();
  }
  std::string out_;
  bool space_ = false;
};

void walk(const xmlNode* node, Writer& w, bool pre, int depth) {
  for (const xmlNode* n = node; n; n = n->next) {
    if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
      if (n->content) w.text(reinterpret_cast<const char*>(n->content), pre);
      continue;
    }
    if (n->type != XML_ELEMENT_NODE) continue;
    const auto name = name_of(n);
    if (skipped.count(name)) continue;
    if (name == "br") {
      w.line_break();
      continue;
    }
    const bool paragraph = paragraphs.count(name) > 0, line = lines.count(name) > 0;
    if (paragraph || line) w.block(paragraph);
    if (name == "li") w.text("* ", false);
    const std::size_t start = w.mark();
    if (depth < max_depth) walk(n->children, w, pre || name == "pre", depth + 1);
    if (name == "td" || name == "th") w.text(" ", false);
    if (name == "a") {
      // "text ( URL )", as Mailpit's text version reads, unless the text is the URL.
      std::string href = attribute(n, "href");
      std::string shown = w.since(start);
      shown.erase(0, shown.find_first_not_of(" \n"));
      if (!href.empty() && href[0] != '#' && href.find_first_of("\r\n") == std::string::npos && shown != href &&
          href != "mailto:" + shown)
        w.text(" ( " + href + " )", false);
    }
    if (paragraph || line) w.block(paragraph);
  }
}

}  // namespace

std::string html_to_text(std::string_view html) {
  if (html.size() > max_html) html = html.substr(0, max_html);
  if (html.empty()) return {};
  static const bool initialised = (xmlInitParser(), true);  // once, before threads share the library
  (void)initialised;
  std::unique_ptr<xmlDoc, decltype(&xmlFreeDoc)> doc(
      htmlReadMemory(html.data(), static_cast<int>(html.size()), nullptr, "UTF-8",
                     HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET),
      &xmlFreeDoc);
  if (!doc) return {};
  Writer w;
  walk(xmlDocGetRootElement(doc.get()), w, false, 0);
  return w.finish();
}

}  // namespace postern::mime
