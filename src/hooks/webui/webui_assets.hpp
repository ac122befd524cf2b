// The admin page's style sheet and script, built in: the hook serves them
// from its own route, so the page needs no files beside the binary and its
// Content-Security-Policy can allow only 'self'.
#pragma once

#include <string_view>

namespace immp::webui {

extern const std::string_view kAdminCss;
// Keeps the state cells live: polls state.json every 2 s and reloads the
// page when plugs or hooks came or went, or a state changed.
extern const std::string_view kAdminJs;

}  // namespace immp::webui
