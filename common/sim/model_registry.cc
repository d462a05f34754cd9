#include "common/sim/model_registry.h"

#include "common/status/status.h"
#include "common/strings/format.h"
#include "meshsim/version.h"

#ifndef MESHSIM_GIT_REVISION
#define MESHSIM_GIT_REVISION "unknown"
#endif

namespace meshsim::sim {

ModelBuild BuiltinBuild() {
  return {MESHSIM_VERSION_STRING, std::string("builtin-") + MESHSIM_GIT_REVISION, "built in"};
}

v1::ModelBuild ToProto(const ModelBuild& build) {
  v1::ModelBuild out;
  out.set_version(build.version);
  out.set_fingerprint(build.fingerprint);
  out.set_origin(build.origin);
  return out;
}

ModelBuild FromProto(const v1::ModelBuild& build) {
  return {build.version(), build.fingerprint(), build.origin()};
}

std::string BuildMismatch(std::string_view model, const ModelBuild* have, const ModelBuild& want) {
  if (have == nullptr) return StrCat("model '", model, "' is not loaded here");
  if (*have == want) return "";
  return StrCat("model '", model, "' here is version ", have->version, " build ", have->fingerprint, " (",
                have->origin, "), the job's is version ", want.version, " build ", want.fingerprint, " (",
                want.origin, " on the coordinator)");
}

std::string DescribeException(std::exception_ptr exception) {
  try {
    std::rethrow_exception(exception);
  } catch (const std::exception& e) {
    return StrCat("threw ", e.what());
  } catch (...) {
    return "threw an exception that is not a std::exception";
  }
}

absl::StatusOr<std::unique_ptr<Model>> CreateModel(const ModelInfo& info, const ModelContext& context) {
  try {
    return info.create(context);
  } catch (...) {
    return absl::InternalError(
        StrCat("model '", info.name, "' ", DescribeException(std::current_exception()), " in create"));
  }
}

ModelRegistry& ModelRegistry::Global() {
  static ModelRegistry registry;
  return registry;
}

void ModelRegistry::Register(ModelInfo info, ModelBuild build) {
  MESHSIM_CHECK(!models_.contains(info.name), "model registered twice: " + info.name);
  std::string name = info.name;
  models_.emplace(std::move(name), Entry{std::move(info), std::move(build)});
}

const ModelInfo* ModelRegistry::Find(std::string_view name) const {
  auto it = models_.find(name);
  return it == models_.end() ? nullptr : &it->second.info;
}

const ModelBuild* ModelRegistry::FindBuild(std::string_view name) const {
  auto it = models_.find(name);
  return it == models_.end() ? nullptr : &it->second.build;
}

std::vector<const ModelInfo*> ModelRegistry::List() const {
  std::vector<const ModelInfo*> out;
  for (const auto& [name, entry] : models_) out.push_back(&entry.info);
  return out;
}

}  // namespace meshsim::sim
