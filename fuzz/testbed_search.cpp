// Fuzz target: the Mailpit search syntax (/api/v1/search?query=, the page's
// search box). Any bytes either parse within the bounds or are refused
// with std::invalid_argument; a parsed query is matched against a message
// without crashing, and a query never matches both a message and its
// own negation.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

#include "testbed/search.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace postern::testbed;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  try {
    const SearchQuery q = parse_search(in);
    if (q.terms.size() > max_query_terms) __builtin_trap();
    MessageSummary m;
    m.subject = "Order 42";
    m.header_from = {"Shop", "shop+news@example.com"};
    m.header_to = {{"", "ann@example.org"}};
    m.tags = {"news"};
    m.search_text = std::make_shared<const std::string>(clean_search_text("shop order 42 ann@example.org hello"));
    m.size = 1234;
    const bool yes = matches(q, m);
    if (q.terms.size() == 1) {
      SearchQuery negated = q;
      negated.terms[0].exclude = !negated.terms[0].exclude;
      if (yes == matches(negated, m)) __builtin_trap();
    }
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
