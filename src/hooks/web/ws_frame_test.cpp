#include "hooks/web/ws_frame.hpp"

#include <gtest/gtest.h>

#include <string>

namespace immp::web::ws {
namespace {

// A client frame: masked with `key`, as a browser sends it.
std::string client_frame(std::uint8_t first, std::string_view payload,
                         const char key[4] = "\x11\x22\x33\x44") {
  std::string out;
  out.push_back(static_cast<char>(first));
  std::size_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<char>(0x80 | n));
  } else if (n <= 0xFFFF) {
    out.push_back(static_cast<char>(0x80 | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xFF));
  } else {
    out.push_back(static_cast<char>(0x80 | 127));
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((std::uint64_t{n} >> (56 - 8 * i)) & 0xFF));
  }
  out.append(key, 4);
  for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<char>(payload[i] ^ key[i & 3]));
  return out;
}

TEST(WsFrame, HeaderLengthFollowsThePayload) {
  EXPECT_EQ(encode(Opcode::text, "hi"), std::string("\x81\x02hi", 4));
  std::string medium(126, 'a');
  std::string f = encode(Opcode::text, medium);
  ASSERT_EQ(f.size(), 4u + 126u);
  EXPECT_EQ(static_cast<unsigned char>(f[1]), 126);
  EXPECT_EQ(static_cast<unsigned char>(f[2]), 0);
  EXPECT_EQ(static_cast<unsigned char>(f[3]), 126);
  std::string big(70000, 'b');
  f = encode(Opcode::binary, big);
  ASSERT_EQ(f.size(), 10u + 70000u);
  EXPECT_EQ(static_cast<unsigned char>(f[0]), 0x82);
  EXPECT_EQ(static_cast<unsigned char>(f[1]), 127);
  EXPECT_EQ((static_cast<unsigned char>(f[7]) << 16) | (static_cast<unsigned char>(f[8]) << 8) |
                static_cast<unsigned char>(f[9]),
            70000);
}

TEST(WsFrame, CloseCarriesCodeAndAShortReason) {
  std::string f = encode_close(kPolicy, "lagged");
  EXPECT_EQ(f, std::string("\x88\x08\x03\xF0lagged", 10));
  // A long reason is cut below 125 bytes without splitting a character.
  std::string reason(121, 'x');
  reason += "\xC3\xA9\xC3\xA9";  // "éé": 125 bytes in all
  f = encode_close(kNormal, reason);
  EXPECT_EQ(static_cast<unsigned char>(f[1]), 2 + 123);
  EXPECT_EQ(f.substr(f.size() - 2), "\xC3\xA9");
}

TEST(WsFrame, AcceptKeyOfTheRfcExample) {
  EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WsFrame, ParsesAMaskedFrameGivenInPieces) {
  std::string wire = client_frame(0x81, "hello") + client_frame(0x89, "p");
  for (std::size_t cut = 0; cut < 11; ++cut) {
    std::string part = wire.substr(0, cut);
    auto p = parse_client_frame(part, 100);
    EXPECT_EQ(p.status, Parsed::Status::need_more) << cut;
    EXPECT_GT(p.size, cut);
  }
  auto p = parse_client_frame(wire, 100);
  ASSERT_EQ(p.status, Parsed::Status::frame);
  EXPECT_EQ(p.opcode, Opcode::text);
  EXPECT_TRUE(p.fin);
  EXPECT_EQ(p.payload, "hello");
  EXPECT_EQ(p.size, 11u);
  auto ping = parse_client_frame(std::span<char>(wire).subspan(p.size), 100);
  ASSERT_EQ(ping.status, Parsed::Status::frame);
  EXPECT_EQ(ping.opcode, Opcode::ping);
  EXPECT_EQ(ping.payload, "p");
  std::string big(70000, 'z');
  std::string wire_big = client_frame(0x02, big);
  auto b = parse_client_frame(wire_big, 1 << 20);
  ASSERT_EQ(b.status, Parsed::Status::frame);
  EXPECT_FALSE(b.fin);
  EXPECT_EQ(b.payload, big);
}

TEST(WsFrame, RefusesWhatAClientMayNotSend) {
  std::string unmasked = "\x81\x02hi";
  EXPECT_EQ(parse_client_frame(unmasked, 100).close_code, kProtocolError);
  std::string reserved = client_frame(0xC1, "x");  // RSV1 without permessage-deflate
  EXPECT_EQ(parse_client_frame(reserved, 100).status, Parsed::Status::error);
  std::string fragmented_ping = client_frame(0x09, "x");
  EXPECT_EQ(parse_client_frame(fragmented_ping, 100).close_code, kProtocolError);
  std::string opcode = client_frame(0x83, "x");
  EXPECT_EQ(parse_client_frame(opcode, 100).status, Parsed::Status::error);
  // Too big is known from the header alone.
  std::string big = client_frame(0x81, std::string(5000, 'a')).substr(0, 8);
  auto p = parse_client_frame(big, 4096);
  EXPECT_EQ(p.status, Parsed::Status::error);
  EXPECT_EQ(p.close_code, kTooBig);
}

}  // namespace
}  // namespace immp::web::ws
