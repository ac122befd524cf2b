// bots: the bot hooks on the path users run, through a Host with in-memory
// plugs.
//
//   msg_per_s       users of plug `a` post IMMP_BENCH_N messages (default
//                   1M) in a channel of group "all"; an AutoRespondHook
//                   holds 1,000 patterns (words, anchors, alternations,
//                   classes) and one message in 100 matches one of them, as
//                   in a real channel most match nothing. The hook has a
//                   priority, so it runs inline in the plug's reader and
//                   nothing is dropped from a queue: the rate is the hook's
//                   own. `cooldown: 0`, so every match is answered and the
//                   run ends when the last answer was posted.
//   commands_per_s  users post "?ping"; CommandHook runs TextCommandHook's
//                   `ping`, whose answer goes out through a's outbox. At
//                   most 256 commands are in flight (a closed loop, as
//                   users wait for answers); the run ends at the last
//                   answer.
//   p99_us          one command at a time: the time from the message
//                   entering the host to the answer reaching put(), for
//                   IMMP_BENCH_ROUNDS (default 20,000) round trips.
//   allocs_per_msg  allocations per message of the msg_per_s run, message
//                   composition included.
//
// Targets: >= 200,000 msg/s with 1,000 patterns, >= 200,000 commands/s,
// p99 < 50 us.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "bench.hpp"
#include "hooks/autorespond/autorespond_hook.hpp"
#include "hooks/autorespond/pattern_set.hpp"
#include "hooks/command/command_hook.hpp"
#include "hooks/textcommand/textcommand_hook.hpp"
#include "immp/host.hpp"
#include "support/hooks.hpp"
#include "support/memory.hpp"
#include "workload.hpp"

namespace immp::bench {
namespace {

constexpr std::size_t kPatterns = 1000;

// Pattern k, in one of several shapes users write.
std::string pattern(std::size_t k) {
  std::string n = std::to_string(k);
  switch (k % 5) {
    case 0: return "\\bword" + n + "\\b";
    case 1: return "^start" + n + " ";
    case 2: return "foo" + n + "bar";
    case 3: return "(?:hello|hi) there " + n + "\\b";
    default: return "item[-_ ]?" + n + "\\d";
  }
}

// Text that matches pattern k.
std::string trigger(std::size_t k) {
  std::string n = std::to_string(k);
  switch (k % 5) {
    case 0: return "say word" + n + " now";
    case 1: return "start" + n + " please";
    case 2: return "xfoo" + n + "barx";
    case 3: return "well hi there " + n;
    default: return "look at item-" + n + "7";
  }
}

std::string autorespond_config() {
  std::string yaml = "groups: [all]\ncooldown: 0\nresponses:\n";
  for (std::size_t k = 0; k < kPatterns; ++k) {
    yaml += "  '" + pattern(k) + "': 'answer " + std::to_string(k) + "'\n";
  }
  return yaml;
}

void add_group(Host& host) {
  Group all;
  all.name = "all";
  all.anywhere.push_back(&host.plug_handle("a"));
  host.add_group(all);
}

void open(asio::io_context& io, Host& host) {
  bool done = false;
  asio::co_spawn(io, host.open(), [&](std::exception_ptr) { done = true; });
  while (!done) io.run_one();
}

void close(asio::io_context& io, Host& host) {
  bool done = false;
  asio::co_spawn(io, host.close(), [&](std::exception_ptr) { done = true; });
  while (!done) io.run_one();
}

SentPtr message(const Channel& channel, const UserPtr& user, std::string id, std::string text) {
  Message m;
  m.user = user;
  m.text = RichText(std::move(text));
  return std::make_shared<const SentMessage>(
      Receipt{std::move(id), channel, Clock::now(), {}, false}, std::move(m));
}

struct Patterns {
  double seconds = 0;
  std::size_t answered = 0, expected = 0;
  AllocCounts allocs;
};

Patterns run_patterns(std::size_t n) {
  Patterns out;
  asio::io_context io(1);
  Host host(io.get_executor());
  auto& a = test::add_memory_plug(host, "a", {{"keep", 0}});
  add_group(host);
  test::add_hook<hooks::AutoRespondHook>(host, "ar", autorespond_config(), 0);
  open(io, host);
  UserPtr user = a.user("alice");
  Channel channel = a.channel("room");
  // What the hook must answer: a trigger text may match more than one
  // pattern (every match answers), so count with the same pattern set.
  {
    std::vector<std::string> patterns;
    for (std::size_t k = 0; k < kPatterns; ++k) patterns.push_back(pattern(k));
    hooks::PatternSet set(patterns);
    std::vector<std::size_t> answers(kPatterns), hits;
    for (std::size_t k = 0; k < kPatterns; ++k) {
      set.match(trigger(k), hits);
      answers[k] = hits.size();
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (i % 100 == 99) out.expected += answers[(i / 100) % kPatterns];
    }
  }
  AllocWindow allocs;
  Stopwatch watch;
  auto feed = [&]() -> Task<> {
    for (std::size_t i = 0; i < n; ++i) {
      std::string text = i % 100 == 99 ? trigger((i / 100) % kPatterns)
                                       : "message " + std::to_string(i) + " about nothing much";
      SentPtr sent = message(channel, user, std::to_string(i), std::move(text));
      if (a.queue(std::move(sent))) co_await a.paced();
    }
  };
  asio::co_spawn(io, feed(), asio::detached);
  while (a.posted_count() < out.expected && io.run_one() > 0) {
  }
  out.seconds = watch.seconds();
  out.allocs = allocs.stop();
  out.answered = a.posted_count();
  close(io, host);
  return out;
}

struct Commands {
  double seconds = 0;
  std::size_t answered = 0;
  std::vector<double> round_trips_us;
};

Commands run_commands(std::size_t n, std::size_t rounds) {
  Commands out;
  asio::io_context io(1);
  Host host(io.get_executor());
  auto& a = test::add_memory_plug(host, "a", {{"keep", 0}});
  add_group(host);
  test::add_hook<hooks::TextCommandHook>(host, "text", "commands: {ping: pong}");
  test::add_hook<hooks::CommandHook>(host, "commands",
                                     "prefix: '?'\nmapping: {all: {groups: [all], hooks: [text]}}");
  open(io, host);
  UserPtr user = a.user("alice");
  Channel channel = a.channel("room");
  // Throughput: a closed loop with up to 256 commands in flight.
  constexpr std::size_t kWindow = 256;
  std::size_t sent = 0;
  Stopwatch watch;
  while (a.posted_count() < n) {
    while (sent < n && sent - a.posted_count() < kWindow) {
      a.queue(message(channel, user, std::to_string(sent), "?ping"));
      ++sent;
    }
    if (io.run_one() == 0) break;
  }
  out.seconds = watch.seconds();
  out.answered = a.posted_count();
  // Latency: one at a time.
  out.round_trips_us.reserve(rounds);
  for (std::size_t i = 0; i < rounds; ++i) {
    std::size_t before = a.posted_count();
    SentPtr msg = message(channel, user, "l" + std::to_string(i), "?ping");
    auto start = std::chrono::steady_clock::now();
    a.queue(std::move(msg));
    while (a.posted_count() == before && io.run_one() > 0) {
    }
    out.round_trips_us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
            .count());
  }
  close(io, host);
  return out;
}

int bots(int, char**) {
  const std::size_t n = env_size("IMMP_BENCH_N", 1'000'000);
  const std::size_t commands = env_size("IMMP_BENCH_COMMANDS", 500'000);
  const std::size_t rounds = env_size("IMMP_BENCH_ROUNDS", 20'000);
  Patterns p = run_patterns(n);
  Commands c = run_commands(commands, rounds);
  std::vector<double> rt = c.round_trips_us;
  std::sort(rt.begin(), rt.end());
  double p99 = rt.empty() ? 0 : rt[std::min(rt.size() - 1, rt.size() * 99 / 100)];
  double p50 = rt.empty() ? 0 : rt[rt.size() / 2];
  double msg_rate = static_cast<double>(n) / p.seconds;
  double cmd_rate = static_cast<double>(c.answered) / c.seconds;
  Json line("bots");
  line.count("patterns", kPatterns)
      .num("msg_per_s", msg_rate, 0)
      .num("commands_per_s", cmd_rate, 0)
      .num("p99_us", p99, 1)
      .num("allocs_per_msg", static_cast<double>(p.allocs.total()) / static_cast<double>(n), 2)
      .count("messages", n)
      .count("answers", p.answered)
      .count("answers_expected", p.expected)
      .count("commands", commands)
      .num("p50_us", p50, 1)
      .flag("target_met", msg_rate >= 200'000 && cmd_rate >= 200'000 && p99 < 50 &&
                              p.answered == p.expected && c.answered == commands);
  line.print();
  return p.answered == p.expected && c.answered == commands ? 0 : 1;
}

Register registered("bots", bots);

}  // namespace
}  // namespace immp::bench
