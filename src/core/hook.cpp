#include "immp/hook.hpp"

namespace immp {

Hook::Hook(const Init& init) : Openable(init, "immp.hook." + init.name) {}

Task<> Hook::on_load() { co_return; }
Task<> Hook::on_ready() { co_return; }
Task<std::optional<Outgoing>> Hook::before_send(Outgoing out) { co_return out; }
Task<SentPtr> Hook::before_receive(const Received& received) { co_return received.sent; }
Task<> Hook::on_receive(const Received&) { co_return; }
bool Hook::wants(const Received&) const { return true; }
Task<> Hook::on_config_change(Openable&) { co_return; }
Task<bool> Hook::channel_migrate(Channel, Channel) { co_return false; }

}  // namespace immp
