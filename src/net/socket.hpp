// Small socket settings that network plugs share.
#pragma once

namespace immp::net {

// Acknowledges what was just read at once (TCP_QUICKACK; Linux clears the
// flag by itself, so call it after every read that got bytes). Servers that
// never set TCP_NODELAY (ngircd, Prosody by default) have Nagle hold their
// next small write until we ACK the last one, and a client that is not
// writing ACKs late (delayed ACK, up to 40 ms on Linux): a message every
// few tens of milliseconds then waits that long. A no-op where the option
// does not exist.
void quick_ack(int fd);

}  // namespace immp::net
