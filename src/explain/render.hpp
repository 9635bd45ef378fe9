// Renders explanations for people (80-column text, optional ANSI colour) and
// for programs (JSON). Used by `postern explain`, and by `postern send` and
// the queue to print a failure with its explanation.
#pragma once

#include <string>
#include <string_view>

#include "explain/explain.hpp"

namespace postern::explain {

struct RenderOptions {
  Lang lang = Lang::en;
  std::size_t width = 80;  // columns (UTF-8 code points), at least 40
  bool colour = false;     // ANSI SGR; the caller decides (TTY, NO_COLOR)
};

// A full explanation: codes, class, meaning, when you see it, how to fix it,
// recognised texts, related codes.
std::string render(const Explanation& e, const RenderOptions& opts);
// A compact block for failure messages (`postern send`, `postern queue
// show`, the text part of a DSN): the reply, its one-line meaning, what it
// means and what the sender can do, with recognised texts; a few lines.
std::string render_brief(const Explanation& e, const RenderOptions& opts);
// A comparison with the sections of SPEC §7.
std::string render(const Comparison& c, const RenderOptions& opts);

std::string to_json(const Explanation& e, Lang lang);
std::string to_json(const Comparison& c, Lang lang);

// Word-wraps text to `width` columns, every line prefixed with `indent`
// (counted in the width). Existing newlines start new paragraphs.
std::string wrap(std::string_view text, std::size_t width, std::string_view indent = {});
// The same with a hanging indent: each paragraph's first line starts with
// `first`, its other lines with `rest`.
std::string wrap_hanging(std::string_view text, std::size_t width, std::string_view first, std::string_view rest);

// True when colour should be used on file descriptor fd: it is a TTY,
// NO_COLOR is unset or empty, and TERM is not "dumb".
bool colour_wanted(int fd);

}  // namespace postern::explain
