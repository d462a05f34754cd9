// The models a process knows, by name: the built-in ones
// (models/builtin.h) and the plugins it loaded (common/sim/model_plugins.h),
// each with the build it came from.
#pragma once

#include <exception>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "meshsim/model.h"
#include "proto/meshsim.pb.h"

namespace meshsim::sim {

// Which build of a model this is. Two processes run a job together only
// when their builds of its model are equal (version and fingerprint).
struct ModelBuild {
  std::string version;      // the author's version ("1.0.0"), or meshsim's for built-in models
  std::string fingerprint;  // 16 hex digits of the plugin file's hash, or "builtin-<revision>"
  std::string origin;       // "built in", or the plugin's path
  bool operator==(const ModelBuild& other) const {
    return version == other.version && fingerprint == other.fingerprint;
  }
};

// The build of the models compiled into this binary.
ModelBuild BuiltinBuild();

v1::ModelBuild ToProto(const ModelBuild& build);
ModelBuild FromProto(const v1::ModelBuild& build);

// Empty when `have` (this process's build of `model`, nullptr when it has
// none) is the build `want`; else what differs, for an error message.
std::string BuildMismatch(std::string_view model, const ModelBuild* have, const ModelBuild& want);

// info.create(context), with an exception from the model (a plugin's code)
// turned into an INTERNAL error naming the model.
[[nodiscard]] absl::StatusOr<std::unique_ptr<Model>> CreateModel(const ModelInfo& info,
                                                                 const ModelContext& context);

// What `exception` (thrown by model code) says, for an error message.
std::string DescribeException(std::exception_ptr exception);

class ModelRegistry {
 public:
  // The process's registry (models::RegisterBuiltinModels and
  // LoadModelPlugins fill it).
  static ModelRegistry& Global();

  void Register(ModelInfo info, ModelBuild build = BuiltinBuild());
  const ModelInfo* Find(std::string_view name) const;
  // The build of a registered model; nullptr when there is none.
  const ModelBuild* FindBuild(std::string_view name) const;
  std::vector<const ModelInfo*> List() const;

 private:
  struct Entry {
    ModelInfo info;
    ModelBuild build;
  };
  std::map<std::string, Entry, std::less<>> models_;
};

}  // namespace meshsim::sim
