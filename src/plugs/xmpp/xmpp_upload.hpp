// XEP-0363 HTTP File Upload for the XMPP plug: the upload service found by
// service discovery, a slot asked of it, the bytes PUT to the slot with the
// project's HTTP client (net/http.hpp), and the link to show.
//
// A file on its way out of the plug becomes one of:
// - its public `url`, when it has one: anyone can fetch it already;
// - the GET URL of a slot, when it has none but its origin plug can fetch
//   it (File::fetchable) and the server has an upload service that takes
//   files of its size;
// - a text stand-in ("[image: cat.png]") otherwise.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "immp/log.hpp"
#include "immp/message.hpp"
#include "net/http.hpp"
#include "plugs/xmpp/xmpp_xml.hpp"

namespace immp::xmpp {

inline constexpr std::string_view kNsUpload = "urn:xmpp:http:upload:0";

struct UploadService {
  std::string jid;
  std::uint64_t max_size = 0;  // bytes; 0: the service did not say
};

// The upload service that a disco#info answer from `jid` describes, or
// nullopt when it is none.
std::optional<UploadService> parse_upload_service(const Element& info_answer,
                                                  const std::string& jid);

// The slot request for one file (an iq of type get, without an id).
Element slot_request(const std::string& service, const std::string& filename, std::uint64_t size,
                     const std::string& content_type);

struct Slot {
  std::string put_url;
  std::string get_url;
  net::Headers headers;  // to send with the PUT (only those XEP-0363 allows)
};

// The slot in the service's answer, or why there is none (the error's
// condition and text, or what is malformed).
struct SlotAnswer {
  std::optional<Slot> slot;
  std::string error;
};
SlotAnswer parse_slot(const Element& answer);

// A file as the message will show it: a link (url set), or a stand-in text.
struct FileLink {
  std::string url;
  std::string text;  // the stand-in when url is empty
};

// A failure that may pass (the service or the origin could not be reached):
// the put() is retried.
class UploadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Finds the service and uploads, on the plug's executor. Owned by the plug.
class Uploader {
 public:
  // Sends an iq and waits for its answer (nullopt: none in time, or no link).
  using Iq = std::function<Task<std::optional<Element>>(Element request)>;

  // `service`: a configured service JID (no discovery); `enabled` false:
  // nothing is ever uploaded. `http`: the options of the PUT requests.
  Uploader(Executor ex, net::HttpOptions http, Iq iq, LoggerPtr log, bool enabled,
           std::string service);
  ~Uploader();

  // Looks for the service on `domain` and its items (disco#items, then
  // disco#info of each), after every login that did not resume.
  Task<> discover(std::string domain);
  const std::optional<UploadService>& service() const { return service_; }

  // The links for every File of `msg`, in order. Throws UploadError when a
  // file that should be uploaded could not be now.
  Task<std::vector<FileLink>> links(const Message& msg);

 private:
  Task<FileLink> link(const File& file);
  Task<std::string> upload(const File& file, std::string bytes);

  Executor ex_;
  net::HttpClient http_;
  Iq iq_;
  LoggerPtr log_;
  bool enabled_;
  std::string configured_;
  std::optional<UploadService> service_;
};

// "[image: cat.png]": how a file nobody can fetch is shown.
std::string file_stand_in(const File& file);

}  // namespace immp::xmpp
