#include "operators/settings.hpp"

#include <cmath>
#include <cstdlib>

namespace immp::operators {

SpecPtr operator_schema() {
  auto crash = object({
      {"restarts", integer(), 5, "restarts within `window` that make a crash loop"},
      {"window", real(), 60.0, "seconds"},
  });
  return object({
      {"command", str(), required, "the program (looked up in PATH)"},
      {"args", list_of(text()), Node::list(), "its arguments"},
      {"env", map_of(text()), Node::map(), "variables added to its environment"},
      {"cwd", str(), "", "its working directory (default: the config file's folder)"},
      {"config", any(), Node::map(), "the operator's own settings, sent in `welcome`"},
      {"enabled", boolean(), true, "false keeps it configured but stopped"},
      {"admin", boolean(), false, "may control other operators over the bus"},
      {"restart", str(), "on-failure", "always, on-failure or never"},
      {"ping_interval", real(), 5.0, "seconds between pings"},
      {"ping_timeout", real(), 15.0, "seconds without a sign of life before a restart"},
      {"ready_timeout", real(), 30.0, "seconds allowed to become ready"},
      {"grace", real(), 2.0, "seconds between the shutdown request, SIGTERM and SIGKILL"},
      {"backoff", real(), 0.5, "first delay before a restart, in seconds (doubles)"},
      {"backoff_max", real(), 30.0, "longest delay before a restart"},
      {"crash_loop", crash, Node::map(), "when restarting stops"},
      {"queue", integer(), 10000, "events queued for it at most"},
      {"overflow", str(), "drop-oldest", "drop-oldest or disconnect, when its queue is full"},
      {"data", str(), "", "its persistent data directory (default: operators/<name>)"},
  });
}

namespace {

std::chrono::milliseconds seconds_at(const Node& entry, const char* key, double min) {
  const Node& n = entry.at(key);
  double s = n.as_double();
  if (!(s >= min)) n.fail("must be at least " + std::to_string(min) + " seconds");
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(s * 1000)));
}

std::filesystem::path absolute_in(const std::filesystem::path& base, const std::string& p) {
  std::filesystem::path path(p);
  return path.is_absolute() ? path : base / path;
}

}  // namespace

OperatorSettings read_settings(const std::string& name, const Node& entry,
                               const std::filesystem::path& base_dir) {
  OperatorSettings s;
  s.name = name;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      entry.fail("an operator's name may only have letters, digits, '-', '_' and '.'");
    }
  }
  s.command = entry.at("command").as_string();
  if (s.command.empty()) entry.at("command").fail("must not be empty");
  for (const auto& a : entry.at("args").as_list()) s.args.push_back(a.as_text());
  for (const auto& [k, v] : entry.at("env").as_map()) s.env[k] = v.as_text();
  const std::string& cwd = entry.at("cwd").as_string();
  s.cwd = cwd.empty() ? base_dir : absolute_in(base_dir, cwd);
  s.config = entry.at("config");
  if (s.config.is_null()) s.config = Node::map();
  s.enabled = entry.at("enabled").as_bool();
  s.admin = entry.at("admin").as_bool();
  const Node& restart = entry.at("restart");
  if (restart.as_string() == "always") {
    s.restart = RestartPolicy::always;
  } else if (restart.as_string() == "on-failure") {
    s.restart = RestartPolicy::on_failure;
  } else if (restart.as_string() == "never") {
    s.restart = RestartPolicy::never;
  } else {
    restart.fail("expected always, on-failure or never");
  }
  s.ping_interval = seconds_at(entry, "ping_interval", 0.01);
  s.ping_timeout = seconds_at(entry, "ping_timeout", 0.01);
  s.ready_timeout = seconds_at(entry, "ready_timeout", 0.01);
  s.grace = seconds_at(entry, "grace", 0);
  s.backoff = seconds_at(entry, "backoff", 0);
  s.backoff_max = seconds_at(entry, "backoff_max", 0);
  const Node& crash = entry.at("crash_loop");
  s.crash_restarts = static_cast<int>(crash.at("restarts").as_int());
  if (s.crash_restarts < 1) crash.at("restarts").fail("must be at least 1");
  s.crash_window = seconds_at(crash, "window", 0.01);
  std::int64_t queue = entry.at("queue").as_int();
  if (queue < 1) entry.at("queue").fail("must be at least 1");
  s.queue = static_cast<std::size_t>(queue);
  const Node& overflow = entry.at("overflow");
  if (overflow.as_string() == "drop-oldest") {
    s.overflow = Overflow::drop_oldest;
  } else if (overflow.as_string() == "disconnect") {
    s.overflow = Overflow::disconnect;
  } else {
    overflow.fail("expected drop-oldest or disconnect");
  }
  const std::string& data = entry.at("data").as_string();
  s.data = data.empty() ? base_dir / "operators" / name : absolute_in(base_dir, data);
  return s;
}

std::filesystem::path runtime_root(const Node& root, const std::filesystem::path& base_dir) {
  if (const Node* bus = root.find("bus"); bus && bus->is_map()) {
    if (const Node* dir = bus->find("runtime_dir"); dir && !dir->is_null()) {
      if (!dir->is_string()) dir->fail("expected a string (a directory)");
      return absolute_in(base_dir, dir->as_string());
    }
  }
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg) {
    return std::filesystem::path(xdg) / "immp";
  }
  return base_dir / ".immp-run";
}

}  // namespace immp::operators
