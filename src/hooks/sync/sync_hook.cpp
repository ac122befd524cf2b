#include "hooks/sync/sync_hook.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "immp/hash.hpp"
#include "immp/host.hpp"
#include "store/database_hook.hpp"
#include "text/graphemes.hpp"

namespace immp::hooks {

namespace {

// At most `max_chars` characters of `text`, then "…" if there was more. Cut
// between grapheme clusters, so a quote never ends in half an emoji.
std::string utf8_prefix(std::string_view text, std::size_t max_chars) {
  return immp::unicode::truncate_graphemes(text, max_chars + 1);
}

Channel resolve_channel(const Host& host, const Node& name) {
  auto c = host.channel(name.as_string());
  if (!c) {
    std::vector<std::string> names;
    for (const auto& [n, ch] : host.channels()) names.push_back(n);
    std::string hint;
    if (auto near = nearest(name.as_string(), names)) hint = " (did you mean '" + *near + "'?)";
    name.fail("unknown channel '" + name.as_string() + "'" + hint);
  }
  return *c;
}

bool has_files(const Message& msg) {
  return std::any_of(msg.attachments.begin(), msg.attachments.end(),
                     [](const Attachment& a) { return std::holds_alternative<File>(a); });
}

std::string_view kind_name(File::Type type) {
  switch (type) {
    case File::Type::image: return "image";
    case File::Type::video: return "video";
    case File::Type::audio: return "audio";
    case File::Type::voice: return "voice message";
    case File::Type::sticker: return "sticker";
    case File::Type::unknown: break;
  }
  return "file";
}

// Files become lines of text after the message's own: the name linked to
// the file's URL, or, for a file only its network can serve, its kind and
// name (nobody elsewhere could open a link to it).
void files_as_links(Message& copy) {
  RichText text = copy.text.value_or(RichText());
  std::erase_if(copy.attachments, [&](const Attachment& a) {
    const File* f = std::get_if<File>(&a);
    if (!f) return false;
    if (!text.empty()) {
      Segment line_break;
      line_break.text = "\n";
      text.append(std::move(line_break));
    }
    Segment line;
    if (!f->url.empty()) {
      line.text = f->title.empty() ? f->url : f->title;
      line.link = f->url;
    } else {
      line.text =
          "[" + std::string(kind_name(f->type)) + (f->title.empty() ? "" : ": ") + f->title + "]";
      line.italic = true;
    }
    text.append(std::move(line));
    return true;
  });
  copy.text = std::move(text);
}

}  // namespace

// ---- Relay ----------------------------------------------------------------

Relay::Relay(const Init& init) : Hook(init), owner_("relay:" + init.name) {
  const Node& c = config();
  rules_.joins = c.at("joins").as_bool();
  rules_.renames = c.at("renames").as_bool();
  rules_.naming = naming_from(c);
  any_joins_ = rules_.joins;
  any_renames_ = rules_.renames;
  any_name_format_ = rules_.naming.name_format.has_value();
  if (const Node* plugs = c.find("plugs"); plugs && plugs->is_map()) {
    for (const auto& [plug_name, over] : plugs->as_map()) {
      if (!init.host.plug(plug_name)) {
        over.fail("unknown plug '" + plug_name + "'");
      }
      TargetRules rules = rules_;
      rules.naming = naming_from(over, &rules_.naming);
      if (const Node* j = over.find("joins"); j && !j->is_null()) rules.joins = j->as_bool();
      if (const Node* r = over.find("renames"); r && !r->is_null()) rules.renames = r->as_bool();
      any_joins_ = any_joins_ || rules.joins;
      any_name_format_ = any_name_format_ || rules.naming.name_format.has_value();
      any_renames_ = any_renames_ || rules.renames;
      plug_rules_.emplace(plug_name, std::move(rules));
    }
  }
  if (const Node* id = c.find("identities"); id && !id->is_null()) {
    identities_name_ = id->as_string();
  }
}

Task<> Relay::on_load() {
  if (identities_name_) {
    Hook* h = host().hook(*identities_name_);
    identities_ = dynamic_cast<IdentityProvider*>(h);
    if (!identities_) {
      config()
          .at("identities")
          .fail("'" + *identities_name_ + "' is not an identity provider hook");
    }
  }
  co_return;
}

const TargetRules& Relay::rules_for(const Plug* plug) const {
  if (plug && !plug_rules_.empty()) {
    auto it = plug_rules_.find(plug->name());
    if (it != plug_rules_.end()) return it->second;
  }
  return rules_;
}

Field Relay::plugs_field() {
  std::vector<Field> fields;
  for (Field f : naming_fields()) {
    f.fallback = Node();  // inherits
    fields.push_back(std::move(f));
  }
  fields.push_back(
      {"joins", boolean(), Node(), "relay joins and parts to this plug (default: joins)"});
  fields.push_back(
      {"renames", boolean(), Node(), "relay title changes to this plug (default: renames)"});
  return {"plugs", map_of(object(std::move(fields))), Node::map(),
          "per-plug overrides of the naming keys, joins and renames"};
}

bool Relay::skip(const Received& r) const {
  if (!r.primary || r.posted_by(owner_)) return true;
  const SentPtr& sent = r.sent;
  bool membership = !sent->joined.empty() || !sent->left.empty();
  bool rename = sent->title.has_value();
  if ((membership && !any_joins_) || (rename && !any_renames_)) {
    // A join or rename that also carries text still relays its text.
    return !sent->text;
  }
  return false;
}

Task<std::shared_ptr<Message>> Relay::copy_for(const SentPtr& sent, const Channel& target,
                                               const std::string& title) {
  std::optional<IdentityGroup> identity;
  if (identities_ && sent->user) identity = co_await identities_->identity_from_user(*sent->user);
  co_return copy_with(sent, target, title, identity);
}

std::shared_ptr<Message> Relay::copy_with(const SentPtr& sent, const Channel& target,
                                          const std::string& title,
                                          const std::optional<IdentityGroup>& identity) {
  auto copy = std::make_shared<Message>(static_cast<const Message&>(*sent));
  // Replies, threads and reactions name messages by the source network's
  // ids: the caller maps them to the target's (with_reply, with_thread,
  // relay_reaction) or leaves them out.
  copy->reply_to = nullptr;
  copy->thread.clear();
  copy->reaction.reset();
  const TargetRules& rules = rules_for(target.plug());
  copy->user = rename_author(sent->user, rules.naming, identity, title);
  bool membership = !sent->joined.empty() || !sent->left.empty();
  if (membership || sent->title) {
    if (membership && !rules.joins) {
      copy->joined.clear();
      copy->left.clear();
    }
    if (sent->title && !rules.renames) copy->title.reset();
    // Joins, parts and renames travel as text: the other side cannot make
    // our users join its room.
    std::string note;
    auto names = [](const std::vector<UserPtr>& users) {
      std::string out;
      for (const auto& u : users) out += (out.empty() ? "" : ", ") + u->display_name();
      return out;
    };
    if (!copy->joined.empty()) note += names(copy->joined) + " joined";
    if (!copy->left.empty()) note += (note.empty() ? "" : "; ") + names(copy->left) + " left";
    if (copy->title) {
      const std::string who = copy->user ? copy->user->display_name() : std::string("someone");
      note += (note.empty() ? "" : "; ") + who + " changed the title to " + *copy->title;
    }
    copy->joined.clear();
    copy->left.clear();
    copy->title.reset();
    if (note.empty() && !copy->text) return nullptr;
    if (!note.empty()) {
      Segment s;
      s.text = note;
      s.italic = true;
      RichText text;
      text.append(s);
      if (copy->text) {
        Segment line_break;
        line_break.text = "\n";
        text.append(line_break);
        text.append(*copy->text);
      }
      copy->text = std::move(text);
    }
  }
  // A network that cannot upload gets each file as a link.
  if (target.plug() && !target.plug()->features().upload && has_files(*copy)) {
    files_as_links(*copy);
  }
  return copy;
}

Task<> Relay::with_thread(Message& copy, const SentPtr& sent, const Channel& target) {
  if (sent->thread.empty() || !target.plug() || !target.plug()->features().thread) co_return;
  // Threads are named by their first message: the target's copy of it
  // names the thread there. A thread whose first message was never
  // bridged has no copy: the message goes to the main timeline.
  auto key = co_await refs_->key_for(sent->channel, sent->thread);
  if (!key) co_return;
  std::vector<Copy> copies = co_await refs_->copies(*key);
  for (const Copy& c : copies) {
    if (c.channel == target) {
      copy.thread = c.id;
      co_return;
    }
  }
}

Task<> Relay::relay_reaction(const SentPtr& sent) {
  const Reaction& reaction = *sent->reaction;
  if (!reaction.on) co_return;
  Channel where = reaction.on->channel.valid() ? reaction.on->channel : sent->channel;
  auto key = co_await refs_->key_for(where, reaction.on->id);
  if (!key) co_return;  // on a message never bridged: nothing to react to elsewhere
  std::vector<Copy> copies = co_await refs_->copies(*key);
  // A reaction adds no copy (see relay_change).
  auto unrecorded = std::make_shared<const Origin>(Origin{owner_, {}});
  for (const Copy& c : copies) {
    if (c.channel == sent->channel || !c.channel.plug()) continue;
    // Where reactions are not native they are dropped, not sent as text: a
    // line "alice reacted 👍" for every reaction buries the conversation.
    if (!c.channel.plug()->features().reaction) continue;
    std::string title = co_await title_for(sent, c.channel);
    auto copy = co_await copy_for(sent, c.channel, title);
    if (!copy) continue;
    copy->text.reset();
    auto on = std::make_shared<const SentMessage>(Receipt{c.id, c.channel, Clock::now(), {}, false},
                                                  Message{});
    copy->reaction = Reaction{reaction.emoji, reaction.removed, std::move(on)};
    host().post(c.channel, std::move(copy), unrecorded);
  }
}

Task<> Relay::relay_change(const SentPtr& sent, const std::string& key,
                           const std::vector<Channel>& targets) {
  std::vector<Copy> copies = co_await refs_->copies(key);
  OriginPtr origin = refs_->origin_for(key);
  // Deletes and in-place edits add no copy: the host still knows them as
  // ours (their echoes are not relayed), but no delivery is recorded.
  auto unrecorded = std::make_shared<const Origin>(Origin{owner_, {}});
  // A channel may hold several copies of one message: the parts of a long
  // or quoted one (IRC lines), or edits re-sent where edits are not native.
  // A delete removes them all; an edit goes to each channel once, in place
  // of its first copy.
  std::vector<Channel> edited;
  for (const Copy& c : copies) {
    if (c.channel == sent->channel || !c.channel.plug()) continue;
    if (!sent->deleted) {
      if (std::find(edited.begin(), edited.end(), c.channel) != edited.end()) continue;
      edited.push_back(c.channel);
    }
    if (sent->deleted) {
      if (!c.channel.plug()->features().remove) continue;
      Message gone;
      gone.deleted = true;
      auto msg = std::make_shared<const SentMessage>(
          Receipt{c.id, c.channel, Clock::now(), {}, true}, std::move(gone));
      host().post(c.channel, std::move(msg), unrecorded);
      continue;
    }
    std::string title = co_await title_for(sent, c.channel);
    auto copy = co_await copy_for(sent, c.channel, title);
    if (!copy) continue;
    copy->edited = true;
    if (c.channel.plug()->features().edit) {
      // Edited in place: the copy's own id says which message to change.
      auto edit = std::make_shared<const SentMessage>(
          Receipt{c.id, c.channel, Clock::now(), {}, false}, std::move(*copy));
      host().post(c.channel, std::move(edit), unrecorded);
    } else {
      if (!sent->thread.empty()) co_await with_thread(*copy, sent, c.channel);
      host().post(c.channel, std::move(copy), origin);
    }
  }
  if (sent->deleted) co_return;
  for (const Channel& target : targets) {
    if (target == sent->channel || !target.plug() || target.plug()->features().edit) continue;
    if (std::find(edited.begin(), edited.end(), target) != edited.end()) continue;
    edited.push_back(target);
    std::string title = co_await title_for(sent, target);
    auto copy = co_await copy_for(sent, target, title);
    if (!copy) continue;
    copy->edited = true;
    if (!sent->thread.empty()) co_await with_thread(*copy, sent, target);
    host().post(target, std::move(copy), origin);
  }
}

void Relay::listen_for_copies() {
  // Deliveries made before now (restored outboxes deliver before hooks
  // start; a restarted relay's predecessor stopped listening) were kept for
  // us by the host and arrive here first.
  delivered_ = host().on_delivered(owner_, [this](const Origin& origin, const Channel& channel,
                                                  std::span<const Receipt> receipts) {
    // Deletes and in-place edits are posted without a tag: no new copy.
    if (origin.tag.empty() || !refs_) return;
    for (const auto& r : receipts) refs_->add_copy(origin, channel, r.id);
  });
}

// ---- SyncHook -------------------------------------------------------------

SpecPtr SyncHook::schema() {
  std::vector<Field> fields = {
      {"channels", map_of(list_of(str())), required, "label -> channels bridged together"},
      {"plug", str(), Node(), "name of a virtual plug whose channels are the labels"},
      {"edits", boolean(), true, "relay edits and deletes"},
      {"joins", boolean(), true, "relay joins and parts as text"},
      {"renames", boolean(), true, "relay title changes as text"},
      {"identities", hook_ref<IdentityProvider>("an identity provider hook"), Node(),
       "name of an identity provider hook"},
      {"titles", map_of(str()), Node::map(), "label -> display title"},
      plugs_field(),
      {"cache", integer(), 50000, "bridged messages kept in memory (the rest in the database)"},
  };
  for (auto& f : naming_fields()) fields.push_back(f);
  return object(std::move(fields));
}

SyncHook::SyncHook(const Init& init) : Relay(init) {
  const Node& c = config();
  std::vector<std::pair<Channel, const std::string*>> label_of;
  for (const auto& [label, names] : c.at("channels").as_map()) {
    auto& members = labels_[label];
    for (const auto& n : names.as_list()) {
      Channel ch = resolve_channel(init.host, n);
      if (std::find(members.begin(), members.end(), ch) == members.end()) members.push_back(ch);
      label_of.emplace_back(ch, &labels_.find(label)->first);
    }
  }
  edits_ = c.at("edits").as_bool();
  for (const auto& [label, title] : c.at("titles").as_map()) {
    // A title for a label not (yet) in `channels` is kept, as IMMP keeps
    // it: it takes effect when the label is added.
    titles_[label] = title.as_string();
  }
  for (const auto& [ch, label] : label_of) {
    bridges_[ch].push_back(Bridge{label, &labels_.find(*label)->second, &title_of(*label)});
  }
  if (const Node& p = c.at("plug"); !p.is_null()) {
    if (Plug* existing = init.host.plug(p.as_string())) {
      // A sync restarted with a new config takes over its predecessor's
      // virtual plug, which the host kept running (and its channels with it).
      auto* virtual_plug = dynamic_cast<SyncPlug*>(existing);
      if (!virtual_plug || virtual_plug->hook()) {
        p.fail("a plug named '" + p.as_string() + "' already exists");
      }
      plug_ = virtual_plug;
    } else {
      auto plug = std::make_unique<SyncPlug>(Init{p.as_string(), Node::map(), init.host});
      plug_ = plug.get();
      init.host.add_plug(std::move(plug));
    }
    plug_->bind(this);
  }
  owner_ = "sync:" + name();
}

SyncHook::~SyncHook() {
  if (plug_ && plug_->hook() == this) plug_->bind(nullptr);
}

Task<> SyncHook::stop() {
  // The virtual plug outlives us (a restarted sync takes it over); until
  // then it refuses posts rather than reaching a hook that is gone.
  if (plug_ && plug_->hook() == this) plug_->bind(nullptr);
  co_return;
}

Task<> SyncHook::start() {
  if (plug_) plug_->bind(this);
  store::Database* db = nullptr;
  try {
    db = &host().resource<store::DatabaseHook>(*this).db();
  } catch (const MissingResource&) {
    log()->warn(
        "no database resource: the id map lives in memory only, so replies and edits to "
        "messages bridged before a restart will not reach their copies (add "
        "immp.hook.database.DatabaseHook under hooks)");
  }
  if (db && db->in_memory()) {
    // The map would die with the process anyway; the bounded cache is it.
    log()->info("in-memory database: the id map is the cache of the last {} messages",
                config().at("cache").as_int());
    db = nullptr;
  }
  std::optional<store::ImmpSyncRefs> legacy;
  if (db) {
    co_await db->migrate("sync", SyncRefs::migrations(db->dialect()));
    legacy = co_await store::ImmpSyncRefs::open(*db);
    if (legacy) log()->info("IMMP's sync references found: messages bridged by IMMP stay linked");
  }
  db_ = db;
  if (!refs_) {
    refs_ = std::make_unique<SyncRefs>(
        host(), db, static_cast<std::size_t>(config().at("cache").as_int()), owner_);
  }
  refs_->set_legacy(std::move(legacy));
  if (db) {
    // Numbered before the first message: every bridged channel, and the
    // virtual plug's, whose messages are origins too.
    std::vector<Channel> channels;
    for (const auto& [channel, bridges] : bridges_) channels.push_back(channel);
    if (plug_) {
      for (const auto& [label, members] : labels_) channels.push_back(plug_->channel(label));
    }
    co_await refs_->load(channels);
  }
  listen_for_copies();
}

Task<std::string> SyncHook::title_for(const SentPtr&, const Channel& target) {
  auto it = bridges_.find(target);
  co_return it == bridges_.end() ? std::string() : *it->second.front().title;
}

const std::vector<Channel>& SyncHook::members(const std::string& label) const {
  static const std::vector<Channel> none;
  auto it = labels_.find(label);
  return it == labels_.end() ? none : it->second;
}

std::vector<std::string> SyncHook::labels() const {
  std::vector<std::string> out;
  for (const auto& [l, m] : labels_) out.push_back(l);
  return out;
}

std::optional<std::string> SyncHook::title(const std::string& label) const {
  auto it = titles_.find(label);
  if (it == titles_.end()) return std::nullopt;
  return it->second;
}

bool SyncHook::wants(const Received& r) const {
  // skip() first: it turns away our own echoes (half of what arrives in
  // a bridge) without a lookup.
  return !skip(r) && bridges_.contains(r.sent->channel);
}

Task<> SyncHook::on_receive(const Received& r) {
  const SentPtr& sent = r.sent;
  auto it = bridges_.find(sent->channel);
  // wants() has already turned away what skip() refuses.
  if (it == bridges_.end() || !refs_) co_return;
  if (sent->reaction) {
    co_await relay_reaction(sent);
    co_return;
  }
  if (sent->edited || sent->deleted) {
    if (!edits_) co_return;
    auto key = co_await refs_->key_for(sent->channel, sent->id);
    if (key) {
      std::vector<Channel> targets;
      for (const Bridge& bridge : it->second) {
        targets.insert(targets.end(), bridge.members->begin(), bridge.members->end());
      }
      co_await relay_change(sent, *key, targets);
      co_return;
    }
    if (sent->deleted) co_return;  // never bridged: nothing to delete
  }
  // Most messages need nothing awaited (no reply or thread to map, no
  // identity provider to ask): relayed without a coroutine frame each.
  bool plain = !identities_ && !sent->reply_to && sent->thread.empty();
  for (const Bridge& bridge : it->second) {
    if (plain) {
      relay_plain(sent, bridge);
    } else {
      co_await relay_new(sent, bridge);
    }
  }
  // Backpressure: a database slower than the networks must not let its
  // queue of id-map writes grow without bound.
  // Asked every kThrottleEvery messages: the queue's length is behind a
  // lock the database thread takes for every batch.
  if (db_ && ++since_throttle_ == kThrottleEvery) {
    since_throttle_ = 0;
    co_await db_->throttle(kMaxQueuedWrites);
  }
}

std::size_t SyncHook::ChannelHash::operator()(const Channel& c) const {
  return hash_string(c.source, reinterpret_cast<std::uintptr_t>(c.handle));
}

// relay_new() for a message with nothing to await (no reply or thread, no
// identity provider): the same loop without its awaits, so that it needs no
// coroutine frame. A change to how copies are shared goes into both.
void SyncHook::relay_plain(const SentPtr& sent, const Bridge& bridge) {
  OriginPtr origin = refs_->add_origin(sent->channel, sent->id);
  const TargetRules* shared_rules = nullptr;
  bool shared_upload = false;
  MessagePtr shared;
  bool files = has_files(*sent);
  for (const Channel& target : *bridge.members) {
    if (target == sent->channel) continue;
    const TargetRules* rules = &rules_for(target.plug());
    bool upload = files && target.plug() && target.plug()->features().upload;
    if (shared && rules == shared_rules && upload == shared_upload) {
      host().post(target, shared, origin);
      continue;
    }
    std::shared_ptr<Message> copy = copy_with(sent, target, *bridge.title, std::nullopt);
    if (!copy) continue;
    shared_rules = rules;
    shared_upload = upload;
    shared = copy;
    host().post(target, std::move(copy), origin);
  }
  queue_unified(sent, bridge);
}

void SyncHook::queue_unified(const SentPtr& sent, const Bridge& bridge) {
  if (!plug_) return;
  auto unified = std::make_shared<const SentMessage>(
      Receipt{sent->id, plug_->channel(*bridge.label), sent->at, sent->revision, false},
      static_cast<const Message&>(*sent));
  plug_->queue(std::move(unified));
}

Task<> SyncHook::relay_new(const SentPtr& sent, const Bridge& bridge) {
  // One record for every copy of this message: the host keeps it with each
  // outbox entry and each id the copies get, and its tag is the message's
  // key in the id map.
  OriginPtr origin = refs_->add_origin(sent->channel, sent->id);
  const std::string& title = *bridge.title;
  // Targets whose plugs share naming rules share one copy, unless a reply
  // or thread makes each copy point at that target's own message, or files
  // go as uploads to one and as links to the other.
  const TargetRules* shared_rules = nullptr;
  bool shared_upload = false;
  MessagePtr shared;
  bool per_target = sent->reply_to || !sent->thread.empty();
  bool files = has_files(*sent);
  for (const Channel& target : *bridge.members) {
    if (target == sent->channel) continue;
    const TargetRules* rules = &rules_for(target.plug());
    bool upload = files && target.plug() && target.plug()->features().upload;
    if (shared && rules == shared_rules && !per_target && upload == shared_upload) {
      host().post(target, shared, origin);
      continue;
    }
    // Without an identity provider there is nothing to wait for: no
    // coroutine for the copy of every message.
    std::shared_ptr<Message> copy;
    if (identities_) {
      copy = co_await copy_for(sent, target, title);
    } else {
      copy = copy_with(sent, target, title, std::nullopt);
    }
    if (!copy) continue;
    if (sent->reply_to) copy = co_await with_reply(std::move(copy), sent, target);
    if (!sent->thread.empty()) co_await with_thread(*copy, sent, target);
    shared_rules = rules;
    shared_upload = upload;
    shared = copy;
    host().post(target, std::move(copy), origin);
  }
  queue_unified(sent, bridge);
}

const std::string& SyncHook::title_of(const std::string& label) const {
  auto it = titles_.find(label);
  return it == titles_.end() ? label : it->second;
}

Task<std::shared_ptr<Message>> SyncHook::with_reply(std::shared_ptr<Message> copy,
                                                    const SentPtr& sent, const Channel& target) {
  const SentPtr& parent = sent->reply_to;
  if (!parent) co_return copy;
  Channel where = parent->channel.valid() ? parent->channel : sent->channel;
  auto key = co_await refs_->key_for(where, parent->id);
  if (key && target.plug()->features().reply) {
    std::vector<Copy> copies = co_await refs_->copies(*key);
    for (const Copy& c : copies) {
      if (c.channel == target) {
        copy->reply_to = std::make_shared<const SentMessage>(
            Receipt{c.id, target, Clock::now(), {}, false}, Message{});
        co_return copy;
      }
    }
  }
  // No native reply there: quote the parent in a line of its own.
  SentPtr full = parent;
  if (!full->text && where.plug()) full = co_await where.plug()->resolve_message(parent);
  if (!full || !full->text) co_return copy;
  std::string excerpt = full->text->plain();
  std::replace(excerpt.begin(), excerpt.end(), '\n', ' ');
  std::string who = full->user ? full->user->display_name() : std::string("someone");
  RichText text;
  Segment quote;
  quote.text = "> " + who + ": " + utf8_prefix(excerpt, 60) + "\n";
  quote.italic = true;
  text.append(quote);
  if (copy->text) text.append(*copy->text);
  copy->text = std::move(text);
  co_return copy;
}

// ---- SyncPlug -------------------------------------------------------------

SyncPlug::SyncPlug(const Init& init) : Plug(init) {}

std::string SyncHook::distribute(const std::string& label, MessagePtr msg) {
  if (!refs_) throw std::runtime_error("sync " + name() + " is not started");
  std::string id =
      std::to_string(Clock::now().time_since_epoch().count()) + "." + std::to_string(++posted_);
  OriginPtr origin = refs_->add_origin(plug_->channel(label), id);
  for (const Channel& target : members(label)) host().post(target, msg, origin);
  return id;
}

Task<PutResult> SyncPlug::put(Posting& post) {
  const std::string& label = post.channel().source;
  if (!hook_) co_return PutResult::retry("its sync hook is not running");
  if (hook_->members(label).empty()) {
    co_return PutResult::failed("sync " + name() + " has no channel '" + label + "'");
  }
  post.sent(hook_->distribute(label, post.message()));
  co_return PutResult::delivered();
}

Task<std::vector<Channel>> SyncPlug::public_channels() {
  std::vector<Channel> out;
  if (hook_) {
    for (const auto& l : hook_->labels()) out.push_back(channel(l));
  }
  co_return out;
}

Task<std::optional<bool>> SyncPlug::channel_is_private(const Channel&) { co_return false; }

Task<std::optional<std::string>> SyncPlug::channel_title(const Channel& c) {
  if (!hook_) co_return std::nullopt;
  co_return hook_->title(c.source);
}

Task<std::optional<std::vector<UserPtr>>> SyncPlug::channel_members(const Channel& c) {
  if (!hook_) co_return std::nullopt;
  std::vector<UserPtr> all;
  std::vector<Channel> channels = hook_->members(c.source);
  for (const Channel& m : channels) {
    Plug* plug = m.plug();
    if (!plug) continue;
    auto members = co_await plug->channel_members(m);
    if (members) all.insert(all.end(), members->begin(), members->end());
  }
  co_return all;
}

// ---- ForwardHook ----------------------------------------------------------

SpecPtr ForwardHook::schema() {
  std::vector<Field> fields = {
      {"channels", map_of(list_of(str())), Node::map(), "source channel -> target channels"},
      {"groups", map_of(list_of(str())), Node::map(), "source group -> target channels"},
      {"users", list_of(text()), Node(),
       "only relay messages from these user ids (absent: everyone; empty: no one)"},
      {"joins", boolean(), false, "relay joins and parts as text"},
      {"renames", boolean(), false, "relay title changes as text"},
      {"identities", hook_ref<IdentityProvider>("an identity provider hook"), Node(),
       "name of an identity provider hook"},
      plugs_field(),
  };
  for (auto& f : naming_fields()) fields.push_back(f);
  return object(std::move(fields));
}

ForwardHook::ForwardHook(const Init& init) : Relay(init) {
  owner_ = "forward:" + name();
  const Node& c = config();
  for (const auto& [source, targets] : c.at("channels").as_map()) {
    Node source_name(source);
    source_name.set_mark(targets.mark());
    source_name.set_path(targets.path());
    Channel from = resolve_channel(init.host, source_name);
    for (const auto& t : targets.as_list())
      channels_[from].push_back(resolve_channel(init.host, t));
  }
  for (const auto& [group, targets] : c.at("groups").as_map()) {
    if (!init.host.group(group)) targets.fail("unknown group '" + group + "'");
    std::vector<Channel> to;
    for (const auto& t : targets.as_list()) to.push_back(resolve_channel(init.host, t));
    groups_.emplace_back(group, std::move(to));
  }
  if (const Node& u = c.at("users"); !u.is_null()) {
    // As in IMMP: a list, even an empty one, is the only users relayed.
    users_.emplace();
    for (const auto& id : u.as_list()) users_->push_back(id.as_text());
  }
}

Task<> ForwardHook::start() {
  // Memory only: what was forwarded before a restart gets its edits as new
  // messages marked edited (as IMMP sends every edit) and its deletes not.
  if (!refs_) refs_ = std::make_unique<SyncRefs>(host(), nullptr, kRemembered, owner_);
  listen_for_copies();
  co_return;
}

Task<std::string> ForwardHook::title_for(const SentPtr& sent, const Channel&) {
  // As IMMP's forward: the source channel's title, asked only when a
  // name-format could show it.
  Plug* plug = sent->channel.plug();
  if (!any_name_format_ || !plug) co_return std::string();
  std::optional<std::string> title = co_await plug->channel_title(sent->channel);
  co_return title.value_or(std::string());
}

bool ForwardHook::wants(const Received& r) const {
  if (skip(r)) return false;
  if (!users_) return true;
  const UserPtr& user = r.sent->user;
  return user && std::find(users_->begin(), users_->end(), user->id) != users_->end();
}

Task<> ForwardHook::on_receive(const Received& r) {
  const SentPtr& sent = r.sent;
  // wants() has already turned away what skip() and `users` refuse.
  if (!refs_) co_return;
  if (sent->reaction) {
    co_await relay_reaction(sent);
    co_return;
  }
  if (sent->edited || sent->deleted) {
    auto key = co_await refs_->key_for(sent->channel, sent->id);
    if (key) {
      co_await relay_change(sent, *key);
      co_return;
    }
    if (sent->deleted) co_return;  // not forwarded, or forgotten: nothing to delete
  }
  std::vector<Channel> targets;
  if (auto it = channels_.find(sent->channel); it != channels_.end()) targets = it->second;
  for (const auto& [group, to] : groups_) {
    const Group* g = host().group(group);
    if (g && co_await g->has_channel(host(), sent->channel)) {
      targets.insert(targets.end(), to.begin(), to.end());
    }
  }
  std::vector<Channel> done;
  OriginPtr origin;
  for (const Channel& target : targets) {
    if (target == sent->channel || std::find(done.begin(), done.end(), target) != done.end()) {
      continue;
    }
    done.push_back(target);
    if (!origin) origin = refs_->add_origin(sent->channel, sent->id);
    std::string title = co_await title_for(sent, target);
    auto copy = co_await copy_for(sent, target, title);
    if (!copy) continue;
    // Guarded: a coroutine frame per message is an allocation per message.
    if (!sent->thread.empty()) co_await with_thread(*copy, sent, target);
    host().post(target, std::move(copy), origin);
  }
}

}  // namespace immp::hooks
