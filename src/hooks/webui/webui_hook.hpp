// WebUIHook (IMMP's immp.hook.webui.WebUIHook, key `route`): an admin page
// on the web resource (immp.hook.web.WebHook) that shows every plug, hook
// and channel with its state, live, and stops, starts, restarts, enables
// and disables plugs and hooks, and adds and removes channels.
//
// Unlike IMMP's, it has a login and loads no code:
// - a password from config (`password`: an Argon2id hash, or a plain
//   password that is hashed at start), checked with libsodium off the
//   host's thread; failed logins are limited per client address;
// - a session cookie (HttpOnly, SameSite=Strict, Secure under TLS, scoped
//   to the route) and a CSRF token in every form; a change without the
//   session's token is refused (403);
// - nothing from plugs' or hooks' configs is shown (they hold tokens and
//   passwords), and there is no way to add a plug or hook by class path.
//
// Runs on the host's executor.
#pragma once

#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hooks/web/web_hook.hpp"
#include "hooks/webui/webui_auth.hpp"
#include "immp/host.hpp"

namespace immp::webui {

class WebUIHook final : public ResourceHook {
 public:
  static constexpr std::string_view kPath = "immp.hook.webui.WebUIHook";
  static constexpr std::string_view kKind = "admin UI";
  static constexpr std::string_view kDescription =
      "A web page to watch and control plugs, hooks and channels, behind a password.";
  static SpecPtr schema();

  explicit WebUIHook(const Init& init);
  ~WebUIHook() override;

  Task<> start() override;
  Task<> stop() override;

  // Failed logins allowed per client address per minute.
  static constexpr std::size_t kLoginLimit = 5;

 private:
  struct Event {
    std::chrono::system_clock::time_point at;
    StateEvent what;
  };
  // The session a request's cookie names, or null.
  Sessions::Session* session_of(const web::Request& request);
  // The session of a POST that carries its CSRF token, or an answer that
  // refuses it (redirect to the login, or 403).
  std::optional<web::Response> refuse_change(const web::Request& request,
                                             const std::map<std::string, std::string>& form,
                                             Sessions::Session*& session);

  Task<web::Response> get_main(web::Request& request);
  Task<web::Response> get_login(web::Request& request);
  Task<web::Response> post_login(web::Request& request);
  Task<web::Response> post_logout(web::Request& request);
  Task<web::Response> get_state(web::Request& request);
  Task<web::Response> post_action(web::Request& request, bool plug);
  Task<web::Response> post_channel_add(web::Request& request);
  Task<web::Response> post_channel_remove(web::Request& request);

  web::Response login_page(int status, std::string_view error, const std::string& csrf) const;
  web::Response main_page(const std::string& csrf, std::string_view notice) const;
  std::string state_json() const;
  web::Response redirect(std::string_view to) const;
  web::Response page(int status, std::string_view title, std::string body) const;
  std::string cookie(std::string_view name, std::string_view value, bool tls,
                     std::chrono::seconds max_age) const;
  Task<bool> check_password(std::string password);

  std::string route_;
  std::string hash_;
  Sessions sessions_;
  LoginLimiter limiter_;
  std::deque<Event> events_;  // the latest state changes, newest last
  std::uint64_t listener_ = 0;
  bool listening_ = false;
  std::unique_ptr<asio::thread_pool> pool_;
  web::WebHook* web_ = nullptr;
  std::vector<web::Route> routes_;
};

// The parts of an application/x-www-form-urlencoded body.
std::map<std::string, std::string> parse_form(std::string_view body);
// `text` with HTML's special characters escaped, for text and attributes.
std::string escape_html(std::string_view text);

}  // namespace immp::webui
