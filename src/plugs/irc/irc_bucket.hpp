// Flood control for one IRC connection: the network layer's token bucket
// (net/rate_limit.hpp), which the caller drives with its clock's time.
#pragma once

#include "net/rate_limit.hpp"

namespace immp::irc {

using TokenBucket = net::TokenBucket;

}  // namespace immp::irc
