// WebUIHook (IMMP's immp.hook.webui.WebUIHook, key `route`): an admin page
// on the web resource (immp.hook.web.WebHook) that shows every plug, hook
// and channel with its state, live, and stops, starts, restarts, enables
// and disables plugs and hooks, and adds and removes channels; operators
// (when the config has any) with their state and controls too.
//
// Plugs and hooks of the config file are edited and added here too, as
// YAML (`route/edit/{plug|hook}/{name}`, `route/add`): through the
// runner's ConfigEditor, which checks an edit as a file would be checked
// (a problem is shown beside the form, naming the key and the line, and
// changes nothing), replaces the running instance and, with `immp -w`,
// writes the file. Secrets are shown as "[hidden]"; one left so is kept.
//
// The page stays live over one Server-Sent Events stream (`route/events`,
// the session cookie's): the host's state as it changes, every plug's and
// channel's message counts each second, what waits in each named channel's
// outbox, delivery and drop counters, and a
// tail of the log with every secret of every config hidden.
//
// Unlike IMMP's, it has a login and takes no code from the browser (a
// class added here is one the runner has: built in, or a plugin in a
// directory the config's `path` lists):
// - a password from config (`password`: an Argon2id hash, or a plain
//   password that is hashed at start), checked with libsodium off the
//   host's thread; failed logins are limited per client address; without
//   one, the first visitor who gives the one-time setup token that the
//   log shows at start chooses it (saved with `immp -w`);
// - a session cookie (HttpOnly, SameSite=Strict, Secure under TLS, scoped
//   to the route) and a CSRF token in every form; a change without the
//   session's token is refused (403);
// - no secret of any config is shown (tokens, passwords): config forms
//   show them as "[hidden]", and the log and errors pass the Redactor.
//
// Runs on the host's executor.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hooks/web/web_hook.hpp"
#include "hooks/webui/log_tail.hpp"
#include "hooks/webui/secrets.hpp"
#include "hooks/webui/webui_auth.hpp"
#include "immp/config_editor.hpp"
#include "immp/host.hpp"

namespace immp::operators {
class OperatorsHook;
}

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
  // Count messages in and out per plug and channel, for the page's rates.
  Task<> on_receive(const Received& received) override;
  Task<std::optional<Outgoing>> before_send(Outgoing out) override;

  // Failed logins allowed per client address per minute.
  static constexpr std::size_t kLoginLimit = 5;
  // Pages following the live stream now.
  std::size_t live_pages() const { return live_ ? live_->pages : 0; }

  // Log records the tail keeps (and a page that opens sees first).
  static constexpr std::size_t kLogKept = 500;
  // How often the live stream sends counters.
  static constexpr std::chrono::seconds kTick{1};

 private:
  // A change shown under "Recent changes".
  struct Event {
    std::chrono::system_clock::time_point at;
    std::string kind;  // plug, hook, operator
    std::string name;
    std::string state;  // "active", "active, offline"; for operators what happened
    std::string reason;
  };
  // What live streams share with the hook, and outlive it by: a stream
  // finds the hook gone (null) after any wait. Host's executor only.
  struct Live {
    WebUIHook* hook = nullptr;
    std::size_t pages = 0;                   // streams open
    std::uint64_t generation = 0;            // bumped by every change of state
    std::list<asio::steady_timer*> waiting;  // streams asleep until the next tick
    std::atomic<bool> log_posted{false};     // a wake-up for new log records is on its way
    void wake() {
      for (asio::steady_timer* t : waiting) t->cancel();
    }
  };
  struct Counts {
    std::uint64_t in = 0;
    std::uint64_t out = 0;
  };
  // The session a request's cookie names, or null.
  Sessions::Session* session_of(const web::Request& request);
  // The session of a POST that carries its CSRF token, or an answer that
  // refuses it (redirect to the login, or 403).
  std::optional<web::Response> refuse_change(const web::Request& request,
                                             const std::map<std::string, std::string>& form,
                                             Sessions::Session*& session);

  Task<web::Response> get_main(web::Request& request);
  Task<web::Response> get_setup(web::Request& request);
  Task<web::Response> post_setup(web::Request& request);
  Task<web::Response> get_login(web::Request& request);
  Task<web::Response> post_login(web::Request& request);
  Task<web::Response> post_logout(web::Request& request);
  Task<web::Response> get_state(web::Request& request);
  Task<web::Response> get_events(web::Request& request);
  // One live page: writes until the client leaves, the session ends or the
  // hook stops.
  static Task<> stream_events(std::shared_ptr<Live> live, std::string session_id,
                              web::EventStream& out);
  Task<web::Response> post_action(web::Request& request, bool plug);
  Task<web::Response> post_channel_add(web::Request& request);
  Task<web::Response> post_operator(web::Request& request);
  // The host's operators hook (the runner's `operators`), or null.
  operators::OperatorsHook* operators_hook() const;
  void add_event(Event event);
  Task<web::Response> post_channel_remove(web::Request& request);
  // Config forms: one plug's or hook's (edit), a new one's (add).
  Task<web::Response> get_edit(web::Request& request);
  Task<web::Response> post_edit(web::Request& request);
  Task<web::Response> get_add(web::Request& request);
  Task<web::Response> post_add(web::Request& request);
  // The runner's editor, when there is one and it can edit now.
  ConfigEditor* config_editor() const;
  // Whether the page offers to edit `name`'s config: the file has it and
  // it does not serve this page.
  bool can_edit(ConfigEditor::Kind kind, const std::string& name) const;
  // What an edit page's address names (/edit/{kind}/{name}), when it may
  // be edited here.
  struct EditTarget {
    ConfigEditor::Kind kind;
    std::string name;
    ConfigEditor* editor;
    ConfigEditor::Entry entry;
  };
  std::optional<EditTarget> edit_target(const web::Request& request) const;
  // What the form posted, as the config to put: parsed, secrets kept.
  // Throws ConfigError naming the line of the form.
  static Node read_form_config(const std::string& text, const std::string& where,
                               const Node& stored);
  // Applies a checked form; the notice to show on the main page, or the
  // error to show beside the form.
  struct Outcome {
    std::string notice;
    std::string error;       // empty: applied
    std::string error_path;  // the key path the error names
    int line = 0;            // its line in the form, 0 if none
  };
  Task<Outcome> apply_form(ConfigEditor& editor, ConfigEditor::Kind kind, std::string name,
                           std::string path, const std::string& text, const Node& stored,
                           std::string remote);
  web::Response edit_page(int status, const std::string& csrf, ConfigEditor::Kind kind,
                          const std::string& name, const std::string& path,
                          const std::string& text, const Outcome& outcome) const;
  web::Response add_page(int status, const std::string& csrf, const ConfigEditor& editor,
                         const std::map<std::string, std::string>& form,
                         const Outcome& outcome) const;

  web::Response login_page(int status, std::string_view error, const std::string& csrf) const;
  web::Response setup_page(int status, std::string_view error, const std::string& csrf) const;
  // The two password forms (login, first-start setup) share their checks.
  using FormPage = web::Response (WebUIHook::*)(int, std::string_view, const std::string&) const;
  // The form again, with a fresh CSRF token and its cookie.
  web::Response fresh_form(web::Request& request, FormPage page, int status,
                           std::string_view error) const;
  // A post of a password form without the form's CSRF token, or from an
  // address over the limit of wrong `secrets`: the answer that refuses it.
  std::optional<web::Response> refuse_form(web::Request& request,
                                           const std::map<std::string, std::string>& form,
                                           FormPage page, std::string_view what,
                                           std::string_view secrets);
  // A new admin session: to the main page with its cookie, the form's cleared.
  web::Response start_session(web::Request& request);
  web::Response main_page(const std::string& csrf, std::string_view notice) const;
  std::string state_json() const;
  // The page's whole picture (plugs, hooks, channels, recent changes,
  // delivery counters), as the live stream's `state` event.
  std::string snapshot_json() const;
  // Message counts per plug and channel and delivery counters: `counts`.
  std::string counts_json() const;
  // Log records after `seq`, secrets hidden, as `log` events; moves `seq`.
  std::string log_events(std::uint64_t& seq) const;
  // Learns the secrets of every plug's and hook's config (again).
  void learn_secrets();
  web::Response redirect(std::string_view to) const;
  web::Response page(int status, std::string_view title, std::string body) const;
  std::string cookie(std::string_view name, std::string_view value, bool tls,
                     std::chrono::seconds max_age) const;
  Task<bool> check_password(std::string password);

  std::string route_;
  std::string hash_;         // empty until a password is set
  std::string setup_token_;  // while no password is set: what the log showed
  Sessions sessions_;
  LoginLimiter limiter_;
  std::deque<Event> events_;  // the latest state changes, newest last
  std::shared_ptr<LogTail> tail_;
  Redactor redactor_;
  std::shared_ptr<Live> live_;
  std::map<std::string, Counts, std::less<>> plug_counts_;
  std::map<std::string, Counts, std::less<>> channel_counts_;  // named channels only
  Subscription config_changes_;
  Subscription operator_events_;
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
