# libFuzzer targets. Needs clang: configure a separate build directory with
#   cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DIMMP_FUZZ=ON \
#         -DIMMP_TESTS=OFF -DIMMP_BENCH=OFF
#   cmake --build build-fuzz --target fuzz_run   # every target, 30 s in all by default
#   cmake --build build-fuzz --target fuzz_irc_line_run     # one target
# or run the binary yourself:
#   build-fuzz/fuzz_irc_line -max_total_time=30 -dict=build-fuzz/fuzz/irc_line.dict \
#     build-fuzz/fuzz/irc_line_corpus
# A crash leaves crash-<hash> in the working directory; rerun it with
#   build-fuzz/fuzz_irc_line crash-<hash>
option(IMMP_FUZZ "Build the libFuzzer targets (clang only)" OFF)
set(IMMP_FUZZ_SECONDS 30 CACHE STRING "How long fuzz_run fuzzes, in seconds, split across the targets")

if(IMMP_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "IMMP_FUZZ=ON needs clang (libFuzzer); this build uses "
      "${CMAKE_CXX_COMPILER_ID}. Configure a separate build directory with "
      "-DCMAKE_CXX_COMPILER=clang++.")
  endif()

  set(IMMP_FUZZ_FLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
      -fno-omit-frame-pointer)

  # A fuzz target: its sources, fully instrumented, and the LINKS it needs
  # beside Boost's headers and fmt.
  function(immp_fuzz_target target)
    cmake_parse_arguments(arg "" "" "SOURCES;LINKS" ${ARGN})
    add_executable(${target} ${arg_SOURCES})
    target_include_directories(${target} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/include)
    target_link_libraries(${target} PRIVATE ${arg_LINKS} Boost::headers fmt::fmt)
    target_compile_options(${target} PRIVATE ${IMMP_FUZZ_FLAGS})
    target_link_options(${target} PRIVATE ${IMMP_FUZZ_FLAGS})
  endfunction()

  # The IRC protocol helpers are pure: the fuzz target compiles their sources
  # itself, fully instrumented, without libimmp (RichText from its source).
  immp_fuzz_target(fuzz_irc_line SOURCES
    src/plugs/irc/irc_line_fuzz.cpp
    src/plugs/irc/irc_line.cpp
    src/text/markup_irc.cpp
    src/plugs/irc/irc_split.cpp
    src/text/utf8.cpp
    src/core/message.cpp)

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

  # fuzz_run runs every target in turn; the time is split between them (at
  # least 2 s each), so `make test-fuzz` takes IMMP_FUZZ_SECONDS in all.
  set(fuzz_targets 7)
  math(EXPR fuzz_each "${IMMP_FUZZ_SECONDS} / ${fuzz_targets}")
  if(fuzz_each LESS 2)
    set(fuzz_each 2)
  endif()
  add_custom_target(fuzz_run)
  # Fuzzes `target` for fuzz_each seconds from ${corpus} with its
  # dictionary (build-fuzz/fuzz/<dict>), as part of fuzz_run.
  function(immp_fuzz_run target dict what)
    add_custom_target(${target}_run
      COMMAND ${target} -max_total_time=${fuzz_each} -dict=${CMAKE_BINARY_DIR}/fuzz/${dict} ${corpus}
      WORKING_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz
      DEPENDS ${target}
      USES_TERMINAL
      COMMENT "Fuzzing ${what} for ${fuzz_each} s")
    add_dependencies(fuzz_run ${target}_run)
  endfunction()

  immp_fuzz_run(fuzz_irc_line irc_line.dict "the IRC line parser")

  # The markup readers and writers of src/text, one binary per dialect.
  # RichText comes from its source (src/core/message.cpp), compiled in.
  set(markup_dialects html markdown slack discord)
  set(dialect_number 0)
  foreach(dialect ${markup_dialects})
    set(target fuzz_markup_${dialect})
    immp_fuzz_target(${target} LINKS immp_text_deps SOURCES
      src/text/markup_fuzz.cpp src/text/markup_html.cpp src/text/markup_markdown.cpp
      src/text/markup_chat.cpp src/text/markup_inline.cpp src/text/utf8.cpp
      src/core/message.cpp)
    target_compile_definitions(${target} PRIVATE IMMP_FUZZ_DIALECT=${dialect_number})
    math(EXPR dialect_number "${dialect_number} + 1")

    set(corpus ${CMAKE_BINARY_DIR}/fuzz/markup_${dialect}_corpus)
    file(MAKE_DIRECTORY ${corpus})
    immp_fuzz_run(${target} markup.dict "the ${dialect} reader and writer")
  endforeach()
  file(WRITE ${CMAKE_BINARY_DIR}/fuzz/markup_html_corpus/tags
    "<b>bold</b> <i>it</i> <a href=\"https://e.org/?a&amp;b\">link</a><pre>x</pre>&#128512;")
  file(WRITE ${CMAKE_BINARY_DIR}/fuzz/markup_markdown_corpus/all
    "**bold** *it* ~~s~~ `code` [l](<https://e.org>)\n\n```\npre\n```\n- item\n> quote")
  file(WRITE ${CMAKE_BINARY_DIR}/fuzz/markup_slack_corpus/all
    "*bold* _it_ ~s~ `code` ```pre``` <https://e.org|link> <@U1> &amp;&lt;")
  file(WRITE ${CMAKE_BINARY_DIR}/fuzz/markup_discord_corpus/all
    "**bold** *it* __u__ ~~s~~ `code` ```py\nx\n``` [l](<https://e.org>) \\*")
  file(WRITE ${CMAKE_BINARY_DIR}/fuzz/markup.dict
    "\"**\"\n\"__\"\n\"~~\"\n\"```\"\n\"`\"\n\"<b>\"\n\"</b>\"\n\"<a href=\"\n\"</a>\"\n"
    "\"<pre>\"\n\"&amp;\"\n\"&#x\"\n\"](\"\n\"<u>\"\n\"<http\"\n\"|\"\n")

  # The XMPP stream parser (expat), with its own limits: hostile nesting,
  # sizes, entities and any split of the input.
  immp_fuzz_target(fuzz_xmpp_xml LINKS expat immp_text_deps SOURCES
    src/plugs/xmpp/xmpp_xml_fuzz.cpp src/plugs/xmpp/xmpp_xml.cpp src/text/utf8.cpp)
  set(corpus ${CMAKE_BINARY_DIR}/fuzz/xmpp_xml_corpus)
  file(MAKE_DIRECTORY ${corpus})
  file(WRITE ${corpus}/message
    "<message to='r@muc.example' type='groupchat' xml:lang='en'><body>hi &amp; &#x1F600;</body>"
    "<stanza-id xmlns='urn:xmpp:sid:0' id='1' by='r@muc.example'/></message>")
  file(WRITE ${corpus}/presence
    "<presence from='r@m/n'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='a@b/c'/>"
    "<status code='110'/></x></presence><iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
  file(WRITE ${corpus}/xml-prefix
    "<message type='groupchat'><xml:odd xmlns='urn:x'><y/></xml:odd><z/></message>")
  file(WRITE ${corpus}/entities "<!DOCTYPE x [<!ENTITY a 'aaaa'>]><m>&a;&a;</m>")
  file(WRITE ${CMAKE_BINARY_DIR}/fuzz/xmpp_xml.dict
    "\"<message>\"\n\"</message>\"\n\"<body>\"\n\"xmlns='\"\n\"xml:lang\"\n\"&amp;\"\n"
    "\"&#x\"\n\"<![CDATA[\"\n\"]]>\"\n\"<!DOCTYPE\"\n\"<!ENTITY\"\n\"</stream:stream>\"\n")
  immp_fuzz_run(fuzz_xmpp_xml xmpp_xml.dict "the XMPP stream parser")

  # The web server's fast request parser, differential: whatever it takes,
  # Beast's parser must take the same way (header-only Beast, compiled in).
  immp_fuzz_target(fuzz_http_simple SOURCES
    src/hooks/web/http_simple_fuzz.cpp src/hooks/web/http_simple.cpp)
  set(corpus ${CMAKE_BINARY_DIR}/fuzz/http_simple_corpus)
  file(MAKE_DIRECTORY ${corpus})
  string(ASCII 13 cr)
  string(ASCII 10 lf)
  set(crlf "${cr}${lf}")
  file(WRITE ${corpus}/post
    "POST /api/v1/channels/lobby/messages HTTP/1.1${crlf}Host: 127.0.0.1${crlf}"
    "Authorization: Bearer abc${crlf}Content-Type: application/json${crlf}"
    "Content-Length: 15${crlf}${crlf}{\"text\":\"hi!\"}${lf}")
  file(WRITE ${corpus}/pipelined
    "GET /a?b HTTP/1.0${crlf}Connection: keep-alive${crlf}${crlf}GET / HTTP/1.1${crlf}${crlf}")
  file(WRITE ${corpus}/chunked
    "POST / HTTP/1.1${crlf}Transfer-Encoding: chunked${crlf}${crlf}3${crlf}abc${crlf}0${crlf}${crlf}")
  file(WRITE ${CMAKE_BINARY_DIR}/fuzz/http_simple.dict
    "\"HTTP/1.1\"\n\"HTTP/1.0\"\n\"\\x0d\\x0a\"\n\"Content-Length: \"\n\"Connection: \"\n"
    "\"close\"\n\"keep-alive\"\n\"Transfer-Encoding: chunked\"\n\"Upgrade: \"\n")
  immp_fuzz_run(fuzz_http_simple http_simple.dict "the web server's fast request parser against Beast's")
endif()
