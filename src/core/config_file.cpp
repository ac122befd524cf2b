// Config files: choosing the format, reading, and writing back atomically.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/config_formats.hpp"
#include "immp/config.hpp"

namespace immp {

namespace {

Mark file_mark(const std::filesystem::path& file) {
  return Mark{std::make_shared<const std::string>(file.string()), 0, 0};
}

[[noreturn]] void fail_os(const std::filesystem::path& file, const std::string& what, int err) {
  throw ConfigError(file_mark(file), "", what + ": " + std::strerror(err));
}

// Closes a file descriptor on every path out.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now, reporting the error close() gives (NFS reports late write
  // failures here).
  int close() {
    const int r = ::close(fd_);
    fd_ = -1;
    return r;
  }

 private:
  int fd_;
};

}  // namespace

ConfigFormat format_for(const std::filesystem::path& file) {
  std::string ext = file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".yaml" || ext == ".yml") return ConfigFormat::yaml;
  if (ext == ".json") return ConfigFormat::json;
  if (ext == ".toml") return ConfigFormat::toml;
  if (ext.empty()) {
    throw ConfigError(file_mark(file), "",
                      "config file has no extension to tell its format: use .yaml, .yml, "
                      ".json or .toml");
  }
  throw ConfigError(file_mark(file), "",
                    "unsupported config format '" + file.extension().string() +
                        "': use .yaml, .yml, .json or .toml");
}

Node load_config_file(const std::filesystem::path& file) {
  const ConfigFormat format = format_for(file);
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) fail_os(file, "cannot open config file", errno);
  std::string text;
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_os(file, "cannot read config file", errno);
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  return parse_config(text, format, file.string());
}

Node parse_config(std::string_view text, ConfigFormat format, const std::string& file_name) {
  const auto file = std::make_shared<const std::string>(file_name);
  Node root;
  switch (format) {
    case ConfigFormat::yaml: root = config_detail::parse_yaml(text, file); break;
    case ConfigFormat::json: root = config_detail::parse_json(text, file); break;
    case ConfigFormat::toml: root = config_detail::parse_toml(text, file); break;
  }
  root.set_path("");
  root.repath();
  return root;
}

std::string dump_config(const Node& root, ConfigFormat format) {
  switch (format) {
    case ConfigFormat::yaml: return config_detail::dump_yaml(root);
    case ConfigFormat::json: return config_detail::dump_json(root);
    case ConfigFormat::toml: return config_detail::dump_toml(root);
  }
  return {};
}

void write_config_file(const std::filesystem::path& file, const Node& root) {
  // Render first: a tree the format cannot hold never touches the disk.
  const std::string text = dump_config(root, format_for(file));

  // Write through a symlink to the file it names, keeping the link.
  std::filesystem::path target = file;
  std::error_code ec;
  if (std::filesystem::is_symlink(file, ec)) {
    target = std::filesystem::weakly_canonical(file, ec);
    if (ec) fail_os(file, "cannot resolve symlink", ec.value());
  }
  std::filesystem::path dir = target.parent_path();
  if (dir.empty()) dir = ".";

  std::string temp = (dir / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
  Fd fd(::mkstemp(temp.data()));
  if (fd.get() < 0) fail_os(file, "cannot create a temporary file in " + dir.string(), errno);
  // Until the rename succeeds, any way out removes the temporary file.
  struct Cleanup {
    const std::string& path;
    bool armed = true;
    ~Cleanup() {
      if (armed) ::unlink(path.c_str());
    }
  } cleanup{temp};

  // Keep the permissions of the file being replaced; a new file keeps
  // mkstemp's 0600, as configs hold passwords and tokens.
  struct stat old {};
  if (::stat(target.c_str(), &old) == 0) ::fchmod(fd.get(), old.st_mode & 07777);

  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_os(file, "cannot write config file", errno);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) fail_os(file, "cannot write config file (fsync)", errno);
  if (fd.close() != 0) fail_os(file, "cannot write config file (close)", errno);
  if (::rename(temp.c_str(), target.c_str()) != 0) {
    fail_os(file, "cannot replace config file", errno);
  }
  cleanup.armed = false;

  // Make the rename itself durable.
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() >= 0) ::fsync(dir_fd.get());
}

}  // namespace immp
