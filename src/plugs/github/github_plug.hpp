// GitHubPlug (IMMP's immp.plug.github.GitHubPlug, keys `route`, `secret`,
// `ignore`): GitHub webhooks received on the web resource, checked against
// their HMAC-SHA256 signature (X-Hub-Signature-256) and summarised as IMMP
// does into one message per event, in a channel named after the
// repository ("owner/repo"). It sends nothing: put() refuses.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "hooks/web/web_hook.hpp"
#include "immp/plug.hpp"

namespace immp::plugs {

// Whether `signature` (the X-Hub-Signature-256 header, "sha256=<hex>") is
// the HMAC-SHA256 of `body` with `secret`; compared in constant time.
bool github_signature_ok(std::string_view secret, std::string_view body,
                         std::string_view signature);

// IMMP's summary of one event (`type` from X-GitHub-Event), or nullopt for
// an event or action it does not summarise (or one in `ignore`).
std::optional<RichText> github_summary(std::string_view type, const boost::json::value& event,
                                       const std::vector<std::string>& ignore);

class GitHubPlug final : public Plug {
 public:
  static constexpr std::string_view kPath = "immp.plug.github.GitHubPlug";
  static constexpr std::string_view kDescription =
      "GitHub webhooks (pushes, issues, pull requests, releases, ...) as messages in channels "
      "named owner/repo.";
  static SpecPtr schema();

  explicit GitHubPlug(const Init& init);

  std::string network_name() const override { return "GitHub"; }
  std::string network_id() const override { return "github"; }

  Task<> start() override;
  Task<> stop() override;
  Task<PutResult> put(Posting& post) override;
  Task<std::optional<std::string>> channel_title(const Channel& channel) override;

  // Deliveries refused for their signature so far.
  std::size_t refused() const { return refused_; }

 private:
  Task<web::Response> receive(web::Request& request);
  web::Response receive_now(web::Request& request);

  std::string route_;
  std::optional<std::string> secret_;
  std::vector<std::string> ignore_;
  std::size_t refused_ = 0;
  web::Route web_route_;
};

}  // namespace immp::plugs
