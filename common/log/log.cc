#include "common/log/log.h"

#include <unistd.h>

#include "common/strings/format.h"
#include "google/protobuf/stubs/logging.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace meshsim::log {
namespace {

// %* : the message, escaped for a JSON string.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    static constexpr char kHex[] = "0123456789abcdef";
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      switch (c) {
        case '"':
          dest.append(std::string_view("\\\""));
          break;
        case '\\':
          dest.append(std::string_view("\\\\"));
          break;
        case '\n':
          dest.append(std::string_view("\\n"));
          break;
        case '\t':
          dest.append(std::string_view("\\t"));
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            const char escaped[] = {'\\', 'u', '0', '0', kHex[(c >> 4) & 0xf], kHex[c & 0xf]};
            dest.append(std::string_view(escaped, sizeof(escaped)));
          } else {
            dest.push_back(c);
          }
      }
    }
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

absl::Status Init(const Options& options) {
  auto level = spdlog::level::from_str(options.level);
  // from_str maps unknown names to "off"; only "off" itself may mean off.
  if (level == spdlog::level::off && options.level != "off") {
    return absl::InvalidArgumentError(StrCat(
        "--log-level: expected trace, debug, info, warn, error, critical or off, got '", options.level, "'"));
  }
  auto logger = spdlog::stderr_logger_mt(options.process + "#" + std::to_string(::getpid()));
  if (options.format == Format::kJson) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonEscapedMessage>('*').set_pattern(
        StrCat(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","process":")", options.process,
               R"(","pid":%P,"msg":"%*"})"));
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern(StrCat("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [", options.process, "] %v"));
  }
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
