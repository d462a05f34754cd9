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

# meshsim_link_time_optimized(TARGET...)
# The kernel calls the model and the model calls back through the SDK's
# out-of-line LpContext functions (no field layout crosses the plugin
# boundary); link-time optimization inlines those calls again for the
# shipped models in the meshsim binary. Fat objects: other executables
# (tests) link these libraries without LTO.
function(meshsim_link_time_optimized)
  if(NOT CMAKE_BUILD_TYPE STREQUAL "Release")
    return()
  endif()
  include(CheckIPOSupported)
  check_ipo_supported(RESULT supported OUTPUT why LANGUAGES CXX)
  if(NOT supported)
    message(STATUS "meshsim: no link-time optimization: ${why}")
    return()
  endif()
  foreach(target IN LISTS ARGN)
    set_property(TARGET ${target} PROPERTY INTERPROCEDURAL_OPTIMIZATION ON)
    target_compile_options(${target} PRIVATE -ffat-lto-objects)
  endforeach()
endfunction()
