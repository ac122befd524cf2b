// Hook: a worker on the message stream. Override only the stages you use;
// the host notices stages left at their default and skips them.
#pragma once

#include <optional>

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
  virtual Task<SentPtr> before_receive(SentPtr sent, MessagePtr source, bool primary);
  // `source` is the original Message when we posted this ourselves, else
  // the SentMessage itself. `primary` is false for the secondary ids of one
  // multi-part post.
  virtual Task<> on_receive(SentPtr sent, MessagePtr source, bool primary);
  // Another plug or hook (`source`) changed its config.
  virtual Task<> on_config_change(Openable& source);
  // A room moved (e.g. upgraded group). Returns whether this hook changed
  // anything.
  virtual Task<bool> channel_migrate(Channel old_channel, Channel new_channel);

  // For the host: stages seen at their default implementation.
  bool overrides_before_send() const { return before_send_used_; }
  bool overrides_before_receive() const { return before_receive_used_; }
  bool overrides_on_receive() const { return on_receive_used_; }

 private:
  bool before_send_used_ = true;
  bool before_receive_used_ = true;
  bool on_receive_used_ = true;
};

// A hook others look up by type through Host::resource<T>(). Resources
// open before plugs and close after them.
class ResourceHook : public Hook {
 public:
  using Hook::Hook;
};

}  // namespace immp
