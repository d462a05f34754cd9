#include <gtest/gtest.h>

#include "common/net/endpoint.h"

namespace meshsim::net {
namespace {

TEST(EndpointTest, ParsesAndFormatsTcpEndpoints) {
  auto v4 = ParseTcpEndpoint("tcp://10.1.2.3:7700");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->host, "10.1.2.3");
  EXPECT_EQ(v4->port, "7700");
  EXPECT_EQ(FormatTcpEndpoint(*v4), "tcp://10.1.2.3:7700");

  auto v6 = ParseTcpEndpoint("tcp://[::1]:5");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(FormatTcpEndpoint(*v6), "tcp://[::1]:5");
}

TEST(EndpointTest, RejectsWhatIsNotTcpHostPort) {
  for (const char* bad : {"ipc:///tmp/x", "tcp://host", "tcp://:7700", "tcp://host:", "tcp://[::1:7"}) {
    auto parsed = ParseTcpEndpoint(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    EXPECT_NE(parsed.status().message().find(bad), std::string::npos) << parsed.status();
  }
}

TEST(EndpointTest, AdvertisesTheBoundHostUnlessItIsAWildcard) {
  EXPECT_EQ(*AdvertisedEndpoint("tcp://127.0.0.1:4000", "", "tcp://127.0.0.1:7700"), "tcp://127.0.0.1:4000");
  EXPECT_EQ(*AdvertisedEndpoint("tcp://0.0.0.0:4000", "node-a", "tcp://127.0.0.1:7700"), "tcp://node-a:4000");
  // Bound everywhere: the address this host uses toward the coordinator.
  EXPECT_EQ(*AdvertisedEndpoint("tcp://0.0.0.0:4000", "", "tcp://127.0.0.1:7700"), "tcp://127.0.0.1:4000");
  EXPECT_EQ(*AdvertisedEndpoint("tcp://*:4000", "", "tcp://[::1]:7700"), "tcp://[::1]:4000");
}

TEST(EndpointTest, ACoordinatorThatIsNotTcpIsAClearError) {
  auto advertised = AdvertisedEndpoint("tcp://0.0.0.0:4000", "", "ipc:///run/coordinator");
  ASSERT_FALSE(advertised.ok());
  EXPECT_NE(advertised.status().message().find("tcp://0.0.0.0:4000"), std::string::npos)
      << advertised.status();
  EXPECT_NE(advertised.status().message().find("ipc:///run/coordinator"), std::string::npos)
      << advertised.status();
}

}  // namespace
}  // namespace meshsim::net
