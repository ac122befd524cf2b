// The config tree: one in-memory shape for YAML, JSON and TOML that
// remembers where each value came from, plus typed schemas that plugs and
// hooks declare for their `config` section.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace immp {

// Where a value was written: file, 1-based line and column. Line 0 means
// the value was made at runtime and has no position.
struct Mark {
  std::shared_ptr<const std::string> file;
  int line = 0;
  int column = 0;

  // "config.yaml:14:7", or "config.yaml" without a position, or "".
  std::string str() const;
};

// A configuration error. what() is the whole sentence a user sees:
// "config.yaml:14:7: hooks.sync.config.channels: expected a list, got a string".
class ConfigError : public std::runtime_error {
 public:
  ConfigError(const Mark& mark, std::string path, std::string problem);
  const Mark& mark() const { return mark_; }
  const std::string& path() const { return path_; }
  const std::string& problem() const { return problem_; }

 private:
  Mark mark_;
  std::string path_;
  std::string problem_;
};

// Something a config says that is not wrong enough to refuse it: an
// unknown key (IMMP's validator passes those through, so IMMP configs have
// them). `immp --check` prints warnings and still accepts the file,
// `immp --strict` refuses it, and a normal start logs them.
struct ConfigWarning {
  Mark mark;
  std::string path;     // the key path of the map the key is in
  std::string problem;  // "unknown key 'intervall' (did you mean 'interval'?)"

  // Laid out as ConfigError::what():
  // "config.yaml:5:7: plugs.dummy.config: unknown key 'intervall' (did you mean 'interval'?)"
  std::string str() const;
};
using ConfigWarnings = std::vector<ConfigWarning>;

// Collects the warnings that config code reports on this thread while the
// scope lives: validate()'s unknown keys and Node::warn(), in constructors
// of plugs and hooks too. Scopes nest; the innermost one collects. Without
// any scope, a warning is logged on `immp.config` at once.
class ConfigWarningScope {
 public:
  ConfigWarningScope();
  ~ConfigWarningScope();
  ConfigWarningScope(const ConfigWarningScope&) = delete;
  ConfigWarningScope& operator=(const ConfigWarningScope&) = delete;

  const ConfigWarnings& warnings() const { return warnings_; }
  ConfigWarnings take() { return std::move(warnings_); }

  // Hands a warning to the innermost scope of this thread (or the log).
  static void report(ConfigWarning warning);

 private:
  ConfigWarnings warnings_;
  ConfigWarningScope* outer_;
};

class Node;
using NodeList = std::vector<Node>;
// Ordered: write-back keeps the order keys were written in.
using NodeMap = std::vector<std::pair<std::string, Node>>;

// One value of the config tree. Copyable value type.
class Node {
 public:
  enum class Kind { null, boolean, integer, real, string, list, map };

  Node() = default;
  Node(std::nullptr_t) {}
  Node(bool v) : value_(v) {}
  Node(int v) : value_(std::int64_t{v}) {}
  Node(std::int64_t v) : value_(v) {}
  Node(double v) : value_(v) {}
  Node(const char* v) : value_(std::string(v)) {}
  Node(std::string v) : value_(std::move(v)) {}
  Node(NodeList v) : value_(std::move(v)) {}
  Node(NodeMap v) : value_(std::move(v)) {}
  static Node list() { return Node(NodeList{}); }
  static Node map() { return Node(NodeMap{}); }

  Kind kind() const { return static_cast<Kind>(value_.index()); }
  bool is_null() const { return kind() == Kind::null; }
  bool is_bool() const { return kind() == Kind::boolean; }
  bool is_int() const { return kind() == Kind::integer; }
  bool is_number() const { return is_int() || kind() == Kind::real; }
  bool is_string() const { return kind() == Kind::string; }
  bool is_list() const { return kind() == Kind::list; }
  bool is_map() const { return kind() == Kind::map; }
  // "a string", "a list", ... for error messages.
  static std::string_view kind_name(Kind kind);

  // Typed access; each throws ConfigError naming this node's mark and path
  // when the kind does not match (an integer is accepted as a real).
  // as_bool() also takes a plain YAML scalar that YAML 1.1 reads as a
  // boolean (see yaml11_bool()).
  bool as_bool() const;
  std::int64_t as_int() const;
  double as_double() const;
  const std::string& as_string() const;
  const NodeList& as_list() const;
  const NodeMap& as_map() const;
  NodeList& as_list();
  NodeMap& as_map();
  // A string, or a scalar rendered as one (IMMP accepts `source: 12345`).
  std::string as_text() const;

  // Whether this string was written as a plain YAML scalar: no quotes, no
  // tag. Only such a string can be a YAML 1.1 boolean.
  bool plain() const { return plain_; }
  void set_plain(bool plain) { plain_ = plain; }
  // The boolean that YAML 1.1 readers (PyYAML, so IMMP) see in a plain
  // string: yes/no/on/off/true/false, each in lower case, Capitalised or
  // UPPER case. nullopt for anything else, quoted strings included. This
  // YAML 1.2 reader leaves them strings; where a boolean is expected,
  // validate() and as_bool() read them as IMMP does.
  std::optional<bool> yaml11_bool() const;

  // Map lookup; null when absent or when this is not a map.
  const Node* find(std::string_view key) const;
  Node* find(std::string_view key);
  // Map lookup that throws ConfigError ("missing required key") when absent.
  const Node& at(std::string_view key) const;
  // Inserts or replaces a key of a map (a null node becomes a map first).
  Node& set(std::string_view key, Node value);
  bool erase(std::string_view key);
  std::size_t size() const;

  const Mark& mark() const { return mark_; }
  void set_mark(Mark mark) { mark_ = std::move(mark); }
  // Dotted key path from the root, "hooks.sync.config.channels"; list items
  // as "[2]". Empty at the root.
  const std::string& path() const { return path_; }
  void set_path(std::string path) { path_ = std::move(path); }
  // Recomputes the path of every descendant from this node's path.
  void repath();

  [[noreturn]] void fail(std::string problem) const;
  // Reports a warning at this node (see ConfigWarningScope).
  void warn(std::string problem) const;

  // Structural equality; marks and paths are ignored.
  bool operator==(const Node& other) const;

 private:
  std::variant<std::monostate, bool, std::int64_t, double, std::string, NodeList, NodeMap> value_;
  Mark mark_;
  std::string path_;
  bool plain_ = false;
};

enum class ConfigFormat { yaml, json, toml };

// Chooses the format from the file extension (.yaml/.yml, .json, .toml);
// throws ConfigError for anything else.
ConfigFormat format_for(const std::filesystem::path& file);

// Parses a whole file. Throws ConfigError with the file position of syntax
// errors and unreadable files.
Node load_config_file(const std::filesystem::path& file);
Node parse_config(std::string_view text, ConfigFormat format, const std::string& file_name);
// Renders a tree in a format (comments are not kept: the tree has none).
std::string dump_config(const Node& root, ConfigFormat format);
// Writes atomically: temp file in the same directory, fsync, rename.
void write_config_file(const std::filesystem::path& file, const Node& root);

// ---- schemas -------------------------------------------------------------

// The expected shape of a value. Built with the free functions below:
//   object({{"host", str(), required}, {"port", integer(), 6667}})
struct Spec;
using SpecPtr = std::shared_ptr<const Spec>;

struct Field {
  std::string key;
  SpecPtr spec;
  bool required = false;
  std::optional<Node> fallback;  // default used when the key is absent
  std::string help;              // one line for docs and --help

  struct Required {};
  Field(std::string key, SpecPtr spec, Required, std::string help = {})
      : key(std::move(key)), spec(std::move(spec)), required(true), help(std::move(help)) {}
  Field(std::string key, SpecPtr spec, Node fallback, std::string help = {})
      : key(std::move(key)), spec(std::move(spec)), fallback(std::move(fallback)),
        help(std::move(help)) {}
};
inline constexpr Field::Required required{};

class Hook;

// A string that names another hook of the config. It can only be checked
// once every plug and hook exists: the runner does that right after
// building them (so `immp --check` finds a wrong name), through
// for_each_hook_ref().
struct HookRef {
  std::string what;                         // "an identity provider hook"
  std::function<bool(const Hook&)> accepts;  // null: any hook will do
};

struct Spec {
  enum class Type { any, boolean, integer, real, string, text, list, map, object, either };
  Type type = Type::any;
  SpecPtr item;               // list: each item; map: each value
  std::vector<Field> fields;  // object: known keys
  bool open = false;          // object: unknown keys taken without a warning
  std::vector<SpecPtr> alternatives;  // either
  std::shared_ptr<const HookRef> hook_ref;  // string: names a hook
};

SpecPtr any();
SpecPtr boolean();
SpecPtr integer();
SpecPtr real();
SpecPtr str();
// A string or a number, read as text (ids, channel sources).
SpecPtr text();
SpecPtr list_of(SpecPtr item);
SpecPtr map_of(SpecPtr value);
SpecPtr object(std::vector<Field> fields, bool open = false);
SpecPtr either(std::vector<SpecPtr> alternatives);
// A string naming a hook of the config, that `accepts` it if given:
//   {"identities", hook_ref<IdentityProvider>("an identity provider hook"), Node()}
SpecPtr hook_ref(std::string what, std::function<bool(const Hook&)> accepts = {});
template <typename T>
SpecPtr hook_ref(std::string what) {
  return hook_ref(std::move(what),
                  [](const Hook& h) { return dynamic_cast<const T*>(&h) != nullptr; });
}

// Checks `node` against `spec` and fills in defaults, in place. Throws
// ConfigError for the first problem: wrong type, or missing required key.
// An unknown key is not an error (IMMP's validator passes it through, and
// so does this one): it is reported as a warning suggesting the nearest
// known key (see ConfigWarningScope). Where a boolean is expected, a plain
// YAML `yes`/`no`/`on`/`off` becomes one.
void validate(Node& node, const Spec& spec);

// Calls `visit` for every value under `node` (validated against `spec`)
// that the spec declares a hook_ref, with its HookRef.
void for_each_hook_ref(const Node& node, const Spec& spec,
                       const std::function<void(const Node&, const HookRef&)>& visit);

// The nearest of `candidates` to `word` by edit distance, if close enough
// to be a plausible typo.
std::optional<std::string> nearest(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace immp
