#include "coordinator/mailbox_registry.h"

#include "gtest/gtest.h"

namespace meshsim::coordinator {
namespace {

TEST(MailboxRegistryTest, MergesSubscriptionsIntoOneSortedTableWithRanksAscending) {
  auto table = BuildMailboxTable({{"b", "household/2"}, {}, {"a", "b"}, {"b"}});
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->size(), 3u);
  EXPECT_EQ((*table)[0].name(), "a");
  EXPECT_EQ(std::vector<uint32_t>((*table)[0].ranks().begin(), (*table)[0].ranks().end()),
            std::vector<uint32_t>{2});
  EXPECT_EQ((*table)[1].name(), "b");
  EXPECT_EQ(std::vector<uint32_t>((*table)[1].ranks().begin(), (*table)[1].ranks().end()),
            (std::vector<uint32_t>{0, 2, 3}));
  EXPECT_EQ((*table)[2].name(), "household/2");
}

TEST(MailboxRegistryTest, ARankListingAMailboxTwiceAppearsOnce) {
  auto table = BuildMailboxTable({{"x", "x"}});
  ASSERT_TRUE(table.ok());
  ASSERT_EQ(table->size(), 1u);
  EXPECT_EQ((*table)[0].ranks_size(), 1);
}

TEST(MailboxRegistryTest, NamesNoNodeShouldReportAreRefusedNamingTheRank) {
  auto empty = BuildMailboxTable({{"a"}, {""}});
  ASSERT_TRUE(absl::IsInvalidArgument(empty.status()));
  EXPECT_NE(empty.status().message().find("rank 1"), std::string::npos);
  EXPECT_TRUE(absl::IsInvalidArgument(BuildMailboxTable({{std::string(300, 'm')}}).status()));
}

TEST(MailboxRegistryTest, NoSubscriptionsGiveAnEmptyTable) {
  auto table = BuildMailboxTable({{}, {}});
  ASSERT_TRUE(table.ok());
  EXPECT_TRUE(table->empty());
}

}  // namespace
}  // namespace meshsim::coordinator
