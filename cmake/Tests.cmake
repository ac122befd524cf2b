# One test executable per source folder that has *_test.cpp files, so a
# broken test in one folder never blocks the others.
find_package(GTest REQUIRED)
include(GoogleTest)

add_library(immp_test_pch OBJECT cmake/empty.cpp)
target_link_libraries(immp_test_pch PUBLIC immp GTest::gtest GTest::gmock)
target_include_directories(immp_test_pch PUBLIC ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests)
target_precompile_headers(immp_test_pch PUBLIC src/pch.hpp <gtest/gtest.h> <gmock/gmock.h>)

# Tests are not a layer: they may use every layer's internals (and the
# test support uses the memory and IRC plugs), so they link everything
# (immp_deps).
file(GLOB IMMP_TEST_SUPPORT CONFIGURE_DEPENDS tests/support/*.cpp)
add_library(immp_test_support STATIC ${IMMP_TEST_SUPPORT} cmake/empty.cpp)
target_link_libraries(immp_test_support PUBLIC immp immp_deps GTest::gtest GTest::gmock)
target_include_directories(immp_test_support PUBLIC ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests)
target_precompile_headers(immp_test_support REUSE_FROM immp_test_pch)

file(GLOB_RECURSE IMMP_TEST_FILES CONFIGURE_DEPENDS src/*_test.cpp tests/integration/*_test.cpp)
set(IMMP_TEST_DIRS "")
foreach(f ${IMMP_TEST_FILES})
  get_filename_component(d ${f} DIRECTORY)
  list(APPEND IMMP_TEST_DIRS ${d})
endforeach()
list(REMOVE_DUPLICATES IMMP_TEST_DIRS)
foreach(d ${IMMP_TEST_DIRS})
  file(RELATIVE_PATH rel ${CMAKE_SOURCE_DIR} ${d})
  string(REPLACE "/" "_" name ${rel})
  string(REPLACE "src_" "" name ${name})
  file(GLOB files CONFIGURE_DEPENDS ${d}/*_test.cpp)
  add_executable(test_${name} ${files})
  target_link_libraries(test_${name} PRIVATE immp_test_support GTest::gtest_main)
  target_precompile_headers(test_${name} REUSE_FROM immp_test_pch)
  target_compile_definitions(test_${name} PRIVATE
    IMMP_SOURCE_DIR="${CMAKE_SOURCE_DIR}" IMMP_BINARY_DIR="${CMAKE_BINARY_DIR}")
  add_dependencies(test_${name} immp_bin)
  if(rel MATCHES "^tests/integration")
    gtest_discover_tests(test_${name} DISCOVERY_TIMEOUT 30 PROPERTIES LABELS integration TIMEOUT 300)
  else()
    gtest_discover_tests(test_${name} DISCOVERY_TIMEOUT 30 PROPERTIES LABELS unit TIMEOUT 120)
  endif()
endforeach()

# The Python operator SDK's own tests (sdk/python, standard library only).
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME sdk_python
    COMMAND ${Python3_EXECUTABLE} -m unittest discover -s ${CMAKE_SOURCE_DIR}/sdk/python/tests -v)
  set_tests_properties(sdk_python PROPERTIES LABELS unit TIMEOUT 60)
endif()

# The Node operator SDK's own tests (sdk/node, no dependencies).
find_program(IMMP_NODE node)
if(IMMP_NODE)
  add_test(NAME sdk_node COMMAND ${IMMP_NODE} --test ${CMAKE_SOURCE_DIR}/sdk/node/test/)
  set_tests_properties(sdk_node PROPERTIES LABELS unit TIMEOUT 60)
endif()
