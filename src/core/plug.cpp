#include "immp/plug.hpp"

#include "core/host_core.hpp"
#include "core/plug_core.hpp"
#include "immp/host.hpp"

namespace immp {

const std::string& PutResult::no_reason() {
  static const std::string empty;
  return empty;
}

Plug::Plug(const Init& init)
    : Openable(init, "immp.plug." + init.name),
      core_(std::make_unique<detail::PlugCore>(init.host.executor())),
      handle_(&detail::HostAccess::core(init.host).handle(init.name)) {}

Plug::~Plug() {
  if (handle_->plug_ == this) handle_->plug_ = nullptr;
}

Task<std::vector<Receipt>> Plug::send(const Channel& channel, MessagePtr msg) {
  return host().send(channel, std::move(msg));
}

bool Plug::queue(SentPtr sent) {
  auto& c = *core_;
  c.inbox.push_back(std::move(sent));
  if (c.reader_waiting) {
    c.reader_waiting = false;
    c.arrived.notify();
  }
  return c.inbox.size() > detail::PlugCore::kHighWater;
}

Task<> Plug::paced() {
  auto& c = *core_;
  while (c.inbox.size() > detail::PlugCore::kHighWater) {
    c.producer_waiting = true;
    co_await c.drained.wait();
  }
}

Task<> Plug::queue_paced(SentPtr sent) {
  if (queue(std::move(sent))) co_await paced();
}

bool Plug::may_be_echo(const SentMessage&) const { return false; }

Task<UserPtr> Plug::user_from_id(std::string) { co_return nullptr; }
Task<UserPtr> Plug::user_from_username(std::string) { co_return nullptr; }
Task<bool> Plug::user_is_system(const User&) { co_return false; }
Task<std::vector<Channel>> Plug::public_channels() { co_return std::vector<Channel>{}; }
Task<std::vector<Channel>> Plug::private_channels() { co_return std::vector<Channel>{}; }
Task<std::optional<Channel>> Plug::channel_for_user(const User&) { co_return std::nullopt; }
Task<std::optional<bool>> Plug::channel_is_private(const Channel&) { co_return std::nullopt; }
Task<std::optional<std::string>> Plug::channel_title(const Channel&) { co_return std::nullopt; }
Task<std::optional<std::string>> Plug::channel_link(const Channel&) { co_return std::nullopt; }
Task<> Plug::channel_rename(const Channel&, std::string) { co_return; }
Task<std::optional<std::vector<UserPtr>>> Plug::channel_members(const Channel&) {
  co_return std::nullopt;
}
Task<std::optional<std::vector<UserPtr>>> Plug::channel_admins(const Channel&) {
  co_return std::nullopt;
}
Task<> Plug::channel_invite(const Channel&, const User&) { co_return; }
Task<> Plug::channel_remove(const Channel&, const User&) { co_return; }
Task<std::optional<std::string>> Plug::channel_link_create(const Channel&, bool) {
  co_return std::nullopt;
}
Task<> Plug::channel_link_revoke(const Channel&, std::optional<std::string>) { co_return; }
Task<std::vector<SentPtr>> Plug::channel_history(const Channel&, SentPtr) {
  co_return std::vector<SentPtr>{};
}
Task<SentPtr> Plug::get_message(const Receipt&) { co_return nullptr; }
Task<SentPtr> Plug::resolve_message(SentPtr receipt) {
  if (!receipt) co_return nullptr;
  if (receipt->text || !receipt->attachments.empty() || receipt->user) co_return receipt;
  const Receipt& r = *receipt;
  co_return co_await get_message(r);
}
Task<> Plug::delete_message(const Receipt&) { co_return; }
Task<FetchResult> Plug::fetch_file(const File&, FileSink, std::uint64_t) {
  co_return FetchResult{FetchResult::Kind::not_fetchable, 0,
                        "network " + name() + " cannot fetch files"};
}

}  // namespace immp
