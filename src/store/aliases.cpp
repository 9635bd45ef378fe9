#include "store/aliases.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "log/log.hpp"
#include "store/srs.hpp"
#include "store/users.hpp"
#include "util/strings.hpp"

namespace postern::store {
namespace {

std::string_view domain_of(std::string_view address) {
  auto at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view{} : address.substr(at + 1);
}

// A target as written, made canonical ("" and a reason when it cannot be).
std::string canonical_target(std::string_view target, std::string_view alias_domain, std::string& why) {
  if (target.front() == '|') why = "commands (\"|...\") are not supported";
  else if (target.front() == '/') why = "files (\"/...\") are not supported";
  else if (util::istarts_with(target, ":include:")) why = ":include: is not supported";
  else if (target.front() == '@') why = "a target must be an address, not a domain";
  if (!why.empty()) return {};
  std::string address(target);
  if (address.find('@') == std::string::npos) address += "@" + std::string(alias_domain);
  auto canonical = canonical_address(address);
  if (!canonical) why = "\"" + util::printable(target) + "\" is not an address";
  return canonical.value_or("");
}

// "local@domain" or "@domain", canonical; "" when it is neither.
std::string canonical_key(std::string_view key) {
  if (!key.empty() && key.front() == '@') {
    auto probe = canonical_address("x" + std::string(key));
    return probe ? probe->substr(1) : "";
  }
  return canonical_address(key).value_or("");
}

}  // namespace

AliasTable parse_aliases(std::string_view text) {
  AliasTable table;
  std::map<std::string, std::size_t> first_line;
  std::string key;  // the entry being read ("" after a bad one)
  std::string pending_targets;
  std::size_t entry_line = 0;
  bool entry_bad = false;

  auto finish = [&] {
    if (entry_line == 0) return;
    const std::size_t at_line = entry_line;
    entry_line = 0;
    if (entry_bad) return;
    std::vector<std::string> targets;
    std::string alias_domain(key.front() == '@' ? key.substr(1) : std::string(domain_of(key)));
    for (auto& piece : util::split(pending_targets, ',')) {
      auto t = util::trim(piece);
      if (t.empty()) continue;
      std::string why;
      auto target = canonical_target(t, alias_domain, why);
      if (!why.empty()) {
        table.errors.push_back({at_line, why});
        return;
      }
      if (std::find(targets.begin(), targets.end(), target) == targets.end()) targets.push_back(target);
    }
    if (targets.empty()) {
      table.errors.push_back({at_line, "\"" + util::printable(key) + "\" has no targets"});
      return;
    }
    if (auto [it, fresh] = first_line.emplace(key, at_line); !fresh) {
      table.errors.push_back({at_line, "\"" + key + "\" is already defined on line " + std::to_string(it->second)});
      return;
    }
    table.entries.emplace(key, std::move(targets));
  };

  std::size_t number = 0;
  for (auto& raw : util::split(text, '\n')) {
    ++number;
    std::string_view line = raw;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto content = util::trim(line);
    if (content.empty() || content.front() == '#') continue;
    if (line.front() == ' ' || line.front() == '\t') {
      if (entry_line == 0) table.errors.push_back({number, "a continuation line with no entry before it"});
      else pending_targets += "," + std::string(content);
      continue;
    }
    finish();
    entry_line = number;
    entry_bad = false;
    pending_targets.clear();
    const auto colon = content.find(':');
    if (colon == std::string_view::npos) {
      table.errors.push_back({number, "expected \"ADDRESS: TARGET[, TARGET...]\""});
      entry_bad = true;
      continue;
    }
    key = canonical_key(util::trim(content.substr(0, colon)));
    if (key.empty()) {
      table.errors.push_back({number, "\"" + util::printable(util::trim(content.substr(0, colon))) +
                                          "\" is not an address (local@domain) or a catch-all (@domain)"});
      entry_bad = true;
      continue;
    }
    pending_targets = std::string(content.substr(colon + 1));
  }
  finish();
  return table;
}

std::shared_ptr<const AliasTable> Aliases::table(const std::filesystem::path& file) {
  std::lock_guard lock(mutex_);
  std::string stamp;
  struct stat st {};
  if (!file.empty() && ::stat(file.c_str(), &st) == 0)
    stamp = std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
            std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(st.st_ino);
  if (file == path_ && stamp == stamp_) return table_;
  auto fresh = std::make_shared<AliasTable>();
  if (!stamp.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      log::Event("aliases_error").add("file", file.string()).add("error", "cannot be read");
      return table_;  // keep what was read before; try again next time
    }
    std::ostringstream text;
    text << in.rdbuf();
    *fresh = parse_aliases(text.str());
    for (const auto& e : fresh->errors)
      log::Event("aliases_error").add("file", file.string()).add("line", static_cast<long long>(e.line)).add("error", e.message);
    log::Event("aliases_loaded").add("file", file.string()).add("entries", static_cast<long long>(fresh->entries.size()));
  }
  path_ = file;
  stamp_ = stamp;
  table_ = std::move(fresh);
  return table_;
}

std::vector<std::string> Aliases::keys_in_domain(const std::filesystem::path& file, std::string_view domain) {
  std::vector<std::string> out;
  const std::string wanted = util::to_lower(domain);
  for (const auto& [key, targets] : table(file)->entries)
    if (domain_of(key) == wanted) out.push_back(key);
  return out;
}

std::vector<AliasTable::Error> Aliases::errors(const std::filesystem::path& file) { return table(file)->errors; }

Expansion Aliases::expand(const std::filesystem::path& file, std::string_view address, const Lookup& lookup) {
  Expansion out;
  const auto tbl = table(file);
  std::optional<std::string> start = canonical_address(address);
  if (!address.empty() && address.front() == '@') start = canonical_key(address);  // a catch-all key
  if (!start || start->empty()) return out;
  auto local_part = [](std::string_view a) { return a.substr(0, a.rfind('@')); };
  if (tbl->entries.empty() && !(lookup.srs_reverse && Srs::is_srs(local_part(*start)))) return out;

  auto find = [&](const std::string& a) -> const std::vector<std::string>* {
    auto it = tbl->entries.find(a);
    return it == tbl->entries.end() ? nullptr : &it->second;
  };
  auto leaf = [&](const std::string& a) {
    auto& list = lookup.is_local_domain(domain_of(a)) ? out.mailboxes : out.forwards;
    if (std::find(list.begin(), list.end(), a) == list.end()) list.push_back(a);
    if (out.mailboxes.size() + out.forwards.size() > max_targets && out.kind != Expansion::Kind::loop) {
      out.kind = Expansion::Kind::loop;
      out.detail = "expands to more than " + std::to_string(max_targets) + " addresses";
    }
  };
  std::vector<std::string> path;
  std::function<void(const std::string&)> visit = [&](const std::string& a) {
    if (out.kind == Expansion::Kind::loop || out.kind == Expansion::Kind::invalid) return;
    const std::vector<std::string>* targets = nullptr;
    const bool local = lookup.is_local_domain(domain_of(a));
    if (local) {
      targets = find(a);
      if (!targets && lookup.srs_reverse && Srs::is_srs(local_part(a))) {
        if (path.empty()) out.srs = true;
        std::optional<std::string> original(a);
        for (unsigned round = 0; original && lookup.is_local_domain(domain_of(*original)) &&
                                 Srs::is_srs(local_part(*original));
             ++round) {
          original = round < max_srs_reversals ? lookup.srs_reverse(local_part(*original)) : std::nullopt;
        }
        if (!original) {
          out.kind = Expansion::Kind::invalid;
          out.detail = "invalid or expired SRS address";
          return;
        }
        out.kind = Expansion::Kind::expanded;
        const bool local_original = lookup.is_local_domain(domain_of(*original));
        return leaf(local_original ? canonical_address(*original).value_or(*original) : *original);
      }
      if (!targets && !lookup.is_user(a)) targets = find("@" + std::string(domain_of(a)));
    }
    if (!targets) return leaf(a);
    if (path.size() >= max_depth) {
      out.kind = Expansion::Kind::loop;
      out.detail = "nested more than " + std::to_string(max_depth) + " levels deep";
      return;
    }
    out.kind = Expansion::Kind::expanded;
    path.push_back(a);
    for (const auto& t : *targets) {
      if (t == a) leaf(a);  // the mailbox of that name
      else if (std::find(path.begin(), path.end(), t) != path.end()) {
        std::string cycle;
        for (auto& p : path) cycle += p + " -> ";
        out.kind = Expansion::Kind::loop;
        out.detail = cycle + t;
      } else visit(t);
      if (out.kind == Expansion::Kind::loop || out.kind == Expansion::Kind::invalid) break;
    }
    path.pop_back();
  };
  visit(*start);
  if (out.kind != Expansion::Kind::expanded) {
    out.mailboxes.clear();
    out.forwards.clear();
  }
  return out;
}

}  // namespace postern::store
