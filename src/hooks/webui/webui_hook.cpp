#include "hooks/webui/webui_hook.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <ctime>

#include <fmt/format.h>

#include "core/outbox.hpp"
#include "hooks/identity/password.hpp"
#include "hooks/webui/webui_assets.hpp"
#include "operators/operators_hook.hpp"

namespace immp::webui {

using web::Request;
using web::Response;

namespace {

constexpr std::string_view kCookie = "immp_admin";
constexpr std::string_view kLoginCookie = "immp_admin_login";
constexpr std::size_t kEventsKept = 50;

// The client's address without its port: what login limits count by.
std::string address_of(const Request& r) {
  auto colon = r.remote.rfind(':');
  return colon == std::string::npos ? r.remote : r.remote.substr(0, colon);
}

std::string cookie_value(const Request& r, std::string_view name) {
  const std::string* header = r.header("Cookie");
  if (!header) return {};
  std::string_view rest = *header;
  while (!rest.empty()) {
    std::size_t semi = rest.find(';');
    std::string_view pair = rest.substr(0, semi);
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    std::size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
      return std::string(pair.substr(eq + 1));
    }
  }
  return {};
}

std::string hidden_csrf(const std::string& csrf) {
  return "<input type=\"hidden\" name=\"csrf\" value=\"" + escape_html(csrf) + "\">";
}

std::string clock_time(std::chrono::system_clock::time_point at) {
  std::time_t t = std::chrono::system_clock::to_time_t(at);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec);
}

// One Server-Sent Event; `data` is one line of JSON.
std::string sse(std::string_view event, std::string_view data) {
  return fmt::format("event: {}\ndata: {}\n\n", event, data);
}

// `text` as one path segment: unreserved characters as they are, the
// rest percent-encoded.
std::string encode_segment(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

// The actions a plug or hook in `state` offers.
std::vector<std::string_view> actions_for(State state) {
  switch (state) {
    case State::active:
    case State::starting: return {"stop", "restart", "disable"};
    case State::disabled: return {"enable"};
    case State::inactive:
    case State::failed:
    case State::stopping: return {"start", "disable"};
  }
  return {};
}

// The actions an operator in `phase` offers.
std::vector<std::string_view> operator_actions(operators::Phase phase, bool halted) {
  using operators::Phase;
  switch (phase) {
    case Phase::ready:
    case Phase::starting: return {halted ? "resume" : "halt", "restart", "stop"};
    case Phase::backoff: return {"stop"};
    case Phase::stopping: return {};
    case Phase::stopped:
    case Phase::failed: return {"start"};
  }
  return {};
}

}  // namespace

std::map<std::string, std::string> parse_form(std::string_view body) {
  std::map<std::string, std::string> out;
  while (!body.empty()) {
    std::size_t amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    if (pair.empty()) continue;
    std::size_t eq = pair.find('=');
    std::string key = web::percent_decode(pair.substr(0, eq), true);
    std::string value = eq == std::string_view::npos
                            ? std::string()
                            : web::percent_decode(pair.substr(eq + 1), true);
    out.emplace(std::move(key), std::move(value));  // the first of a repeated key wins
  }
  return out;
}

std::string escape_html(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

SpecPtr WebUIHook::schema() {
  return object({
      {"route", str(), required, "the path the admin pages are served under, as in IMMP"},
      {"password", str(), Node(),
       "an Argon2id hash of the admin password ($argon2id$...), or the password itself (then "
       "hashed at start; the log shows the hash to put here instead); none: chosen at first "
       "visit with a one-time setup token from the log"},
      {"session", real(), 43200.0, "seconds a login lasts"},
  });
}

WebUIHook::WebUIHook(const Init& init)
    : ResourceHook(init),
      route_(config().at("route").as_string()),
      sessions_(std::chrono::seconds(static_cast<long>(config().at("session").as_double()))),
      limiter_(kLoginLimit, std::chrono::seconds(60)),
      pool_(std::make_unique<asio::thread_pool>(1)) {
  // From construction on, so that the tail shows how the host started
  // (this hook's own warnings included).
  tail_ = std::make_shared<LogTail>(kLogKept);
  add_log_tap(tail_);
  try {
    if (route_.empty() || route_.front() != '/') config().at("route").fail("must start with '/'");
    while (route_.size() > 1 && route_.back() == '/') route_.pop_back();
    if (route_ == "/") config().at("route").fail("needs a path of its own, such as /admin");
    if (sessions_.lifetime().count() <= 0) {
      config().at("session").fail("must be at least a second");
    }
    const Node& configured = config().at("password");
    const std::string& password = configured.is_null() ? std::string() : configured.as_string();
    if (configured.is_null()) {
      // Chosen at the first visit, by whoever can read this host's log.
      setup_token_ = random_token(16);
      redactor_.add(setup_token_);
    } else if (is_password_hash(password)) {
      hash_ = password;
    } else {
      if (password.size() < 8) config().at("password").fail("too short: use 8 characters or more");
      hash_ = hooks::hash_password(password);
      log()->warn("the admin password is in the config as it is: put this hash there instead: {}",
                  hash_);
    }
  } catch (...) {
    remove_log_tap(tail_);
    throw;
  }
  if (!hash_.empty()) redactor_.add(hash_);
}

WebUIHook::~WebUIHook() {
  remove_log_tap(tail_);
  tail_->set_on_record({});
  if (live_) live_->hook = nullptr;
  if (listening_) host().unsubscribe(listener_);
  if (pool_) pool_->join();
}

Task<> WebUIHook::start() {
  web_ = &host().resource<web::WebHook>(*this);
  live_ = std::make_shared<Live>();
  live_->hook = this;
  learn_secrets();
  if (!listening_) {
    listener_ = host().subscribe([this](const StateEvent& e) {
      std::string state(state_name(e.state));
      if (e.kind == StateEvent::Kind::plug && !e.online) state += ", offline";
      // A plug or hook that was replaced comes with a new config.
      learn_secrets();
      add_event(Event{std::chrono::system_clock::now(),
                      e.kind == StateEvent::Kind::plug ? "plug" : "hook", e.name, state, e.reason});
    });
    listening_ = true;
  }
  if (operators::OperatorsHook* ops = operators_hook()) {
    operator_events_ = ops->on_event([this](const operators::OperatorEvent& e) {
      add_event(Event{std::chrono::system_clock::now(), "operator", e.name, e.what, e.detail});
    });
  }
  config_changes_ = host().on_config_changed([this](Openable&) { learn_secrets(); });
  // Records arrive on any thread: one wake-up at a time is posted to the
  // host's executor, where the streams read the tail.
  tail_->set_on_record([weak = std::weak_ptr<Live>(live_), ex = host().executor()] {
    auto live = weak.lock();
    if (!live || live->log_posted.exchange(true)) return;
    asio::post(ex, [weak] {
      if (auto l = weak.lock()) {
        l->log_posted = false;
        l->wake();
      }
    });
  });
  auto add = [this](std::string method, std::string path, auto fn) {
    routes_.emplace_back(*web_, std::move(method), route_ + path,
                         [this, fn](Request& r) -> Task<Response> { return fn(this, r); });
  };
  add("GET", "", [](WebUIHook* h, Request& r) { return h->get_main(r); });
  add("GET", "/login", [](WebUIHook* h, Request& r) { return h->get_login(r); });
  add("POST", "/login", [](WebUIHook* h, Request& r) { return h->post_login(r); });
  add("POST", "/logout", [](WebUIHook* h, Request& r) { return h->post_logout(r); });
  add("GET", "/state.json", [](WebUIHook* h, Request& r) { return h->get_state(r); });
  add("GET", "/events", [](WebUIHook* h, Request& r) { return h->get_events(r); });
  add("POST", "/plug/{name}/{action}",
      [](WebUIHook* h, Request& r) { return h->post_action(r, true); });
  add("POST", "/hook/{name}/{action}",
      [](WebUIHook* h, Request& r) { return h->post_action(r, false); });
  add("POST", "/channel", [](WebUIHook* h, Request& r) { return h->post_channel_add(r); });
  add("POST", "/operator/{name}/{action}",
      [](WebUIHook* h, Request& r) { return h->post_operator(r); });
  add("POST", "/channel/{name}/remove",
      [](WebUIHook* h, Request& r) { return h->post_channel_remove(r); });
  add("GET", "/admin.css", [](WebUIHook*, Request&) -> Task<Response> {
    Response res = Response::text(200, std::string(kAdminCss));
    res.content_type = "text/css; charset=utf-8";
    co_return res;
  });
  add("GET", "/admin.js", [](WebUIHook*, Request&) -> Task<Response> {
    Response res = Response::text(200, std::string(kAdminJs));
    res.content_type = "text/javascript; charset=utf-8";
    co_return res;
  });
  add("GET", "/edit/{kind}/{name}", [](WebUIHook* h, Request& r) { return h->get_edit(r); });
  add("POST", "/edit/{kind}/{name}", [](WebUIHook* h, Request& r) { return h->post_edit(r); });
  add("GET", "/add", [](WebUIHook* h, Request& r) { return h->get_add(r); });
  add("POST", "/add", [](WebUIHook* h, Request& r) { return h->post_add(r); });
  add("GET", "/setup", [](WebUIHook* h, Request& r) { return h->get_setup(r); });
  add("POST", "/setup", [](WebUIHook* h, Request& r) { return h->post_setup(r); });
  log()->info("admin UI at {}{}", web_->base_url(), route_);
  if (!setup_token_.empty()) {
    log()->warn(
        "no admin password is set: open {}{}/setup and give this one-time setup token to choose "
        "one: {}",
        web_->base_url(), route_, setup_token_);
  }
  co_return;
}

Task<> WebUIHook::stop() {
  routes_.clear();
  tail_->set_on_record({});
  config_changes_.reset();
  operator_events_.reset();
  // Live pages end at their next wake-up.
  if (live_) {
    live_->hook = nullptr;
    live_->wake();
  }
  // While the host still stands (the destructor may run inside its own).
  if (listening_) host().unsubscribe(listener_);
  listening_ = false;
  co_return;
}

Task<> WebUIHook::on_receive(const Received& received) {
  const Channel& channel = received.sent->channel;
  if (Plug* plug = channel.plug()) ++plug_counts_[plug->name()].in;
  if (auto name = host().channel_name(channel)) ++channel_counts_[*name].in;
  co_return;
}

Task<std::optional<Outgoing>> WebUIHook::before_send(Outgoing out) {
  if (Plug* plug = out.channel.plug()) ++plug_counts_[plug->name()].out;
  if (auto name = host().channel_name(out.channel)) ++channel_counts_[*name].out;
  co_return out;
}

operators::OperatorsHook* WebUIHook::operators_hook() const {
  for (Hook* h : host().hooks()) {
    if (auto* ops = dynamic_cast<operators::OperatorsHook*>(h)) return ops;
  }
  return nullptr;
}

void WebUIHook::add_event(Event event) {
  events_.push_back(std::move(event));
  while (events_.size() > kEventsKept) events_.pop_front();
  ++live_->generation;
  live_->wake();
}

void WebUIHook::learn_secrets() {
  for (Plug* p : host().plugs()) redactor_.learn(p->config());
  for (Hook* h : host().hooks()) redactor_.learn(h->config());
}

// ---- pieces ------------------------------------------------------------------

Response WebUIHook::page(int status, std::string_view title, std::string body) const {
  Response res = Response::text(
      status,
      fmt::format("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                  "<title>{} · immp admin</title>\n<link rel=\"icon\" href=\"data:,\">\n"
                  "<link rel=\"stylesheet\" href=\"{}/admin.css\">\n</head>\n<body>\n{}"
                  "</body>\n</html>\n",
                  escape_html(title), escape_html(route_), body));
  res.content_type = "text/html; charset=utf-8";
  res.headers.emplace_back(
      "Content-Security-Policy",
      "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'");
  res.headers.emplace_back("X-Frame-Options", "DENY");
  res.headers.emplace_back("X-Content-Type-Options", "nosniff");
  res.headers.emplace_back("Referrer-Policy", "no-referrer");
  res.headers.emplace_back("Cache-Control", "no-store");
  return res;
}

Response WebUIHook::redirect(std::string_view to) const {
  Response res = Response::text(303, "");
  res.headers.emplace_back("Location", std::string(to));
  res.headers.emplace_back("Cache-Control", "no-store");
  return res;
}

std::string WebUIHook::cookie(std::string_view name, std::string_view value, bool tls,
                              std::chrono::seconds max_age) const {
  return fmt::format("{}={}; Path={}; Max-Age={}; HttpOnly; SameSite=Strict{}", name, value, route_,
                     max_age.count(), tls ? "; Secure" : "");
}

Sessions::Session* WebUIHook::session_of(const Request& r) {
  return sessions_.find(cookie_value(r, kCookie));
}

std::optional<Response> WebUIHook::refuse_change(const Request& r,
                                                 const std::map<std::string, std::string>& form,
                                                 Sessions::Session*& session) {
  session = session_of(r);
  if (!session) return redirect(route_ + "/login");
  auto csrf = form.find("csrf");
  if (csrf == form.end() || !same_secret(csrf->second, session->csrf)) {
    log()->warn("a change without this session's CSRF token from {} was refused", r.remote);
    return page(403, "Refused",
                "<main class=\"narrow\"><h1>Refused</h1><p role=\"alert\">This form did not carry "
                "the page's security token (CSRF), so nothing was changed. <a href=\"" +
                    escape_html(route_) + "\">Back to the admin page</a>.</p></main>\n");
  }
  return std::nullopt;
}

Task<bool> WebUIHook::check_password(std::string password) {
  if (hash_.empty()) co_return false;
  // Argon2id takes a tenth of a second and 64 MiB on purpose: never on the
  // host's thread, where it would hold up every network.
  auto work = [password = std::move(password), hash = hash_]() -> Task<bool> {
    co_return hooks::check_password(password, hash) == hooks::PasswordCheck::right;
  };
  auto op = asio::co_spawn(pool_->get_executor(), std::move(work), asio::use_awaitable);
  bool right = co_await std::move(op);
  co_return right;
}

// ---- login -------------------------------------------------------------------

Response WebUIHook::login_page(int status, std::string_view error, const std::string& csrf) const {
  std::string body = "<main class=\"narrow\">\n<h1>immp admin</h1>\n";
  if (!error.empty()) body += "<p class=\"error\" role=\"alert\">" + escape_html(error) + "</p>\n";
  body += "<form method=\"post\" action=\"" + escape_html(route_) + "/login\" class=\"login\">\n" +
          hidden_csrf(csrf) +
          "\n<label>Password <input type=\"password\" name=\"password\" id=\"password\" "
          "autocomplete=\"current-password\" required autofocus></label>\n"
          "<button type=\"submit\">Log in</button>\n</form>\n</main>\n";
  return page(status, "Log in", std::move(body));
}

Task<Response> WebUIHook::get_login(Request& r) {
  if (session_of(r)) co_return redirect(route_);
  if (!setup_token_.empty()) co_return redirect(route_ + "/setup");
  // Login CSRF: the form's token must match this cookie, which only a
  // page of ours can have set.
  co_return fresh_form(r, &WebUIHook::login_page, 200, "");
}

Response WebUIHook::fresh_form(Request& r, FormPage page, int status,
                               std::string_view error) const {
  std::string csrf = random_token();
  Response res = (this->*page)(status, error, csrf);
  res.headers.emplace_back("Set-Cookie", cookie(kLoginCookie, csrf, r.tls, std::chrono::hours(1)));
  return res;
}

std::optional<Response> WebUIHook::refuse_form(Request& r,
                                               const std::map<std::string, std::string>& form,
                                               FormPage page, std::string_view what,
                                               std::string_view secrets) {
  std::string expected = cookie_value(r, kLoginCookie);
  auto csrf = form.find("csrf");
  if (expected.empty() || csrf == form.end() || !same_secret(csrf->second, expected)) {
    log()->warn("a {} without the form's CSRF token from {} was refused", what, r.remote);
    return fresh_form(r, page, 403, "This form has expired or came from elsewhere: try again.");
  }
  if (auto wait = limiter_.wait(address_of(r)); wait.count() > 0) {
    Response res = fresh_form(
        r, page, 429, fmt::format("Too many wrong {}: try again in {} s.", secrets, wait.count()));
    res.headers.emplace_back("Retry-After", std::to_string(wait.count()));
    return res;
  }
  return std::nullopt;
}

Response WebUIHook::start_session(Request& r) {
  auto [id, session_csrf] = sessions_.create();
  Response res = redirect(route_);
  res.headers.emplace_back("Set-Cookie", cookie(kCookie, id, r.tls, sessions_.lifetime()));
  res.headers.emplace_back("Set-Cookie", cookie(kLoginCookie, "", r.tls, std::chrono::seconds(0)));
  return res;
}

Task<Response> WebUIHook::post_login(Request& r) {
  auto form = parse_form(r.body);
  if (auto refused = refuse_form(r, form, &WebUIHook::login_page, "login", "passwords")) {
    co_return std::move(*refused);
  }
  auto password = form.find("password");
  bool right = false;
  if (password != form.end()) {
    // Not inside the && above: GCC 12 mishandles co_await in such operands.
    std::string given = password->second;
    right = co_await check_password(std::move(given));
  }
  if (!right) {
    limiter_.failed(address_of(r));
    log()->warn("a wrong admin password from {}", r.remote);
    co_return fresh_form(r, &WebUIHook::login_page, 401, "Wrong password.");
  }
  log()->info("admin logged in from {}", r.remote);
  co_return start_session(r);
}

Task<Response> WebUIHook::post_logout(Request& r) {
  auto form = parse_form(r.body);
  Sessions::Session* session = nullptr;
  if (auto refused = refuse_change(r, form, session)) co_return std::move(*refused);
  sessions_.end(cookie_value(r, kCookie));
  Response res = redirect(route_ + "/login");
  res.headers.emplace_back("Set-Cookie", cookie(kCookie, "", r.tls, std::chrono::seconds(0)));
  co_return res;
}

// ---- first start -------------------------------------------------------------

Response WebUIHook::setup_page(int status, std::string_view error, const std::string& csrf) const {
  std::string body =
      "<main class=\"narrow\">\n<h1>immp admin: choose a password</h1>\n<p>No admin password "
      "is configured. immp logged a one-time setup token when it started (a line that says "
      "<q>no admin password is set</q>): give it here with the password you choose.</p>\n";
  if (!error.empty()) body += "<p class=\"error\" role=\"alert\">" + escape_html(error) + "</p>\n";
  body += "<form method=\"post\" action=\"" + escape_html(route_) + "/setup\" class=\"login\">\n" +
          hidden_csrf(csrf) +
          "\n<label>Setup token <input name=\"token\" id=\"token\" autocomplete=\"off\" required "
          "autofocus></label>\n<label>New password (8 characters or more) <input "
          "type=\"password\" name=\"password\" id=\"password\" autocomplete=\"new-password\" "
          "minlength=\"8\" required></label>\n<label>The same again <input type=\"password\" "
          "name=\"again\" id=\"again\" autocomplete=\"new-password\" minlength=\"8\" "
          "required></label>\n<button type=\"submit\">Set the password</button>\n</form>\n"
          "</main>\n";
  return page(status, "Choose a password", std::move(body));
}

Task<Response> WebUIHook::get_setup(Request& r) {
  if (setup_token_.empty()) co_return redirect(route_ + "/login");
  co_return fresh_form(r, &WebUIHook::setup_page, 200, "");
}

Task<Response> WebUIHook::post_setup(Request& r) {
  if (setup_token_.empty()) co_return redirect(route_ + "/login");
  auto form = parse_form(r.body);
  auto fresh = [&](int status, std::string_view error) {
    return fresh_form(r, &WebUIHook::setup_page, status, error);
  };
  // Wrong tokens count as wrong passwords: the token is a password too.
  if (auto refused = refuse_form(r, form, &WebUIHook::setup_page, "password setup", "tokens")) {
    co_return std::move(*refused);
  }
  if (!same_secret(form["token"], setup_token_)) {
    limiter_.failed(address_of(r));
    log()->warn("a wrong admin setup token from {}", r.remote);
    co_return fresh(401, "Wrong setup token: copy it from immp's log.");
  }
  std::string password = form["password"];
  if (password.size() < 8) co_return fresh(400, "The password is too short: 8 characters or more.");
  if (password != form["again"]) co_return fresh(400, "The two passwords differ.");
  auto work = [password = std::move(password)]() -> Task<std::string> {
    co_return hooks::hash_password(password);
  };
  auto op = asio::co_spawn(pool_->get_executor(), std::move(work), asio::use_awaitable);
  std::string hash = co_await std::move(op);
  if (setup_token_.empty()) co_return redirect(route_ + "/login");  // another browser was first
  hash_ = hash;
  setup_token_.clear();
  redactor_.add(hash_);
  // With `immp -w` the runner writes the hash into the config file.
  Node updated = config();
  updated.set("password", hash_);
  set_config(std::move(updated));
  log()->warn("the admin password was set from {} (saved in the config with immp -w)", r.remote);
  co_return start_session(r);
}

// ---- the page ----------------------------------------------------------------

Task<Response> WebUIHook::get_main(Request& r) {
  if (!setup_token_.empty()) co_return redirect(route_ + "/setup");
  Sessions::Session* session = session_of(r);
  if (!session) co_return redirect(route_ + "/login");
  std::string notice = std::exchange(session->notice, {});
  co_return main_page(session->csrf, notice);
}

Response WebUIHook::main_page(const std::string& csrf, std::string_view notice) const {
  // Rendered whole here (it works without scripts); admin.js then keeps it
  // live from route/events, rendering the same rows.
  const std::string route = escape_html(route_);
  auto action_form = [&](std::string_view kind, const std::string& name, std::string_view action) {
    return fmt::format(
        "<form method=\"post\" action=\"{}/{}/{}/{}\">{}<button type=\"submit\" class=\"{}\" "
        "aria-label=\"{} {}\">{}</button></form>",
        route, kind, escape_html(encode_segment(name)), action, hidden_csrf(csrf), action, action,
        escape_html(name), action);
  };
  auto edit_link = [&](std::string_view kind, const std::string& name) {
    return fmt::format("<a class=\"edit\" href=\"{}/edit/{}/{}\" aria-label=\"config of {}\">"
                       "config</a>",
                       route, kind, escape_html(encode_segment(name)), escape_html(name));
  };
  auto count_cells = [](std::string_view of, const Counts& c) {
    return fmt::format(
        "<td class=\"count\" data-count=\"{0}:in\">{1}</td><td class=\"count\" "
        "data-count=\"{0}:out\">{2}</td>",
        escape_html(of), c.in, c.out);
  };
  auto counts_of = [](const std::map<std::string, Counts, std::less<>>& of,
                      const std::string& name) {
    auto it = of.find(name);
    return it == of.end() ? Counts{} : it->second;
  };
  std::string body = fmt::format(
      "<header><h1>immp admin</h1><span id=\"live\" class=\"live\" role=\"status\" "
      "data-live=\"no\">connecting…</span><form method=\"post\" action=\"{}/logout\">{}<button "
      "type=\"submit\" id=\"logout\">Log out</button></form></header>\n<main>\n",
      route, hidden_csrf(csrf));
  if (!notice.empty()) {
    body +=
        "<p class=\"notice\" role=\"status\">" + escape_html(redactor_.redact(notice)) + "</p>\n";
  }

  std::map<std::string, std::size_t> channel_count;
  for (const auto& [name, channel] : host().channels()) {
    if (channel.handle) ++channel_count[channel.handle->name()];
  }
  body +=
      "<section><h2>Plugs</h2>\n<table id=\"plugs\"><thead><tr><th>Name</th><th>Network</th>"
      "<th>State</th><th>Link</th><th>Channels</th><th title=\"messages received (per second "
      "now)\">In</th><th title=\"messages sent (per second now)\">Out</th><th></th></tr></thead>"
      "<tbody>\n";
  for (Plug* p : host().plugs()) {
    std::string actions;
    for (auto a : actions_for(p->state())) actions += action_form("plug", p->name(), a);
    if (can_edit(ConfigEditor::Kind::plug, p->name())) actions += edit_link("plug", p->name());
    body += fmt::format(
        "<tr data-name=\"{0}\"><td>{0}</td><td>{1}</td><td class=\"state\" "
        "data-of=\"plug:{0}\" data-state=\"{2}\">{2}</td><td class=\"link\" "
        "data-of=\"plug:{0}\">{3}</td><td>{4}</td>{6}<td class=\"actions\">{5}</td></tr>\n",
        escape_html(p->name()), escape_html(p->network_name()), state_name(p->state()),
        p->state() != State::active && p->state() != State::starting ? "—"
        : p->online()                                                ? "online"
                                                                     : "offline",
        channel_count[p->name()], actions,
        count_cells("plug:" + p->name(), counts_of(plug_counts_, p->name())));
  }
  body += "</tbody></table></section>\n";

  body +=
      "<section><h2>Hooks</h2>\n<table id=\"hooks\"><thead><tr><th>Name</th><th>State</th>"
      "<th>Priority</th><th></th></tr></thead><tbody>\n";
  for (Hook* h : host().hooks()) {
    std::string actions;
    if (h == this || h == web_) {
      actions = "<span class=\"muted\">serves this page</span>";
    } else {
      for (auto a : actions_for(h->state())) actions += action_form("hook", h->name(), a);
      if (can_edit(ConfigEditor::Kind::hook, h->name())) actions += edit_link("hook", h->name());
    }
    auto priority = host().priority(*h);
    body += fmt::format(
        "<tr data-name=\"{0}\"><td>{0}</td><td class=\"state\" data-of=\"hook:{0}\" "
        "data-state=\"{1}\">{1}</td><td>{2}</td><td class=\"actions\">{3}</td></tr>\n",
        escape_html(h->name()), state_name(h->state()),
        priority ? std::to_string(*priority) : std::string("—"), actions);
  }
  body += "</tbody></table>\n";
  if (config_editor()) {
    body += "<p><a id=\"add\" href=\"" + route +
            "/add\">Add a plug or hook</a> <span class=\"muted\">(its config is checked, then "
            "it starts)</span></p>\n";
  }
  body += "</section>\n";

  body +=
      "<section><h2>Channels</h2>\n<table id=\"channels\"><thead><tr><th>Name</th>"
      "<th>Plug</th><th>Source</th><th>In</th><th>Out</th><th title=\"messages waiting in its "
      "outbox\">Waiting</th><th title=\"messages its outbox dropped: over capacity, past the "
      "expiry, or refused by the network\">Dropped</th><th></th></tr></thead><tbody>\n";
  for (const auto& [name, channel] : host().channels()) {
    body += fmt::format(
        "<tr data-name=\"{0}\"><td>{0}</td><td>{1}</td><td>{2}</td>{6}<td class=\"count\" "
        "data-waiting=\"{0}\">{7}</td><td class=\"count\" data-dropped=\"{0}\">{8}</td>"
        "<td class=\"actions\">"
        "<form method=\"post\" action=\"{3}/channel/{4}/remove\">{5}<button type=\"submit\" "
        "class=\"remove\" aria-label=\"remove {0}\">remove</button></form></td></tr>\n",
        escape_html(name), escape_html(channel.handle ? channel.handle->name() : "?"),
        escape_html(channel.source), route, escape_html(encode_segment(name)), hidden_csrf(csrf),
        count_cells("channel:" + name, counts_of(channel_counts_, name)),
        detail::outbox_depth(host(), channel), detail::outbox_drops(host(), channel));
  }
  std::string plug_options;
  for (Plug* p : host().plugs()) {
    plug_options += "<option>" + escape_html(p->name()) + "</option>";
  }
  body += "</tbody></table>\n<form method=\"post\" action=\"" + route +
          "/channel\" class=\"inline\" id=\"add-channel\">" + hidden_csrf(csrf) +
          "<label>Name <input name=\"name\" required></label><label>Plug <select name=\"plug\">" +
          plug_options +
          "</select></label><label>Source <input name=\"source\" required></label><button "
          "type=\"submit\">Add channel</button></form></section>\n";

  if (operators::OperatorsHook* ops = operators_hook()) {
    body +=
        "<section><h2>Operators</h2>\n<table id=\"operators\"><thead><tr><th>Name</th>"
        "<th>State</th><th>Process</th><th>Restarts</th><th title=\"messages waiting for it "
        "(dropped when its queue overflowed)\">Queue</th><th>Status</th><th></th></tr></thead>"
        "<tbody>\n";
    for (const operators::OperatorStatus& o : ops->status()) {
      std::string actions;
      for (auto a : operator_actions(o.phase, o.halted))
        actions += action_form("operator", o.name, a);
      std::string state(operators::phase_name(o.phase));
      if (o.halted) state += ", halted";
      body += fmt::format(
          "<tr data-name=\"{0}\"><td>{0}</td><td class=\"state\" data-of=\"operator:{0}\" "
          "data-state=\"{1}\">{2}</td><td>{3}</td><td>{4}</td><td>{5} ({6} dropped)</td>"
          "<td>{7}</td><td class=\"actions\">{8}</td></tr>\n",
          escape_html(o.name), operators::phase_name(o.phase), state,
          o.pid ? std::to_string(o.pid) : std::string("—"), o.restarts, o.queued, o.dropped,
          escape_html(redactor_.redact(o.status)), actions);
    }
    body += "</tbody></table></section>\n";
  }

  auto out = host().outbox_stats();
  auto hooks = host().hook_stats();
  body += fmt::format(
      "<section><h2>Delivery</h2>\n<dl class=\"stats\" id=\"delivery\"><dt>waiting in "
      "outboxes</dt><dd data-delivery=\"pending\">{}</dd><dt>delivered</dt><dd "
      "data-delivery=\"delivered\">{}</dd><dt>retried</dt><dd data-delivery=\"retried\">{}</dd>"
      "<dt>dropped: failed</dt><dd data-delivery=\"failed\">{}</dd><dt>dropped: expired</dt><dd "
      "data-delivery=\"expired\">{}</dd><dt>dropped: outbox full</dt><dd "
      "data-delivery=\"overflowed\">{}</dd><dt>hook stages timed out</dt><dd "
      "data-delivery=\"timed_out\">{}</dd><dt>messages hooks fell behind on</dt><dd "
      "data-delivery=\"dropped\">{}</dd></dl></section>\n",
      out.pending, out.delivered, out.retried, out.failed, out.expired, out.overflowed,
      hooks.timed_out, hooks.dropped);

  body +=
      "<section><h2>Recent changes</h2>\n<table id=\"events\"><thead><tr><th>Time (UTC)</th>"
      "<th>What</th><th>State</th><th>Why</th></tr></thead><tbody>\n";
  for (auto it = events_.rbegin(); it != events_.rend(); ++it) {
    body += fmt::format("<tr><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td></tr>\n",
                        clock_time(it->at), it->kind, escape_html(it->name), escape_html(it->state),
                        escape_html(redactor_.redact(it->reason)));
  }
  body +=
      "</tbody></table></section>\n<section><h2>Log</h2>\n<p class=\"muted\">The latest "
      "records, live (times in UTC; secrets from configs are shown as [hidden]).</p>\n<ol "
      "id=\"log\" class=\"log\"></ol></section>\n</main>\n<script src=\"" +
      route + "/admin.js\"></script>\n";
  return page(200, "Overview", std::move(body));
}

std::string WebUIHook::state_json() const {
  boost::json::array plugs, hooks;
  for (Plug* p : host().plugs()) {
    plugs.push_back(boost::json::object{
        {"name", p->name()}, {"state", state_name(p->state())}, {"online", p->online()}});
  }
  for (Hook* h : host().hooks()) {
    hooks.push_back(boost::json::object{{"name", h->name()}, {"state", state_name(h->state())}});
  }
  return boost::json::serialize(boost::json::object{
      {"plugs", std::move(plugs)}, {"hooks", std::move(hooks)}, {"events", events_.size()}});
}

Task<Response> WebUIHook::get_state(Request& r) {
  if (!session_of(r)) co_return Response::error(401, "log in first");
  Response res = Response::json(200, state_json());
  res.headers.emplace_back("Cache-Control", "no-store");
  co_return res;
}

// ---- live --------------------------------------------------------------------

std::string WebUIHook::snapshot_json() const {
  namespace json = boost::json;
  std::map<std::string, std::size_t> channel_count;
  for (const auto& [name, channel] : host().channels()) {
    if (channel.handle) ++channel_count[channel.handle->name()];
  }
  json::array plugs, hooks, channels, events;
  for (Plug* p : host().plugs()) {
    plugs.push_back(json::object{{"name", p->name()},
                                 {"network", p->network_name()},
                                 {"state", state_name(p->state())},
                                 {"online", p->online()},
                                 {"channels", channel_count[p->name()]},
                                 {"editable", can_edit(ConfigEditor::Kind::plug, p->name())}});
  }
  for (Hook* h : host().hooks()) {
    auto priority = host().priority(*h);
    json::object o{
        {"name", h->name()},
        {"state", state_name(h->state())},
        {"fixed", h == this || h == web_},
        {"editable", can_edit(ConfigEditor::Kind::hook, h->name())}};
    o["priority"] = priority ? json::value(*priority) : json::value(nullptr);
    hooks.push_back(std::move(o));
  }
  for (const auto& [name, channel] : host().channels()) {
    channels.push_back(json::object{{"name", name},
                                    {"plug", channel.handle ? channel.handle->name() : "?"},
                                    {"source", channel.source}});
  }
  for (auto it = events_.rbegin(); it != events_.rend(); ++it) {
    events.push_back(json::object{{"time", clock_time(it->at)},
                                  {"kind", it->kind},
                                  {"name", it->name},
                                  {"state", it->state},
                                  {"reason", redactor_.redact(it->reason)}});
  }
  json::object out{{"plugs", std::move(plugs)},
                   {"hooks", std::move(hooks)},
                   {"channels", std::move(channels)},
                   {"events", std::move(events)}};
  if (operators::OperatorsHook* ops = operators_hook()) {
    json::array list;
    for (const operators::OperatorStatus& o : ops->status()) {
      list.push_back(json::object{{"name", o.name},
                                  {"phase", operators::phase_name(o.phase)},
                                  {"pid", o.pid},
                                  {"restarts", o.restarts},
                                  {"queued", o.queued},
                                  {"dropped", o.dropped},
                                  {"halted", o.halted},
                                  {"connected", o.connected},
                                  {"status", redactor_.redact(o.status)}});
    }
    out["operators"] = std::move(list);
  }
  return json::serialize(out);
}

std::string WebUIHook::counts_json() const {
  namespace json = boost::json;
  auto counts = [](const std::map<std::string, Counts, std::less<>>& of) {
    json::object o;
    for (const auto& [name, c] : of) o[name] = json::object{{"in", c.in}, {"out", c.out}};
    return o;
  };
  // Per named channel: what waits in its outbox now (a network that is
  // down or slow shows here first).
  json::object waiting;
  json::object dropped;
  for (const auto& [name, channel] : host().channels()) {
    waiting[name] = detail::outbox_depth(host(), channel);
    dropped[name] = detail::outbox_drops(host(), channel);
  }
  auto out = host().outbox_stats();
  auto hooks = host().hook_stats();
  return json::serialize(
      json::object{{"at", std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now().time_since_epoch())
                              .count()},
                   {"plugs", counts(plug_counts_)},
                   {"channels", counts(channel_counts_)},
                   {"waiting", waiting},
                   {"dropped", dropped},
                   {"delivery", json::object{{"pending", out.pending},
                                             {"delivered", out.delivered},
                                             {"retried", out.retried},
                                             {"failed", out.failed},
                                             {"expired", out.expired},
                                             {"overflowed", out.overflowed},
                                             {"timed_out", hooks.timed_out},
                                             {"dropped", hooks.dropped}}}});
}

std::string WebUIHook::log_events(std::uint64_t& seq) const {
  std::string out;
  for (const LogTail::Record& r : tail_->since(seq)) {
    seq = r.seq;
    out +=
        sse("log", boost::json::serialize(boost::json::object{{"seq", r.seq},
                                                              {"time", clock_time(r.at)},
                                                              {"level", r.level},
                                                              {"logger", r.logger},
                                                              {"text", redactor_.redact(r.text)}}));
  }
  return out;
}

Task<Response> WebUIHook::get_events(Request& r) {
  if (!session_of(r)) co_return Response::error(401, "log in first");
  Response res;
  res.content_type = "text/event-stream";
  res.headers.emplace_back("Cache-Control", "no-store");
  res.headers.emplace_back("X-Accel-Buffering", "no");
  res.stream = [live = live_, id = cookie_value(r, kCookie)](web::EventStream& out) {
    return stream_events(live, id, out);
  };
  co_return res;
}

Task<> WebUIHook::stream_events(std::shared_ptr<Live> live, std::string session_id,
                                web::EventStream& out) {
  using Steady = std::chrono::steady_clock;
  std::uint64_t generation = live->generation - 1;  // the first round sends the state
  std::uint64_t log_seq = 0;
  Steady::time_point next_counts = Steady::now();
  asio::steady_timer timer(co_await asio::this_coro::executor);
  // Counted, and off the wake-up list, however this coroutine ends.
  struct Waiting {
    Live& live;
    std::optional<std::list<asio::steady_timer*>::iterator> at;
    ~Waiting() {
      if (at) live.waiting.erase(*at);
      --live.pages;
    }
  } waiting{*live, std::nullopt};
  ++live->pages;
  for (;;) {
    WebUIHook* hook = live->hook;
    if (!hook) co_return;
    if (!hook->sessions_.find(session_id)) {
      // Logged out, or the session expired: the page goes to the login.
      std::string bye = sse("logout", "{}");
      co_await out.write(bye);
      co_return;
    }
    std::string batch;
    if (generation != live->generation) {
      generation = live->generation;
      batch += sse("state", hook->snapshot_json());
    }
    batch += hook->log_events(log_seq);
    if (Steady::now() >= next_counts) {
      batch += sse("counts", hook->counts_json());
      next_counts = Steady::now() + kTick;
    }
    if (!batch.empty()) {
      bool sent = co_await out.write(batch);
      if (!sent) co_return;
      continue;  // things may have changed while it was written
    }
    timer.expires_at(next_counts);
    waiting.at = live->waiting.insert(live->waiting.end(), &timer);
    auto wait = timer.async_wait(asio::as_tuple(asio::use_awaitable));
    co_await std::move(wait);
    live->waiting.erase(*waiting.at);
    waiting.at.reset();
    auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
    if (cancelled != asio::cancellation_type::none) co_return;
  }
}

// ---- changes -----------------------------------------------------------------

Task<Response> WebUIHook::post_action(Request& r, bool plug) {
  auto form = parse_form(r.body);
  Sessions::Session* session = nullptr;
  if (auto refused = refuse_change(r, form, session)) co_return std::move(*refused);
  const std::string name = r.params.at("name");
  const std::string action = r.params.at("action");
  std::string kind = plug ? "plug" : "hook";
  Openable* target = nullptr;
  if (plug) {
    target = host().plug(name);
  } else {
    target = host().hook(name);
  }
  if (!target) co_return Response::text(404, "no " + kind + " '" + name + "'");
  if (target == this || target == web_) {
    co_return Response::text(
        400, "the " + kind + " '" + name + "' serves this page: change it in the config instead");
  }
  log()->info("admin at {}: {} {} '{}'", r.remote, action, kind, name);
  std::string notice;
  try {
    if (action == "start" || action == "enable") {
      co_await host().start(name);
    } else if (action == "stop") {
      co_await host().stop(name);
    } else if (action == "disable") {
      co_await host().stop(name, true);
    } else if (action == "restart") {
      co_await host().restart(name);
    } else {
      co_return Response::text(
          404, "no action '" + action + "' (start, stop, restart, enable, disable)");
    }
    // Looked up again: the host may have replaced the instance meanwhile.
    Openable* now = plug ? static_cast<Openable*>(host().plug(name))
                         : static_cast<Openable*>(host().hook(name));
    notice = fmt::format("{} {}: {}", kind, name, now ? state_name(now->state()) : "gone");
  } catch (const std::exception& e) {
    notice = fmt::format("could not {} {} {}: {}", action, kind, name, e.what());
    log()->warn("{}", notice);
  }
  // Found again: the session may have ended while the host worked.
  if (Sessions::Session* s = session_of(r)) s->notice = notice;
  co_return redirect(route_);
}

Task<Response> WebUIHook::post_channel_add(Request& r) {
  auto form = parse_form(r.body);
  Sessions::Session* session = nullptr;
  if (auto refused = refuse_change(r, form, session)) co_return std::move(*refused);
  const std::string& name = form["name"];
  const std::string& plug_name = form["plug"];
  const std::string& source = form["source"];
  Plug* plug = host().plug(plug_name);
  if (name.empty() || source.empty()) {
    session->notice = "a channel needs a name and a source";
  } else if (host().channel(name)) {
    session->notice = "there is a channel '" + name + "' already";
  } else if (!plug) {
    session->notice = "no plug '" + plug_name + "'";
  } else {
    host().add_channel(name, plug->channel(source));
    ++live_->generation;
    live_->wake();
    log()->info("admin at {}: added channel '{}' ({} {})", r.remote, name, plug_name, source);
    session->notice = "channel " + name + " added";
  }
  co_return redirect(route_);
}

Task<Response> WebUIHook::post_operator(Request& r) {
  auto form = parse_form(r.body);
  Sessions::Session* session = nullptr;
  if (auto refused = refuse_change(r, form, session)) co_return std::move(*refused);
  const std::string name = r.params.at("name");
  const std::string action = r.params.at("action");
  operators::OperatorsHook* ops = operators_hook();
  if (!ops || !ops->status(name)) co_return Response::text(404, "no operator '" + name + "'");
  if (action != "halt" && action != "resume" && action != "restart" && action != "stop" &&
      action != "start") {
    co_return Response::text(404,
                             "no action '" + action + "' (halt, resume, restart, stop, start)");
  }
  log()->info("admin at {}: {} operator '{}'", r.remote, action, name);
  auto done = ops->control(name, action);
  std::optional<std::string> error = co_await std::move(done);
  std::string notice;
  if (error) {
    notice = fmt::format("could not {} operator {}: {}", action, name, *error);
  } else {
    auto now = operators_hook() ? operators_hook()->status(name) : std::nullopt;
    notice = fmt::format("operator {}: {}{}", name,
                         now ? operators::phase_name(now->phase) : std::string_view("gone"),
                         now && now->halted ? ", halted" : "");
  }
  ++live_->generation;
  live_->wake();
  if (Sessions::Session* s = session_of(r)) s->notice = notice;
  co_return redirect(route_);
}

Task<Response> WebUIHook::post_channel_remove(Request& r) {
  auto form = parse_form(r.body);
  Sessions::Session* session = nullptr;
  if (auto refused = refuse_change(r, form, session)) co_return std::move(*refused);
  const std::string name = r.params.at("name");
  if (!host().channel(name)) co_return Response::text(404, "no channel '" + name + "'");
  host().remove_channel(name);
  ++live_->generation;
  live_->wake();
  log()->info("admin at {}: removed channel '{}'", r.remote, name);
  session->notice = "channel " + name + " removed";
  co_return redirect(route_);
}

// ---- configs -----------------------------------------------------------------

namespace {

// The file name that marks of a posted form carry: their lines are the
// form's lines.
constexpr std::string_view kFormFile = "the form";

std::optional<ConfigEditor::Kind> kind_of(std::string_view kind) {
  if (kind == "plug") return ConfigEditor::Kind::plug;
  if (kind == "hook") return ConfigEditor::Kind::hook;
  return std::nullopt;
}

std::string_view kind_name(ConfigEditor::Kind kind) {
  return kind == ConfigEditor::Kind::plug ? "plug" : "hook";
}

std::string_view section_of(ConfigEditor::Kind kind) {
  return kind == ConfigEditor::Kind::plug ? "plugs" : "hooks";
}

// A config as the form shows it: YAML, nothing for an empty one.
std::string form_text(const Node& config) {
  if (config.is_null() || (config.is_map() && config.size() == 0)) return "";
  return dump_config(config, ConfigFormat::yaml);
}

}  // namespace

ConfigEditor* WebUIHook::config_editor() const {
  for (Hook* h : host().hooks()) {
    if (auto* editor = dynamic_cast<ConfigEditor*>(h); editor && editor->editable()) return editor;
  }
  return nullptr;
}

bool WebUIHook::can_edit(ConfigEditor::Kind kind, const std::string& name) const {
  ConfigEditor* editor = config_editor();
  if (!editor) return false;
  if (kind == ConfigEditor::Kind::hook) {
    const Hook* h = host().hook(name);
    if (h == this || h == web_) return false;
  }
  return editor->entry(kind, name).has_value();
}

std::optional<WebUIHook::EditTarget> WebUIHook::edit_target(const web::Request& r) const {
  auto kind = kind_of(r.params.at("kind"));
  std::string name = r.params.at("name");
  ConfigEditor* editor = config_editor();
  if (!kind || !editor || !can_edit(*kind, name)) return std::nullopt;
  auto entry = editor->entry(*kind, name);
  if (!entry) return std::nullopt;
  return EditTarget{*kind, std::move(name), editor, std::move(*entry)};
}

Node WebUIHook::read_form_config(const std::string& text, const std::string& where,
                                 const Node& stored) {
  Node config = parse_config(text, ConfigFormat::yaml, std::string(kFormFile));
  config.set_path(where);
  if (config.is_null()) config = Node::map(), config.set_path(where);
  if (!config.is_map()) {
    config.fail(fmt::format("expected a map of keys, got {}", Node::kind_name(config.kind())));
  }
  config.repath();
  config = unmask_secrets(std::move(config), stored);
  if (const Node* hidden = find_hidden(config)) {
    hidden->fail(
        "[hidden] stands for a secret kept from before, and there is none here: type the value");
  }
  return config;
}

Task<WebUIHook::Outcome> WebUIHook::apply_form(ConfigEditor& editor, ConfigEditor::Kind kind,
                                               std::string name, std::string path,
                                               const std::string& text, const Node& stored,
                                               std::string remote) {
  Outcome outcome;
  const bool adding = !editor.entry(kind, name);
  const std::string where = fmt::format("{}.{}.config", section_of(kind), name);
  try {
    Node config = read_form_config(text, where, stored);
    auto put = editor.put(kind, name, std::move(path), std::move(config));
    ConfigWarnings warnings = co_await std::move(put);
    const Openable* now = kind == ConfigEditor::Kind::plug
                              ? static_cast<const Openable*>(host().plug(name))
                              : static_cast<const Openable*>(host().hook(name));
    outcome.notice = fmt::format("{} {}: {} ({}); {}", kind_name(kind), name,
                                 adding ? "added" : "config applied",
                                 now ? state_name(now->state()) : "gone",
                                 editor.saves() ? "saved in the config file"
                                                : "until immp stops (it runs without -w)");
    for (const ConfigWarning& w : warnings) {
      outcome.notice += fmt::format("; warning: {}: {}", w.path, w.problem);
    }
    log()->info("admin at {}: {} {} '{}'", remote, adding ? "added" : "changed the config of",
                kind_name(kind), name);
  } catch (const ConfigError& e) {
    outcome.error = e.problem();
    outcome.error_path = e.path();
    if (e.mark().file && *e.mark().file == kFormFile) outcome.line = e.mark().line;
  } catch (const std::exception& e) {
    outcome.error = e.what();
  }
  if (!outcome.error.empty()) {
    log()->info("admin at {}: {} {} '{}' refused: {}{}", remote, adding ? "adding" : "editing",
                kind_name(kind), name, outcome.error_path.empty() ? "" : outcome.error_path + ": ",
                redactor_.redact(outcome.error));
  }
  co_return outcome;
}

namespace {

// The problem beside a form: what, where (key path, form line).
std::string error_block(const std::string& error, const std::string& path, int line) {
  std::string where;
  if (!path.empty()) where += "<code class=\"path\">" + escape_html(path) + "</code>";
  if (line > 0) where += fmt::format(" (line {})", line);
  return fmt::format(
      "<div class=\"error\" role=\"alert\" id=\"config-error\" data-line=\"{}\"><strong>Not "
      "applied:</strong> {}{}{}</div>\n",
      line, where, where.empty() ? "" : ": ", escape_html(error));
}

std::string textarea(const std::string& text, bool error) {
  std::size_t lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 3;
  return fmt::format(
      "<label><span>Config (YAML: the <code>config</code> section of the entry)</span><textarea "
      "name=\"config\" "
      "id=\"config\" rows=\"{}\" spellcheck=\"false\" autocapitalize=\"off\"{}>{}</textarea>"
      "</label>\n<p class=\"muted\">Secrets are shown as <code>[hidden]</code>: leave one so to "
      "keep it, or type a new value.</p>\n",
      std::clamp<std::size_t>(lines, 8, 40), error ? " aria-describedby=\"config-error\"" : "",
      escape_html(text));
}

}  // namespace

Response WebUIHook::edit_page(int status, const std::string& csrf, ConfigEditor::Kind kind,
                              const std::string& name, const std::string& path,
                              const std::string& text, const Outcome& outcome) const {
  const std::string route = escape_html(route_);
  ConfigEditor* editor = config_editor();
  std::string body = fmt::format(
      "<header><h1>immp admin</h1><a href=\"{0}\" class=\"back\">back to the overview</a>"
      "</header>\n<main>\n<h2>{1} {2}</h2>\n<p class=\"muted\">class <code>{3}</code>; "
      "{4}</p>\n",
      route, kind_name(kind), escape_html(name), escape_html(path),
      editor && editor->saves() ? "a change is checked, applied at once (the " +
                                      std::string(kind_name(kind)) +
                                      " restarts) and saved in the config file"
                                : "a change is checked and applied at once (the " +
                                      std::string(kind_name(kind)) +
                                      " restarts); immp runs without -w, so it lasts until immp "
                                      "stops");
  if (!outcome.error.empty()) {
    body += error_block(redactor_.redact(outcome.error), outcome.error_path, outcome.line);
  }
  body += fmt::format("<form method=\"post\" action=\"{}/edit/{}/{}\" class=\"config\" "
                      "id=\"config-form\">{}\n",
                      route, kind_name(kind), escape_html(encode_segment(name)),
                      hidden_csrf(csrf));
  body += textarea(text, !outcome.error.empty());
  body += "<p><button type=\"submit\" id=\"apply\">Check and apply</button> <a href=\"" + route +
          "\">Cancel</a></p>\n</form>\n</main>\n";
  return page(status, fmt::format("{} {}", kind_name(kind), name), std::move(body));
}

Response WebUIHook::add_page(int status, const std::string& csrf, const ConfigEditor& editor,
                             const std::map<std::string, std::string>& form,
                             const Outcome& outcome) const {
  const std::string route = escape_html(route_);
  auto value = [&](const char* key) {
    auto it = form.find(key);
    return it == form.end() ? std::string() : it->second;
  };
  std::string body = fmt::format(
      "<header><h1>immp admin</h1><a href=\"{0}\" class=\"back\">back to the overview</a>"
      "</header>\n<main>\n<h2>Add a plug or hook</h2>\n<p class=\"muted\">It is checked as the "
      "config file would be, then started; {1}.</p>\n",
      route,
      editor.saves() ? "it is saved in the config file"
                     : "immp runs without -w, so it lasts until immp stops");
  if (!outcome.error.empty()) {
    body += error_block(redactor_.redact(outcome.error), outcome.error_path, outcome.line);
  }
  std::string options;
  for (auto kind : {ConfigEditor::Kind::plug, ConfigEditor::Kind::hook}) {
    for (const std::string& path : editor.classes(kind)) {
      options += "<option value=\"" + escape_html(path) + "\">";
    }
  }
  std::string kind = value("kind");
  body += fmt::format(
      "<form method=\"post\" action=\"{}/add\" class=\"config\" id=\"add-form\">{}\n"
      "<label>Kind <select name=\"kind\" id=\"kind\"><option{}>plug</option><option{}>hook"
      "</option></select></label>\n<label>Name <input name=\"name\" id=\"name\" required "
      "pattern=\"[A-Za-z0-9_\\-]+\" value=\"{}\"></label>\n<label>Class <input name=\"path\" "
      "id=\"path\" required list=\"classes\" placeholder=\"immp.plug.irc.IRCPlug\" "
      "value=\"{}\"></label>\n<datalist id=\"classes\">{}</datalist>\n",
      route, hidden_csrf(csrf), kind == "hook" ? "" : " selected",
      kind == "hook" ? " selected" : "", escape_html(value("name")), escape_html(value("path")),
      options);
  body += textarea(redactor_.redact(value("config")), !outcome.error.empty());
  body += "<p><button type=\"submit\" id=\"apply\">Check and add</button> <a href=\"" + route +
          "\">Cancel</a></p>\n</form>\n</main>\n";
  return page(status, "Add a plug or hook", std::move(body));
}

Task<Response> WebUIHook::get_edit(Request& r) {
  if (!setup_token_.empty()) co_return redirect(route_ + "/setup");
  Sessions::Session* session = session_of(r);
  if (!session) co_return redirect(route_ + "/login");
  auto target = edit_target(r);
  if (!target) co_return Response::text(404, "no config to edit for '" + r.params.at("name") + "' here");
  co_return edit_page(200, session->csrf, target->kind, target->name, target->entry.path,
                      form_text(mask_secrets(target->entry.config)), Outcome{});
}

Task<Response> WebUIHook::post_edit(Request& r) {
  auto form = parse_form(r.body);
  Sessions::Session* session = nullptr;
  if (auto refused = refuse_change(r, form, session)) co_return std::move(*refused);
  auto target = edit_target(r);
  if (!target) co_return Response::text(404, "no config to edit for '" + r.params.at("name") + "' here");
  const ConfigEditor::Kind kind = target->kind;
  const std::string& name = target->name;
  const std::string text = form["config"];
  // Made first, then awaited: no temporary inside the co_await (GCC 12).
  auto apply = apply_form(*target->editor, kind, name, target->entry.path, text, target->entry.config,
                          r.remote);
  Outcome outcome = co_await std::move(apply);
  Sessions::Session* now = session_of(r);  // the session may have ended meanwhile
  if (!outcome.error.empty()) {
    if (!now) co_return redirect(route_ + "/login");
    // What was typed, to fix it; no stored secret goes back with it.
    co_return edit_page(400, now->csrf, kind, name, target->entry.path, redactor_.redact(text), outcome);
  }
  if (now) now->notice = outcome.notice;
  co_return redirect(route_);
}

Task<Response> WebUIHook::get_add(Request& r) {
  if (!setup_token_.empty()) co_return redirect(route_ + "/setup");
  Sessions::Session* session = session_of(r);
  if (!session) co_return redirect(route_ + "/login");
  ConfigEditor* editor = config_editor();
  if (!editor) co_return Response::text(404, "plugs and hooks can be added only under the runner");
  co_return add_page(200, session->csrf, *editor, {}, Outcome{});
}

Task<Response> WebUIHook::post_add(Request& r) {
  auto form = parse_form(r.body);
  Sessions::Session* session = nullptr;
  if (auto refused = refuse_change(r, form, session)) co_return std::move(*refused);
  ConfigEditor* editor = config_editor();
  if (!editor) co_return Response::text(404, "plugs and hooks can be added only under the runner");
  auto kind = kind_of(form["kind"]);
  const std::string name = form["name"];
  Outcome outcome;
  if (!kind) {
    outcome.error = "choose plug or hook";
  } else if (name.empty()) {
    outcome.error = "a new plug or hook needs a name";
  } else if (form["path"].empty()) {
    outcome.error = "a new plug or hook needs a class, such as immp.plug.irc.IRCPlug";
  } else if (editor->entry(*kind, name) || host().plug(name) || host().hook(name)) {
    outcome.error = fmt::format("the name '{}' is taken: edit that one instead", name);
    outcome.error_path = fmt::format("{}.{}", section_of(*kind), name);
  } else {
    const Node nothing_stored = Node::map();
    auto apply = apply_form(*editor, *kind, name, form["path"], form["config"], nothing_stored,
                            r.remote);
    outcome = co_await std::move(apply);
  }
  Sessions::Session* now = session_of(r);
  if (!outcome.error.empty()) {
    if (!now) co_return redirect(route_ + "/login");
    ConfigEditor* still = config_editor();
    if (!still) co_return redirect(route_);
    co_return add_page(400, now->csrf, *still, form, outcome);
  }
  if (now) now->notice = outcome.notice;
  co_return redirect(route_);
}

}  // namespace immp::webui
