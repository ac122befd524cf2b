// Schemas for config sections, and checking a tree against one.
#include <algorithm>

#include "core/config_formats.hpp"
#include "immp/config.hpp"

namespace immp {

namespace {

SpecPtr make(Spec::Type type) {
  auto spec = std::make_shared<Spec>();
  spec->type = type;
  return spec;
}

// "a string", "a string or a list": what the spec accepts, for errors.
std::string describe(const Spec& spec) {
  switch (spec.type) {
    case Spec::Type::any: return "any value";
    case Spec::Type::boolean: return "a boolean";
    case Spec::Type::integer: return "an integer";
    case Spec::Type::real: return "a number";
    case Spec::Type::string: return "a string";
    case Spec::Type::text: return "a string or a number";
    case Spec::Type::list: return "a list";
    case Spec::Type::map:
    case Spec::Type::object: return "a map";
    case Spec::Type::either: {
      std::string out;
      for (std::size_t i = 0; i < spec.alternatives.size(); ++i) {
        if (i > 0) out += i + 1 == spec.alternatives.size() ? " or " : ", ";
        out += describe(*spec.alternatives[i]);
      }
      return out.empty() ? "nothing" : out;
    }
  }
  return "a value";
}

// Whether the node has the outer shape the spec wants, ignoring what is
// inside; used to pick the alternative of an `either` the user meant.
bool shape_matches(const Spec& spec, const Node& node) {
  switch (spec.type) {
    case Spec::Type::any: return true;
    case Spec::Type::boolean: return node.is_bool() || node.yaml11_bool().has_value();
    case Spec::Type::integer: return node.is_int();
    case Spec::Type::real: return node.is_number();
    case Spec::Type::string: return node.is_string();
    case Spec::Type::text: return node.is_string() || node.is_number();
    case Spec::Type::list: return node.is_list();
    case Spec::Type::map: return node.is_map();
    case Spec::Type::object: return node.is_map() || node.is_null();
    case Spec::Type::either:
      return std::any_of(spec.alternatives.begin(), spec.alternatives.end(),
                         [&](const SpecPtr& alt) { return alt && shape_matches(*alt, node); });
  }
  return false;
}

[[noreturn]] void type_error(const Node& node, const Spec& spec) {
  node.fail("expected " + describe(spec) + ", got " + std::string(Node::kind_name(node.kind())));
}

// Gives a mark to every node of a default that has none.
void fill_mark(Node& node, const Mark& mark) {
  if (node.mark().line == 0 && !node.mark().file) node.set_mark(mark);
  if (node.is_list()) {
    for (Node& item : node.as_list()) fill_mark(item, mark);
  } else if (node.is_map()) {
    for (auto& [key, value] : node.as_map()) fill_mark(value, mark);
  }
}

std::string known_keys(const std::vector<Field>& fields) {
  if (fields.empty()) return " (no keys are allowed here)";
  std::string out = " (known keys: ";
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += ", ";
    out += fields[i].key;
  }
  return out + ")";
}

void validate_object(Node& node, const Spec& spec) {
  if (node.is_null()) {
    // An empty section (YAML `config:` with nothing under it) is an empty map.
    Mark mark = node.mark();
    std::string path = node.path();
    node = Node::map();
    node.set_mark(std::move(mark));
    node.set_path(std::move(path));
  }
  if (!node.is_map()) type_error(node, spec);

  // Unknown keys are passed through, as IMMP does, with a warning that
  // suggests the nearest known key. A misspelt required key shows up as a
  // missing one too: that error points at the misspelling instead.
  std::vector<std::pair<std::string, Mark>> unknown;  // copies: defaults grow the map
  if (!spec.open) {
    std::vector<std::string> names;
    for (const Field& f : spec.fields) names.push_back(f.key);
    for (const auto& [key, value] : node.as_map()) {
      const bool known = std::any_of(spec.fields.begin(), spec.fields.end(),
                                     [&](const Field& f) { return f.key == key; });
      if (known) continue;
      std::string problem = "unknown key '" + key + "'";
      if (auto suggestion = nearest(key, names)) {
        problem += " (did you mean '" + *suggestion + "'?)";
      } else {
        problem += known_keys(spec.fields);
      }
      ConfigWarningScope::report(ConfigWarning{value.mark(), node.path(), std::move(problem)});
      unknown.emplace_back(key, value.mark());
    }
  }

  for (const Field& field : spec.fields) {
    Node* value = node.find(field.key);
    if (value == nullptr && field.required) {
      for (const auto& [key, mark] : unknown) {
        if (nearest(key, {field.key})) {
          throw ConfigError(mark, node.path(),
                            "missing required key '" + field.key + "': is '" + key +
                                "' a misspelling of it?");
        }
      }
      node.fail("missing required key '" + field.key + "'");
    }
    const bool use_default =
        field.fallback && (value == nullptr || (value->is_null() && !field.fallback->is_null()));
    if (use_default) {
      Node fallback = *field.fallback;
      fallback.set_path(config_detail::child_path(node.path(), field.key));
      fallback.repath();
      fill_mark(fallback, value != nullptr ? value->mark() : node.mark());
      // Defaults are checked too, which fills the defaults nested in them.
      if (!fallback.is_null() && field.spec) validate(fallback, *field.spec);
      if (value != nullptr) {
        *value = std::move(fallback);
      } else {
        node.as_map().emplace_back(field.key, std::move(fallback));
      }
      continue;
    }
    if (value->is_null() && field.fallback) continue;  // optional and left empty
    if (field.spec) validate(*value, *field.spec);
  }
}

void validate_either(Node& node, const Spec& spec) {
  std::vector<ConfigError> near_misses;
  for (const SpecPtr& alt : spec.alternatives) {
    if (!alt) continue;
    Node attempt = node;
    // Only the alternative that fits has its warnings reported.
    ConfigWarnings warnings;
    try {
      {
        ConfigWarningScope scope;
        validate(attempt, *alt);
        warnings = scope.take();
      }
      node = std::move(attempt);
      for (ConfigWarning& w : warnings) ConfigWarningScope::report(std::move(w));
      return;
    } catch (const ConfigError& e) {
      if (shape_matches(*alt, node)) near_misses.push_back(e);
    }
  }
  // One alternative had the right shape but failed inside: that is the one
  // the user meant, and its error is the useful one.
  if (near_misses.size() == 1) throw near_misses.front();
  type_error(node, spec);
}

}  // namespace

SpecPtr any() { return make(Spec::Type::any); }
SpecPtr boolean() { return make(Spec::Type::boolean); }
SpecPtr integer() { return make(Spec::Type::integer); }
SpecPtr real() { return make(Spec::Type::real); }
SpecPtr str() { return make(Spec::Type::string); }
SpecPtr text() { return make(Spec::Type::text); }

SpecPtr list_of(SpecPtr item) {
  auto spec = std::make_shared<Spec>();
  spec->type = Spec::Type::list;
  spec->item = std::move(item);
  return spec;
}

SpecPtr map_of(SpecPtr value) {
  auto spec = std::make_shared<Spec>();
  spec->type = Spec::Type::map;
  spec->item = std::move(value);
  return spec;
}

SpecPtr object(std::vector<Field> fields, bool open) {
  auto spec = std::make_shared<Spec>();
  spec->type = Spec::Type::object;
  spec->fields = std::move(fields);
  spec->open = open;
  return spec;
}

SpecPtr hook_ref(std::string what, std::function<bool(const Hook&)> accepts) {
  auto spec = std::make_shared<Spec>();
  spec->type = Spec::Type::string;
  spec->hook_ref = std::make_shared<const HookRef>(HookRef{std::move(what), std::move(accepts)});
  return spec;
}

SpecPtr either(std::vector<SpecPtr> alternatives) {
  auto spec = std::make_shared<Spec>();
  spec->type = Spec::Type::either;
  spec->alternatives = std::move(alternatives);
  return spec;
}

// After validate(), every field an object declares is present (absent
// optional fields hold their default, which may be null), so callers can
// use Node::at() for any declared key.
void validate(Node& node, const Spec& spec) {
  switch (spec.type) {
    case Spec::Type::any: return;
    case Spec::Type::boolean:
      if (auto yaml11 = node.yaml11_bool()) {
        // `ssl: yes`, as PyYAML reads it.
        Node converted(*yaml11);
        converted.set_mark(node.mark());
        converted.set_path(node.path());
        node = std::move(converted);
      }
      if (!shape_matches(spec, node)) type_error(node, spec);
      return;
    case Spec::Type::integer:
    case Spec::Type::real:
    case Spec::Type::string:
      if (!shape_matches(spec, node)) type_error(node, spec);
      return;
    case Spec::Type::text:
      if (!shape_matches(spec, node)) type_error(node, spec);
      if (node.is_number()) {
        Node converted(node.as_text());
        converted.set_mark(node.mark());
        converted.set_path(node.path());
        node = std::move(converted);
      }
      return;
    case Spec::Type::list:
      if (!node.is_list()) type_error(node, spec);
      if (spec.item) {
        for (Node& item : node.as_list()) validate(item, *spec.item);
      }
      return;
    case Spec::Type::map:
      if (!node.is_map()) type_error(node, spec);
      if (spec.item) {
        for (auto& [key, value] : node.as_map()) validate(value, *spec.item);
      }
      return;
    case Spec::Type::object: validate_object(node, spec); return;
    case Spec::Type::either: validate_either(node, spec); return;
  }
}

void for_each_hook_ref(const Node& node, const Spec& spec,
                       const std::function<void(const Node&, const HookRef&)>& visit) {
  if (node.is_null()) return;  // an optional reference left out
  if (spec.hook_ref) {
    if (node.is_string()) visit(node, *spec.hook_ref);
    return;
  }
  switch (spec.type) {
    case Spec::Type::list:
      if (spec.item && node.is_list()) {
        for (const Node& item : node.as_list()) for_each_hook_ref(item, *spec.item, visit);
      }
      return;
    case Spec::Type::map:
      if (spec.item && node.is_map()) {
        for (const auto& [key, value] : node.as_map()) for_each_hook_ref(value, *spec.item, visit);
      }
      return;
    case Spec::Type::object:
      for (const Field& field : spec.fields) {
        const Node* value = node.find(field.key);
        if (value && field.spec) for_each_hook_ref(*value, *field.spec, visit);
      }
      return;
    case Spec::Type::either:
      // The alternative the value was validated against: the first that
      // has its shape.
      for (const SpecPtr& alt : spec.alternatives) {
        if (alt && shape_matches(*alt, node)) {
          for_each_hook_ref(node, *alt, visit);
          return;
        }
      }
      return;
    default: return;
  }
}

}  // namespace immp
