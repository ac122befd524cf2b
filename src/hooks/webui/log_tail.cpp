#include "hooks/webui/log_tail.hpp"

#include <spdlog/details/log_msg.h>

namespace immp::webui {

namespace {

// Python's level names, as the rest of immp's logging prints them.
const char* level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug: return "DEBUG";
    case spdlog::level::info: return "INFO";
    case spdlog::level::warn: return "WARNING";
    case spdlog::level::err: return "ERROR";
    case spdlog::level::critical: return "CRITICAL";
    case spdlog::level::off:
    case spdlog::level::n_levels: break;
  }
  return "NOTSET";
}

}  // namespace

void LogTail::set_on_record(std::function<void()> on_record) {
  std::lock_guard lock(mutex_);
  on_record_ = std::move(on_record);
}

std::vector<LogTail::Record> LogTail::since(std::uint64_t seq) const {
  std::lock_guard lock(mutex_);
  std::vector<Record> out;
  for (const Record& r : records_) {
    if (r.seq > seq) out.push_back(r);
  }
  return out;
}

void LogTail::log(const spdlog::details::log_msg& msg) {
  std::function<void()> notify;
  {
    std::lock_guard lock(mutex_);
    records_.push_back(Record{next_++, msg.time, level_name(msg.level),
                              std::string(msg.logger_name.data(), msg.logger_name.size()),
                              std::string(msg.payload.data(), msg.payload.size())});
    while (records_.size() > capacity_) records_.pop_front();
    notify = on_record_;
  }
  if (notify) notify();
}

}  // namespace immp::webui
