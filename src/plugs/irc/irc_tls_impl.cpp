// Asio's SSL support compiled once (BOOST_ASIO_SEPARATE_COMPILATION leaves
// it out of core/asio_impl.cpp). Temporary home: when the core compiles
// <boost/asio/ssl/impl/src.hpp> itself, delete this file.
#include <boost/asio/ssl/impl/src.hpp>
