// The web server's /metrics: the host's counters in Prometheus's text
// exposition format (version 0.0.4), for a Prometheus server to scrape.
//
// Messages in are counted as the host hands them to hooks (on_receive),
// messages out as they enter a channel's outbox path (before_send), both
// by plug and by channel: the channel's config name, or "" for channels
// the config does not name (private chats: their sources would be user
// names, and unbounded). The rest is read from the host when scraped.
//
// Runs on the host's executor.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "immp/host.hpp"

namespace immp::web {

class Metrics {
 public:
  void count_in(const Host& host, const Channel& channel) { ++in_[key(host, channel)]; }
  void count_out(const Host& host, const Channel& channel) { ++out_[key(host, channel)]; }

  // Everything, as the body of a scrape. `stream_clients`: subscribers of
  // the web stream now; `connections`: HTTP and WebSocket connections open.
  std::string render(const Host& host, std::size_t stream_clients, std::size_t connections) const;

 private:
  using Key = std::pair<std::string, std::string>;  // plug, channel name
  static Key key(const Host& host, const Channel& channel);
  std::map<Key, std::uint64_t> in_;
  std::map<Key, std::uint64_t> out_;
};

// `value` escaped for a label value: backslash, double quote and newline.
std::string escape_label(std::string_view value);

}  // namespace immp::web
