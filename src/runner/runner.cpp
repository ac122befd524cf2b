#include "runner/runner.hpp"

#include <iostream>
#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdlib>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <set>
#include <fmt/format.h>

#include "bus_nats/nats_hook.hpp"
#include "core/logging.hpp"
#include "operators/operators_hook.hpp"
#include "runner/builtins.hpp"

// GCC 12 at -O2 reports -Wmismatched-new-delete for the frame of the
// reload() coroutine: the frame is allocated and freed by Asio's own
// awaitable_frame_base operator new/delete pair, so the warning is false
// (as in plugs/irc/irc_connection.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace immp {

namespace {

SpecPtr names() { return list_of(str()); }

Node empty_map() { return Node::map(); }

// The whole tree of a file as written, validated with defaults filled in.
Node validated(const Node& raw) {
  Node root = raw;
  std::vector<std::string> extensions;
  for (const auto& [key, value] : root.as_map()) {
    if (key.starts_with("x-")) extensions.push_back(key);
  }
  for (const auto& key : extensions) root.erase(key);
  validate(root, *runner_schema());
  return root;
}

// Reads the file into `raw` (as written, for -w) and `root` (validated).
// Top-level keys starting with "x-" are extension fields, as in
// docker-compose: they hold anchors for the rest of the file
// (`x-irc: &irc {...}`) and are skipped without a warning. IMMP itself
// passes every unknown top-level key through (and writes it back with -w),
// as -w does here for the whole file.
void read_config(const std::filesystem::path& file, Node& raw, Node& root) {
  raw = load_config_file(file);
  if (!raw.is_map()) {
    Mark mark = raw.mark();
    if (!mark.file) mark.file = std::make_shared<const std::string>(file.string());
    throw ConfigError(mark, "", "expected a map of sections at the top of the file");
  }
  root = validated(raw);
}

// Warnings as the file has them, top to bottom (sections are checked one
// after the other, each plug's and hook's config later still).
ConfigWarnings in_file_order(ConfigWarnings warnings) {
  std::stable_sort(warnings.begin(), warnings.end(), [](const auto& a, const auto& b) {
    return std::pair(a.mark.line, a.mark.column) < std::pair(b.mark.line, b.mark.column);
  });
  return warnings;
}

}  // namespace

SpecPtr runner_schema() {
  auto outbox = object({
      {"expiry", real(), 24.0 * 3600, "seconds an undelivered message is kept"},
      {"capacity", integer(), 10000, "undelivered messages kept per channel"},
      {"pipeline", integer(), 32,
       "messages to one channel in flight at once, where the plug confirms deliveries later"},
  });
  auto plug = object({
      {"path", str(), required, "dotted class path, e.g. immp.plug.irc.IRCPlug"},
      {"config", any(), empty_map(), "the plug's own settings"},
      {"enabled", boolean(), true, "false keeps it configured but stopped"},
      {"outbox", outbox, empty_map(), "how messages wait while the network is down"},
  });
  auto hook = object({
      {"path", str(), required, "dotted class path, e.g. immp.hook.sync.SyncHook"},
      {"config", any(), empty_map(), "the hook's own settings"},
      {"enabled", boolean(), true, "false keeps it configured but stopped"},
      {"priority", integer(), Node(), "order of on_receive; unset hooks run concurrently"},
  });
  auto channel = object({
      {"plug", str(), required, "name of a plug under plugs"},
      {"source", text(), required, "the network's id of the room"},
  });
  auto group = object({
      {"channels", names(), Node::list(), "channels that belong"},
      {"private", names(), Node::list(), "plugs whose private channels belong"},
      {"shared", names(), Node::list(), "plugs whose non-private channels belong"},
      {"named", names(), Node::list(), "plugs whose declared channels belong"},
      {"anywhere", names(), Node::list(), "plugs whose every channel belongs"},
      {"exclude", names(), Node::list(), "channels that never belong"},
  });
  return object({
      {"path", either({names(), str()}), Node::list(), "directories searched for plugins"},
      {"plugs", map_of(plug), empty_map(), ""},
      {"channels", map_of(channel), empty_map(), ""},
      {"groups", map_of(group), empty_map(), ""},
      {"hooks", map_of(hook), empty_map(), ""},
      {"logging", any(), Node(), "Python logging.config dictionary"},
      {"operators", map_of(operators::operator_schema()), empty_map(),
       "out-of-process operators (docs/operators.md)"},
      {"bus", bus_nats::bus_schema(), Node(),
       "the message bus: the local socket's runtime_dir, NATS (docs/operators.md)"},
  });
}

Runner::Runner(std::filesystem::path config_file, asio::io_context& io, bool write_back,
               std::vector<const Module*> extra)
    : file_(std::move(config_file)), io_(io), write_back_(write_back) {
  ConfigWarningScope scope;
  read_config(file_, raw_, root_);
  configure_logging(root_.find("logging") && !root_.find("logging")->is_null()
                        ? root_.find("logging")
                        : nullptr,
                    file_.parent_path().empty() ? std::filesystem::path(".") : file_.parent_path());
  log_ = logger("immp.runner");
  build(extra);
  warnings_ = in_file_order(scope.take());
}

Runner::~Runner() {
  // Instances go before the registry unloads the code they came from.
  host_.reset();
}

void Runner::build(const std::vector<const Module*>& extra) {
  HostOptions options;
  options.base_dir = std::filesystem::absolute(file_).parent_path();
  host_ = std::make_unique<Host>(io_.get_executor(), options);
  register_builtins(registry_);
  for (const Module* m : extra) registry_.add(*m, std::string(m->name));
  populate(*host_, root_);
  config_written_ = host_->on_config_changed([this](Openable& source) { apply_config(source); });
  bind_operators();
  bind_runner_hooks();
}

// An operator's config block changed at runtime: into the file with -w,
// as a hook's would.
void Runner::bind_operators() {
  auto* ops = dynamic_cast<operators::OperatorsHook*>(host_->hook("operators"));
  if (!ops) return;
  operators_written_ = ops->on_config_changed([this](const std::string& name, const Node& config) {
    for (Node* tree : {&raw_, &root_}) {
      Node* section = tree->find("operators");
      Node* entry = section ? section->find(name) : nullptr;
      if (!entry) continue;
      entry->set("config", config);
      entry->repath();
    }
    if (write_back_) write_back();
  });
}

// ---- RunnerHook's commands --------------------------------------------------

void Runner::bind_runner_hooks() {
  for (Hook* h : host_->hooks()) {
    if (auto* r = dynamic_cast<RunnerHook*>(h)) r->bind(this);
  }
}

bool Runner::write_now() {
  try {
    write_config_file(file_, raw_);
    log_->info("Wrote the config to {} (run-write)", file_.string());
    return true;
  } catch (const std::exception& e) {
    log_->error("could not write the config to {}: {}", file_.string(), e.what());
    return false;
  }
}

void Runner::reload_later(std::function<void(bool applied)> done) {
  if (reloading_) {
    log_->warn("reload asked while a reload is running: ignored");
    done(false);
    return;
  }
  reloading_ = true;
  log_->info("Reloading {} (reload command)", file_.string());
  asio::co_spawn(io_, reload(), [this, done = std::move(done)](std::exception_ptr e, bool applied) {
    reloading_ = false;
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& err) {
        log_->error("Reload failed part-way: {}", err.what());
      }
      applied = false;
    }
    done(applied);
  });
}

std::vector<std::filesystem::path> Runner::search_path(const Node& root) const {
  std::vector<std::filesystem::path> dirs;
  auto base = std::filesystem::absolute(file_).parent_path();
  const Node& path = root.at("path");
  auto add_dir = [&](const Node& n) {
    std::filesystem::path d = n.as_string();
    dirs.push_back(d.is_absolute() ? d : base / d);
  };
  if (path.is_string()) {
    add_dir(path);
  } else {
    for (const auto& d : path.as_list()) add_dir(d);
  }
  return dirs;
}

const ClassInfo& Runner::resolve(const Node& root, const Node& entry, ClassInfo::Kind kind) {
  const Node& p = entry.at("path");
  const ClassInfo* info;
  try {
    info = &registry_.resolve(p.as_string(), search_path(root));
  } catch (const std::runtime_error& e) {
    p.fail(e.what());
  }
  if (info->kind != kind) {
    p.fail(fmt::format("{} is a {}, not a {}", info->path,
                       info->kind == ClassInfo::Kind::plug ? "plug" : "hook",
                       kind == ClassInfo::Kind::plug ? "plug" : "hook"));
  }
  return *info;
}

namespace {

// Validates an entry's `config` against its class and makes the instance;
// a constructor's complaint becomes a config error at that section.
template <typename Make>
auto make_instance(Node& entry, const ClassInfo& info, Make make) {
  Node& config = *entry.find("config");
  if (config.is_null()) config = Node::map(), config.set_path(entry.path() + ".config");
  validate(config, *info.schema());
  try {
    return make(config);
  } catch (const ConfigError&) {
    throw;
  } catch (const std::exception& e) {
    config.fail(e.what());
  }
}

}  // namespace

std::unique_ptr<Plug> Runner::make_plug(Host& host, Node& root, const std::string& name,
                                        Node& entry) {
  const ClassInfo& info = resolve(root, entry, ClassInfo::Kind::plug);
  auto plug = make_instance(entry, info, [&](const Node& config) {
    return info.make_plug(Init{name, config, host});
  });
  const Node& box = entry.at("outbox");
  if (box.at("expiry").as_double() < 1) box.at("expiry").fail("must be at least 1 second");
  if (box.at("capacity").as_int() < 1) box.at("capacity").fail("must be at least 1");
  plug->outbox_policy().expiry =
      std::chrono::seconds(static_cast<std::int64_t>(box.at("expiry").as_double()));
  plug->outbox_policy().capacity = static_cast<std::size_t>(box.at("capacity").as_int());
  if (box.at("pipeline").as_int() < 1) box.at("pipeline").fail("must be at least 1");
  plug->outbox_policy().pipeline = static_cast<std::size_t>(box.at("pipeline").as_int());
  return plug;
}

std::unique_ptr<Hook> Runner::make_hook(Host& host, Node& root, const std::string& name,
                                        Node& entry) {
  const ClassInfo& info = resolve(root, entry, ClassInfo::Kind::hook);
  return make_instance(entry, info, [&](const Node& config) {
    return info.make_hook(Init{name, config, host});
  });
}

namespace {

Plug* find_plug(const Host& host, const Node& ref) {
  Plug* p = host.plug(ref.as_string());
  if (p) return p;
  std::vector<std::string> names;
  for (Plug* q : host.plugs()) names.push_back(q->name());
  std::string hint;
  if (auto near = nearest(ref.as_string(), names)) hint = fmt::format(" (did you mean '{}'?)", *near);
  ref.fail(fmt::format("unknown plug '{}'{}", ref.as_string(), hint));
}

Channel find_channel(const Host& host, const Node& ref) {
  if (auto c = host.channel(ref.as_string())) return *c;
  std::vector<std::string> names;
  for (const auto& [name, c] : host.channels()) names.push_back(name);
  std::string hint;
  if (auto near = nearest(ref.as_string(), names)) hint = fmt::format(" (did you mean '{}'?)", *near);
  ref.fail(fmt::format("unknown channel '{}'{}", ref.as_string(), hint));
}

Channel make_channel(const Host& host, const Node& entry) {
  return find_plug(host, entry.at("plug"))->channel(entry.at("source").as_text());
}

Group make_group(const Host& host, const std::string& name, const Node& entry) {
  Group group;
  group.name = name;
  for (const auto& c : entry.at("channels").as_list()) group.channels.push_back(find_channel(host, c));
  for (const auto& c : entry.at("exclude").as_list()) group.exclude.push_back(find_channel(host, c));
  auto plugs = [&](const char* key, std::vector<const PlugHandle*>& out) {
    for (const auto& p : entry.at(key).as_list()) out.push_back(find_plug(host, p)->handle());
  };
  plugs("private", group.private_);
  plugs("shared", group.shared);
  plugs("named", group.named);
  plugs("anywhere", group.anywhere);
  return group;
}

std::optional<int> priority_of(const Node& entry) {
  const Node& prio = entry.at("priority");
  if (prio.is_null()) return std::nullopt;
  return static_cast<int>(prio.as_int());
}

}  // namespace

void Runner::populate(Host& host, Node& root) {
  for (auto& [name, entry] : root.find("plugs")->as_map()) {
    host.add_plug(make_plug(host, root, name, entry), entry.at("enabled").as_bool());
  }
  for (auto& [name, entry] : root.at("channels").as_map()) {
    host.add_channel(name, make_channel(host, entry));
  }
  for (auto& [name, entry] : root.at("groups").as_map()) host.add_group(make_group(host, name, entry));
  std::map<std::int64_t, std::string> priorities;
  for (auto& [name, entry] : root.find("hooks")->as_map()) {
    const Node& prio = entry.at("priority");
    if (!prio.is_null()) {
      auto [it, fresh] = priorities.emplace(prio.as_int(), name);
      if (!fresh) {
        prio.fail(fmt::format("priority {} is already used by hook '{}'; priorities must be unique",
                              prio.as_int(), it->second));
      }
    }
    host.add_hook(make_hook(host, root, name, entry), priority_of(entry),
                  entry.at("enabled").as_bool());
  }
  // As IMMP's runner: a RunnerHook named `runner` unless the config has
  // one, so that a command mapping can offer its commands.
  bool has_runner = false;
  for (Hook* h : host.hooks()) has_runner = has_runner || dynamic_cast<RunnerHook*>(h);
  if (!has_runner && !host.hook("runner")) {
    host.add_hook(std::make_unique<RunnerHook>(Init{"runner", Node::map(), host}));
    if (&host == host_.get()) implicit_hooks_ = 1;
  }
  // The operators (docs/operators.md) run under a hook of their own.
  if (!host.hook("operators")) {
    if (auto ops = operators::make_operators_hook(host, root, std::filesystem::absolute(file_).parent_path())) {
      host.add_hook(std::move(ops));
      if (&host == host_.get()) ++implicit_hooks_;
    }
  }
  // NATS (docs/operators.md, "NATS"), when the bus section has a url.
  if (!host.hook(bus_nats::NatsHook::kOwner)) {
    if (auto nats = bus_nats::make_nats_hook(host, root)) {
      host.add_hook(std::move(nats));
      if (&host == host_.get()) ++implicit_hooks_;
    }
  }
  check_hook_refs(host, root);
}

// A hook's reference to another hook can only be checked once all exist;
// doing it here rather than at start means `immp --check` finds it.
void Runner::check_hook_refs(const Host& host, const Node& root) {
  for (const char* section : {"plugs", "hooks"}) {
    for (const auto& [name, entry] : root.at(section).as_map()) {
      const ClassInfo* info = registry_.find(entry.at("path").as_string());
      if (!info) continue;
      for_each_hook_ref(entry.at("config"), *info->schema(), [&](const Node& ref,
                                                                 const HookRef& want) {
        const std::string& target = ref.as_string();
        Hook* hook = host.hook(target);
        if (!hook) {
          std::vector<std::string> names;
          for (Hook* h : host.hooks()) names.push_back(h->name());
          std::string hint;
          if (auto near = nearest(target, names)) hint = fmt::format(" (did you mean '{}'?)", *near);
          ref.fail(fmt::format("unknown hook '{}'{}", target, hint));
        }
        if (want.accepts && !want.accepts(*hook)) {
          ref.fail(fmt::format("'{}' is not {}", target, want.what));
        }
      });
    }
  }
}

// ---- reload ------------------------------------------------------------------

namespace {

// The entries of a section by name (empty when the section is absent).
std::map<std::string, const Node*> entries(const Node& root, const char* section) {
  std::map<std::string, const Node*> out;
  if (const Node* s = root.find(section); s && s->is_map()) {
    for (const auto& [name, entry] : s->as_map()) out.emplace(name, &entry);
  }
  return out;
}

// Names whose entries differ between two configs (added, removed or changed).
std::set<std::string> changed(const Node& before, const Node& after, const char* section) {
  auto a = entries(before, section);
  auto b = entries(after, section);
  std::set<std::string> out;
  for (const auto& [name, entry] : a) {
    auto it = b.find(name);
    if (it == b.end() || !(*it->second == *entry)) out.insert(name);
  }
  for (const auto& [name, entry] : b) {
    if (!a.count(name)) out.insert(name);
  }
  return out;
}

// Whether a config tree names any of `names` (a channel or group it uses).
bool mentions(const Node& node, const std::set<std::string>& names) {
  if (node.is_string()) return names.count(node.as_string()) > 0;
  if (node.is_list()) {
    for (const auto& n : node.as_list()) {
      if (mentions(n, names)) return true;
    }
  }
  if (node.is_map()) {
    for (const auto& [k, v] : node.as_map()) {
      if (names.count(k) > 0 || mentions(v, names)) return true;
    }
  }
  return false;
}

}  // namespace

Runner::ReloadResult Runner::prepare_reload() {
  ReloadResult result;
  ConfigWarningScope scope;
  Node raw;
  Node root;
  read_config(file_, raw, root);
  // The logging section too is checked (not applied) before anything
  // changes, so that a bad one cannot leave a reload half done.
  if (const Node* logging = root.find("logging"); logging && !logging->is_null()) {
    check_logging(logging, std::filesystem::absolute(file_).parent_path());
  }
  // Everything is built once, unstarted, in a scratch host: whatever a
  // constructor would refuse is refused here, before anything changes.
  {
    Host scratch(io_.get_executor(), host_->options());
    populate(scratch, root);
  }
  result.warnings = in_file_order(scope.take());
  if (strict_ && !result.warnings.empty()) {
    const ConfigWarning& w = result.warnings.front();
    throw ConfigError(w.mark, w.path, w.problem + " (--strict)");
  }
  result.raw = std::move(raw);
  result.root = std::move(root);
  return result;
}

Task<bool> Runner::reload() {
  ReloadResult next;
  try {
    next = prepare_reload();
  } catch (const ConfigError& e) {
    log_->error("Reload refused, the running config stays: {}", e.what());
    co_return false;
  } catch (const std::exception& e) {
    log_->error("Reload refused, the running config stays: {}: {}", file_.string(), e.what());
    co_return false;
  }
  for (const ConfigWarning& w : next.warnings) log_->warn("{}", w.str());
  Node& root = next.root;
  Host& host = *host_;
  std::set<std::string> plugs = changed(root_, root, "plugs");
  std::set<std::string> hooks = changed(root_, root, "hooks");
  std::set<std::string> names = changed(root_, root, "channels");
  for (const auto& g : changed(root_, root, "groups")) names.insert(g);
  // A hook whose channels or groups changed meaning is restarted too.
  for (const auto& [name, entry] : entries(root, "hooks")) {
    if (!names.empty() && mentions(*entry, names)) hooks.insert(name);
  }
  auto old_hooks = entries(root_, "hooks");
  auto new_plugs = entries(root, "plugs");
  auto new_hooks = entries(root, "hooks");
  std::vector<std::string> done;
  // Hooks first out, plugs next, then channels and groups, hooks last in:
  // nothing runs against a half-changed host.
  for (const auto& name : hooks) {
    if (old_hooks.count(name) && host.hook(name)) {
      co_await host.remove(name);
      if (!new_hooks.count(name)) done.push_back("removed hook " + name);
    }
  }
  for (const auto& name : plugs) {
    if (!new_plugs.count(name)) {
      co_await host.remove(name);
      done.push_back("removed plug " + name);
      continue;
    }
    Node& entry = *root.find("plugs")->find(name);
    bool enabled = entry.at("enabled").as_bool();
    bool existed = host.plug(name) != nullptr;
    std::unique_ptr<Plug> plug;
    {
      ConfigWarningScope reported;  // by prepare_reload(), on the first build
      plug = make_plug(host, root, name, entry);
    }
    co_await host.replace(std::move(plug), enabled);
    done.push_back((existed ? "restarted plug " : "added plug ") + name);
  }
  for (const auto& [name, entry] : entries(root_, "channels")) {
    if (!root.at("channels").find(name)) host.remove_channel(name);
  }
  for (auto& [name, entry] : root.at("channels").as_map()) host.add_channel(name, make_channel(host, entry));
  for (const auto& [name, entry] : entries(root_, "groups")) {
    if (!root.at("groups").find(name)) host.remove_group(name);
  }
  for (auto& [name, entry] : root.at("groups").as_map()) host.add_group(make_group(host, name, entry));
  for (const auto& name : hooks) {
    auto it = new_hooks.find(name);
    if (it == new_hooks.end()) continue;
    Node& entry = *root.find("hooks")->find(name);
    std::unique_ptr<Hook> hook;
    {
      ConfigWarningScope reported;  // by prepare_reload(), on the first build
      hook = make_hook(host, root, name, entry);
    }
    co_await host.replace(std::move(hook), priority_of(entry),
                          entry.at("enabled").as_bool());
    done.push_back((old_hooks.count(name) ? "restarted hook " : "added hook ") + name);
  }
  if (!(root.at("operators") == root_.at("operators"))) {
    auto base = std::filesystem::absolute(file_).parent_path();
    if (auto* ops = dynamic_cast<operators::OperatorsHook*>(host.hook("operators"))) {
      co_await ops->apply(operators::read_section(root, base));
    } else if (auto fresh = operators::make_operators_hook(host, root, base)) {
      host.add_hook(std::move(fresh));
      ++implicit_hooks_;
      co_await host.start("operators");
    }
    done.push_back("applied operators");
  }
  if (!(root.at("bus") == root_.at("bus"))) {
    // A changed NATS link: the hook again, with the new settings (durable
    // consumers on the server carry the bridges over).
    auto fresh = bus_nats::make_nats_hook(host, root);
    if (host.hook(bus_nats::NatsHook::kOwner)) {
      if (fresh) {
        co_await host.replace(std::move(fresh), std::nullopt);
      } else {
        co_await host.stop(std::string(bus_nats::NatsHook::kOwner));
      }
    } else if (fresh) {
      host.add_hook(std::move(fresh));
      ++implicit_hooks_;
      co_await host.start(std::string(bus_nats::NatsHook::kOwner));
    }
    done.push_back("applied bus");
  }
  // Plugs a hook made for itself (a sync's virtual plug) start with it.
  for (Plug* p : host.plugs()) {
    if (p->state() == State::inactive) co_await host.start(p->name());
  }
  if (!(root.at("logging") == root_.at("logging"))) {
    configure_logging(root.find("logging") && !root.find("logging")->is_null() ? root.find("logging")
                                                                              : nullptr,
                      std::filesystem::absolute(file_).parent_path());
    done.push_back("reconfigured logging");
  }
  bind_runner_hooks();
  raw_ = std::move(next.raw);
  root_ = std::move(root);
  warnings_ = std::move(next.warnings);
  if (done.empty()) {
    log_->info("Reloaded {}: nothing changed", file_.string());
  } else {
    std::string list;
    for (const auto& d : done) list += (list.empty() ? "" : ", ") + d;
    log_->info("Reloaded {}: {}", file_.string(), list);
  }
  co_return true;
}

// ---- edits (ConfigEditor) -------------------------------------------------------

std::optional<ConfigEditor::Entry> Runner::entry(ConfigEditor::Kind kind,
                                                 std::string_view name) const {
  const Node* section = raw_.find(kind == ConfigEditor::Kind::plug ? "plugs" : "hooks");
  const Node* e = section && section->is_map() ? section->find(name) : nullptr;
  if (!e || !e->is_map()) return std::nullopt;
  const Node* path = e->find("path");
  const Node* config = e->find("config");
  return Entry{path && path->is_string() ? path->as_string() : std::string(),
               config && !config->is_null() ? *config : Node::map()};
}

std::vector<std::string> Runner::classes(ConfigEditor::Kind kind) const {
  auto want = kind == ConfigEditor::Kind::plug ? ClassInfo::Kind::plug : ClassInfo::Kind::hook;
  std::vector<std::string> out;
  for (const std::string& path : registry_.paths()) {
    if (registry_.kind(path) == want) out.push_back(path);
  }
  return out;
}

Task<ConfigWarnings> Runner::put(ConfigEditor::Kind kind, std::string name, std::string path,
                                 Node config) {
  const bool is_plug = kind == ConfigEditor::Kind::plug;
  const char* section = is_plug ? "plugs" : "hooks";
  const std::string where = fmt::format("{}.{}", section, name);
  if (reloading_) {
    throw ConfigError(Mark{}, where, "a reload or another change is running: try again");
  }
  // The file as it would be, checked as a reload checks a file: nothing
  // changes until the new instance exists.
  Node raw = raw_;
  if (!raw.find(section) || !raw.find(section)->is_map()) raw.set(section, Node::map());
  Node& raw_section = *raw.find(section);
  Node* existing = raw_section.find(name);
  const bool edited = existing && existing->is_map();
  if (edited) {
    existing->set("config", std::move(config));
  } else {
    bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
      return std::isalnum(c) || c == '_' || c == '-';
    });
    if (!plain) throw ConfigError(Mark{}, where, "a name is letters, digits, '_' and '-'");
    if (host_->plug(name) || host_->hook(name)) {
      throw ConfigError(Mark{}, where,
                        fmt::format("the name '{}' is taken by a {}", name,
                                    host_->plug(name) ? "plug" : "hook"));
    }
    Node fresh = Node::map();
    fresh.set("path", std::move(path));
    fresh.set("config", std::move(config));
    raw_section.set(name, std::move(fresh));
  }
  ConfigWarningScope scope;
  Node root = validated(raw);
  Node& entry = *root.find(section)->find(name);
  std::unique_ptr<Plug> plug;
  std::unique_ptr<Hook> hook;
  if (is_plug) {
    plug = make_plug(*host_, root, name, entry);
  } else {
    hook = make_hook(*host_, root, name, entry);
  }
  check_hook_refs(*host_, root);
  // Only this entry's warnings: the rest of the file was warned about at start.
  ConfigWarnings warnings;
  for (ConfigWarning& w : in_file_order(scope.take())) {
    if (w.path == where || w.path.starts_with(where + ".")) warnings.push_back(std::move(w));
  }

  // Set back by hand, not by a guard's destructor: a frame destroyed
  // unfinished at exit may outlive the runner.
  reloading_ = true;
  try {
    Openable* old = is_plug ? static_cast<Openable*>(host_->plug(name))
                            : static_cast<Openable*>(host_->hook(name));
    // A plug or hook disabled at runtime stays so; a new one follows `enabled`.
    bool enabled = old ? old->state() != State::disabled : entry.at("enabled").as_bool();
    std::set<std::string> plugs_before;
    for (Plug* p : host_->plugs()) plugs_before.insert(p->name());
    if (is_plug) plugs_before.insert(name);
    if (is_plug) {
      co_await host_->replace(std::move(plug), enabled);
    } else {
      std::optional<int> priority =
          old ? host_->priority(static_cast<Hook&>(*old)) : priority_of(entry);
      co_await host_->replace(std::move(hook), priority, enabled);
    }
    // Plugs a hook made for itself (a sync's virtual plug) start with it;
    // plugs stopped from elsewhere stay stopped.
    for (Plug* p : host_->plugs()) {
      if (p->state() == State::inactive && !plugs_before.count(p->name())) {
        co_await host_->start(p->name());
      }
    }
  } catch (...) {
    reloading_ = false;
    throw;
  }
  reloading_ = false;
  bind_runner_hooks();
  // Only this entry is replaced, in both trees: whatever else changed while
  // the host worked (a hook's own set_config) stays.
  Node raw_entry = *raw.find(section)->find(name);
  for (auto [tree, value] : {std::pair{&raw_, &raw_entry}, std::pair{&root_, &entry}}) {
    if (!tree->find(section) || !tree->find(section)->is_map()) tree->set(section, Node::map());
    tree->find(section)->set(name, *value);
  }
  log_->info("{} {} {}{}", edited ? "Changed the config of" : "Added", is_plug ? "plug" : "hook",
             name, write_back_ ? ", written to " + file_.string() : "");
  if (write_back_) write_back();
  co_return warnings;
}

void Runner::apply_config(Openable& source) {
  // Only the changed section is replaced; the rest stays as the user wrote it.
  const char* section = dynamic_cast<Plug*>(&source) ? "plugs" : "hooks";
  for (Node* tree : {&raw_, &root_}) {
    Node* entry = tree->find(section) ? tree->find(section)->find(source.name()) : nullptr;
    if (!entry) continue;
    Node config = source.config();
    entry->set("config", std::move(config));
    entry->repath();
  }
  if (write_back_) write_back();
}

void Runner::write_back() {
  try {
    write_config_file(file_, raw_);
  } catch (const std::exception& e) {
    log_->error("could not write the config back to {}: {}", file_.string(), e.what());
  }
}

int Runner::run() {
  for (const ConfigWarning& w : warnings_) log_->warn("{}", w.str());
  log_->info("Starting host ({} plugs, {} hooks)", host_->plugs().size(),
             host_->hooks().size() - implicit_hooks_);
  asio::signal_set signals(io_, SIGINT, SIGTERM);
  asio::signal_set hangups(io_, SIGHUP);
  bool stopping = false;
  std::function<void(boost::system::error_code, int)> on_hangup = [&](boost::system::error_code ec,
                                                                       int) {
    if (ec || stopping) return;
    hangups.async_wait(on_hangup);
    if (reloading_) {
      log_->warn("SIGHUP while a reload is running: ignored");
      return;
    }
    reloading_ = true;
    log_->info("Reloading {} (SIGHUP)", file_.string());
    asio::co_spawn(io_, reload(), [&](std::exception_ptr e, bool) {
      reloading_ = false;
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& err) {
        log_->error("Reload failed part-way: {}", err.what());
      }
    });
  };
  hangups.async_wait(on_hangup);
  std::function<void(boost::system::error_code, int)> on_signal =
      [&](boost::system::error_code ec, int signo) {
        if (ec) return;
        if (stopping) {
          log_->warn("Second signal ({}): exiting at once", signo);
          shutdown_logging();
          std::_Exit(1);
        }
        stopping = true;
        log_->info("Stopping host (signal {})", signo);
        signals.async_wait(on_signal);
        hangups.cancel();
        asio::co_spawn(io_, host_->close(), [&](std::exception_ptr) {
          signals.cancel();
          io_.stop();
        });
      };
  signals.async_wait(on_signal);
  int status = 0;
  asio::co_spawn(io_, host_->open(), [&](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const ConfigError& err) {
        // Found while loading hooks (a reference to another hook), before
        // anything started: the same exit as any config error.
        std::cerr << "immp: config error: " << err.what() << "\n";
        status = 2;
        signals.cancel();
        hangups.cancel();
        io_.stop();
      } catch (const std::exception& err) {
        log_->error("Host failed to open: {}", err.what());
      }
    } else {
      log_->info("Host ready");
    }
  });
  io_.run();
  if (status != 0) {
    shutdown_logging();
    return status;
  }
  if (write_back_) write_back();
  log_->info("Stopped");
  shutdown_logging();
  return 0;
}

}  // namespace immp
