// IMMP-form sync and forward configs (tests/data/config/immp/sync.yaml):
// what they parse to. What the keys do is tested with the hooks
// (src/hooks/sync/sync_hook_test.cpp).
#include <gtest/gtest.h>

#include <filesystem>

#include "core/logging.hpp"
#include "runner/runner.hpp"

namespace immp {
namespace {

namespace fs = std::filesystem;

TEST(ImmpSyncConfig, DefaultsOverridesTitlesAndUserListsAreImmps) {
  const fs::path dir = fs::path(IMMP_SOURCE_DIR) / "tests/data/config/immp";
  asio::io_context io;
  {
    Runner runner(dir / "sync.yaml", io);
    EXPECT_TRUE(runner.warnings().empty());
    const Node& sync = runner.host().hook("sync")->config();
    EXPECT_TRUE(sync.at("joins").as_bool()) << "IMMP's sync relays joins unless told not to";
    EXPECT_TRUE(sync.at("renames").as_bool());
    EXPECT_EQ(sync.at("titles").at("later").as_string(), "Not bridged yet");
    const Node& over = sync.at("plugs").at("other");
    EXPECT_FALSE(over.at("joins").as_bool());
    EXPECT_TRUE(over.at("renames").is_null()) << "left out: keeps the top level's";
    EXPECT_TRUE(over.at("name-format").is_null()) << "left out: keeps the top level's";
    const Node& quiet = runner.host().hook("quiet")->config();
    ASSERT_TRUE(quiet.at("users").is_list());
    EXPECT_TRUE(quiet.at("users").as_list().empty()) << "an empty list: no one";
    EXPECT_FALSE(quiet.at("joins").as_bool()) << "IMMP's forward does not relay joins";
    EXPECT_TRUE(runner.host().hook("loud")->config().at("users").is_null()) << "everyone";
  }
  configure_logging(nullptr, dir);
}

}  // namespace
}  // namespace immp
