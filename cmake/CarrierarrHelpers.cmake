# abseil-style helpers: one call declares a library, binary or test with our warning flags.

# Designated initializers leave fields at their defaults on purpose, hence no missing-field-initializers.
set(CARRIERARR_WARNINGS -Wall -Wextra -Werror -Wshadow -Wnon-virtual-dtor -Wno-missing-field-initializers)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  # GCC 12 at -O3 reports std::string copies in libstdc++ itself (GCC bug 105329).
  list(APPEND CARRIERARR_WARNINGS -Wno-restrict)
endif()

# The `tsa` preset: Clang proves the locking that core/thread_annotations.h declares.
if(CARRIERARR_THREAD_SAFETY)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "CARRIERARR_THREAD_SAFETY needs clang++ (cmake --preset tsa)")
  endif()
  list(APPEND CARRIERARR_WARNINGS -Wthread-safety)
endif()

# carrierarr_cc_library(NAME name SRCS ... DEPS ...)
# Declares carrierarr_<name> with the alias carrierarr::<name>; headers are included as "core/x.h".
function(carrierarr_cc_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  set(target carrierarr_${ARG_NAME})
  add_library(${target} STATIC ${ARG_SRCS})
  add_library(carrierarr::${ARG_NAME} ALIAS ${target})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(${target} PRIVATE ${CARRIERARR_WARNINGS})
  target_link_libraries(${target} PUBLIC ${ARG_DEPS})
endfunction()

# carrierarr_cc_binary(NAME name SRCS ... DEPS ...)
function(carrierarr_cc_binary)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_compile_options(${ARG_NAME} PRIVATE ${CARRIERARR_WARNINGS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
endfunction()

# carrierarr_cc_test(NAME name SRCS ... DEPS ... [LABELS ...] [WHOLE])
# A GoogleTest binary registered with CTest, one CTest entry per test case; WHOLE registers the
# binary as one entry instead (for suites whose per-process set-up, such as starting a
# PostgreSQL server, costs more than their tests).
function(carrierarr_cc_test)
  cmake_parse_arguments(ARG "WHOLE" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_compile_options(${ARG_NAME} PRIVATE ${CARRIERARR_WARNINGS})
  target_include_directories(${ARG_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  target_compile_definitions(${ARG_NAME} PRIVATE
    CARRIERARR_BINARY_DIR="${PROJECT_BINARY_DIR}"
    CARRIERARR_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  if(ARG_WHOLE)
    add_test(NAME ${ARG_NAME} COMMAND ${ARG_NAME})
    set_tests_properties(${ARG_NAME} PROPERTIES LABELS "${ARG_LABELS}")
  else()
    # gtest_discover_tests flattens PROPERTIES into one list, so a second label would be read as
    # a property name and silently lost: discovered tests carry one label.
    list(LENGTH ARG_LABELS label_count)
    if(label_count GREATER 1)
      message(FATAL_ERROR "${ARG_NAME}: one label per discovered test (or WHOLE), got ${ARG_LABELS}")
    endif()
    gtest_discover_tests(${ARG_NAME} DISCOVERY_TIMEOUT 30 PROPERTIES LABELS "${ARG_LABELS}")
  endif()
endfunction()
