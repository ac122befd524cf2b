// The one translation unit that compiles Asio (and Beast, once used):
// every other file includes the headers in separate-compilation mode.
#include <boost/asio/impl/src.hpp>
