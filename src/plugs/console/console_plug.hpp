// ConsolePlug: one channel on the terminal. Lines read from stdin become
// messages; messages sent to it are printed on stdout. Works without a TTY
// (pipes, files, /dev/null).
#pragma once

#include <cstdio>

#include "immp/plug.hpp"
#include "immp/tasks.hpp"

namespace immp::plugs {

class ConsolePlug final : public Plug {
 public:
  static constexpr std::string_view kPath = "immp.plug.console.ConsolePlug";
  static constexpr std::string_view kDescription =
      "The terminal as a network: stdin lines in, messages out on stdout.";
  static SpecPtr schema();

  explicit ConsolePlug(const Init& init);

  std::string network_name() const override { return "Console"; }
  std::string network_id() const override { return "console:" + name(); }

  Task<> start() override;
  Task<> stop() override;
  Task<PutResult> put(Posting& post) override;
  Task<std::vector<Channel>> public_channels() override;
  Task<std::optional<bool>> channel_is_private(const Channel& channel) override;

  // How a message looks on the console: "<alice> hello", "* alice waves".
  static std::string render(const Message& msg);

 private:
  Task<> read_stream();
  void read_blocking();
  void on_line(std::string line);

  std::string source_;
  UserPtr user_;
  std::uint64_t counter_ = 0;
  TaskGroup tasks_;
  int input_fd_;
  std::FILE* output_;
};

}  // namespace immp::plugs
