#include "common/log/log.h"

#include <unistd.h>

#include "common/strings/format.h"
#include "google/protobuf/stubs/logging.h"
#include "nlohmann/json.hpp"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace meshsim::log {
namespace {

// %* : the message, escaped for a JSON string (by nlohmann-json, which
// also replaces bytes that are not UTF-8, so a line always parses).
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string quoted = nlohmann::json(std::string(msg.payload.data(), msg.payload.size()))
                                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(std::string_view(quoted).substr(1, quoted.size() - 2));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

}  // namespace

absl::Status ParseFormat(std::string_view name, Format* format) {
  if (name == "text") {
    *format = Format::kText;
  } else if (name == "json") {
    *format = Format::kJson;
  } else {
    return absl::InvalidArgumentError(StrCat("--log-format: expected text or json, got '", name, "'"));
  }
  return absl::OkStatus();
}

std::unique_ptr<spdlog::formatter> MakeFormatter(const Options& options) {
  if (options.format == Format::kJson) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonEscapedMessage>('*').set_pattern(
        StrCat(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","process":")", options.process,
               R"(","pid":%P,"msg":"%*"})"));
    return formatter;
  }
  return std::make_unique<spdlog::pattern_formatter>(
      StrCat("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [", options.process, "] %v"));
}

absl::Status Init(const Options& options) {
  auto level = spdlog::level::from_str(options.level);
  // from_str maps unknown names to "off"; only "off" itself may mean off.
  if (level == spdlog::level::off && options.level != "off") {
    return absl::InvalidArgumentError(StrCat(
        "--log-level: expected trace, debug, info, warn, error, critical or off, got '", options.level, "'"));
  }
  auto logger = spdlog::stderr_logger_mt(options.process + "#" + std::to_string(::getpid()));
  logger->set_formatter(MakeFormatter(options));
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
  // Protobuf complains on stderr about what it parses (e.g. a string that is
  // not UTF-8 in a request from the network); that input is already refused
  // and counted by its reader, so its remarks are debug lines here.
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel, const char* file, int line, const std::string& message) {
        spdlog::debug("protobuf {}:{}: {}", file, line, message);
      });
  return absl::OkStatus();
}

}  // namespace meshsim::log
