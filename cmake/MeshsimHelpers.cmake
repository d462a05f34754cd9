# Build helpers shared by every meshsim component.

# Warnings (as errors) for meshsim's own targets; third-party headers are
# included as SYSTEM by their imported targets.
function(meshsim_target_defaults target)
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror)
endfunction()

# meshsim_test(NAME SOURCES... [LIBS ...] [TIMEOUT seconds] [LABELS ...])
# Registers a GoogleTest binary as one ctest test with a timeout, so a hung
# multi-process test fails instead of stalling the suite.
function(meshsim_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 60)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  meshsim_target_defaults(${name})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES
    TIMEOUT ${ARG_TIMEOUT}
    LABELS "${ARG_LABELS}"
    ENVIRONMENT "MESHSIM_BIN=$<TARGET_FILE:meshsim>;MESHSIM_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()
