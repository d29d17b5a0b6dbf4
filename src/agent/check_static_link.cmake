# cmake -DREADELF=... -DBINARY=... -P check_static_link.cmake
#
# Run after linking carrierarr-agent statically (src/agent/CMakeLists.txt): fails when the
# binary still needs a shared gRPC, protobuf, abseil, OpenSSL or C++ runtime library. The
# static copies are in the binary already, and a second, shared copy loaded beside them breaks
# at run time (two gRPC cores, two protobuf descriptor pools) rather than at link time.
execute_process(COMMAND "${READELF}" -d "${BINARY}"
  OUTPUT_VARIABLE dynamic RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "check_static_link: ${READELF} -d ${BINARY} failed: ${err}")
endif()
string(REGEX MATCHALL "\\(NEEDED\\)[^\n]*\\[[^]\n]+\\]" needed_lines "${dynamic}")
set(offending)
foreach(line IN LISTS needed_lines)
  string(REGEX REPLACE ".*\\[([^]]+)\\]$" "\\1" lib "${line}")
  if(lib MATCHES "^lib(grpc|gpr|upb|address_sorting|protobuf|absl_|re2|cares|z\\.|ssl|crypto|stdc\\+\\+|cpp-httplib|brotli)")
    list(APPEND offending ${lib})
  endif()
endforeach()
if(offending)
  list(JOIN offending ", " offending)
  message(FATAL_ERROR
    "${BINARY} is linked statically against gRPC, protobuf and OpenSSL but still needs "
    "${offending} at run time: a library added to carrierarr::agent or carrierarr::agent_core "
    "brings a shared dependency the static group in src/agent/CMakeLists.txt does not cover. "
    "Add its static archive to that group, or keep that dependency out of the agent.")
endif()
