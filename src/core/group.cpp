#include "immp/group.hpp"

#include <algorithm>

#include "immp/host.hpp"

namespace immp {

namespace {
bool contains(const std::vector<const PlugHandle*>& plugs, const PlugHandle* plug) {
  return std::find(plugs.begin(), plugs.end(), plug) != plugs.end();
}
bool contains(const std::vector<Channel>& channels, const Channel& channel) {
  return std::find(channels.begin(), channels.end(), channel) != channels.end();
}
}  // namespace

Task<bool> Group::has_channel(const Host& host, const Channel& channel) const {
  if (contains(exclude, channel)) co_return false;
  if (contains(channels, channel)) co_return true;
  if (contains(anywhere, channel.handle)) co_return true;
  if (contains(named, channel.handle) && host.channel_name(channel)) co_return true;
  bool asks_private = contains(private_, channel.handle);
  bool asks_shared = contains(shared, channel.handle);
  Plug* plug = channel.plug();
  if ((asks_private || asks_shared) && plug) {
    std::optional<bool> is_private = co_await plug->channel_is_private(channel);
    if (is_private) co_return *is_private ? asks_private : asks_shared;
  }
  co_return false;
}

bool Group::has_plug(const PlugHandle* plug) const {
  return contains(anywhere, plug) || contains(named, plug) || contains(private_, plug) ||
         contains(shared, plug) ||
         std::any_of(channels.begin(), channels.end(),
                     [plug](const Channel& c) { return c.handle == plug; });
}

}  // namespace immp
