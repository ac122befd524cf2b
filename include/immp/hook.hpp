// Hook: a worker on the message stream. Override only the stages you use;
// which stages a hook overrides is read from its type when it is
// registered (describe<T>() or Host::add_hook), and the host never calls
// the others.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "immp/asio.hpp"
#include "immp/channel.hpp"
#include "immp/message.hpp"
#include "immp/openable.hpp"

namespace immp {

// A message on its way out, as before_send sees it.
struct Outgoing {
  Channel channel;
  MessagePtr message;
};

// Who posted a message through Host::post(): the host's own record, kept
// with the outbox entry (also across restarts) and with the ids the post
// produced, so that its echo is known for whose it is.
struct Origin {
  std::string owner;  // the poster's name, as given to Host::post()
  std::string tag;    // the poster's own reference for this post
  // The poster's own number for this record, for finding it again without
  // a lookup by tag; 0 for none. Not saved with outboxes: a record restored
  // after a restart has 0, and its tag says what it is.
  std::uint64_t ref = 0;
};
using OriginPtr = std::shared_ptr<const Origin>;

// One message as the receive stages see it.
struct Received {
  SentPtr sent;
  // The Message we posted when `sent` is the echo of our own post, else
  // `sent` itself.
  MessagePtr source;
  // False for the secondary parts of one multi-part post.
  bool primary = true;
  // For the echo of a Host::post(): who posted it. Null otherwise.
  OriginPtr origin;

  // Whether `sent` is the echo of a post by `owner`.
  bool posted_by(std::string_view owner) const { return origin && origin->owner == owner; }
};

class Hook : public Openable {
 public:
  explicit Hook(const Init& init);

  // After every plug and hook exists, before anything starts.
  virtual Task<> on_load();
  // After everything started.
  virtual Task<> on_ready();

  // May change the channel or the message, or drop it (nullopt).
  virtual Task<std::optional<Outgoing>> before_send(Outgoing out);
  // One hook at a time, in priority order. Returns the message to carry on
  // with (the same pointer or a modified copy) or null to drop it.
  virtual Task<SentPtr> before_receive(const Received& received);
  // Prioritised hooks one at a time, lowest first; the others each from
  // their own queue, concurrently.
  virtual Task<> on_receive(const Received& received);
  // Whether before_receive and on_receive want `received` at all. Asked by
  // the plug's reader before the message is queued for this hook, so that
  // a hook's queue holds only what it acts on (a bridge skips the echoes of
  // its own copies and the channels it does not bridge). Must be quick,
  // must not block and must not change state. The default wants everything.
  virtual bool wants(const Received& received) const;
  // Another plug or hook (`source`) changed its config.
  virtual Task<> on_config_change(Openable& source);
  // A room moved (e.g. upgraded group). Returns whether this hook changed
  // anything.
  virtual Task<bool> channel_migrate(Channel old_channel, Channel new_channel);

  // The stages a hook class overrides, from its type. A stage must be
  // overridden as public (as Hook declares it).
  struct Stages {
    bool before_send = true;
    bool before_receive = true;
    bool on_receive = true;
  };
  template <typename T>
  static constexpr Stages stages_of() {
    static_assert(std::is_base_of_v<Hook, T>);
    return Stages{
        !std::is_same_v<decltype(&T::before_send), decltype(&Hook::before_send)>,
        !std::is_same_v<decltype(&T::before_receive), decltype(&Hook::before_receive)>,
        !std::is_same_v<decltype(&T::on_receive), decltype(&Hook::on_receive)>,
    };
  }
  // What the host calls. All true unless set from the type at registration.
  const Stages& stages() const { return stages_; }
  void set_stages(Stages stages) { stages_ = stages; }

 private:
  Stages stages_;
};

// A hook others look up by type through Host::resource<T>(). Resources
// open before plugs and close after them.
class ResourceHook : public Hook {
 public:
  using Hook::Hook;
};

// A mark on a resource class (as a second base) that wins the lookup when
// several configured hooks provide the type asked for; otherwise the first
// in config order does. IMMP's AsyncDatabaseHook carries it, because all of
// IMMP's own hooks used it over the older DatabaseHook.
class PreferredResource {
 protected:
  PreferredResource() = default;
  ~PreferredResource() = default;
};

}  // namespace immp
