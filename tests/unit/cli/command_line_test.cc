// The meshsim command line, parsed and run in this process: what each
// command accepts and refuses, the options it hands on, and the output of
// the commands that need no cluster.
#include "cli/command_line.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench/bench_command.h"
#include "gtest/gtest.h"
#include "models/builtin.h"
#include "nlohmann/json.hpp"

namespace meshsim::cli {
namespace {

namespace fs = std::filesystem;

std::vector<CommandFactory> AllCommands() {
  std::vector<CommandFactory> commands = CoreCommands();
  commands.push_back(bench::AddBenchCommand);
  return commands;
}

std::string SourceDir() {
  const char* dir = std::getenv("MESHSIM_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

// One command line, parsed.
struct Parsed {
  std::unique_ptr<CommandLine> line;
  const Command* command = nullptr;  // null when parsing ended the program
  int exit_code = -1;                // set when it did
};

Parsed Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "meshsim");
  std::vector<const char*> argv;
  for (const auto& arg : args) argv.push_back(arg.c_str());
  const std::vector<CommandFactory> commands = AllCommands();
  Parsed parsed{.line = std::make_unique<CommandLine>(commands)};
  auto result = parsed.line->Parse(static_cast<int>(argv.size()), argv.data());
  if (const int* code = std::get_if<int>(&result)) {
    parsed.exit_code = *code;
  } else {
    parsed.command = std::get<const Command*>(result);
  }
  return parsed;
}

// Runs the parsed command without logging set up; its exit code and stdout.
std::pair<int, std::string> RunCaptured(Parsed& parsed) {
  testing::internal::CaptureStdout();
  const int code = parsed.command->run(parsed.line->global());
  return {code, testing::internal::GetCapturedStdout()};
}

class CommandLineTest : public testing::Test {
 protected:
  void SetUp() override {
    models::RegisterBuiltinModels();
    dir_ = fs::temp_directory_path() / ("meshsim-cli-test-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(CommandLineTest, HelpEndsTheProgramWithSuccess) {
  testing::internal::CaptureStdout();
  Parsed parsed = Parse({"--help"});
  const std::string help = testing::internal::GetCapturedStdout();
  EXPECT_EQ(parsed.exit_code, kExitOk);
  for (const char* command : {"run", "submit", "status", "coordinator", "node", "host", "keygen", "bench"}) {
    EXPECT_NE(help.find(command), std::string::npos) << command;
  }
}

TEST_F(CommandLineTest, BadArgumentsAreBadInput) {
  testing::internal::CaptureStderr();
  EXPECT_EQ(Parse({}).exit_code, kExitBadInput);                           // no command
  EXPECT_EQ(Parse({"frobnicate"}).exit_code, kExitBadInput);               // unknown command
  EXPECT_EQ(Parse({"run"}).exit_code, kExitBadInput);                      // no scenario
  EXPECT_EQ(Parse({"status", "seven"}).exit_code, kExitBadInput);          // not a job id
  EXPECT_EQ(Parse({"bench"}).exit_code, kExitBadInput);                    // a group needs its subcommand
  EXPECT_EQ(Parse({"--log-format", "xml", "models"}).exit_code, kExitBadInput);
  EXPECT_EQ(Parse({"coordinator", "--heartbeat-interval", "0"}).exit_code, kExitBadInput);
  EXPECT_EQ(Parse({"host", "--nodes", "65"}).exit_code, kExitBadInput);
  EXPECT_EQ(Parse({"node", "--stall-timeout", "0.01"}).exit_code, kExitBadInput);
  const std::string errors = testing::internal::GetCapturedStderr();
  EXPECT_NE(errors.find("heartbeat-interval"), std::string::npos) << errors;
  EXPECT_NE(errors.find("xml"), std::string::npos) << errors;
}

TEST_F(CommandLineTest, ProcessNameIsTheCommandOrTheNodesName) {
  Parsed coordinator = Parse({"coordinator"});
  ASSERT_NE(coordinator.command, nullptr);
  EXPECT_EQ(coordinator.line->global().log.process, "coordinator");
  EXPECT_TRUE(coordinator.command->serves);

  Parsed node = Parse({"node", "--name", "edge-7"});
  ASSERT_NE(node.command, nullptr);
  EXPECT_EQ(node.line->global().log.process, "edge-7");

  Parsed host = Parse({"host", "--name-prefix", "rack2"});
  ASSERT_NE(host.command, nullptr);
  EXPECT_EQ(host.line->global().log.process, "rack2");

  Parsed ipc = Parse({"bench", "ipc"});
  ASSERT_NE(ipc.command, nullptr);
  EXPECT_EQ(ipc.command->app->get_name(), "ipc");  // the group dispatches to its child
  EXPECT_EQ(ipc.line->global().log.process, "bench");
  EXPECT_FALSE(ipc.command->serves);
}

TEST_F(CommandLineTest, GlobalOptionsComeBeforeTheCommand) {
  Parsed parsed = Parse({"--log-level", "warn", "--log-format", "json", "--keys", "/k", "--identity", "ops",
                         "--insecure", "status", "3", "--json"});
  ASSERT_NE(parsed.command, nullptr);
  const GlobalOptions& global = parsed.line->global();
  EXPECT_EQ(global.log.level, "warn");
  EXPECT_EQ(global.log.format, log::Format::kJson);
  EXPECT_EQ(global.keys_dir, "/k");
  EXPECT_EQ(global.identity, "ops");
  EXPECT_TRUE(global.insecure);
  EXPECT_TRUE(global.json);  // status's --json flag
}

TEST_F(CommandLineTest, JsonTargetDashMeansStdout) {
  GlobalOptions global;
  std::string path;
  EXPECT_TRUE(JsonTarget(global, "-", path).json);
  EXPECT_EQ(path, "");
  EXPECT_FALSE(JsonTarget(global, "out.json", path).json);
  EXPECT_EQ(path, "out.json");
  EXPECT_FALSE(JsonTarget(global, "", path).json);
  EXPECT_EQ(path, "");
}

TEST_F(CommandLineTest, ValidatePrintsTheNormalizedScenario) {
  Parsed parsed = Parse({"validate", SourceDir() + "/scenarios/phold.yaml", "--nodes", "3", "--json"});
  ASSERT_NE(parsed.command, nullptr);
  const auto [code, out] = RunCaptured(parsed);
  EXPECT_EQ(code, kExitOk);
  const nlohmann::json document = nlohmann::json::parse(out);
  EXPECT_TRUE(document["valid"].get<bool>());
  EXPECT_EQ(document["scenario"]["model"], "phold");
  EXPECT_EQ(document["scenario"]["nodes"], 3);
  EXPECT_GT(document["scenario"]["params"].size(), 0u);
}

TEST_F(CommandLineTest, ValidateNamesTheBadField) {
  const fs::path bad = dir_ / "bad.yaml";
  std::ofstream(bad) << "name: bad\nmodel: phold\nend_time: -1\n";
  Parsed parsed = Parse({"validate", bad.string()});
  ASSERT_NE(parsed.command, nullptr);
  testing::internal::CaptureStderr();
  const auto [code, out] = RunCaptured(parsed);
  const std::string errors = testing::internal::GetCapturedStderr();
  EXPECT_EQ(code, kExitBadInput);
  EXPECT_NE(errors.find("end_time"), std::string::npos) << errors;
}

TEST_F(CommandLineTest, ModelsListsTheBuiltInModelsAndTheirParameters) {
  Parsed parsed = Parse({"models", "--json"});
  ASSERT_NE(parsed.command, nullptr);
  const auto [code, out] = RunCaptured(parsed);
  EXPECT_EQ(code, kExitOk);
  const nlohmann::json models = nlohmann::json::parse(out);
  std::vector<std::string> names;
  for (const auto& model : models) {
    names.push_back(model["name"]);
    EXPECT_FALSE(model["params"].empty()) << model["name"];
    for (const auto& param : model["params"]) {
      EXPECT_LE(param["min"].get<double>(), param["default"].get<double>()) << param["name"];
      EXPECT_LE(param["default"].get<double>(), param["max"].get<double>()) << param["name"];
    }
  }
  EXPECT_NE(std::find(names.begin(), names.end(), "phold"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "epidemic"), names.end());
}

TEST_F(CommandLineTest, KeygenMakesAClusterOnceAndRefusesAnUnknownRole) {
  const fs::path keys = dir_ / "keys";
  Parsed first = Parse({"keygen", keys.string()});
  ASSERT_NE(first.command, nullptr);
  EXPECT_EQ(RunCaptured(first).first, kExitOk);
  for (const char* file : {"coordinator.key_secret", "node.key_secret", "admin.key_secret", "viewer.key_secret",
                           "nodes/node.key", "admins/admin.key", "viewers/viewer.key"}) {
    EXPECT_TRUE(fs::exists(keys / file)) << file;
  }
  const auto secret_before = fs::last_write_time(keys / "coordinator.key_secret");

  Parsed again = Parse({"keygen", keys.string(), "--if-missing"});
  ASSERT_NE(again.command, nullptr);
  const auto [code, out] = RunCaptured(again);
  EXPECT_EQ(code, kExitOk);
  EXPECT_NE(out.find("nothing to do"), std::string::npos) << out;
  EXPECT_EQ(fs::last_write_time(keys / "coordinator.key_secret"), secret_before);

  Parsed bad_role = Parse({"keygen", keys.string(), "--name", "n2", "--role", "root"});
  ASSERT_NE(bad_role.command, nullptr);
  testing::internal::CaptureStderr();
  EXPECT_EQ(RunCaptured(bad_role).first, kExitBadInput);
  EXPECT_NE(testing::internal::GetCapturedStderr().find("--role"), std::string::npos);
  EXPECT_FALSE(fs::exists(keys / "n2.key_secret"));
}

}  // namespace
}  // namespace meshsim::cli
