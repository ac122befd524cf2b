#include "plugs/xmpp/xmpp_upload.hpp"

#include <charconv>

#include "immp/plug.hpp"
#include "plugs/xmpp/xmpp_stream.hpp"

// GCC 12 at -O2 reports -Wmismatched-new-delete for the frames of the
// coroutines below: they are allocated and freed by Asio's own
// awaitable_frame_base operator new/delete pair, so the warning is false.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace immp::xmpp {

namespace {

constexpr std::string_view kNsDiscoInfo = "http://jabber.org/protocol/disco#info";
constexpr std::string_view kNsDiscoItems = "http://jabber.org/protocol/disco#items";
constexpr std::string_view kNsData = "jabber:x:data";

// The name a slot is asked for: the file's title without any path, or one
// made from its kind. Services put it in the URL; clients show it.
std::string filename_of(const File& file) {
  std::string name = file.title.substr(file.title.find_last_of("/\\") + 1);
  if (!name.empty()) return name;
  switch (file.type) {
    case File::Type::image: return "image";
    case File::Type::video: return "video";
    case File::Type::audio: return "audio";
    case File::Type::voice: return "voice";
    case File::Type::sticker: return "sticker";
    case File::Type::unknown: break;
  }
  return "file";
}

// XEP-0363 §5: only these headers of a slot may be sent with the PUT.
bool allowed_header(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "authorization" || lower == "cookie" || lower == "expires";
}

}  // namespace

std::string file_stand_in(const File& file) {
  std::string kind;
  switch (file.type) {
    case File::Type::image: kind = "image"; break;
    case File::Type::video: kind = "video"; break;
    case File::Type::audio: kind = "audio"; break;
    case File::Type::voice: kind = "voice message"; break;
    case File::Type::sticker: kind = "sticker"; break;
    case File::Type::unknown: kind = "file"; break;
  }
  return "[" + kind + (file.title.empty() ? "" : ": " + file.title) + "]";
}

std::optional<UploadService> parse_upload_service(const Element& answer, const std::string& jid) {
  if (answer.attr("type") != "result") return std::nullopt;
  const Element* query = answer.child("query", kNsDiscoInfo);
  if (!query) return std::nullopt;
  bool upload = false;
  for (const auto* f : query->children_named("feature")) upload |= f->attr("var") == kNsUpload;
  if (!upload) return std::nullopt;
  UploadService s;
  s.jid = jid;
  for (const auto* x : query->children_named("x", kNsData)) {
    bool ours = false;
    std::string max;
    for (const auto* field : x->children_named("field")) {
      std::string_view value = field->child_text("value");
      if (field->attr("var") == "FORM_TYPE") ours = value == kNsUpload;
      if (field->attr("var") == "max-file-size") max = std::string(value);
    }
    if (ours && !max.empty()) {
      std::uint64_t n = 0;
      auto [end, ec] = std::from_chars(max.data(), max.data() + max.size(), n);
      if (ec == std::errc() && end == max.data() + max.size()) s.max_size = n;
    }
  }
  return s;
}

Element slot_request(const std::string& service, const std::string& filename, std::uint64_t size,
                     const std::string& content_type) {
  Element iq("iq", std::string(kNsClient));
  iq.set("type", "get").set("to", service);
  Element& r = iq.add("request", std::string(kNsUpload));
  r.set("filename", filename).set("size", std::to_string(size));
  if (!content_type.empty()) r.set("content-type", content_type);
  return iq;
}

SlotAnswer parse_slot(const Element& answer) {
  SlotAnswer out;
  if (answer.attr("type") == "error") {
    out.error = "refused";
    if (const Element* e = answer.child("error")) {
      for (const auto& c : e->children) {
        if (c.ns == kNsStanzas && c.name != "text") out.error = c.name;
      }
      if (auto t = e->child_text("text"); !t.empty()) out.error += " (" + std::string(t) + ")";
    }
    return out;
  }
  const Element* slot = answer.child("slot", kNsUpload);
  const Element* put = slot ? slot->child("put", kNsUpload) : nullptr;
  const Element* get = slot ? slot->child("get", kNsUpload) : nullptr;
  if (!put || !get || put->attr("url").empty() || get->attr("url").empty()) {
    out.error = "the answer has no slot with put and get URLs";
    return out;
  }
  Slot s;
  s.put_url = std::string(put->attr("url"));
  s.get_url = std::string(get->attr("url"));
  for (const auto* h : put->children_named("header", kNsUpload)) {
    std::string name(h->attr("name"));
    std::string value = h->text;
    // Header values are one line: a CR or LF would start a header of its own.
    if (!allowed_header(name) || value.find_first_of("\r\n") != std::string::npos) continue;
    s.headers.emplace_back(std::move(name), std::move(value));
  }
  out.slot = std::move(s);
  return out;
}

Uploader::Uploader(Executor ex, net::HttpOptions http, Iq iq, LoggerPtr log, bool enabled,
                   std::string service)
    : ex_(ex),
      http_(ex, std::move(http)),
      iq_(std::move(iq)),
      log_(std::move(log)),
      enabled_(enabled),
      configured_(std::move(service)) {}

Uploader::~Uploader() = default;

Task<> Uploader::discover(std::string domain) {
  if (!enabled_) co_return;
  std::vector<std::string> candidates;
  if (!configured_.empty()) {
    candidates.push_back(configured_);
  } else {
    candidates.push_back(domain);
    Element items("iq", std::string(kNsClient));
    items.set("type", "get").set("to", domain);
    items.add("query", std::string(kNsDiscoItems));
    auto answer = co_await iq_(std::move(items));
    if (answer && answer->attr("type") == "result") {
      if (const Element* q = answer->child("query", kNsDiscoItems)) {
        for (const auto* item : q->children_named("item")) {
          if (!item->attr("jid").empty()) candidates.emplace_back(item->attr("jid"));
        }
      }
    }
  }
  for (const auto& jid : candidates) {
    Element info("iq", std::string(kNsClient));
    info.set("type", "get").set("to", jid);
    info.add("query", std::string(kNsDiscoInfo));
    auto answer = co_await iq_(std::move(info));
    if (!answer) continue;
    if (auto s = parse_upload_service(*answer, jid)) {
      log_->info("HTTP upload service: {} (largest file: {})", s->jid,
                 s->max_size ? std::to_string(s->max_size) + " bytes" : std::string("unsaid"));
      service_ = std::move(s);
      co_return;
    }
  }
  if (!configured_.empty()) {
    log_->warn("{} is not an HTTP upload service: files are sent as links", configured_);
  } else {
    log_->info("no HTTP upload service on {}: files are sent as links", domain);
  }
  service_.reset();
}

Task<std::vector<FileLink>> Uploader::links(const Message& msg) {
  std::vector<FileLink> out;
  for (const auto& att : msg.attachments) {
    const File* f = std::get_if<File>(&att);
    if (!f) continue;
    FileLink l = co_await link(*f);
    out.push_back(std::move(l));
  }
  co_return out;
}

Task<FileLink> Uploader::link(const File& file) {
  FileLink out;
  if (!file.url.empty()) {
    out.url = file.url;
    co_return out;
  }
  out.text = file_stand_in(file);
  Plug* origin = file.plug();
  if (!enabled_ || !service_ || !file.fetchable() || !origin) co_return out;
  const std::uint64_t limit = service_->max_size ? service_->max_size : 100 * 1024 * 1024;
  if (file.size && *file.size > limit) {
    log_->info("{} is {} bytes, more than the upload service takes: sent as text", file.title,
               *file.size);
    co_return out;
  }
  auto bytes = std::make_shared<std::string>();
  FileSink sink = [bytes](std::string_view chunk) -> Task<> {
    bytes->append(chunk);
    co_return;
  };
  FetchResult got = co_await origin->fetch_file(file, sink, limit);
  if (got.kind == FetchResult::Kind::too_large) {
    log_->info("{} is more than the upload service takes: sent as text", file.title);
    co_return out;
  }
  if (got.kind == FetchResult::Kind::not_fetchable) co_return out;
  if (got.kind != FetchResult::Kind::done) {
    throw UploadError("cannot fetch " + file.title + " from " + origin->name() + ": " + got.reason);
  }
  out.url = co_await upload(file, std::move(*bytes));
  out.text.clear();
  co_return out;
}

Task<std::string> Uploader::upload(const File& file, std::string bytes) {
  const std::string name = filename_of(file);
  Element request = slot_request(service_->jid, name, bytes.size(), file.mime);
  auto answer = co_await iq_(std::move(request));
  if (!answer) throw UploadError("no slot from " + service_->jid + " for " + name + " in time");
  SlotAnswer slot = parse_slot(*answer);
  if (!slot.slot) {
    throw UploadError(service_->jid + " gave no slot for " + name + ": " + slot.error);
  }
  net::HttpRequest put;
  put.method = "PUT";
  put.url = slot.slot->put_url;
  put.headers = slot.slot->headers;
  put.content_type = file.mime.empty() ? "application/octet-stream" : file.mime;
  put.body = std::move(bytes);
  net::HttpResponse r;
  try {
    r = co_await http_.request(std::move(put));
  } catch (const net::HttpError& e) {
    throw UploadError(e.what());
  }
  if (!r.ok()) {
    throw UploadError("PUT " + slot.slot->put_url + ": " + std::to_string(r.status) + " " +
                      r.reason);
  }
  log_->debug("uploaded {} ({} bytes) to {}", name, r.body_size, slot.slot->get_url);
  co_return slot.slot->get_url;
}

}  // namespace immp::xmpp
