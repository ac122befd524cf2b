// Headless Chromium for the browser tests (web_*_test.cpp): Debian's
// chromium driven by playwright-core (tests/browser, installed by
// scripts/setup.sh) through tests/browser/driver.js, one JSON line per
// request and answer. The test program starts one browser and keeps it.
//
//   Browser& b = Browser::shared();
//   b.open("http://127.0.0.1:8080/chat/#token=...");
//   b.fill("#text", "hello"); b.press("#text", "Enter");
//   ASSERT_TRUE(b.wait_text("#log .msg", "hello")) << b.last_error();
//
// Every call returns whether the browser did it; last_error() says why not.
#pragma once

#include <boost/json.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "support/process.hpp"

namespace immp::test {

class Browser {
 public:
  static constexpr const char* kChromium = "/usr/bin/chromium";

  // Why this machine cannot run the browser tests (empty: it can).
  static std::string missing() {
    namespace fs = std::filesystem;
    if (!fs::exists(kChromium)) return "no /usr/bin/chromium: run scripts/setup.sh";
    if (!fs::exists(dir() / "node_modules" / "playwright-core" / "package.json")) {
      return "no tests/browser/node_modules/playwright-core: run scripts/setup.sh";
    }
    return {};
  }

  // The program's browser, started on first use. Throws std::runtime_error
  // when Chromium does not start.
  static Browser& shared() {
    static std::unique_ptr<Browser> browser(new Browser());
    return *browser;
  }

  bool open(const std::string& url, const std::string& page = "main") {
    return call({{"op", "open"}, {"url", url}, {"page", page}});
  }
  bool close(const std::string& page = "main") { return call({{"op", "close"}, {"page", page}}); }
  // Loads `url` in the page, keeping its cookies and storage.
  bool go(const std::string& url) { return call({{"op", "goto"}, {"url", url}, {"page", page_}}); }
  bool fill(const std::string& selector, const std::string& value) {
    return call({{"op", "fill"}, {"selector", selector}, {"value", value}, {"page", page_}});
  }
  bool press(const std::string& selector, const std::string& key) {
    return call({{"op", "press"}, {"selector", selector}, {"key", key}, {"page", page_}});
  }
  bool click(const std::string& selector) {
    return call({{"op", "click"}, {"selector", selector}, {"page", page_}});
  }
  // Waits until an element that `selector` matches shows `text`.
  bool wait_text(const std::string& selector, const std::string& text,
                 std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return call({{"op", "wait_text"},
                 {"selector", selector},
                 {"text", text},
                 {"timeout", timeout.count()},
                 {"page", page_}});
  }
  // Waits until the JavaScript expression `expr` is true in the page.
  bool wait_fn(const std::string& expr,
               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return call({{"op", "wait_fn"}, {"expr", expr}, {"timeout", timeout.count()}, {"page", page_}});
  }
  // The value of `expr` in the page (a promise is awaited); null on failure.
  boost::json::value eval(const std::string& expr) {
    if (!call({{"op", "eval"}, {"expr", expr}, {"page", page_}})) return nullptr;
    return value_;
  }
  // The text an element shows; empty on failure.
  std::string text(const std::string& selector) {
    if (!call({{"op", "text"}, {"selector", selector}, {"page", page_}})) return {};
    return value_.is_string() ? std::string(value_.as_string()) : std::string();
  }
  bool screenshot(const std::filesystem::path& file) {
    std::filesystem::create_directories(file.parent_path());
    return call({{"op", "screenshot"}, {"path", file.string()}, {"page", page_}});
  }
  // Cuts the page off the network (new connections fail) or lets it back.
  bool offline(bool value) { return call({{"op", "offline"}, {"value", value}, {"page", page_}}); }
  // Errors the page logged and exceptions it threw since it was opened or
  // this was last called.
  std::string page_errors() {
    if (!call({{"op", "errors"}, {"page", page_}})) return last_error_;
    std::string out;
    for (const auto& e : value_.as_array()) out += std::string(e.as_string()) + "\n";
    return out;
  }
  // The page the calls act on (open() does not change it).
  void use(std::string page) { page_ = std::move(page); }

  const std::string& last_error() const { return last_error_; }
  const std::string& version() const { return version_; }

 private:
  static std::filesystem::path dir() {
    return std::filesystem::path(IMMP_SOURCE_DIR) / "tests" / "browser";
  }

  Browser() : driver_({"node", (dir() / "driver.js").string()}) {
    using namespace std::chrono_literals;
    if (!driver_.wait_for(Stream::out, "\"ready\":", 60s) ||
        driver_.out().find("\"ready\":true") == std::string::npos) {
      throw std::runtime_error("chromium did not start: " + driver_.out() + driver_.err());
    }
    auto line = driver_.out().substr(0, driver_.out().find('\n'));
    version_ = std::string(boost::json::parse(line).at("version").as_string());
  }

  bool call(boost::json::object request) {
    using namespace std::chrono_literals;
    std::int64_t id = ++next_id_;
    request["id"] = id;
    std::chrono::milliseconds timeout = 10s;
    if (auto* t = request.if_contains("timeout"))
      timeout = std::chrono::milliseconds(t->as_int64());
    std::string needle = "{\"id\":" + std::to_string(id) + ",";
    std::size_t from = driver_.out().size();
    driver_.write(boost::json::serialize(request) + "\n");
    if (!driver_.wait_for(Stream::out, needle, timeout + 10s, from)) {
      last_error_ =
          "the browser did not answer " + boost::json::serialize(request) + "\n" + driver_.err();
      return false;
    }
    std::size_t at = driver_.out().find(needle, from);
    driver_.wait_for(Stream::out, "\n", 5s, at);
    std::string line = driver_.out().substr(at, driver_.out().find('\n', at) - at);
    boost::json::object answer = boost::json::parse(line).as_object();
    if (!answer.at("ok").as_bool()) {
      last_error_ = std::string(request.at("op").as_string()) + ": " +
                    std::string(answer.at("error").as_string());
      value_ = nullptr;
      return false;
    }
    last_error_.clear();
    value_ = answer.at("value");
    return true;
  }

  Process driver_;
  std::string version_;
  std::string page_ = "main";
  std::int64_t next_id_ = 0;
  boost::json::value value_;
  std::string last_error_;
};

}  // namespace immp::test
