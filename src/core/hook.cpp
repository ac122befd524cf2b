#include "immp/hook.hpp"

namespace immp {

Hook::Hook(const Init& init) : Openable(init, "immp.hook." + init.name) {}

Task<> Hook::on_load() { co_return; }
Task<> Hook::on_ready() { co_return; }

// The defaults record that they were not overridden, so the host can skip
// the stage for this hook from then on.
Task<std::optional<Outgoing>> Hook::before_send(Outgoing out) {
  before_send_used_ = false;
  co_return out;
}

Task<SentPtr> Hook::before_receive(SentPtr sent, MessagePtr, bool) {
  before_receive_used_ = false;
  co_return sent;
}

Task<> Hook::on_receive(SentPtr, MessagePtr, bool) {
  on_receive_used_ = false;
  co_return;
}

Task<> Hook::on_config_change(Openable&) { co_return; }
Task<bool> Hook::channel_migrate(Channel, Channel) { co_return false; }

}  // namespace immp
