#include "common/log/log.h"

#include <gtest/gtest.h>

#include "nlohmann/json.hpp"

namespace meshsim::log {
namespace {

std::string FormatLine(const Options& options, std::string_view message) {
  auto formatter = MakeFormatter(options);
  spdlog::details::log_msg msg("test", spdlog::level::warn,
                               spdlog::string_view_t(message.data(), message.size()));
  spdlog::memory_buf_t out;
  formatter->format(msg, out);
  return std::string(out.data(), out.size());
}

TEST(LogTest, JsonLineParsesAndKeepsTheMessageWhateverItHolds) {
  const std::string message = "quote \" backslash \\ newline \n tab \t control \x01 end";
  const auto line =
      nlohmann::json::parse(FormatLine({.format = Format::kJson, .process = "node-2"}, message));
  EXPECT_EQ(line["msg"], message);
  EXPECT_EQ(line["level"], "warning");
  EXPECT_EQ(line["process"], "node-2");
  EXPECT_TRUE(line["pid"].is_number_integer());
}

TEST(LogTest, JsonLineReplacesBytesThatAreNotUtf8) {
  const auto line = nlohmann::json::parse(FormatLine({.format = Format::kJson}, "bad \xff byte"));
  EXPECT_EQ(line["msg"], "bad \xEF\xBF\xBD byte");  // U+FFFD
}

TEST(LogTest, TextLineNamesTheProcess) {
  const std::string line = FormatLine({.format = Format::kText, .process = "coordinator"}, "hello");
  EXPECT_NE(line.find("[coordinator] hello"), std::string::npos) << line;
}

}  // namespace
}  // namespace meshsim::log
