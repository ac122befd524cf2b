// The one translation unit that compiles Asio, its SSL support and Beast:
// every other file (and every plugin) includes their headers in
// separate-compilation mode (BOOST_ASIO_SEPARATE_COMPILATION,
// BOOST_BEAST_SEPARATE_COMPILATION) and links this copy. Beast's SSL
// support is header-only on top of Asio's.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
