// The one translation unit that compiles Asio and its SSL support (and
// Beast, once used):
// every other file includes the headers in separate-compilation mode.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
