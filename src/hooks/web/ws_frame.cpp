#include "hooks/web/ws_frame.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstring>

namespace immp::web::ws {

void encode_to(std::string& out, Opcode opcode, std::string_view payload) {
  const std::size_t n = payload.size();
  char head[10];
  std::size_t h = 2;
  head[0] = static_cast<char>(0x80 | static_cast<std::uint8_t>(opcode));
  if (n < 126) {
    head[1] = static_cast<char>(n);
  } else if (n <= 0xFFFF) {
    head[1] = 126;
    head[2] = static_cast<char>(n >> 8);
    head[3] = static_cast<char>(n & 0xFF);
    h = 4;
  } else {
    head[1] = 127;
    for (int i = 0; i < 8; ++i) head[2 + i] = static_cast<char>((std::uint64_t{n} >> (56 - 8 * i)) & 0xFF);
    h = 10;
  }
  out.reserve(out.size() + h + n);
  out.append(head, h);
  out.append(payload);
}

std::string encode(Opcode opcode, std::string_view payload) {
  std::string out;
  encode_to(out, opcode, payload);
  return out;
}

std::string encode_close(std::uint16_t code, std::string_view reason) {
  if (reason.size() > 123) {
    std::size_t cut = 123;
    // Not in the middle of a UTF-8 sequence: back off continuation bytes.
    while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
    reason = reason.substr(0, cut);
  }
  std::string payload;
  payload.reserve(2 + reason.size());
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xFF));
  payload.append(reason);
  return encode(Opcode::close, payload);
}

std::string accept_key(std::string_view key) {
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string text;
  text.reserve(key.size() + kGuid.size());
  text.append(key);
  text.append(kGuid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  unsigned char out[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  int n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
}

Parsed parse_client_frame(std::span<char> data, std::size_t max_payload) {
  Parsed p;
  auto error = [&](std::uint16_t code, const char* why) {
    p.status = Parsed::Status::error;
    p.close_code = code;
    p.error = why;
    return p;
  };
  if (data.size() < 2) {
    p.size = 2;
    return p;
  }
  const auto b0 = static_cast<std::uint8_t>(data[0]);
  const auto b1 = static_cast<std::uint8_t>(data[1]);
  if (b0 & 0x70) return error(kProtocolError, "reserved bits set (no extension was agreed)");
  const std::uint8_t op = b0 & 0x0F;
  const bool control = op & 0x08;
  if (op != 0x0 && op != 0x1 && op != 0x2 && op != 0x8 && op != 0x9 && op != 0xA) {
    return error(kProtocolError, "unknown opcode");
  }
  if (!(b1 & 0x80)) return error(kProtocolError, "a client frame must be masked");
  p.fin = b0 & 0x80;
  p.opcode = static_cast<Opcode>(op);
  std::uint64_t len = b1 & 0x7F;
  std::size_t h = 2;
  if (len == 126) {
    h = 4;
  } else if (len == 127) {
    h = 10;
  }
  if (control && (len > 125 || !p.fin)) {
    return error(kProtocolError, "a control frame must be whole and at most 125 bytes");
  }
  if (data.size() < h) {
    p.size = h + 4;
    return p;
  }
  if (h == 4) {
    len = (std::uint64_t{static_cast<std::uint8_t>(data[2])} << 8) |
          static_cast<std::uint8_t>(data[3]);
  } else if (h == 10) {
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<std::uint8_t>(data[2 + i]);
    if (len >> 63) return error(kProtocolError, "bad payload length");
  }
  if (len > max_payload) return error(kTooBig, "message too big");
  const std::size_t total = h + 4 + static_cast<std::size_t>(len);
  p.size = total;
  if (data.size() < total) return p;
  const char* mask = data.data() + h;
  char* payload = data.data() + h + 4;
  for (std::size_t i = 0; i < len; ++i) payload[i] ^= mask[i & 3];
  p.payload = std::string_view(payload, static_cast<std::size_t>(len));
  p.status = Parsed::Status::frame;
  return p;
}

}  // namespace immp::web::ws
