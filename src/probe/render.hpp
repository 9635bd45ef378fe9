// `postern probe` output: text for people and JSON (docs/probe.schema.json),
// every reply and finding explained from the knowledge base in `lang`.
#pragma once

#include <string>

#include "explain/explain.hpp"
#include "probe/report.hpp"

namespace postern::probe {

std::string render_text(const Report& report, explain::Lang lang);
std::string render_json(const Report& report, explain::Lang lang);

}  // namespace postern::probe
