// NATS between immp hosts: two hosts (each with its in-memory network and
// its NatsHook, in one process) share a bridged room through a real
// nats-server; a plain NATS client sees the stream under subjects it can
// filter with wildcards and sends messages by request/reply.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include <boost/json.hpp>

#include "bus_nats/nats_hook.hpp"
#include "plugs/memory/memory_plug.hpp"
#include "support/async.hpp"
#include "support/memory.hpp"
#include "support/nats_hosts.hpp"
#include "support/nats_server.hpp"

namespace immp::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

TEST(NatsBridge, TwoHostsShareARoomBothWaysWithNoEchoAndNothingDoubled) {
  if (!NatsServer::available()) GTEST_SKIP() << "nats-server is not installed";
  NatsServer& server = shared_nats_server();
  asio::io_context io;
  // Both networks echo our own posts back, as many do: the loop a bridge
  // must not close.
  NatsHost alpha(io, "alpha1", "#a",
                 "url: " + server.url() + "\nbridges: [{channel: lobby, remote: 'beta1/irc/#b'}]\n");
  NatsHost beta(io, "beta1", "#b",
                "url: " + server.url() + "\nbridges: [{channel: lobby, remote: 'alpha1/irc/#a'}]\n");
  alpha.open();
  beta.open();
  ASSERT_TRUE(alpha.ready()) << "alpha's bridge did not subscribe";
  ASSERT_TRUE(beta.ready()) << "beta's bridge did not subscribe";

  alpha.mem.inject("#a", "hello from alpha", "alice");
  ASSERT_TRUE(run_until(io, [&] { return beta.mem.posted().size() >= 1; }, 10s));
  EXPECT_EQ(beta.texts(), std::vector<std::string>{"hello from alpha"});
  EXPECT_EQ(beta.mem.posted()[0]->channel, beta.mem.channel("#b"));
  ASSERT_TRUE(beta.mem.posted()[0]->user);
  EXPECT_EQ(beta.mem.posted()[0]->user->display_name(), "alice");
  // beta's echo of the copy went out too (marked relayed) before this.
  ASSERT_TRUE(run_until(io, [&] { return beta.nats->stats().published >= 1; }, 10s));

  beta.mem.inject("#b", "hi from beta", "bob");
  ASSERT_TRUE(run_until(io, [&] { return alpha.mem.posted().size() >= 1; }, 10s));
  ASSERT_TRUE(run_until(io, [&] { return alpha.nats->stats().published >= 2; }, 10s));
  alpha.mem.inject("#a", "and again", "alice");
  ASSERT_TRUE(run_until(io, [&] { return beta.mem.posted().size() >= 2; }, 10s));
  // Anything doubled or echoed would have been published before the last
  // message on the same connection, so it would be here by now.
  beta.mem.inject("#b", "last", "bob");
  ASSERT_TRUE(run_until(io, [&] { return alpha.mem.posted().size() >= 2; }, 10s));
  poll(io);
  EXPECT_EQ(alpha.texts(), (std::vector<std::string>{"hi from beta", "last"}));
  EXPECT_EQ(beta.texts(), (std::vector<std::string>{"hello from alpha", "and again"}));
  EXPECT_EQ(alpha.nats->stats().relayed, 2u);
  EXPECT_EQ(beta.nats->stats().relayed, 2u);
}

TEST(NatsBridge, TheStreamIsFilteredBySubjectWildcards) {
  if (!NatsServer::available()) GTEST_SKIP() << "nats-server is not installed";
  NatsServer& server = shared_nats_server();
  asio::io_context io;
  NatsHost alpha(io, "alpha2", "#a.b c", "url: " + server.url() + "\n");
  NatsClient watcher(server.port());
  // Only messages (not edits or deletes) of alpha2's irc plug, any channel.
  watcher.subscribe("immp.alpha2.irc.*.message");
  alpha.open();
  ASSERT_TRUE(alpha.ready());
  alpha.mem.inject("#a.b c", "a dotted room", "carol");
  // The watcher waits on its own thread while the host's loop runs here.
  std::optional<NatsMessage> got;
  std::atomic<bool> done{false};
  std::thread watch([&] {
    got = watcher.next(10s);
    done = true;
  });
  run_until(io, [&] { return done.load(); }, 15s);
  watch.join();
  ASSERT_TRUE(got);
  // The channel's dots and space are escaped: still one token.
  EXPECT_EQ(got->subject, "immp.alpha2.irc.%23a%2Eb%20c.message");
  json::value env = json::parse(got->body);
  EXPECT_EQ(env.at("specversion"), "1.0");
  EXPECT_EQ(env.at("type"), "message");
  EXPECT_EQ(env.at("source"), "irc/#a.b c");
  EXPECT_EQ(env.at("data").at("plain"), "a dotted room");
  // The envelope's id is unique across hosts and runs (JetStream's
  // Nats-Msg-Id when the stream is kept).
  EXPECT_TRUE(env.at("id").as_string().starts_with("alpha2-")) << env.at("id");
  EXPECT_EQ(got->header("Immp-Relayed"), "");
}

TEST(NatsBridge, SendRequestsGetAReceiptOrAnErrorNamingTheField) {
  if (!NatsServer::available()) GTEST_SKIP() << "nats-server is not installed";
  NatsServer& server = shared_nats_server();
  asio::io_context io;
  NatsHost alpha(io, "alpha3", "#a", "url: " + server.url() + "\n");
  alpha.open();
  ASSERT_TRUE(alpha.ready());
  NatsClient client(server.port());
  // The client's request waits while the host answers on its own thread:
  // the test runs the host's loop meanwhile.
  std::optional<std::string> answer;
  std::thread asker([&] {
    answer = client.request("immp.alpha3.send",
                            R"({"specversion":"1.0","id":"op-1","source":"lobby","type":"message",)"
                            R"("data":{"text":"sent over NATS"}})",
                            10s);
  });
  ASSERT_TRUE(run_until(io, [&] { return alpha.mem.posted().size() >= 1; }, 10s));
  run_until(io, [&] { return false; }, 200ms);
  asker.join();
  ASSERT_TRUE(answer);
  json::value receipt = json::parse(*answer);
  EXPECT_EQ(receipt.at("op"), "receipt") << *answer;
  EXPECT_EQ(receipt.at("id"), "op-1");
  EXPECT_EQ(receipt.at("channel"), "irc/#a");
  EXPECT_EQ(receipt.at("ids").as_array().size(), 1u);
  EXPECT_EQ(alpha.texts(), std::vector<std::string>{"sent over NATS"});

  std::optional<std::string> refused;
  std::thread wrong([&] {
    refused = client.request("immp.alpha3.send",
                             R"({"specversion":"1.0","id":"op-2","source":"nowhere","type":"message",)"
                             R"("data":{"text":"lost"}})",
                             10s);
  });
  run_until(io, [&] { return alpha.nats->stats().refused >= 1; }, 10s);
  run_until(io, [&] { return false; }, 200ms);
  wrong.join();
  ASSERT_TRUE(refused);
  json::value error = json::parse(*refused);
  EXPECT_EQ(error.at("op"), "error");
  EXPECT_EQ(error.at("field"), "source");
  EXPECT_EQ(error.at("error"), "source: no channel 'nowhere' (a channel's name, or plug/source)");
  EXPECT_EQ(error.at("id"), "op-2");
}

// Edits, deletes, reactions and replies cross too: published under their
// kind, they reach the copies the other host made of the message.
TEST(NatsBridge, EditsDeletesReactionsAndRepliesReachTheCopiesOnTheOtherHost) {
  if (!NatsServer::available()) GTEST_SKIP() << "nats-server is not installed";
  NatsServer& server = shared_nats_server();
  asio::io_context io;
  NodeMap network = {{"echo", true}, {"edit", true}, {"delete", true}, {"reaction", true}, {"reply", true}};
  NatsHost alpha(io, "alpha4", "#a",
                 "url: " + server.url() + "\nbridges: [{channel: lobby, remote: 'beta4/irc/#b'}]\n", network);
  // beta's network is slow: an edit can arrive before the copy it changes.
  NodeMap slow = network;
  slow.emplace_back("delay-ms", Node(50));
  NatsHost beta(io, "beta4", "#b",
                "url: " + server.url() + "\nbridges: [{channel: lobby, remote: 'alpha4/irc/#a'}]\n", slow);
  alpha.open();
  beta.open();
  ASSERT_TRUE(alpha.ready());
  ASSERT_TRUE(beta.ready());

  // alice corrects her message at once: beta's copy is edited in place,
  // once it is there.
  SentPtr original = alpha.mem.inject("#a", "helo", "alice");
  Message edit;
  edit.text = RichText("hello");
  edit.user = alpha.mem.user("alice");
  edit.edited = true;
  alpha.mem.inject_as("#a", original->id, edit);
  ASSERT_TRUE(run_until(io, [&] { return beta.mem.posted().size() >= 2; }, 10s));
  std::string copy_id = beta.mem.posted()[0]->id;
  EXPECT_EQ(beta.mem.posted()[0]->plain(), "helo");
  EXPECT_EQ(beta.mem.posted()[1]->id, copy_id);
  EXPECT_TRUE(beta.mem.posted()[1]->edited);
  EXPECT_EQ(beta.mem.posted()[1]->plain(), "hello");

  // bob reacts to it: the reaction is on beta's copy.
  Message reaction;
  reaction.user = alpha.mem.user("bob");
  reaction.reaction = Reaction{"👍", false, std::make_shared<const SentMessage>(
                                               Receipt{original->id, alpha.mem.channel("#a"), Clock::now(), {}, false},
                                               Message{})};
  alpha.mem.inject("#a", reaction);
  ASSERT_TRUE(run_until(io, [&] { return beta.mem.posted().size() >= 3; }, 10s));
  ASSERT_TRUE(beta.mem.posted()[2]->reaction);
  EXPECT_EQ(beta.mem.posted()[2]->reaction->emoji, "👍");
  ASSERT_TRUE(beta.mem.posted()[2]->reaction->on);
  EXPECT_EQ(beta.mem.posted()[2]->reaction->on->id, copy_id);

  // carol answers it: the answer replies to beta's copy.
  Message answer;
  answer.text = RichText("welcome");
  answer.user = alpha.mem.user("carol");
  answer.reply_to = original;
  alpha.mem.inject("#a", answer);
  ASSERT_TRUE(run_until(io, [&] { return beta.mem.posted().size() >= 4; }, 10s));
  EXPECT_EQ(beta.mem.posted()[3]->plain(), "welcome");
  ASSERT_TRUE(beta.mem.posted()[3]->reply_to);
  EXPECT_EQ(beta.mem.posted()[3]->reply_to->id, copy_id);

  // alice deletes her message: so is beta's copy.
  Message gone;
  gone.deleted = true;
  alpha.mem.inject_as("#a", original->id, gone);
  ASSERT_TRUE(run_until(io, [&] { return !beta.mem.deleted().empty(); }, 10s));
  EXPECT_EQ(beta.mem.deleted()[0].id, copy_id);

  // None of it came back to alpha (beta's echoes go out marked relayed).
  beta.mem.inject("#b", "last", "dave");
  ASSERT_TRUE(run_until(io, [&] { return alpha.mem.posted().size() >= 1; }, 10s));
  poll(io);
  EXPECT_EQ(alpha.texts(), std::vector<std::string>{"last"});
  EXPECT_TRUE(alpha.mem.deleted().empty());
  EXPECT_EQ(beta.nats->stats().changed, 3u);
  EXPECT_EQ(beta.nats->stats().relayed, 2u);
  EXPECT_EQ(beta.mem.posted().size(), 4u);
}

// A bridge posts no faster than its channel's network takes: a flood from
// the other host waits in the bridge, not in an outbox that would drop
// the oldest past its capacity.
TEST(NatsBridge, AFloodIntoASlowNetworkWaitsAndLosesNothing) {
  if (!NatsServer::available()) GTEST_SKIP() << "nats-server is not installed";
  NatsServer& server = shared_nats_server();
  asio::io_context io;
  NatsHost alpha(io, "alpha5", "#a", "url: " + server.url() + "\n");
  NatsHost beta(io, "beta5", "#b",
                "url: " + server.url() + "\nbridges: [{channel: lobby, remote: 'alpha5/irc/#a'}]\n",
                {{"delay-ms", 1}, {"keep", 1000}});
  beta.mem.outbox_policy().capacity = 20;  // past 20 waiting, the oldest would be dropped
  alpha.open();
  beta.open();
  ASSERT_TRUE(alpha.ready());
  ASSERT_TRUE(beta.ready());
  const std::size_t n = 300;
  for (std::size_t i = 0; i < n; ++i) alpha.mem.inject("#a", "flood " + std::to_string(i), "alice");
  ASSERT_TRUE(run_until(io, [&] { return beta.mem.posted_count() >= n; }, 30s))
      << beta.mem.posted_count() << " of " << n;
  poll(io);
  std::vector<std::string> texts = beta.texts();
  ASSERT_EQ(texts.size(), n);
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(texts[i], "flood " + std::to_string(i));
  EXPECT_EQ(beta.host.outbox_stats().overflowed, 0u);
  EXPECT_EQ(beta.nats->stats().lagged, 0u);
}

}  // namespace
}  // namespace immp::test
