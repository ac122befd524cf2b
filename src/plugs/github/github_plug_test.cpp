#include "plugs/github/github_plug.hpp"

#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "bus/bus.hpp"
#include "immp/host.hpp"
#include "net/http.hpp"
#include "support/async.hpp"
#include "support/hooks.hpp"

namespace immp::plugs {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// GitHub's own example (docs: "Validating webhook deliveries").
constexpr const char* kSecret = "It's a Secret to Everybody";

// GitHub's published payload examples (octokit/webhooks,
// payload-examples/api.github.com), kept in testdata/.
std::string payload(const std::string& name) {
  std::ifstream in(std::string(IMMP_SOURCE_DIR) + "/src/plugs/github/testdata/" + name + ".json");
  std::stringstream s;
  s << in.rdbuf();
  EXPECT_FALSE(s.str().empty()) << name;
  return s.str();
}

std::string summary(const std::string& type, const std::string& body,
                    std::vector<std::string> ignore = {}) {
  auto text = github_summary(type, json::parse(body), ignore);
  return text ? text->plain() : "<none>";
}

std::string sign(const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), kSecret, static_cast<int>(std::strlen(kSecret)),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &n);
  std::string out = "sha256=";
  for (unsigned int i = 0; i < n; ++i) out += fmt::format("{:02x}", mac[i]);
  return out;
}

TEST(GitHubSignature, GitHubsExampleAndForgeries) {
  EXPECT_TRUE(github_signature_ok(
      kSecret, "Hello, World!",
      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"));
  EXPECT_TRUE(github_signature_ok(
      kSecret, "Hello, World!",
      "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17"));
  EXPECT_FALSE(github_signature_ok(
      kSecret, "Hello, World?",
      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"));
  EXPECT_FALSE(github_signature_ok(
      "another secret", "Hello, World!",
      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"));
  EXPECT_FALSE(github_signature_ok(kSecret, "Hello, World!", "sha1=757107ea"));
  EXPECT_FALSE(github_signature_ok(kSecret, "Hello, World!", "sha256=757107ea"));
  EXPECT_FALSE(github_signature_ok(kSecret, "Hello, World!", ""));
}

TEST(GitHubSummary, AsIMMPSummarisesGitHubsExamples) {
  EXPECT_EQ(summary("push", payload("push_with-new-branch")),
            "created branch master of Codertocat/Hello-World\n\u2022 6113728: Initial commit");
  EXPECT_EQ(summary("push", payload("push")), "deleted branch simple-tag of Codertocat/Hello-World");
  EXPECT_EQ(summary("issues", payload("issues_opened")),
            "opened issue Spelling error in the README file (Codertocat/Hello-World#1)");
  EXPECT_EQ(summary("issue_comment", payload("issue_comment_created")),
            "created a comment on issue Spelling error in the README file "
            "(Codertocat/Hello-World#1)");
  EXPECT_EQ(summary("pull_request", payload("pull_request_closed")),
            "closed pull request Update the README with new information. "
            "(Codertocat/Hello-World#2)");
  EXPECT_EQ(summary("release", payload("release_published")), "published release 0.0.1");
  EXPECT_EQ(summary("watch", payload("watch_started")), "starred Codertocat/Hello-World");
  EXPECT_EQ(summary("fork", payload("fork")),
            "forked Codertocat/Hello-World to Octocoders/Hello-World");
  EXPECT_EQ(summary("issues", payload("issues_opened"), {"opened"}), "<none>");
  EXPECT_EQ(summary("check_run", payload("issues_opened")), "<none>");
}

TEST(GitHubSummary, PushesOfSeveralCommitsAndMergesAndLinks) {
  auto push = json::parse(payload("push_with-new-branch"));
  push.as_object()["created"] = false;
  auto& commits = push.at("commits").as_array();
  json::value second = commits[0];
  second.as_object()["id"] = "abcdef0123456789";
  second.as_object()["message"] = "Fix it\n\nwith a long body";
  commits.push_back(second);
  EXPECT_EQ(summary("push", json::serialize(push)),
            "pushed 2 commits to master of Codertocat/Hello-World\n\u2022 6113728: Initial "
            "commit\n\u2022 abcdef0: Fix it");
  auto text = *github_summary("push", push, {});
  EXPECT_EQ(text.segments()[1].link, std::string(push.at("compare").as_string()));

  auto pr = json::parse(payload("pull_request_closed"));
  pr.at("pull_request").as_object()["merged"] = true;
  EXPECT_EQ(summary("pull_request", json::serialize(pr)),
            "merged pull request Update the README with new information. "
            "(Codertocat/Hello-World#2)");
  auto release = json::parse(payload("release_published"));
  release.at("release").as_object()["name"] = "First";
  EXPECT_EQ(summary("release", json::serialize(release)),
            "published release First (Codertocat/Hello-World 0.0.1)");
}

struct Env {
  asio::io_context io;
  std::unique_ptr<Host> host;
  web::WebHook* web = nullptr;
  GitHubPlug* github = nullptr;
  bus::SubscriberPtr seen;
  Env() {
    host = std::make_unique<Host>(io.get_executor());
    web = &test::add_hook<web::WebHook>(*host, "web", "port: 0\n");
    github = &test::add_plug<GitHubPlug>(*host, "github",
                                         std::string("route: /github\nsecret: \"") + kSecret +
                                             "\"\n");
    test::run(io, host->open());
    seen = web->stream().subscribe({});
  }
};

Env& env() {
  static Env* e = new Env();
  return *e;
}

class GitHubPlugTest : public ::testing::Test {
 protected:
  Env& e = env();
  net::HttpResponse deliver(const std::string& type, const std::string& body,
                            std::optional<std::string> signature) {
    net::HttpClient http(e.io.get_executor());
    net::HttpRequest req;
    req.method = "POST";
    req.url = e.web->base_url() + "/github";
    req.body = body;
    req.content_type = "application/json";
    req.headers = {{"X-GitHub-Event", type}, {"X-GitHub-Delivery", "d-" + type}};
    if (signature) req.headers.emplace_back("X-Hub-Signature-256", *signature);
    return test::run(e.io, http.request(req));
  }
  void drain() {
    while (e.seen->queue().try_pop()) {
    }
  }
};

TEST_F(GitHubPlugTest, SignedDeliveryBecomesAMessageInTheRepositorysChannel) {
  drain();
  std::string body = payload("issues_opened");
  auto r = deliver("issues", body, sign(body));
  EXPECT_EQ(r.status, 200u) << r.body;
  ASSERT_TRUE(test::run_until(e.io, [&] { return !e.seen->queue().empty(); }));
  auto event = *e.seen->queue().try_pop();
  const SentMessage& sent = *event->sent;
  EXPECT_EQ(sent.channel.source, "Codertocat/Hello-World");
  EXPECT_EQ(sent.channel.plug(), e.github);
  EXPECT_EQ(sent.id, "d-issues");
  EXPECT_TRUE(sent.action);
  EXPECT_EQ(sent.user->username, "Codertocat");
  EXPECT_EQ(sent.text->plain(),
            "opened issue Spelling error in the README file (Codertocat/Hello-World#1)");
}

TEST_F(GitHubPlugTest, BadOrMissingSignaturesAreRefusedAndLogged) {
  drain();
  std::string body = payload("issues_opened");
  std::size_t before = e.github->refused();
  EXPECT_EQ(deliver("issues", body, std::nullopt).status, 401u);
  EXPECT_EQ(deliver("issues", body, sign(body + " ")).status, 401u);
  EXPECT_EQ(deliver("issues", body, "sha256=" + std::string(64, '0')).status, 401u);
  EXPECT_EQ(e.github->refused(), before + 3);
  // A good delivery after them arrives; the refused ones never did.
  EXPECT_EQ(deliver("watch", payload("watch_started"), sign(payload("watch_started"))).status,
            200u);
  ASSERT_TRUE(test::run_until(e.io, [&] { return !e.seen->queue().empty(); }));
  EXPECT_EQ((*e.seen->queue().try_pop())->sent->plain(),
            "* Codertocat starred Codertocat/Hello-World");  // an action, said by the sender
  EXPECT_TRUE(e.seen->queue().empty());
}

TEST_F(GitHubPlugTest, PingAndNonJsonBodies) {
  drain();
  std::string ping = payload("ping");
  EXPECT_EQ(deliver("ping", ping, sign(ping)).status, 200u);
  EXPECT_EQ(deliver("issues", "a=b", sign("a=b")).status, 400u);
  // Nothing reached the host: a message would be there by the time the
  // answers came (queue() precedes the answer).
  test::poll(e.io);
  EXPECT_TRUE(e.seen->queue().empty());
}

}  // namespace
}  // namespace immp::plugs
