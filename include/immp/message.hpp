// The message model, as IMMP defines it: Message, SentMessage/Receipt,
// RichText of Segments, User, File, Location.
//
// A message is immutable once it enters the host: it travels as
// std::shared_ptr<const SentMessage>. A hook that changes one makes a copy.
#pragma once

#include <any>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/container/small_vector.hpp>

#include "immp/channel.hpp"

namespace immp {

class Plug;
struct Message;
struct SentMessage;

using Clock = std::chrono::system_clock;

// An author of messages on a network. `handle` names the user's plug; null
// for synthetic users.
struct User {
  std::string id;
  const PlugHandle* handle = nullptr;
  std::string username;
  std::string real_name;
  std::string avatar;      // URL of a picture, empty if none
  std::string link;        // URL of a profile, empty if none
  bool suggested = false;  // the plug guessed this user; not authoritative
  std::any raw;            // network-specific data

  // real_name, else username, else id.
  const std::string& display_name() const;
  // The user's plug now; null for synthetic users and removed plugs.
  Plug* plug() const { return handle ? handle->get() : nullptr; }
};

using UserPtr = std::shared_ptr<const User>;

// A run of text with one set of formatting.
struct Segment {
  std::string text;
  bool bold = false;
  bool italic = false;
  bool underline = false;
  bool strike = false;
  bool code = false;  // inline monospace
  bool pre = false;   // preformatted block
  std::string link;   // URL, empty if none
  UserPtr mention;    // the user this segment mentions, null if none

  bool same_format(const Segment& other) const;
  bool operator==(const Segment&) const = default;
};

// Text as a sequence of formatted segments.
// Copies share their segments until one of them changes (copy on write):
// a bridge hands the same text to every copy it makes without copying it.
class RichText {
 public:
  RichText() = default;
  explicit RichText(std::string plain);
  explicit RichText(std::vector<Segment> segments);

  std::span<const Segment> segments() const {
    return segments_ ? std::span<const Segment>(segments_->data(), segments_->size())
                     : std::span<const Segment>();
  }
  // Adds `segment` as it is (no merging; see append).
  RichText& push(Segment segment);
  bool empty() const;

  // The text without any formatting.
  std::string plain() const;
  // Appends; merges with the last segment when formatting is identical.
  RichText& append(Segment segment);
  RichText& append(const RichText& other);
  // Adjacent segments of identical format merged, empty segments removed.
  RichText normalised() const;

  bool operator==(const RichText& other) const;

 private:
  // Inline room for one segment: one allocation for a plain text.
  using Segments = boost::container::small_vector<Segment, 1>;
  Segments& mutate();                   // our own copy of the segments, to change
  std::shared_ptr<Segments> segments_;  // null: no segments
};

// A file attached to a message. IMMP's File (title, type, and its `source`
// as `url`), extended with what networks other than IRC carry.
//
// The bytes are reachable in one of two ways, or neither:
// - `url`: a public address anyone can fetch;
// - `origin` + `ref`: only through the plug the file came from (downloads
//   that need its credentials): Plug::fetch_file on `plug()`.
// A hook that relays a file to a network that cannot upload sends `url` as
// a link (see Features::upload).
struct File {
  // IMMP's kinds are `unknown` and `image`; `unknown` is a plain file (a
  // document). The rest say how a client shows it.
  enum class Type { unknown, image, video, audio, voice, sticker };
  std::string title;  // the file's name as its sender gave it ("cat.png"); may be empty
  Type type = Type::unknown;
  std::string url;                    // where anyone can fetch the file; empty if nowhere
  std::string path;                   // a local copy, if any
  std::string mime;                   // "image/png"; empty if unknown
  std::optional<std::uint64_t> size;  // in bytes; nullopt if unknown
  // The plug that can fetch the bytes, and its own name for them (a file
  // id, an attachment URL that needs a token). Null/empty: not fetchable.
  const PlugHandle* origin = nullptr;
  std::string ref;

  // The plug to fetch from now; null when none (or it was removed).
  Plug* plug() const { return origin ? origin->get() : nullptr; }
  // Whether Plug::fetch_file may give the bytes (the plug may still refuse).
  bool fetchable() const { return origin && !ref.empty(); }
};

struct Location {
  double latitude = 0;
  double longitude = 0;
  std::string name;
  std::string address;
};

// A file, a location, or a forwarded message.
using Attachment = std::variant<File, Location, std::shared_ptr<const Message>>;

// A reaction added to (or taken from) a message. It travels as a Message
// whose `reaction` is set: the Message's `user` is who reacted, and its
// `text` is empty. A plug puts it only where Features::reaction is set.
struct Reaction {
  // The emoji as Unicode ("👍"), or the network's name for a custom one
  // (":party_parrot:").
  std::string emoji;
  bool removed = false;  // taken back rather than added
  // The message reacted to; may be a bare receipt (id and channel only).
  std::shared_ptr<const SentMessage> on;
};

// A message as a hook composes it, before any network has seen it.
struct Message {
  std::optional<RichText> text;
  UserPtr user;
  bool action = false;   // "/me does something"
  bool edited = false;   // replaces an earlier revision with the same id
  bool deleted = false;  // the message with this id was removed
  // The message this one answers. May be a bare receipt (id and channel only).
  std::shared_ptr<const SentMessage> reply_to;
  // The thread this message belongs to, as the network names it (most name
  // a thread by the id of its first message, in the same channel); empty
  // for the channel's main timeline. Put only where Features::thread is set.
  std::string thread;
  // Set: this message is a reaction, not a post (see Reaction).
  std::optional<Reaction> reaction;
  std::vector<UserPtr> joined;
  std::vector<UserPtr> left;
  std::optional<std::string> title;  // the channel's new title
  std::vector<Attachment> attachments;
  std::any raw;  // network-specific data

  virtual ~Message() = default;
  Message() = default;
  Message(const Message&) = default;
  Message& operator=(const Message&) = default;
  Message(Message&&) = default;
  Message& operator=(Message&&) = default;

  // Plain text, prefixed as "* name does" for actions; empty if no text.
  std::string plain() const;
  // The users the text mentions (Segment::mention), each once, in order.
  std::vector<UserPtr> mentions() const;
};

// Proof that a message exists on a network.
struct Receipt {
  std::string id;
  Channel channel;
  // When the network says the message was posted (or, for an edit, changed):
  // a plug sets the network's own time where it gives one (IRC's
  // server-time, a JSON timestamp), else leaves the time of arrival.
  Clock::time_point at = Clock::now();
  // The revision this receipt shows: an edit arrives with the message's
  // `id` and its new `revision`. Empty if the network has none.
  std::string revision;
  bool deleted = false;
};

// A message that exists on a network: a Receipt and a Message in one.
// Both halves have `deleted`; they are kept equal, and `sent.deleted`
// names the Message's.
struct SentMessage final : Receipt, Message {
  SentMessage() = default;
  SentMessage(Receipt receipt, Message message)
      : Receipt(std::move(receipt)), Message(std::move(message)) {
    Receipt::deleted = Message::deleted = Receipt::deleted || Message::deleted;
  }
  using Message::deleted;

  const Receipt& receipt() const { return *this; }
  const Message& message() const { return *this; }
};

using MessagePtr = std::shared_ptr<const Message>;
using SentPtr = std::shared_ptr<const SentMessage>;

}  // namespace immp
