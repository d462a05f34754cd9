#include "coordinator/job_result.h"

#include "gtest/gtest.h"

namespace meshsim::coordinator {
namespace {

v1::NodeShare Share(uint32_t rank, uint64_t events, uint64_t digest, double seconds, uint64_t windows = 10) {
  v1::NodeShare share;
  share.set_rank(rank);
  share.set_node_id(rank + 1);
  share.set_committed_events(events);
  share.set_digest(digest);
  share.set_loop_seconds(seconds);
  share.set_windows(windows);
  (*share.mutable_summary())["remote_sends"] = static_cast<int64_t>(events / 10);
  return share;
}

TEST(AggregateSharesTest, SumsCountsAndDigestsAndTakesTheSlowestNode) {
  v1::Scenario scenario;
  scenario.set_end_time(50);
  auto result = AggregateShares(scenario, {Share(1, 300, ~uint64_t{0}, 2.0), Share(0, 100, 5, 1.0)});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->committed_events(), 400u);
  EXPECT_EQ(result->digest(), 4u);  // wraps around
  EXPECT_EQ(result->wall_seconds(), 2.0);
  EXPECT_EQ(result->event_rate(), 200.0);
  EXPECT_EQ(result->windows(), 10u);
  EXPECT_EQ(result->end_time(), 50);
  EXPECT_EQ(result->summary().at("remote_sends"), 40);
  ASSERT_EQ(result->nodes_size(), 2);
  EXPECT_EQ(result->nodes(0).rank(), 0u);  // in rank order
}

TEST(AggregateSharesTest, SumsSeriesPointByPointAndMailboxCounters) {
  auto with_series = [](uint32_t rank, std::vector<int64_t> values) {
    v1::NodeShare share = Share(rank, 10, 1, 1.0);
    share.set_series_interval(1.0);
    v1::TimeSeries* series = share.add_series();
    series->set_name("infectious");
    series->mutable_values()->Add(values.begin(), values.end());
    share.mutable_mailboxes()->set_posts(rank + 1);
    share.mutable_mailboxes()->set_deliveries(10 * (rank + 1));
    return share;
  };
  auto result = AggregateShares(v1::Scenario(), {with_series(0, {1, 2, 3}), with_series(1, {10, 20, 30})});
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->series_size(), 1);
  EXPECT_EQ(std::vector<int64_t>(result->series(0).values().begin(), result->series(0).values().end()),
            (std::vector<int64_t>{11, 22, 33}));
  EXPECT_EQ(result->mailboxes().posts(), 3u);
  EXPECT_EQ(result->mailboxes().deliveries(), 30u);
  EXPECT_EQ(result->nodes(0).series_size(), 0) << "the totals are in the job's series";

  auto mismatched = AggregateShares(v1::Scenario(), {with_series(0, {1, 2, 3}), with_series(1, {1, 2})});
  EXPECT_TRUE(absl::IsInternal(mismatched.status()));
}

TEST(AggregateSharesTest, NodesThatDisagreeOnWindowsFailTheJob) {
  auto result = AggregateShares(v1::Scenario(), {Share(0, 1, 1, 1, 10), Share(1, 1, 1, 1, 11)});
  EXPECT_TRUE(absl::IsInternal(result.status()));
}

}  // namespace
}  // namespace meshsim::coordinator
