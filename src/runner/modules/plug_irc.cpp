// The module library libimmp_builtin_plug_irc.so (runner/builtins.hpp).
#include "plugs/irc/irc_plug.hpp"
#include "immp/registry.hpp"

IMMP_PLUGIN("immp.plug_irc",
            immp::describe<immp::plugs::IRCPlug>())
