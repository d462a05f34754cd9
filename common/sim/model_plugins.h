// Loads model plugins (include/meshsim/plugin.h) into a ModelRegistry.
//
// Every `*.so` file of each directory of the model path, in directory
// order and then by file name, is opened with dlopen and asked for its
// meshsim_model_plugin_v1 entry point. A file that is not a plugin, was built
// for another SDK ABI or C++ ABI, throws while describing its model, or names
// a model this process already has is refused with a warning saying why;
// the others are registered with their build (version and fingerprint) and
// listed in the result, for the caller to log.
// Loaded plugins stay loaded for the life of the process.
#pragma once

#include <string>
#include <vector>

#include "common/sim/model_registry.h"

namespace meshsim::sim {

// The model directory when none is given: <directory of this
// executable>/../lib/meshsim/models (where `cmake --install` and the Debian
// package put plugins).
std::vector<std::string> DefaultModelPath();

// A model path from its colon-separated form ("dir1:dir2").
std::vector<std::string> SplitModelPath(std::string_view path);

struct PluginLoadResult {
  std::vector<std::string> loaded;   // "name version (fingerprint) from path"
  std::vector<std::string> refused;  // "path: why"
};

PluginLoadResult LoadModelPlugins(const std::vector<std::string>& directories, ModelRegistry& registry);

// 16 hex digits identifying a plugin file's exact bytes (FNV-1a, 64 bits):
// equal for copies of one build, different for another build.
std::string FileFingerprint(const std::string& path);

}  // namespace meshsim::sim
