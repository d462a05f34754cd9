// A model as a plugin: a shared library built against this SDK that nodes
// load from their model directories (--model-path; docs/models.md).
//
//   #include "meshsim/plugin.h"
//   meshsim::sim::ModelInfo JacksonModelInfo() { ... }
//   MESHSIM_MODEL_PLUGIN("1.0.0", JacksonModelInfo)
//
// One plugin holds one model. C++ objects (ModelInfo, Model, absl::Status)
// cross the library boundary, so a plugin loads only into a meshsim built
// with the same SDK ABI version and C++ compiler ABI; the loader checks both
// and refuses the plugin otherwise. Every node of a job must hold the same
// build of its model (name, version and a fingerprint of the library file).
#pragma once

#include <cstdint>

#include "meshsim/model.h"
#include "meshsim/version.h"

namespace meshsim::sim {

// What a plugin's entry point returns. Only ever appended to; a change
// that is not an append raises MESHSIM_SDK_ABI_VERSION.
struct PluginModel {
  uint32_t sdk_abi_version;   // MESHSIM_SDK_ABI_VERSION the plugin was built with
  const char* sdk_version;    // MESHSIM_VERSION_STRING of that SDK
  const char* cxx_abi;        // the C++ ABI it was compiled for (MESHSIM_CXX_ABI)
  const char* model_version;  // the author's version of the model
  ModelInfo (*model_info)();  // the model: name, parameters, create()
};

}  // namespace meshsim::sim

// The C++ ABI a plugin and meshsim must share: the standard library and its
// dual ABI setting, and the compiler family's major version.
#define MESHSIM_CXX_ABI_STRINGIFY2(x) #x
#define MESHSIM_CXX_ABI_STRINGIFY(x) MESHSIM_CXX_ABI_STRINGIFY2(x)
#define MESHSIM_CXX_ABI                                                                                \
  "gnu-cxx-abi-" MESHSIM_CXX_ABI_STRINGIFY(__GXX_ABI_VERSION) "-cxx11-abi-" MESHSIM_CXX_ABI_STRINGIFY( \
      _GLIBCXX_USE_CXX11_ABI)

// The entry point the loader looks up (meshsim_model_plugin_v1).
#define MESHSIM_MODEL_PLUGIN(model_version, info_function)                                           \
  extern "C" __attribute__((visibility("default"))) const ::meshsim::sim::PluginModel*               \
  meshsim_model_plugin_v1() {                                                                        \
    static const ::meshsim::sim::PluginModel plugin{MESHSIM_SDK_ABI_VERSION, MESHSIM_VERSION_STRING, \
                                                    MESHSIM_CXX_ABI, model_version, &info_function}; \
    return &plugin;                                                                                  \
  }
