// The admin UI's locks: the password (libsodium's Argon2id), login
// sessions with their CSRF tokens, and the login rate limit. Plain data
// and functions, no I/O: the hook (webui_hook.hpp) runs the slow hashing
// off the host's thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace immp::webui {

using Clock = std::chrono::steady_clock;

// Passwords are hashed and checked as identities' are (Argon2id,
// hooks/identity/password.hpp).
// Whether `text` is an Argon2 hash string rather than a password.
bool is_password_hash(std::string_view text);

// `bytes` random bytes from libsodium, as lower-case hex.
std::string random_token(std::size_t bytes = 32);
// Constant-time equality of two strings (lengths may differ).
bool same_secret(std::string_view a, std::string_view b);

// Logged-in browsers. A session is known by its id (the cookie), kept
// here only as a digest so that a lookup's timing says nothing about it;
// each has its own CSRF token that every change must carry.
class Sessions {
 public:
  explicit Sessions(std::chrono::seconds lifetime) : lifetime_(lifetime) {}

  struct Session {
    std::string csrf;
    Clock::time_point expires;
    std::string notice;  // what the last change did, shown once
  };
  // A new session: its id (for the cookie) and its CSRF token.
  std::pair<std::string, std::string> create(Clock::time_point now = Clock::now());
  // The live session with this id, or null (unknown, or expired: then
  // forgotten). The pointer is valid until the next call.
  Session* find(std::string_view id, Clock::time_point now = Clock::now());
  void end(std::string_view id);
  std::size_t size() const { return sessions_.size(); }
  std::chrono::seconds lifetime() const { return lifetime_; }

 private:
  std::chrono::seconds lifetime_;
  std::map<std::string, Session, std::less<>> sessions_;  // by digest of the id
};

// Failed logins per client address: at most `limit` within `window`; then
// the address must wait. A success does not reset the count (so that a
// guesser who also knows the password learns nothing from it).
class LoginLimiter {
 public:
  LoginLimiter(std::size_t limit, std::chrono::seconds window) : limit_(limit), window_(window) {}
  // How long `address` must wait before it may try again; zero: now.
  std::chrono::seconds wait(const std::string& address, Clock::time_point now = Clock::now());
  void failed(const std::string& address, Clock::time_point now = Clock::now());

 private:
  void forget_old(Clock::time_point now);
  std::size_t limit_;
  std::chrono::seconds window_;
  std::map<std::string, std::deque<Clock::time_point>> failures_;
};

}  // namespace immp::webui
