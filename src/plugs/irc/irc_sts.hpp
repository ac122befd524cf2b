// IRCv3 strict transport security (https://ircv3.net/specs/extensions/sts):
// the `sts` capability's value, and the policies learned from it, kept in a
// small text file so that they survive restarts.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace immp::irc {

// "port=6697,duration=2592000,preload": what a server advertises. Unknown
// keys are ignored, as the spec requires; malformed numbers leave a field unset.
struct StsValue {
  std::optional<int> port;                       // meaningful on a plaintext link
  std::optional<std::chrono::seconds> duration;  // meaningful on a TLS link
};
StsValue parse_sts(std::string_view value);

// A remembered policy: connect to `host` only with TLS, on `port`, until
// `expires`.
struct StsPolicy {
  int port = 0;
  std::chrono::system_clock::time_point expires;
};

// The policies of every host, in one file: a line "<host> <port>
// <expiry in Unix seconds>" per host. Every change is written at once
// (to a temporary file renamed over the old one), re-reading the file
// first so that plugs sharing it keep each other's policies. Used from
// one thread (the host's executor).
class StsStore {
 public:
  // An empty path: remembered for this process only.
  explicit StsStore(std::filesystem::path file);

  // The unexpired policy for `host` (case-insensitive), if any.
  std::optional<StsPolicy> find(std::string_view host,
                                std::chrono::system_clock::time_point now) const;
  // Records what a TLS link to host:port advertised: the policy lasts
  // `duration` from now; a duration of 0 removes it. Returns an error
  // sentence when the file cannot be written (the policy still holds for
  // this process).
  std::optional<std::string> learn(std::string_view host, int port, std::chrono::seconds duration,
                                   std::chrono::system_clock::time_point now);

  const std::filesystem::path& file() const { return file_; }

 private:
  void load();
  std::filesystem::path file_;
  std::map<std::string, StsPolicy> policies_;  // lower-case host -> policy
};

}  // namespace immp::irc
