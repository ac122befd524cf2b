// The database hooks in IMMP-form config files (tests/data/config/immp/
// database*.yaml), and URL problems as `immp --check` reports them: with the
// file position and key path.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "core/logging.hpp"
#include "runner/runner.hpp"
#include "store/database_hook.hpp"

namespace immp::store {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const fs::path kDir = fs::path(IMMP_SOURCE_DIR) / "tests/data/config/immp";

struct Loaded {
  asio::io_context io;
  std::unique_ptr<Runner> runner;
  explicit Loaded(const fs::path& file) { runner = std::make_unique<Runner>(file, io); }
  ~Loaded() {
    runner.reset();
    configure_logging(nullptr, kDir);
  }
  std::vector<std::string> warnings() const {
    std::vector<std::string> out;
    for (const ConfigWarning& w : runner->warnings()) out.push_back(w.str());
    return out;
  }
};

// A config file of one database hook, in a temporary folder.
class OneHookFile {
 public:
  OneHookFile(const std::string& path, const std::string& url) {
    std::string tmpl = (fs::temp_directory_path() / "immp-dbconfig-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    std::ofstream(file()) << "hooks:\n  db:\n    path: " << path << "\n    config:\n      url: \""
                          << url << "\"\n";
  }
  ~OneHookFile() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path file() const { return dir_ / "config.yaml"; }

 private:
  fs::path dir_;
};

TEST(DatabaseConfigs, BothHooksLoadAndSyncGetsTheAsyncOne) {
  Loaded loaded(kDir / "database.yaml");
  EXPECT_THAT(loaded.warnings(), IsEmpty());
  Host& host = loaded.runner->host();
  Hook* sync = host.hook("sync");
  ASSERT_NE(sync, nullptr);
  // The lookup the sync hook makes (and any hook through the SDK).
  EXPECT_EQ(&host.resource<DatabaseHook>(*sync), host.hook("adb"));
  EXPECT_EQ(dynamic_cast<Hook*>(&host.resource<immp::Database>(*sync)), host.hook("adb"));
}

TEST(DatabaseConfigs, AsyncpgUrlLoadsWithoutWarnings) {
  Loaded loaded(kDir / "database_postgres.yaml");
  EXPECT_THAT(loaded.warnings(), IsEmpty());
  EXPECT_NE(dynamic_cast<AsyncDatabaseHook*>(loaded.runner->host().hook("adb")), nullptr);
}

TEST(DatabaseConfigs, PoolSettingsAreWarningsWithThePosition) {
  OneHookFile file("immp.hook.database.AsyncDatabaseHook",
                   "asyncpg://immp@db/immp?min_size=1&max_size=10");
  Loaded loaded(file.file());
  EXPECT_THAT(loaded.warnings(),
              ElementsAre(HasSubstr("config.yaml:5:7: hooks.db.config.url: parameter 'min_size'"),
                          HasSubstr("config.yaml:5:7: hooks.db.config.url: parameter 'max_size'")));
}

TEST(DatabaseConfigs, MySqlIsAConfigErrorWithThePosition) {
  OneHookFile file("immp.hook.database.DatabaseHook", "mysql://immp@db/immp");
  try {
    Loaded loaded(file.file());
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("config.yaml:5:7: hooks.db.config.url: database URL "
                                    "'mysql://immp@db/immp': MySQL is not supported by immp"));
  }
}

}  // namespace
}  // namespace immp::store
