// The module library libimmp_builtin_plug_xmpp.so (runner/builtins.hpp).
#include "plugs/xmpp/xmpp_plug.hpp"
#include "immp/registry.hpp"

IMMP_PLUGIN("immp.plug_xmpp",
            immp::describe<immp::plugs::XMPPPlug>())
