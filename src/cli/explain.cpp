// `postern explain CODE [CODE…] [--lang en|tr] [--json]` (SPEC §7).
// One argument: a basic code ("450"), an enhanced code ("4.2.0") or a whole
// reply line ("450 4.2.0 Greylisted, try again in 300 seconds"). Two or more:
// a comparison. --brief: the short block failure messages use, per argument. Unknown or malformed codes exit 64 (sysexits EX_USAGE).
#include <sys/ioctl.h>
#include <unistd.h>

#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "explain/explain.hpp"
#include "explain/render.hpp"

namespace postern::cli {
namespace {

struct ExplainOptions {
  std::vector<std::string> codes;
  std::string lang;
  bool json = false;
  bool brief = false;
};

// 80 columns, or fewer when stdout is a narrower terminal.
std::size_t output_width() {
  std::size_t width = 80;
  winsize ws{};
  if (::isatty(STDOUT_FILENO) == 1 && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40 &&
      ws.ws_col < width) {
    width = ws.ws_col;
  }
  return width;
}

int run_explain(const ExplainOptions& o) {
  explain::Lang lang = o.lang.empty() ? explain::default_lang() : *explain::parse_lang(o.lang);
  std::vector<explain::Explanation> items;
  for (const auto& code : o.codes) {
    std::string error;
    auto e = explain::explain_input(code, lang, &error);
    if (!e) {
      std::cerr << "postern explain: " << error << "\n";
      return Exit::usage;
    }
    items.push_back(std::move(*e));
  }
  explain::RenderOptions ro{lang, output_width(), explain::colour_wanted(STDOUT_FILENO)};
  if (o.brief && !o.json) {
    for (const auto& e : items) std::cout << explain::render_brief(e, ro);
  } else if (items.size() == 1) {
    std::cout << (o.json ? explain::to_json(items[0], lang) : explain::render(items[0], ro));
  } else {
    auto c = explain::compare(items, lang);
    std::cout << (o.json ? explain::to_json(c, lang) : explain::render(c, ro));
  }
  std::cout.flush();
  return std::cout ? Exit::ok : Exit::software;
}

}  // namespace

void add_explain(CLI::App& app, int& result) {
  auto opts = std::make_shared<ExplainOptions>();
  auto* sub = app.add_subcommand(
      "explain",
      "Explain SMTP reply codes: a basic code (450), an enhanced code (4.2.0), a whole reply line "
      "(\"450 4.2.0 Greylisted, try again in 300 seconds\"), or compare several (334 450)");
  sub->add_option("CODE", opts->codes, "reply code, enhanced status code or reply line")->required();
  sub->add_option("--lang", opts->lang, "output language: en or tr (default: from LC_ALL/LC_MESSAGES/LANG)")
      ->check(CLI::IsMember({"en", "tr"}));
  sub->add_flag("--json", opts->json, "print the explanation as JSON");
  sub->add_flag("--brief", opts->brief, "a few lines per reply, as failure messages show them")
      ->excludes("--json");
  sub->callback([opts, &result] { result = run_explain(*opts); });
}

}  // namespace postern::cli
