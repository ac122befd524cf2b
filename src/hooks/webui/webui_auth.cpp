#include "hooks/webui/webui_auth.hpp"

#include <sodium.h>

#include <stdexcept>
#include <vector>

namespace immp::webui {

namespace {

void init_sodium() {
  static const bool ready = sodium_init() >= 0;
  if (!ready) throw std::runtime_error("libsodium could not start");
}

std::string digest(std::string_view id) {
  unsigned char out[32];
  crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(id.data()), id.size(),
                     nullptr, 0);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

}  // namespace

bool is_password_hash(std::string_view text) {
  return text.starts_with("$argon2id$") || text.starts_with("$argon2i$");
}

std::string random_token(std::size_t bytes) {
  init_sodium();
  std::vector<unsigned char> raw(bytes);
  randombytes_buf(raw.data(), raw.size());
  std::string hex(bytes * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), raw.data(), raw.size());
  hex.pop_back();
  return hex;
}

bool same_secret(std::string_view a, std::string_view b) {
  // Compared as digests: equal length whatever was given, so the length
  // of a guess says nothing either.
  std::string da = digest(a), db = digest(b);
  return sodium_memcmp(da.data(), db.data(), da.size()) == 0;
}

std::pair<std::string, std::string> Sessions::create(Clock::time_point now) {
  std::string id = random_token();
  std::string csrf = random_token();
  // Expired sessions go when a new one comes: the map stays as small as
  // the number of people logged in.
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    it = it->second.expires <= now ? sessions_.erase(it) : std::next(it);
  }
  sessions_[digest(id)] = Session{csrf, now + lifetime_, {}};
  return {id, csrf};
}

Sessions::Session* Sessions::find(std::string_view id, Clock::time_point now) {
  if (id.empty()) return nullptr;
  auto it = sessions_.find(digest(id));
  if (it == sessions_.end()) return nullptr;
  if (it->second.expires <= now) {
    sessions_.erase(it);
    return nullptr;
  }
  return &it->second;
}

void Sessions::end(std::string_view id) {
  auto it = sessions_.find(digest(id));
  if (it != sessions_.end()) sessions_.erase(it);
}

void LoginLimiter::forget_old(Clock::time_point now) {
  for (auto it = failures_.begin(); it != failures_.end();) {
    auto& times = it->second;
    while (!times.empty() && times.front() + window_ <= now) times.pop_front();
    it = times.empty() ? failures_.erase(it) : std::next(it);
  }
}

std::chrono::seconds LoginLimiter::wait(const std::string& address, Clock::time_point now) {
  forget_old(now);
  auto it = failures_.find(address);
  if (it == failures_.end() || it->second.size() < limit_) return std::chrono::seconds(0);
  auto left = it->second.front() + window_ - now;
  return std::max(std::chrono::seconds(1), std::chrono::ceil<std::chrono::seconds>(left));
}

void LoginLimiter::failed(const std::string& address, Clock::time_point now) {
  forget_old(now);
  failures_[address].push_back(now);
}

}  // namespace immp::webui
