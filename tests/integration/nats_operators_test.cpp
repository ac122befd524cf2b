// Operators over NATS as users run them: an immp host publishes its
// stream to a real nats-server, and an operator written with the Node
// SDK's NATS side (examples/operators/echo_nats.js), in its own process,
// reads a channel's messages and answers into the channel.
#include <gtest/gtest.h>

#include <filesystem>

#include "support/async.hpp"
#include "support/nats_hosts.hpp"
#include "support/nats_server.hpp"
#include "support/process.hpp"

namespace immp::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path kSource = IMMP_SOURCE_DIR;

bool node_with_nats() {
  return run_process({"node", "-e", "require('" + (kSource / "sdk/node/node_modules/nats").string() + "')"}, 30s)
             .exit_code == 0;
}

TEST(NatsOperators, ANodeOperatorReadsAChannelAndItsAnswerReachesTheChannel) {
  if (!NatsServer::available()) GTEST_SKIP() << "nats-server is not installed";
  if (!node_with_nats()) GTEST_SKIP() << "node or the Node SDK's nats package (scripts/setup.sh) is missing";
  NatsServer& server = shared_nats_server();
  asio::io_context io;
  NatsHost alpha(io, "alphanode", "#lobby", "url: " + server.url() + "\n");
  alpha.open();
  ASSERT_TRUE(alpha.ready());

  Process echo({"node", (kSource / "examples/operators/echo_nats.js").string()},
               {.cwd = {}, .env = {{"IMMP_NATS_URL", server.url()}, {"IMMP_NATS_HOST", "alphanode"}}});
  ASSERT_TRUE(echo.wait_for(Stream::out, "subscribed to alphanode", 20s)) << echo.out() << echo.err();

  alpha.mem.inject("#lobby", "just talking", "alice");
  alpha.mem.inject("#lobby", "!echo hello over NATS", "alice");
  ASSERT_TRUE(run_until(io, [&] {
    echo.drain(0ms);
    return !alpha.mem.posted().empty();
  }, 15s)) << echo.err();
  // The answer is posted once; nothing else was answered meanwhile.
  alpha.mem.inject("#lobby", "!echo and again", "bob");
  ASSERT_TRUE(run_until(io, [&] {
    echo.drain(0ms);
    return alpha.mem.posted().size() >= 2;
  }, 15s)) << echo.err();
  run_until(io, [&] { echo.drain(0ms); return false; }, 300ms);
  EXPECT_EQ(alpha.texts(), (std::vector<std::string>{"hello over NATS", "and again"}));
  EXPECT_EQ(alpha.mem.posted()[0]->channel, alpha.mem.channel("#lobby"));
  EXPECT_EQ(alpha.nats->stats().answered, 2u);
  EXPECT_EQ(echo.err(), "");
}

}  // namespace
}  // namespace immp::test
