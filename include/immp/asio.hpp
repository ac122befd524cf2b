// The Asio vocabulary of the SDK. Asio is compiled once inside libimmp
// (BOOST_ASIO_SEPARATE_COMPILATION); plugins get the same definitions from
// the immp CMake package.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>

namespace immp {

namespace asio = boost::asio;

template <typename T = void>
using Task = asio::awaitable<T>;

using Executor = asio::any_io_executor;

}  // namespace immp
