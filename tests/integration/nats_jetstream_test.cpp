// JetStream durability between immp hosts: a host that was down catches up
// through its durable consumer, and a three-node cluster loses a node while
// messages flow with nothing lost and nothing doubled.
#include <gtest/gtest.h>

#include <map>
#include <memory>

#include "support/async.hpp"
#include "support/nats_hosts.hpp"
#include "support/nats_server.hpp"

namespace immp::test {
namespace {

using namespace std::chrono_literals;

TEST(NatsJetStream, AHostThatWasDownCatchesUpOnWhatItMissed) {
  if (!NatsServer::available()) GTEST_SKIP() << "nats-server is not installed";
  NatsServer& server = shared_nats_server();
  asio::io_context io;
  const std::string js = "jetstream: {storage: memory}\n";
  NatsHost alpha(io, "alpha4", "#a", "url: " + server.url() + "\n" + js);
  const std::string beta_bus =
      "url: " + server.url() + "\n" + js + "bridges: [{channel: lobby, remote: 'alpha4/irc/#a'}]\n";
  alpha.open();
  ASSERT_TRUE(alpha.ready());
  {
    NatsHost beta(io, "beta4", "#b", beta_bus);
    beta.open();
    ASSERT_TRUE(beta.ready());
    alpha.mem.inject("#a", "one", "alice");
    ASSERT_TRUE(run_until(io, [&] { return beta.mem.posted().size() >= 1; }, 10s));
    beta.close();
  }
  // beta is down: alpha's stream keeps what it says.
  alpha.mem.inject("#a", "two", "alice");
  alpha.mem.inject("#a", "three", "alice");
  ASSERT_TRUE(run_until(io, [&] { return alpha.nats->stats().published >= 3; }, 10s));
  ASSERT_TRUE(alpha.flush());
  EXPECT_EQ(alpha.nats->stats().confirmed, 3u);

  // beta comes back (a new process, as far as it knows): what it missed
  // arrives, what it had already taken does not come again.
  NatsHost back(io, "beta4", "#b", beta_bus);
  back.open();
  ASSERT_TRUE(back.ready());
  ASSERT_TRUE(run_until(io, [&] { return back.mem.posted().size() >= 2; }, 10s));
  alpha.mem.inject("#a", "four", "alice");
  ASSERT_TRUE(run_until(io, [&] { return back.mem.posted().size() >= 3; }, 10s));
  poll(io);
  EXPECT_EQ(back.texts(), (std::vector<std::string>{"two", "three", "four"}));
}

TEST(NatsJetStream, AClusterLosesANodeWhileMessagesFlowAndNoneIsLostOrDoubled) {
  if (!NatsServer::available()) GTEST_SKIP() << "nats-server is not installed";
  NatsCluster cluster(3);
  asio::io_context io;
  const std::string js = "jetstream: {replicas: 3}\n";
  NatsHost alpha(io, "alpha5", "#a", "url: '" + cluster.urls() + "'\n" + js);
  NatsHost beta(io, "beta5", "#b",
                "url: '" + cluster.urls() + "'\n" + js +
                    "bridges: [{channel: lobby, remote: 'alpha5/irc/#a'}]\n");
  alpha.open();
  beta.open();
  // The cluster elects its JetStream leader first: the hosts keep asking.
  ASSERT_TRUE(alpha.ready(60s)) << cluster.node(0).log();
  ASSERT_TRUE(beta.ready(60s)) << cluster.node(0).log();

  constexpr int kMessages = 300;
  for (int i = 0; i < kMessages; ++i) {
    alpha.mem.inject("#a", "message " + std::to_string(i), "alice");
    // About 100 messages a second: the node dies a third of the way in.
    run_until(io, [] { return false; }, 10ms);
    if (i == kMessages / 3) cluster.node(0).kill();
  }
  ASSERT_TRUE(run_until(io, [&] { return beta.mem.posted().size() >= kMessages; }, 90s))
      << beta.mem.posted().size() << " of " << kMessages << " arrived; alpha retried "
      << alpha.nats->stats().retried;
  ASSERT_TRUE(alpha.flush(30s));
  // Redeliveries would come within the ack wait; a last message after
  // them all shows the count is final.
  alpha.mem.inject("#a", "the end", "alice");
  ASSERT_TRUE(run_until(io, [&] { return beta.mem.posted().size() >= kMessages + 1; }, 30s));
  poll(io);
  std::map<std::string, int> seen;
  for (const auto& text : beta.texts()) ++seen[text];
  EXPECT_EQ(beta.texts().size(), static_cast<std::size_t>(kMessages + 1));
  for (int i = 0; i < kMessages; ++i) {
    EXPECT_EQ(seen["message " + std::to_string(i)], 1) << "message " << i;
  }
}

}  // namespace
}  // namespace immp::test
