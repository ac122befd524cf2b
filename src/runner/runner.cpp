#include "runner/runner.hpp"

#include <csignal>
#include <cstdlib>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>

#include "core/logging.hpp"

namespace immp {

namespace {

SpecPtr names() { return list_of(str()); }

Node empty_map() { return Node::map(); }

}  // namespace

SpecPtr runner_schema() {
  auto outbox = object({
      {"expiry", real(), 24.0 * 3600, "seconds an undelivered message is kept"},
      {"capacity", integer(), 10000, "undelivered messages kept per channel"},
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
      {"operators", any(), Node(), "out-of-process operators"},
      {"bus", any(), Node(), "the message bus"},
  });
}

Runner::Runner(std::filesystem::path config_file, asio::io_context& io, bool write_back,
               std::vector<const Module*> extra)
    : file_(std::move(config_file)), io_(io), write_back_(write_back) {
  raw_ = load_config_file(file_);
  if (!raw_.is_map()) {
    Mark mark = raw_.mark();
    if (!mark.file) mark.file = std::make_shared<const std::string>(file_.string());
    throw ConfigError(mark, "", "expected a map of sections at the top of the file");
  }
  root_ = raw_;
  validate(root_, *runner_schema());
  configure_logging(root_.find("logging") && !root_.find("logging")->is_null()
                        ? root_.find("logging")
                        : nullptr,
                    file_.parent_path().empty() ? std::filesystem::path(".") : file_.parent_path());
  log_ = logger("immp.runner");
  build(extra);
}

Runner::~Runner() {
  // Instances go before the registry unloads the code they came from.
  host_.reset();
}

void Runner::build(const std::vector<const Module*>& extra) {
  HostOptions options;
  options.base_dir = std::filesystem::absolute(file_).parent_path();
  host_ = std::make_unique<Host>(io_.get_executor(), options);

  std::vector<std::filesystem::path> dirs;
  const Node& path = root_.at("path");
  auto add_dir = [&](const Node& n) {
    std::filesystem::path d = n.as_string();
    dirs.push_back(d.is_absolute() ? d : options.base_dir / d);
  };
  if (path.is_string()) {
    add_dir(path);
  } else {
    for (const auto& d : path.as_list()) add_dir(d);
  }
  registry_.add(builtin_module(), "immp");
  for (const Module* m : extra) registry_.add(*m, std::string(m->name));

  auto resolve = [&](const Node& entry, ClassInfo::Kind kind) -> const ClassInfo& {
    const Node& p = entry.at("path");
    const ClassInfo* info;
    try {
      info = &registry_.resolve(p.as_string(), dirs);
    } catch (const std::runtime_error& e) {
      p.fail(e.what());
    }
    if (info->kind != kind) {
      p.fail(fmt::format("{} is a {}, not a {}", info->path,
                         info->kind == ClassInfo::Kind::plug ? "plug" : "hook",
                         kind == ClassInfo::Kind::plug ? "plug" : "hook"));
    }
    return *info;
  };

  // Validates an entry's `config` against its class and makes the instance;
  // a constructor's complaint becomes a config error at that section.
  auto make = [&](const std::string& name, Node& entry, auto factory) {
    Node& config = *entry.find("config");
    if (config.is_null()) config = Node::map(), config.set_path(entry.path() + ".config");
    const ClassInfo& info = resolve(entry, factory.kind);
    validate(config, *info.schema());
    try {
      return factory(info, Init{name, config, *host_});
    } catch (const ConfigError&) {
      throw;
    } catch (const std::exception& e) {
      config.fail(e.what());
    }
  };
  struct PlugFactory {
    ClassInfo::Kind kind = ClassInfo::Kind::plug;
    std::unique_ptr<Plug> operator()(const ClassInfo& c, const Init& i) { return c.make_plug(i); }
  };
  struct HookFactory {
    ClassInfo::Kind kind = ClassInfo::Kind::hook;
    std::unique_ptr<Hook> operator()(const ClassInfo& c, const Init& i) { return c.make_hook(i); }
  };

  for (auto& [name, entry] : root_.find("plugs")->as_map()) {
    std::unique_ptr<Plug> plug = make(name, entry, PlugFactory{});
    const Node& box = entry.at("outbox");
    if (box.at("expiry").as_double() < 1) box.at("expiry").fail("must be at least 1 second");
    if (box.at("capacity").as_int() < 1) box.at("capacity").fail("must be at least 1");
    plug->outbox_policy().expiry =
        std::chrono::seconds(static_cast<std::int64_t>(box.at("expiry").as_double()));
    plug->outbox_policy().capacity = static_cast<std::size_t>(box.at("capacity").as_int());
    host_->add_plug(std::move(plug), entry.at("enabled").as_bool());
  }

  auto plug_names = [&] {
    std::vector<std::string> out;
    for (Plug* p : host_->plugs()) out.push_back(p->name());
    return out;
  };
  auto find_plug = [&](const Node& ref) -> Plug* {
    Plug* p = host_->plug(ref.as_string());
    if (p) return p;
    std::string hint;
    if (auto near = nearest(ref.as_string(), plug_names())) {
      hint = fmt::format(" (did you mean '{}'?)", *near);
    }
    ref.fail(fmt::format("unknown plug '{}'{}", ref.as_string(), hint));
  };

  for (auto& [name, entry] : root_.at("channels").as_map()) {
    Plug* plug = find_plug(entry.at("plug"));
    host_->add_channel(name, plug->channel(entry.at("source").as_text()));
  }

  std::vector<std::string> channel_names;
  for (const auto& [name, c] : host_->channels()) channel_names.push_back(name);
  auto find_channel = [&](const Node& ref) -> Channel {
    if (auto c = host_->channel(ref.as_string())) return *c;
    std::string hint;
    if (auto near = nearest(ref.as_string(), channel_names)) {
      hint = fmt::format(" (did you mean '{}'?)", *near);
    }
    ref.fail(fmt::format("unknown channel '{}'{}", ref.as_string(), hint));
  };

  for (auto& [name, entry] : root_.at("groups").as_map()) {
    Group group;
    group.name = name;
    for (const auto& c : entry.at("channels").as_list()) group.channels.push_back(find_channel(c));
    for (const auto& c : entry.at("exclude").as_list()) group.exclude.push_back(find_channel(c));
    for (const auto& p : entry.at("private").as_list()) group.private_.push_back(find_plug(p)->handle());
    for (const auto& p : entry.at("shared").as_list()) group.shared.push_back(find_plug(p)->handle());
    for (const auto& p : entry.at("named").as_list()) group.named.push_back(find_plug(p)->handle());
    for (const auto& p : entry.at("anywhere").as_list()) group.anywhere.push_back(find_plug(p)->handle());
    host_->add_group(std::move(group));
  }

  std::map<std::int64_t, std::string> priorities;
  for (auto& [name, entry] : root_.find("hooks")->as_map()) {
    const Node& prio = entry.at("priority");
    std::optional<int> priority;
    if (!prio.is_null()) {
      auto [it, fresh] = priorities.emplace(prio.as_int(), name);
      if (!fresh) {
        prio.fail(fmt::format("priority {} is already used by hook '{}'; priorities must be unique",
                              prio.as_int(), it->second));
      }
      priority = static_cast<int>(prio.as_int());
    }
    std::unique_ptr<Hook> hook = make(name, entry, HookFactory{});
    host_->add_hook(std::move(hook), priority, entry.at("enabled").as_bool());
  }

  host_->on_config_written = [this](Openable& source) { apply_config(source); };
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
  log_->info("Starting host ({} plugs, {} hooks)", host_->plugs().size(), host_->hooks().size());
  asio::signal_set signals(io_, SIGINT, SIGTERM);
  bool stopping = false;
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
        asio::co_spawn(io_, host_->close(), [&](std::exception_ptr) {
          signals.cancel();
          io_.stop();
        });
      };
  signals.async_wait(on_signal);
  asio::co_spawn(io_, host_->open(), [&](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& err) {
        log_->error("Host failed to open: {}", err.what());
      }
    } else {
      log_->info("Host ready");
    }
  });
  io_.run();
  if (write_back_) write_back();
  log_->info("Stopped");
  shutdown_logging();
  return 0;
}

}  // namespace immp
