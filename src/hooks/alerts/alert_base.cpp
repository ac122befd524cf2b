#include "hooks/alerts/alert_base.hpp"

#include <algorithm>

#include "hooks/sync/sync_hook.hpp"
#include "immp/host.hpp"
#include "immp/plug.hpp"

// GCC 12 at -O2 reports -Wmismatched-new-delete for the frames of large
// coroutines: they are allocated and freed by Asio's own
// awaitable_frame_base operator new/delete pair, so the warning is false.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace immp::hooks {

namespace {

Segment plain(std::string text) {
  Segment s;
  s.text = std::move(text);
  return s;
}
Segment italic(std::string text) {
  Segment s = plain(std::move(text));
  s.italic = true;
  return s;
}
Segment linked(std::string text, std::string link) {
  Segment s = plain(std::move(text));
  s.link = std::move(link);
  return s;
}

}  // namespace

AlertHookBase::AlertHookBase(const Init& init) : Hook(init) {
  for (const Node& g : config().at("groups").as_list()) groups_.push_back(g.as_text());
}

std::vector<Field> AlertHookBase::base_fields() {
  return {{"groups", list_of(str()), required, "groups whose plugs get alerts"}};
}

Task<> AlertHookBase::on_load() {
  const NodeList& nodes = config().at("groups").as_list();
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    if (!host().group(groups_[i])) nodes[i].fail("unknown group '" + groups_[i] + "'");
  }
  co_return;
}

bool AlertHookBase::serves(const PlugHandle* plug) const {
  if (!plug) return false;
  return std::any_of(groups_.begin(), groups_.end(), [&](const std::string& name) {
    const Group* g = host().group(name);
    return g && g->has_plug(plug);
  });
}

std::optional<Channel> AlertHookBase::synced(const Channel& channel) const {
  for (Plug* p : host().plugs()) {
    auto* sync_plug = dynamic_cast<SyncPlug*>(p);
    if (!sync_plug || !sync_plug->hook()) continue;
    SyncHook& sync = *sync_plug->hook();
    for (const std::string& label : sync.labels()) {
      const auto& members = sync.members(label);
      if (std::find(members.begin(), members.end(), channel) != members.end()) {
        return sync_plug->channel(label);
      }
    }
  }
  return std::nullopt;
}

Task<std::optional<AlertHookBase::Audience>> AlertHookBase::audience(const Received& r) {
  const SentMessage& sent = *r.sent;
  if (!r.primary || !r.source->text || r.source->text->empty()) co_return std::nullopt;
  Plug* plug = sent.channel.plug();
  if (!plug || dynamic_cast<SyncPlug*>(plug)) co_return std::nullopt;
  std::optional<bool> is_private = co_await plug->channel_is_private(sent.channel);
  if (is_private.value_or(false)) co_return std::nullopt;
  std::optional<std::vector<UserPtr>> members = co_await plug->channel_members(sent.channel);
  if (!members) co_return std::nullopt;
  Audience out;
  out.lookup = synced(sent.channel).value_or(sent.channel);
  for (UserPtr& u : *members) {
    if (u && serves(u->handle)) out.members.push_back(std::move(u));
  }
  if (out.members.empty()) co_return std::nullopt;
  co_return out;
}

Task<RichText> AlertHookBase::alert_text(const SentMessage& sent, const Message& source,
                                         RichText what, RichText anonymous) {
  RichText text;
  if (source.user) {
    Segment who;
    who.text = source.user->real_name.empty() ? source.user->username : source.user->real_name;
    if (who.text.empty()) who.text = source.user->id;
    who.bold = true;
    text.append(std::move(who));
    text.append(what);
  } else {
    text.append(anonymous);
  }
  Plug* plug = sent.channel.plug();
  std::optional<std::string> title;
  std::optional<std::string> link;
  if (plug) {
    title = co_await plug->channel_title(sent.channel);
    link = co_await plug->channel_link(sent.channel);
  }
  if (title && !title->empty()) {
    text.append(plain(" in "));
    text.append(italic(*title));
  }
  text.append(plain(":\n"));
  if (source.text) text.append(*source.text);
  if (source.user && !source.user->link.empty()) {
    text.append(plain("\n"));
    text.append(linked("Go to user", source.user->link));
  }
  if (link && !link->empty()) {
    text.append(plain("\n"));
    text.append(linked("Go to channel", *link));
  }
  co_return text;
}

Task<bool> AlertHookBase::alert(Plug& plug, const User& user, RichText text) {
  std::optional<Channel> dm = co_await plug.channel_for_user(user);
  if (!dm) {
    log()->debug("no private channel for {} on {}", user.display_name(), plug.name());
    co_return false;
  }
  auto msg = std::make_shared<Message>();
  msg->text = std::move(text);
  host().post(*dm, std::move(msg));
  co_return true;
}

}  // namespace immp::hooks
