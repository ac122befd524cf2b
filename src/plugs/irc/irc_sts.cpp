#include "plugs/irc/irc_sts.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <sstream>
#include <system_error>

namespace immp::irc {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

template <typename T>
std::optional<T> number(std::string_view s) {
  T value{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

}  // namespace

StsValue parse_sts(std::string_view value) {
  StsValue out;
  std::size_t pos = 0;
  while (pos <= value.size()) {
    std::size_t end = value.find(',', pos);
    if (end == std::string_view::npos) end = value.size();
    std::string_view item = value.substr(pos, end - pos);
    pos = end + 1;
    auto eq = item.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = item.substr(0, eq);
    std::string_view v = item.substr(eq + 1);
    if (key == "port") {
      if (auto p = number<int>(v); p && *p > 0 && *p <= 65535) out.port = *p;
    } else if (key == "duration") {
      if (auto d = number<long long>(v); d && *d >= 0) out.duration = std::chrono::seconds(*d);
    }
  }
  return out;
}

StsStore::StsStore(std::filesystem::path file) : file_(std::move(file)) { load(); }

void StsStore::load() {
  if (file_.empty()) return;
  std::ifstream in(file_);
  if (!in) return;  // nothing learned yet
  std::map<std::string, StsPolicy> read;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string host;
    int port = 0;
    long long expires = 0;
    if (!(fields >> host >> port >> expires) || port <= 0 || port > 65535) continue;
    read[lower(host)] = StsPolicy{
        port, std::chrono::system_clock::time_point(std::chrono::seconds(expires))};
  }
  policies_ = std::move(read);
}

std::optional<StsPolicy> StsStore::find(std::string_view host,
                                        std::chrono::system_clock::time_point now) const {
  auto it = policies_.find(lower(host));
  if (it == policies_.end() || it->second.expires <= now) return std::nullopt;
  return it->second;
}

std::optional<std::string> StsStore::learn(std::string_view host, int port,
                                           std::chrono::seconds duration,
                                           std::chrono::system_clock::time_point now) {
  // Another plug may have written the file meanwhile.
  load();
  if (duration.count() == 0) {
    policies_.erase(lower(host));
  } else {
    policies_[lower(host)] = StsPolicy{port, now + duration};
  }
  if (file_.empty()) return std::nullopt;
  std::ostringstream out;
  for (const auto& [h, p] : policies_) {
    if (p.expires <= now) continue;
    out << h << ' ' << p.port << ' '
        << std::chrono::duration_cast<std::chrono::seconds>(p.expires.time_since_epoch()).count()
        << '\n';
  }
  std::error_code ec;
  if (file_.has_parent_path()) std::filesystem::create_directories(file_.parent_path(), ec);
  auto tmp = file_;
  tmp += ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << out.str();
    f.flush();
    if (!f) return "cannot write " + tmp.string();
  }
  std::filesystem::rename(tmp, file_, ec);
  if (ec) return "cannot replace " + file_.string() + ": " + ec.message();
  return std::nullopt;
}

}  // namespace immp::irc
