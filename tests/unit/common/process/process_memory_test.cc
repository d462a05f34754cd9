#include "common/process/process_memory.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace meshsim::process {
namespace {

TEST(ParseByteSizeTest, TakesBytesAndBinaryUnits) {
  std::string why;
  EXPECT_EQ(ParseByteSize("1000000", &why), 1000000u);
  EXPECT_EQ(ParseByteSize("512M", &why), 512u << 20);
  EXPECT_EQ(ParseByteSize("6G", &why), 6ull << 30);
  EXPECT_EQ(ParseByteSize("1.5GiB", &why), 3ull << 29);
  EXPECT_EQ(ParseByteSize("64kb", &why), 64u << 10);
}

TEST(ParseByteSizeTest, RefusesWhatIsNotASize) {
  for (const char* text : {"", "G", "abc", "12X", "-5M", "0", "1.2.3G", "1e3"}) {
    std::string why;
    EXPECT_FALSE(ParseByteSize(text, &why).has_value()) << text;
    EXPECT_NE(why.find("expected a size such as 512M"), std::string::npos) << text;
  }
}

// In a child, so the cap does not touch the test process.
TEST(ProcessMemoryLimitTest, AnRlimitBelowTheHostsMemoryIsTheLimit) {
  const MemoryLimit host = ProcessMemoryLimit();
  ASSERT_GT(host.bytes, 1ull << 30);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const rlimit cap{1ull << 30, RLIM_INFINITY};
    if (::setrlimit(RLIMIT_DATA, &cap) != 0) ::_exit(2);
    const MemoryLimit capped = ProcessMemoryLimit();
    ::_exit(capped.bytes == (1ull << 30) && capped.source == "RLIMIT_DATA" ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace meshsim::process
