// The stream as subscribers see it: each gets only what its filter wants,
// from its own bounded queue; one that falls behind loses its oldest
// events and is told how many (or is disconnected, if it asked for that),
// and never holds back the others.
#include "bus/bus.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "support/async.hpp"
#include "support/memory.hpp"

namespace immp::bus {
namespace {

namespace json = boost::json;

class BusTest : public ::testing::Test {
 protected:
  asio::io_context io;
  Host host{io.get_executor()};
  plugs::MemoryPlug& mem = test::add_memory_plug(host, "mem");
  plugs::MemoryPlug& other = test::add_memory_plug(host, "other");
  Bus bus{host, 4};

  BusTest() {
    host.add_channel("lobby", Channel{&host.plug_handle("mem"), "#lobby"});
    Group g;
    g.name = "talk";
    g.channels.push_back(Channel{&host.plug_handle("other"), "#talk"});
    host.add_group(std::move(g));
  }

  SentPtr message(const std::string& plug, const std::string& source, const std::string& text,
                  const std::string& user = "alice", bool edited = false) {
    Receipt r;
    r.id = text;
    r.channel = Channel{&host.plug_handle(plug), source};
    Message m;
    m.text = RichText(text);
    auto u = std::make_shared<User>();
    u->id = user;
    u->username = user;
    m.user = u;
    m.edited = edited;
    return std::make_shared<const SentMessage>(std::move(r), std::move(m));
  }

  Filter filter(std::string_view text) {
    Filter f;
    auto e = Filter::parse(json::parse(text), "filter", host, f);
    EXPECT_EQ(e, std::nullopt) << (e ? e->str() : "");
    return f;
  }

  // Options with the fields a test sets; the rest as defaults.
  SubscriberPtr sub(std::string name, std::string_view filter_text = {},
                    std::size_t capacity = 10000, Overflow overflow = Overflow::drop_oldest,
                    std::optional<std::uint64_t> since = std::nullopt) {
    SubscriberOptions o;
    o.name = std::move(name);
    if (!filter_text.empty()) o.filter = filter(filter_text);
    o.capacity = capacity;
    o.overflow = overflow;
    o.since = since;
    return bus.subscribe(std::move(o));
  }

  void publish(const SentPtr& m) { test::run(io, bus.publish(m)); }

  static std::vector<std::string> texts(Subscriber& s) {
    std::vector<std::string> out;
    while (auto e = s.queue().try_pop()) out.push_back(event_plain(**e));
    return out;
  }
};

TEST_F(BusTest, EachSubscriberGetsWhatItsFilterWants) {
  auto all = sub("all");
  auto lobby = sub("lobby", R"({"channels":"lobby"})");
  auto edits = sub("edits", R"({"kinds":["edit"]})");
  auto bob = sub("bob", R"({"users":["bob"]})");
  auto dice = sub("dice", R"({"text":"^!roll\\b"})");
  auto talk = sub("talk", R"({"groups":["talk"]})");
  auto plug = sub("plug", R"({"plugs":["other"]})");
  publish(message("mem", "#lobby", "hello"));
  publish(message("mem", "#lobby", "hello!", "alice", true));
  publish(message("mem", "#elsewhere", "!roll 2d6", "bob"));
  publish(message("other", "#talk", "!rolling"));
  EXPECT_EQ(texts(*all), (std::vector<std::string>{"hello", "hello!", "!roll 2d6", "!rolling"}));
  EXPECT_EQ(texts(*lobby), (std::vector<std::string>{"hello", "hello!"}));
  EXPECT_EQ(texts(*edits), (std::vector<std::string>{"hello!"}));
  EXPECT_EQ(texts(*bob), (std::vector<std::string>{"!roll 2d6"}));
  EXPECT_EQ(texts(*dice), (std::vector<std::string>{"!roll 2d6"}));
  EXPECT_EQ(texts(*talk), (std::vector<std::string>{"!rolling"}));
  EXPECT_EQ(texts(*plug), (std::vector<std::string>{"!rolling"}));
}

TEST_F(BusTest, ABadFilterNamesTheField) {
  auto problem = [&](std::string_view text) {
    Filter f;
    auto e = Filter::parse(json::parse(text), "filter", host, f);
    return e ? e->str() : std::string("(accepted)");
  };
  EXPECT_EQ(problem(R"({"channels":["lobby","nowhere"]})"),
            "filter.channels[1]: no channel 'nowhere' (a name under channels, or plug/source)");
  EXPECT_EQ(problem(R"({"groups":["nogroup"]})"), "filter.groups[0]: no group 'nogroup'");
  EXPECT_EQ(problem(R"({"plugs":["irc"]})"), "filter.plugs[0]: no plug 'irc'");
  EXPECT_EQ(problem(R"({"kinds":[1]})"), "filter.kinds[0]: expected a string");
  EXPECT_EQ(problem(R"({"chanels":["lobby"]})"),
            "filter.chanels: unknown field (did you mean 'channels'?)");
  EXPECT_EQ(problem(R"({"text":"(unclosed"})").substr(0, 25), "filter.text: bad pattern:");
}

TEST_F(BusTest, ASlowSubscriberLosesItsOldestAndIsToldHowMany) {
  auto slow = sub("slow", {}, 3);
  auto fast = sub("fast", {}, 100);
  for (int i = 0; i < 10; ++i) publish(message("mem", "#lobby", std::to_string(i)));
  EXPECT_EQ(texts(*slow), (std::vector<std::string>{"7", "8", "9"}));
  EXPECT_EQ(slow->take_missed(), 7u);
  EXPECT_EQ(slow->take_missed(), 0u) << "a count is told once";
  EXPECT_EQ(texts(*fast).size(), 10u) << "the slow one held nobody back";
}

TEST_F(BusTest, ASubscriberThatAskedForItIsDisconnectedWhenFull) {
  auto strict = sub("strict", {}, 2, Overflow::disconnect);
  for (int i = 0; i < 3; ++i) publish(message("mem", "#lobby", std::to_string(i)));
  EXPECT_TRUE(strict->queue().closed());
  EXPECT_EQ(texts(*strict), (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(bus.subscribers(), 1u) << "still listed until its owner lets go";
  publish(message("mem", "#lobby", "after"));
  strict.reset();
  EXPECT_EQ(bus.subscribers(), 0u);
}

TEST_F(BusTest, AResumeCursorReplaysWhatWasKept) {
  for (int i = 1; i <= 6; ++i) publish(message("mem", "#lobby", std::to_string(i)));
  // Events 3..6 are kept (keep = 4); resuming after 1 misses 2.
  auto late = sub("late", {}, 10000, Overflow::drop_oldest, 1);
  EXPECT_EQ(texts(*late), (std::vector<std::string>{"3", "4", "5", "6"}));
  EXPECT_EQ(late->take_missed(), 1u);
  auto current = sub("current", {}, 10000, Overflow::drop_oldest, 5);
  EXPECT_EQ(texts(*current), (std::vector<std::string>{"6"}));
  EXPECT_EQ(current->take_missed(), 0u);
}

TEST_F(BusTest, TheEnvelopeIsMadeOnceAndSharedByEverySubscriber) {
  auto a = sub("a");
  auto b = sub("b");
  publish(message("mem", "#lobby", "hi"));
  auto ea = *a->queue().try_pop();
  auto eb = *b->queue().try_pop();
  EXPECT_EQ(ea.get(), eb.get());
  json::value env = json::parse(envelope_line(*ea));
  EXPECT_EQ(env.at("source"), "mem/#lobby");
  EXPECT_EQ(env.at("id").as_string(), std::to_string(ea->seq));
  EXPECT_EQ(env.at("data").at("plain"), "hi");
}

TEST_F(BusTest, AnEmittedEventReachesOthersButNotItsEmitter) {
  auto weather = sub("weather");
  auto logger = sub("logger", R"({"kinds":["weather.update"]})");
  Incoming in;
  ASSERT_EQ(check_envelope(json::parse(R"({"specversion":"1.0","id":"w1","source":"weather",
      "type":"weather.update","data":{"text":"rain"}})"),
                           "event", true, &in),
            std::nullopt);
  auto seq = test::run(io, bus.emit(in, "weather"));
  EXPECT_TRUE(weather->queue().empty());
  auto e = logger->queue().try_pop();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)->seq, seq);
  json::value env = json::parse(envelope_line(**e));
  EXPECT_EQ(env.at("immpoperator"), "weather");
  EXPECT_EQ(env.at("immpref"), "w1");
  EXPECT_EQ(env.at("data").at("text"), "rain");
}

TEST_F(BusTest, UserAndTextFiltersSeeAnEmittedEventsData) {
  auto bob = sub("bob", R"({"users":["bob"]})");
  auto dice = sub("dice", R"({"text":"^!roll\\b"})");
  auto carol = sub("carol", R"({"users":["carol"]})");
  Incoming in;
  ASSERT_EQ(check_envelope(json::parse(R"({"specversion":"1.0","id":"r1","source":"dice",
      "type":"dice.asked","data":{"text":"!roll 1d20","user":{"id":"u7","username":"bob"}}})"),
                           "event", true, &in),
            std::nullopt);
  test::run(io, bus.emit(in, "relay"));
  EXPECT_EQ(texts(*bob), (std::vector<std::string>{"!roll 1d20"}));
  EXPECT_EQ(texts(*dice), (std::vector<std::string>{"!roll 1d20"}));
  EXPECT_TRUE(carol->queue().empty());
}

}  // namespace
}  // namespace immp::bus
