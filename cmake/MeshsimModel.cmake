# meshsim_add_model(TARGET SOURCES...): a model plugin (a shared library
# nodes load from their --model-path), built as meshsim itself is: C++20,
# only the plugin's entry point visible. Its SDK calls resolve against the
# meshsim executable when a node loads it. Used in this tree (tests) and
# installed with the CMake package (find_package(meshsim)).
function(meshsim_add_model target)
  add_library(${target} MODULE ${ARGN})
  target_link_libraries(${target} PRIVATE meshsim::sdk)
  set_target_properties(${target} PROPERTIES
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON)
endfunction()
