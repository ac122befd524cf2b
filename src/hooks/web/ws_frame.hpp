// WebSocket frames (RFC 6455) as the web server writes and reads them.
//
// The server encodes a frame once and writes the same bytes to every
// client that gets it (a stream event goes to a thousand clients as one
// shared string), so encoding is a plain function of the payload: server
// frames are never masked. Client frames are always masked; the parser
// unmasks them in place and refuses an unmasked one.
//
// Pure functions, no I/O; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace immp::web::ws {

enum class Opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

// Close codes the server sends.
inline constexpr std::uint16_t kNormal = 1000;
inline constexpr std::uint16_t kProtocolError = 1002;
inline constexpr std::uint16_t kInvalidData = 1007;  // a text message that is not UTF-8
inline constexpr std::uint16_t kPolicy = 1008;
inline constexpr std::uint16_t kTooBig = 1009;

// A whole server frame (FIN set, unmasked) carrying `payload`. Control
// frames (close, ping, pong) must carry at most 125 bytes.
std::string encode(Opcode opcode, std::string_view payload);
// Appends the same to `out`.
void encode_to(std::string& out, Opcode opcode, std::string_view payload);
// A close frame with `code` and `reason` (cut to 123 bytes, at a UTF-8
// boundary).
std::string encode_close(std::uint16_t code, std::string_view reason);

// Sec-WebSocket-Accept for a client's Sec-WebSocket-Key.
std::string accept_key(std::string_view key);

// One client frame parsed from the front of a buffer.
struct Parsed {
  enum class Status {
    frame,      // `opcode`, `fin`, `payload` (unmasked, in the buffer) and `size` are set
    need_more,  // the frame is not complete; `size` is at least how many bytes it needs
    error,      // not a valid client frame: close with `close_code`, saying `error`
  };
  Status status = Status::need_more;
  Opcode opcode = Opcode::continuation;
  bool fin = false;
  std::string_view payload;
  std::size_t size = 0;  // bytes of the whole frame (header + payload)
  std::uint16_t close_code = 0;
  const char* error = "";
};

// Parses the frame at the front of `data`, unmasking its payload in place.
// A frame whose payload would exceed `max_payload` is an error (1009) as
// soon as its header says so, before the payload arrives.
Parsed parse_client_frame(std::span<char> data, std::size_t max_payload);

}  // namespace immp::web::ws
