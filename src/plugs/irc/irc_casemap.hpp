// IRC case mapping (ISUPPORT CASEMAPPING) for comparing nicks and channels.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace immp::irc {

// rfc1459: A-Z and []\~ fold to a-z and {}|^ (the default when the server
// does not say). strict_rfc1459: the same without ~/^. ascii: A-Z only.
enum class CaseMapping { rfc1459, strict_rfc1459, ascii };

// The mapping named by a CASEMAPPING token ("rfc1459", "strict-rfc1459",
// "ascii"); nullopt for others (e.g. "rfc7613"), which callers should treat
// as ascii for bytes below 0x80.
std::optional<CaseMapping> parse_casemapping(std::string_view token);

// `text` folded to lower case under `mapping`. Bytes >= 0x80 are unchanged.
std::string fold(std::string_view text, CaseMapping mapping = CaseMapping::rfc1459);
// fold() into `out`, replacing what it held: no allocation once `out` has
// the capacity. `text` must not be a view into `out`.
void fold_into(std::string& out, std::string_view text, CaseMapping mapping = CaseMapping::rfc1459);

// True if `a` and `b` are the same nick or channel under `mapping`.
bool same_name(std::string_view a, std::string_view b,
               CaseMapping mapping = CaseMapping::rfc1459);

}  // namespace immp::irc
