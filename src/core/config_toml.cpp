// TOML reading (through toml++) and writing (by hand, to keep key order).
//
// TOML has no null. The writer leaves out map entries whose value is null
// (reading the file back gives a map without that key, which the schemas
// treat the same as an explicit null) and refuses a null inside a list,
// where leaving it out would shift the other items.
#include <toml++/toml.h>

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "core/config_formats.hpp"

namespace immp::config_detail {

namespace {

Mark mark_of(const toml::source_region& source, const FileName& file) {
  return Mark{file, static_cast<int>(source.begin.line), static_cast<int>(source.begin.column)};
}

template <typename T>
std::string to_text(const T& value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

// `where` is the mark the node gets: its own for items and the root, its
// key's for table entries.
Node convert(const toml::node& in, const Mark& where, const std::string& path,
             const FileName& file, int depth) {
  check_depth(depth, where);
  Node out;
  if (const toml::table* table = in.as_table()) {
    // toml++ keeps keys sorted; put them back in the order they were written.
    std::vector<std::pair<const toml::key*, const toml::node*>> entries;
    for (auto&& [key, value] : *table) entries.emplace_back(&key, &value);
    std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
      const auto& pa = a.first->source().begin;
      const auto& pb = b.first->source().begin;
      return pa.line != pb.line ? pa.line < pb.line : pa.column < pb.column;
    });
    NodeMap map;
    map.reserve(entries.size());
    for (const auto& [key, value] : entries) {
      std::string name(key->str());
      Mark key_mark = mark_of(key->source(), file);
      if (key_mark.line == 0) key_mark = mark_of(value->source(), file);
      Node child = convert(*value, key_mark, child_path(path, name), file, depth + 1);
      map.emplace_back(std::move(name), std::move(child));
    }
    out = Node(std::move(map));
  } else if (const toml::array* array = in.as_array()) {
    NodeList list;
    list.reserve(array->size());
    for (const toml::node& item : *array) {
      list.push_back(convert(item, mark_of(item.source(), file), item_path(path, list.size()),
                             file, depth + 1));
    }
    out = Node(std::move(list));
  } else if (auto s = in.as_string()) {
    out = Node(s->get());
  } else if (auto i = in.as_integer()) {
    out = Node(i->get());
  } else if (auto f = in.as_floating_point()) {
    out = Node(f->get());
  } else if (auto b = in.as_boolean()) {
    out = Node(b->get());
  } else if (auto d = in.as_date()) {
    // Dates and times have no kind of their own in the tree: they are kept
    // as the text TOML would write for them.
    out = Node(to_text(d->get()));
  } else if (auto t = in.as_time()) {
    out = Node(to_text(t->get()));
  } else if (auto dt = in.as_date_time()) {
    out = Node(to_text(dt->get()));
  }
  out.set_mark(where);
  out.set_path(path);
  return out;
}

// ---- writing ---------------------------------------------------------------

std::string toml_string(std::string_view s) {
  std::string out;
  append_quoted(out, s);
  return out;
}

std::string toml_key(std::string_view key) {
  const bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
  });
  return bare ? std::string(key) : toml_string(key);
}

std::string inline_value(const Node& n) {
  switch (n.kind()) {
    case Node::Kind::null:
      n.fail("TOML cannot hold null inside a list");
    case Node::Kind::boolean: return n.as_bool() ? "true" : "false";
    case Node::Kind::integer: return std::to_string(n.as_int());
    case Node::Kind::real: return format_real(n.as_double());
    case Node::Kind::string: return toml_string(n.as_string());
    case Node::Kind::list: {
      std::string out = "[";
      bool first = true;
      for (const Node& item : n.as_list()) {
        if (!first) out += ", ";
        first = false;
        out += inline_value(item);
      }
      return out + "]";
    }
    case Node::Kind::map: {
      std::string out = "{";
      bool first = true;
      for (const auto& [key, value] : n.as_map()) {
        if (value.is_null()) continue;
        out += first ? " " : ", ";
        first = false;
        out += toml_key(key) + " = " + inline_value(value);
      }
      return out + (first ? "}" : " }");
    }
  }
  return {};
}

bool is_table(const Node& n) { return n.is_map() && n.size() > 0; }

bool is_array_of_tables(const Node& n) {
  if (!n.is_list() || n.size() == 0) return false;
  const NodeList& items = n.as_list();
  return std::all_of(items.begin(), items.end(), [](const Node& i) { return i.is_map(); });
}

// The entries of a table whose header (if any) is already written. TOML
// ends a table at the next header, so plain values come first and
// sub-tables after them; within each group the order is kept.
void emit_table(std::string& out, const Node& table, const std::string& header) {
  for (const auto& [key, value] : table.as_map()) {
    if (value.is_null() || is_table(value) || is_array_of_tables(value)) continue;
    out += toml_key(key) + " = " + inline_value(value) + "\n";
  }
  for (const auto& [key, value] : table.as_map()) {
    const std::string name = header.empty() ? toml_key(key) : header + "." + toml_key(key);
    if (is_table(value)) {
      // A header with nothing under it but sub-tables is implied by theirs.
      const NodeMap& entries = value.as_map();
      const bool implied = std::none_of(entries.begin(), entries.end(), [](const auto& kv) {
        return !kv.second.is_null() && !is_table(kv.second) && !is_array_of_tables(kv.second);
      }) && std::any_of(entries.begin(), entries.end(), [](const auto& kv) {
        return is_table(kv.second) || is_array_of_tables(kv.second);
      });
      if (!implied) {
        if (!out.empty()) out += '\n';
        out += "[" + name + "]\n";
      }
      emit_table(out, value, name);
    } else if (is_array_of_tables(value)) {
      for (const Node& item : value.as_list()) {
        if (!out.empty()) out += '\n';
        out += "[[" + name + "]]\n";
        emit_table(out, item, name);
      }
    }
  }
}

}  // namespace

Node parse_toml(std::string_view text, const FileName& file) {
  toml::table root;
  try {
    root = toml::parse(strip_bom(text), std::string_view(*file));
  } catch (const toml::parse_error& e) {
    // toml++ says "Error while parsing key-value pair: ..."; keep its detail.
    std::string what(e.description());
    constexpr std::string_view kPrefix = "Error while parsing ";
    if (what.rfind(kPrefix, 0) == 0) {
      what = "TOML syntax error while parsing " + what.substr(kPrefix.size());
    } else {
      what = "TOML syntax error: " + what;
    }
    throw ConfigError(mark_of(e.source(), file), "", std::move(what));
  }
  return convert(root, Mark{file, 1, 1}, "", file, 0);
}

std::string dump_toml(const Node& root) {
  if (!root.is_map()) {
    root.fail("TOML needs a map at the top level, not " +
              std::string(Node::kind_name(root.kind())));
  }
  std::string out;
  emit_table(out, root, "");
  return out;
}

}  // namespace immp::config_detail
