#include "plugs/github/github_plug.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/json.hpp>

#include "immp/host.hpp"

namespace immp::plugs {

namespace json = boost::json;

namespace {

// The string at `key` of an object value, or "".
std::string str_at(const json::value& v, std::string_view key) {
  const auto* o = v.if_object();
  if (!o) return {};
  const auto* x = o->if_contains(key);
  return x && x->is_string() ? std::string(x->as_string()) : std::string();
}

const json::value* at(const json::value& v, std::string_view key) {
  const auto* o = v.if_object();
  if (!o) return nullptr;
  const auto* x = o->if_contains(key);
  return x && !x->is_null() ? x : nullptr;
}

std::string number_at(const json::value& v, std::string_view key) {
  const auto* x = at(v, key);
  if (!x) return {};
  if (x->is_int64()) return std::to_string(x->as_int64());
  if (x->is_uint64()) return std::to_string(x->as_uint64());
  return {};
}

Segment plain(std::string text) {
  Segment s;
  s.text = std::move(text);
  return s;
}

Segment linked(std::string text, std::string link) {
  Segment s;
  s.text = std::move(text);
  s.link = std::move(link);
  return s;
}

// IMMP's wording for GitHub's action names.
std::string action_text(const std::string& action) {
  static const std::pair<std::string_view, std::string_view> kActions[] = {
      {"converted_to_draft", "drafted"},
      {"prereleased", "pre-released"},
      {"ready_for_review", "readied"},
      {"review_requested", "requested review of"},
      {"review_request_removed", "removed review request of"},
      {"synchronize", "updated"},
  };
  for (auto [from, to] : kActions) {
    if (action == from) return std::string(to);
  }
  return action;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

bool github_signature_ok(std::string_view secret, std::string_view body,
                         std::string_view signature) {
  constexpr std::string_view kPrefix = "sha256=";
  if (signature.substr(0, kPrefix.size()) != kPrefix) return false;
  std::string_view given = signature.substr(kPrefix.size());
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
            reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &n)) {
    return false;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string expected;
  for (unsigned int i = 0; i < n; ++i) {
    expected.push_back(kHex[mac[i] >> 4]);
    expected.push_back(kHex[mac[i] & 15]);
  }
  std::string lower(given);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // The length is no secret (always 64); the content is compared in
  // constant time.
  return lower.size() == expected.size() &&
         CRYPTO_memcmp(lower.data(), expected.data(), expected.size()) == 0;
}

std::optional<RichText> github_summary(std::string_view type, const json::value& event,
                                       const std::vector<std::string>& ignore) {
  const json::value* repo = at(event, "repository");
  if (!repo) return std::nullopt;
  std::string name = str_at(*repo, "full_name");
  Segment name_seg = linked(name, str_at(*repo, "html_url"));
  std::string raw_action = str_at(event, "action");
  if (!raw_action.empty() &&
      std::find(ignore.begin(), ignore.end(), raw_action) != ignore.end()) {
    return std::nullopt;
  }
  std::string action = action_text(raw_action);
  const json::value* issue = at(event, "issue");
  const json::value* pull = at(event, "pull_request");
  auto numbered = [&](const json::value& item) {
    return str_at(item, "title") + " (" + name + "#" + number_at(item, "number") + ")";
  };
  RichText text;
  if (type == "repository") {
    text.push(plain(action + " repository ")).push(name_seg);
  } else if (type == "push") {
    std::string ref = str_at(event, "ref");
    // refs/<root>/<target>
    std::size_t a = ref.find('/');
    std::size_t b = a == std::string::npos ? a : ref.find('/', a + 1);
    if (b == std::string::npos) return std::nullopt;
    std::string root = ref.substr(a + 1, b - a - 1);
    std::string target = ref.substr(b + 1);
    const json::value* commits = at(event, "commits");
    std::size_t count = commits && commits->is_array() ? commits->as_array().size() : 0;
    std::string desc = count > 1 ? std::to_string(count) + " commits"
                                 : str_at(event, "after").substr(0, 7);
    const json::value* created = at(event, "created");
    const json::value* deleted = at(event, "deleted");
    std::string join;
    if (deleted && deleted->is_bool() && deleted->as_bool()) {
      action = "deleted branch";
    } else if (created && created->is_bool() && created->as_bool()) {
      action = "created branch";
    } else if (root == "tags") {
      action = "tagged";
      join = "as";
    } else if (root == "heads") {
      action = "pushed";
      join = "to";
    } else {
      return std::nullopt;
    }
    text.push(plain(action + " "));
    if (!join.empty()) {
      text.push(linked(desc, str_at(event, "compare"))).push(plain(" " + join + " "));
    }
    text.push(plain(target + " of " + name));
    if (count) {
      for (const auto& c : commits->as_array()) {
        text.push(plain("\n\u2022 " + str_at(c, "id").substr(0, 7) + ": " +
                        first_line(str_at(c, "message"))));
      }
    }
  } else if (type == "release") {
    const json::value* release = at(event, "release");
    if (!release) return std::nullopt;
    std::string rel_name = str_at(*release, "name");
    std::string tag = str_at(*release, "tag_name");
    std::string desc = rel_name.empty() ? tag : rel_name + " (" + name + " " + tag + ")";
    text.push(plain(action + " release ")).push(linked(desc, str_at(*release, "html_url")));
  } else if (type == "issues") {
    if (!issue) return std::nullopt;
    text.push(plain(action + " issue ")).push(linked(numbered(*issue), str_at(*issue, "html_url")));
  } else if (type == "issue_comment") {
    const json::value* comment = at(event, "comment");
    if (!issue || !comment) return std::nullopt;
    text.push(plain(action + " a "))
        .push(linked("comment", str_at(*comment, "html_url")))
        .push(plain(" on issue "))
        .push(linked(numbered(*issue), str_at(*issue, "html_url")));
  } else if (type == "pull_request") {
    if (!pull) return std::nullopt;
    const json::value* merged = at(*pull, "merged");
    if (raw_action == "closed" && merged && merged->is_bool() && merged->as_bool()) {
      action = "merged";
    }
    text.push(plain(action + " pull request "))
        .push(linked(numbered(*pull), str_at(*pull, "html_url")));
  } else if (type == "pull_request_review" || type == "pull_request_review_comment") {
    bool review = type == "pull_request_review";
    const json::value* item = at(event, review ? "review" : "comment");
    if (!pull || !item) return std::nullopt;
    text.push(plain(action + " a "))
        .push(linked(review ? "review" : "comment", str_at(*item, "html_url")))
        .push(plain(" on pull request "))
        .push(linked(numbered(*pull), str_at(*pull, "html_url")));
  } else if (type == "project") {
    const json::value* project = at(event, "project");
    if (!project) return std::nullopt;
    std::string desc = str_at(*project, "name") + " (" + name + "#" +
                       number_at(*project, "number") + ")";
    text.push(plain(action + " project ")).push(linked(desc, str_at(*project, "html_url")));
  } else if (type == "project_card") {
    const json::value* card = at(event, "project_card");
    if (!card) return std::nullopt;
    text.push(plain(action + " "))
        .push(linked("card", str_at(*card, "html_url")))
        .push(plain(" in project:\n"))
        .push(plain(str_at(*card, "note")));
  } else if (type == "gollum") {
    const json::value* pages = at(event, "pages");
    if (!pages || !pages->is_array()) return std::nullopt;
    bool first = true;
    for (const auto& page : pages->as_array()) {
      if (!first) text.push(plain(", "));
      first = false;
      text.push(plain(str_at(page, "action") + " " + name + " wiki page "))
          .push(linked(str_at(page, "title"), str_at(page, "html_url")));
    }
  } else if (type == "fork") {
    const json::value* fork = at(event, "forkee");
    if (!fork) return std::nullopt;
    text.push(plain("forked " + name + " to "))
        .push(linked(str_at(*fork, "full_name"), str_at(*fork, "html_url")));
  } else if (type == "watch") {
    text.push(plain("starred ")).push(name_seg);
  } else if (type == "public") {
    text.push(plain("made ")).push(name_seg).push(plain(" public"));
  } else {
    return std::nullopt;
  }
  if (text.empty()) return std::nullopt;
  return text;
}

SpecPtr GitHubPlug::schema() {
  return object({
      {"route", str(), required, "the path GitHub posts to (the webhook's payload URL)"},
      {"secret", any(), Node(),
       "the webhook's secret: deliveries without its signature are refused"},
      {"ignore", list_of(str()), Node(NodeList{}), "actions not to report (e.g. labeled)"},
  });
}

GitHubPlug::GitHubPlug(const Init& init)
    : Plug(init), route_(config().at("route").as_string()) {
  if (route_.empty() || route_.front() != '/') config().at("route").fail("must start with '/'");
  if (const Node* s = config().find("secret"); s && !s->is_null()) {
    if (!s->is_string() || s->as_string().empty()) s->fail("expected a non-empty string");
    secret_ = s->as_string();
  }
  for (const Node& n : config().at("ignore").as_list()) ignore_.push_back(n.as_string());
}

Task<> GitHubPlug::start() {
  auto& web = host().resource<web::WebHook>(*this);
  web_route_ = web::Route(web, "POST", route_, [this](web::Request& r) { return receive(r); });
  if (!secret_) {
    log()->warn("no secret: anyone who finds {} can post as GitHub (set the webhook's secret)",
                route_);
  }
  co_return;
}

Task<> GitHubPlug::stop() {
  web_route_ = web::Route();
  co_return;
}

Task<PutResult> GitHubPlug::put(Posting&) {
  co_return PutResult::failed("GitHub webhooks only receive; nothing can be sent to GitHub");
}

Task<std::optional<std::string>> GitHubPlug::channel_title(const Channel& channel) {
  co_return channel.source;
}

Task<web::Response> GitHubPlug::receive(web::Request& r) { co_return receive_now(r); }

// Not a coroutine: nothing here waits (and GCC 12 misjudges big coroutine
// frames with -Wmismatched-new-delete).
web::Response GitHubPlug::receive_now(web::Request& r) {
  if (secret_) {
    const std::string* sig = r.header("X-Hub-Signature-256");
    if (!sig) {
      ++refused_;
      log()->warn("delivery from {} without X-Hub-Signature-256 refused (is the secret set on "
                  "the webhook?)",
                  r.remote);
      return web::Response::error(401, "signature missing");
    }
    if (!github_signature_ok(*secret_, r.body, *sig)) {
      ++refused_;
      log()->warn("delivery from {} with a bad signature refused", r.remote);
      return web::Response::error(401, "bad signature");
    }
  }
  const std::string* type = r.header("X-GitHub-Event");
  if (!type) return web::Response::error(400, "X-GitHub-Event missing");
  std::string id;
  if (const std::string* d = r.header("X-GitHub-Delivery")) id = *d;
  boost::system::error_code ec;
  json::value event = json::parse(r.body, ec);
  if (ec || !event.is_object()) {
    log()->warn("delivery {} is not JSON: set the webhook's content type to application/json",
                id);
    return web::Response::error(400, "the body must be JSON (content type application/json)");
  }
  if (*type == "ping") {
    std::string repo = at(event, "repository") ? str_at(*at(event, "repository"), "full_name") : "";
    std::string org =
        at(event, "organization") ? str_at(*at(event, "organization"), "login") : "";
    if (!repo.empty()) {
      log()->info("ping for repository {}", repo);
    } else if (!org.empty()) {
      log()->info("ping for organisation {}", org);
    } else {
      log()->warn("ping for an unknown target");
    }
    return web::Response::text(200, "pong");
  }
  auto text = github_summary(*type, event, ignore_);
  const json::value* sender = at(event, "sender");
  if (!text || !sender) {
    log()->debug("ignoring event {} ({})", *type, str_at(event, "action"));
    return web::Response::text(200, "ignored");
  }
  if (id.empty()) id = *type + ":" + std::to_string(Clock::now().time_since_epoch().count());
  // github_summary() gave a text, so there is a repository.
  std::string source = str_at(*at(event, "repository"), "full_name");
  auto user = std::make_shared<User>();
  user->id = number_at(*sender, "id");
  user->handle = handle();
  user->username = str_at(*sender, "login");
  user->avatar = str_at(*sender, "avatar_url");
  user->link = "https://github.com/" + user->username;
  Message msg;
  msg.text = std::move(*text);
  msg.user = std::move(user);
  msg.action = true;
  msg.raw = std::move(event);
  queue(std::make_shared<const SentMessage>(Receipt{id, channel(source), Clock::now(), {}, false},
                                            std::move(msg)));
  return web::Response::text(200, "ok");
}

}  // namespace immp::plugs
