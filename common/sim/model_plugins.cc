#include "common/sim/model_plugins.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>

#include "common/sim/fnv1a.h"
#include "common/strings/format.h"
#include "fmt/format.h"
#include "meshsim/plugin.h"
#include "spdlog/spdlog.h"

namespace meshsim::sim {
namespace {

namespace fs = std::filesystem;

constexpr char kEntryPoint[] = "meshsim_model_plugin_v1";

// Why `plugin` cannot run in this process, or empty when it can.
std::string Incompatibility(const PluginModel& plugin) {
  if (plugin.sdk_abi_version != MESHSIM_SDK_ABI_VERSION) {
    return StrCat("built with SDK ABI ", plugin.sdk_abi_version, " (meshsim ",
                  plugin.sdk_version ? plugin.sdk_version : "?", "); this meshsim ", MESHSIM_VERSION_STRING,
                  " has SDK ABI ", MESHSIM_SDK_ABI_VERSION, ": rebuild it against this SDK");
  }
  if (plugin.cxx_abi == nullptr || std::string_view(plugin.cxx_abi) != MESHSIM_CXX_ABI) {
    return StrCat("compiled for C++ ABI ", plugin.cxx_abi ? plugin.cxx_abi : "?", ", this meshsim for ",
                  MESHSIM_CXX_ABI);
  }
  if (plugin.model_info == nullptr) return "its entry point names no model";
  return "";
}

// Opens one file; registers its model or says why not.
std::string LoadOne(const std::string& path, ModelRegistry& registry, std::string* loaded) {
  // Closed again on every refusal; kept open once its model is registered.
  std::unique_ptr<void, int (*)(void*)> handle(dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL), &dlclose);
  if (handle == nullptr) return StrCat("cannot load: ", dlerror());
  auto* entry = reinterpret_cast<const PluginModel* (*)()>(dlsym(handle.get(), kEntryPoint));
  if (entry == nullptr) {
    return StrCat("not a meshsim model plugin (no ", kEntryPoint, "; see include/meshsim/plugin.h)");
  }
  const PluginModel* plugin = entry();
  if (std::string why = plugin ? Incompatibility(*plugin) : "its entry point returned nothing";
      !why.empty()) {
    return why;
  }
  ModelInfo info;
  try {
    info = plugin->model_info();
  } catch (const std::exception& e) {
    return StrCat("threw while describing its model: ", e.what());
  } catch (...) {
    return "threw while describing its model";
  }
  if (info.name.empty() || !info.create) return "its ModelInfo has no name or no create function";
  if (const ModelBuild* existing = registry.FindBuild(info.name)) {
    // Left open: dlclose after running its code is never safe to assume
    // (static destructors, registered callbacks).
    (void)handle.release();
    return StrCat("model '", info.name, "' is already provided by ", existing->origin);
  }
  (void)handle.release();  // the process keeps its plugins for its life
  ModelBuild build{plugin->model_version ? plugin->model_version : "", FileFingerprint(path), path};
  *loaded = StrCat(info.name, " ", build.version, " (", build.fingerprint, ") from ", path);
  registry.Register(std::move(info), std::move(build));
  return "";
}

}  // namespace

std::vector<std::string> SplitModelPath(std::string_view path) {
  std::vector<std::string> out;
  while (!path.empty()) {
    const size_t colon = path.find(':');
    std::string_view part = path.substr(0, colon);
    if (!part.empty()) out.emplace_back(part);
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  return out;
}

std::vector<std::string> DefaultModelPath() {
  std::error_code error;
  const fs::path exe = fs::read_symlink("/proc/self/exe", error);
  if (error) return {};
  return {(exe.parent_path().parent_path() / "lib" / "meshsim" / "models").lexically_normal().string()};
}

std::string FileFingerprint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  uint64_t hash = kFnv1aOffset;
  char buffer[1 << 16];
  while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
    hash = Fnv1a(std::as_bytes(std::span(buffer, static_cast<size_t>(in.gcount()))), hash);
  }
  return fmt::format("{:016x}", hash);
}

PluginLoadResult LoadModelPlugins(const std::vector<std::string>& directories, ModelRegistry& registry) {
  PluginLoadResult result;
  for (const std::string& directory : directories) {
    std::error_code error;
    std::vector<std::string> files;
    for (const auto& entry : fs::directory_iterator(directory, error)) {
      if (entry.path().extension() == ".so" && entry.is_regular_file(error)) files.push_back(entry.path());
    }
    if (error && error != std::errc::no_such_file_or_directory) {
      result.refused.push_back(StrCat(directory, ": ", error.message()));
    }
    std::sort(files.begin(), files.end());
    for (const std::string& path : files) {
      std::string loaded;
      if (std::string why = LoadOne(path, registry, &loaded); !why.empty()) {
        spdlog::warn("model plugin {} refused: {}", path, why);
        result.refused.push_back(StrCat(path, ": ", why));
      } else {
        result.loaded.push_back(std::move(loaded));
      }
    }
  }
  return result;
}

}  // namespace meshsim::sim
