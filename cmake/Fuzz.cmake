# libFuzzer targets. Needs clang: configure a separate build directory with
#   cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DIMMP_FUZZ=ON \
#         -DIMMP_TESTS=OFF -DIMMP_BENCH=OFF
#   cmake --build build-fuzz --target fuzz_irc_line_run     # 30 s by default
# or run the binary yourself:
#   build-fuzz/fuzz_irc_line -max_total_time=30 -dict=build-fuzz/fuzz/irc_line.dict \
#     build-fuzz/fuzz/irc_line_corpus
# A crash leaves crash-<hash> in the working directory; rerun it with
#   build-fuzz/fuzz_irc_line crash-<hash>
option(IMMP_FUZZ "Build the libFuzzer targets (clang only)" OFF)
set(IMMP_FUZZ_SECONDS 30 CACHE STRING "How long the fuzz_*_run targets fuzz, in seconds")

if(IMMP_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "IMMP_FUZZ=ON needs clang (libFuzzer); this build uses "
      "${CMAKE_CXX_COMPILER_ID}. Configure a separate build directory with "
      "-DCMAKE_CXX_COMPILER=clang++.")
  endif()

  set(IMMP_FUZZ_FLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
      -fno-omit-frame-pointer)

  # The IRC protocol helpers are pure: the fuzz target compiles their sources
  # itself, fully instrumented, without libimmp.
  add_executable(fuzz_irc_line
    src/plugs/irc/irc_line_fuzz.cpp
    src/plugs/irc/irc_line.cpp
    src/plugs/irc/irc_format.cpp
    src/plugs/irc/irc_split.cpp
    src/text/utf8.cpp)
  target_include_directories(fuzz_irc_line PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/include)
  target_compile_options(fuzz_irc_line PRIVATE ${IMMP_FUZZ_FLAGS})
  target_link_options(fuzz_irc_line PRIVATE ${IMMP_FUZZ_FLAGS})

  # A small seed corpus and dictionary, so the fuzzer starts from real lines.
  set(corpus ${CMAKE_BINARY_DIR}/fuzz/irc_line_corpus)
  file(MAKE_DIRECTORY ${corpus})
  # (CMake strings have no \x escapes, hence string(ASCII).)
  string(ASCII 1 ctcp)
  string(ASCII 2 bold)
  string(ASCII 3 colour)
  string(ASCII 4 hex)
  string(ASCII 29 italic)
  string(ASCII 13 cr)
  string(ASCII 10 lf)
  file(WRITE ${corpus}/privmsg ":nick!user@host PRIVMSG #chan :hello world${cr}${lf}")
  file(WRITE ${corpus}/tags
    "@time=2026-11-22T10:00:00.123Z;msgid=abc\\:d\\se\\\\f;flag :srv 001 me :Welcome")
  file(WRITE ${corpus}/ping "PING :irc.example.org")
  file(WRITE ${corpus}/action ":a!b@c PRIVMSG #x :${ctcp}ACTION waves${ctcp}")
  file(WRITE ${corpus}/formatting
    ":n PRIVMSG #c :${bold}bold${bold} ${colour}04,12col${colour} ${hex}FF00AA,00FF00hex ${italic}it${italic} 😀 中文")
  file(WRITE ${corpus}/cap "CAP * LS :sasl message-tags server-time")
  file(WRITE ${CMAKE_BINARY_DIR}/fuzz/irc_line.dict
    "\"PRIVMSG\"\n\"NOTICE\"\n\"@\"\n\";\"\n\"=\"\n\" :\"\n\":\"\n\"!\"\n\"\\\\:\"\n\"\\\\s\"\n"
    "\"\\\\\\\\\"\n\"\\x0d\\x0a\"\n\"\\x01ACTION \"\n\"\\x03\"\n\"\\x04\"\n\"\\x02\"\n\"time=\"\n")

  add_custom_target(fuzz_irc_line_run
    COMMAND fuzz_irc_line -max_total_time=${IMMP_FUZZ_SECONDS}
            -dict=${CMAKE_BINARY_DIR}/fuzz/irc_line.dict ${corpus}
    WORKING_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz
    DEPENDS fuzz_irc_line
    USES_TERMINAL
    COMMENT "Fuzzing the IRC line parser for ${IMMP_FUZZ_SECONDS} s")
endif()
