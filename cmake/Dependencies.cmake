# Every dependency comes from Debian packages installed by scripts/setup.sh.
find_package(Threads REQUIRED)
find_package(Boost 1.81 REQUIRED COMPONENTS json url)
find_package(OpenSSL REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
pkg_check_modules(ICU REQUIRED IMPORTED_TARGET icu-uc)
find_package(CLI11 CONFIG QUIET)

# Private dependencies of each layer, not part of the SDK.
add_library(immp_core_deps INTERFACE)
target_link_libraries(immp_core_deps INTERFACE
  Boost::json Boost::url yaml-cpp PkgConfig::TOMLPP ${CMAKE_DL_LIBS})
add_library(immp_store_deps INTERFACE)
target_link_libraries(immp_store_deps INTERFACE Boost::json PkgConfig::SQLITE3)
# ICU: Unicode case mapping for the template filters (upper, lower, title)
# and grapheme clusters. cmark-gfm: Markdown (its GFM extensions for
# strikethrough); Debian ships no pkg-config file for the extensions.
pkg_check_modules(CMARK_GFM REQUIRED IMPORTED_TARGET libcmark-gfm)
find_library(CMARK_GFM_EXTENSIONS_LIBRARY cmark-gfm-extensions REQUIRED)
add_library(immp_text_deps INTERFACE)
target_link_libraries(immp_text_deps INTERFACE
  PkgConfig::ICU PkgConfig::CMARK_GFM ${CMARK_GFM_EXTENSIONS_LIBRARY})
# Everything: every layer (added with the runner in CMakeLists.txt) and
# their private dependencies, for tests and benchmarks, which may reach into
# any layer's internals.
add_library(immp_deps INTERFACE)
target_link_libraries(immp_deps INTERFACE immp_core_deps immp_store_deps immp_text_deps PkgConfig::PQXX)

# RE2: the auto-respond and filter hooks match all their patterns in one
# pass (RE2::Set). The library only: re2.pc's -pthread compile flag would
# define _REENTRANT and make the shared precompiled header unusable.
find_path(RE2_INCLUDE_DIR re2/set.h REQUIRED)
find_library(RE2_LIBRARY re2 REQUIRED)
add_library(immp_re2 INTERFACE)
target_include_directories(immp_re2 INTERFACE ${RE2_INCLUDE_DIR})
target_link_libraries(immp_re2 INTERFACE ${RE2_LIBRARY} Threads::Threads)

# The allocator of the `immp` command and the benchmarks: Debian's mimalloc
# replaces glibc's malloc. Measured on the relay path: glibc's malloc and
# free took about a sixth of the instructions per message, and the whole
# path ran 1.8x faster per CPU second with mimalloc, at the same RSS. Off
# under the sanitizers, which bring their own allocator.
if(NOT IMMP_SANITIZE)
  find_package(mimalloc 2.0 REQUIRED)
endif()
