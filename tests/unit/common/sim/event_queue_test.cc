#include "common/sim/event_queue.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <random>
#include <set>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"

namespace meshsim::sim {
namespace {

std::vector<std::byte> Bytes(uint64_t value, size_t size) {
  std::vector<std::byte> out(size);
  std::memcpy(out.data(), &value, std::min(size, sizeof(value)));
  return out;
}

TEST(EventQueueTest, PopsInTimeThenSourceThenSequenceOrder) {
  EventQueue queue(0);
  queue.Push({2.0, 0, 1, 0, {}});
  queue.Push({1.0, 0, 5, 3, {}});
  queue.Push({1.0, 0, 5, 1, {}});
  queue.Push({1.0, 0, 2, 9, {}});
  std::vector<std::tuple<double, LpId, uint64_t>> popped;
  while (!queue.empty()) {
    Event e = queue.Pop();
    popped.emplace_back(e.time, e.src_lp, e.src_seq);
  }
  EXPECT_EQ(popped, (std::vector<std::tuple<double, LpId, uint64_t>>{
                        {1.0, 2, 9}, {1.0, 5, 1}, {1.0, 5, 3}, {2.0, 1, 0}}));
}

TEST(EventQueueTest, MatchesASortedReferenceOnRandomEvents) {
  std::mt19937_64 random(7);
  EventQueue queue(16);
  std::vector<std::tuple<double, LpId, uint64_t, LpId>> reference;
  for (uint64_t i = 0; i < 20000; ++i) {
    // Coarse times force many ties, so the tie-breaks are exercised.
    const double time = static_cast<double>(random() % 500);
    const auto src = static_cast<LpId>(random() % 50);
    const auto dst = static_cast<LpId>(random() % 50);
    const auto payload = Bytes(i, 8);
    queue.Push({time, dst, src, i, payload});
    reference.emplace_back(time, src, i, dst);
  }
  std::sort(reference.begin(), reference.end());
  for (const auto& [time, src, seq, dst] : reference) {
    ASSERT_FALSE(queue.empty());
    EXPECT_EQ(queue.top_time(), time);
    Event e = queue.Pop();
    ASSERT_EQ(std::tie(e.time, e.src_lp, e.src_seq, e.dst_lp), std::tie(time, src, seq, dst));
    uint64_t tag;
    std::memcpy(&tag, e.payload.data(), sizeof(tag));
    ASSERT_EQ(tag, seq) << "payload does not belong to its event";
  }
  EXPECT_TRUE(queue.empty());
}

// Pops interleaved with pushes, as a simulation does, over delays that
// reach into later buckets, past the year into the overflow (the heavy
// tail), and of zero (into the bucket being drained); a few bursts change
// the population tenfold, so years of very different widths follow each
// other. The order must be exactly a sorted reference's.
TEST(EventQueueTest, MatchesAReferenceWhilePushingAsItPopsAcrossYears) {
  std::mt19937_64 random(11);
  std::exponential_distribution<double> delay(1.0);
  EventQueue queue(8);
  using Entry = std::tuple<double, LpId, uint64_t, LpId>;
  std::vector<Entry> pending;  // a min-heap under std::greater: the reference
  uint64_t seq = 0;
  auto push = [&](double time) {
    const auto src = static_cast<LpId>(random() % 1000);
    const auto dst = static_cast<LpId>(random() % 1000);
    queue.Push({time, dst, src, seq, Bytes(seq, 8)});
    pending.emplace_back(time, src, seq, dst);
    std::push_heap(pending.begin(), pending.end(), std::greater<>());
    ++seq;
  };
  for (int i = 0; i < 1000; ++i) push(delay(random));
  double now = 0;
  for (int step = 0; step < 200000; ++step) {
    ASSERT_FALSE(queue.empty());
    ASSERT_EQ(queue.size(), pending.size());
    std::pop_heap(pending.begin(), pending.end(), std::greater<>());
    const auto [time, src, seq_want, dst] = pending.back();
    pending.pop_back();
    const Event e = queue.Pop();
    ASSERT_EQ(std::tie(e.time, e.src_lp, e.src_seq, e.dst_lp), std::tie(time, src, seq_want, dst))
        << "step " << step;
    uint64_t tag;
    std::memcpy(&tag, e.payload.data(), sizeof(tag));
    ASSERT_EQ(tag, seq_want) << "payload does not belong to its event";
    now = e.time;
    const uint64_t kind = random() % 100;
    if (kind < 2) {
      push(now);  // a zero delay: into the bucket being drained
    } else if (kind < 4) {
      push(now + 1000 * delay(random));  // far beyond the year
    } else {
      push(now + 0.1 + delay(random));
    }
    if (step % 50000 == 25000) {
      for (int i = 0; i < 10000; ++i) push(now + delay(random));  // a burst
    } else if (step % 50000 == 49999) {
      while (queue.size() > 200) {  // and back down: drain to a small population
        std::pop_heap(pending.begin(), pending.end(), std::greater<>());
        pending.pop_back();
        queue.Pop();
      }
    }
  }
}

// Cancellation under optimistic synchronization: removing an event by its
// key, wherever it waits (the drained bucket's heap, a later bucket, the
// overflow), keeps the rest in exactly the reference order with their own
// payloads; a key that is not pending is refused and changes nothing.
TEST(EventQueueTest, RemovesByKeyFromEveryRungAndKeepsTheOrder) {
  std::mt19937_64 random(13);
  std::exponential_distribution<double> delay(1.0);
  EventQueue queue(8);
  using Entry = std::tuple<double, LpId, uint64_t, LpId>;
  std::set<Entry> pending;
  uint64_t seq = 0;
  auto push = [&](double time) {
    const auto src = static_cast<LpId>(random() % 100);
    const auto dst = static_cast<LpId>(random() % 100);
    queue.Push({time, dst, src, seq, Bytes(seq, 8)});
    pending.emplace(time, src, seq, dst);
    ++seq;
  };
  auto remove = [&](const Entry& entry) {
    const auto& [time, src, s, dst] = entry;
    return queue.Remove({time, dst, src, s, {}});
  };
  for (int i = 0; i < 2000; ++i) push(delay(random));
  uint64_t removed = 0;
  for (int step = 0; step < 50000; ++step) {
    ASSERT_EQ(queue.size(), pending.size());
    if (random() % 3 == 0 && !pending.empty()) {
      // Near the front (the heap), in the middle, or far out (the overflow).
      auto it = pending.begin();
      std::advance(it, static_cast<ptrdiff_t>(random() % pending.size()));
      const Entry victim = *it;
      ASSERT_TRUE(remove(victim)) << "step " << step;
      pending.erase(victim);
      ASSERT_FALSE(remove(victim)) << "removed twice at step " << step;
      ++removed;
      continue;
    }
    const Entry want = *pending.begin();
    pending.erase(pending.begin());
    const Event e = queue.Pop();
    ASSERT_EQ(std::tie(e.time, e.src_lp, e.src_seq, e.dst_lp),
              std::tie(std::get<0>(want), std::get<1>(want), std::get<2>(want), std::get<3>(want)))
        << "step " << step;
    uint64_t tag;
    std::memcpy(&tag, e.payload.data(), sizeof(tag));
    ASSERT_EQ(tag, e.src_seq) << "payload does not belong to its event";
    push(e.time + (random() % 50 == 0 ? 1000 * delay(random) : 0.1 + delay(random)));
    if (random() % 2 == 0) push(e.time + 0.1 + delay(random));
  }
  EXPECT_GT(removed, 10000u);
  // A key that matches in all but one field is not the event.
  queue.Push({5e9, 7, 3, 1, {}});
  EXPECT_FALSE(queue.Remove({5e9, 8, 3, 1, {}}));
  EXPECT_FALSE(queue.Remove({5e9, 7, 4, 1, {}}));
  EXPECT_FALSE(queue.Remove({5e9, 7, 3, 2, {}}));
  EXPECT_TRUE(queue.Remove({5e9, 7, 3, 1, {}}));
}

TEST(EventQueueTest, PoppedPayloadSurvivesPushesUntilTheNextPop) {
  EventQueue queue(64);
  queue.Push({1.0, 0, 0, 0, Bytes(0xabcdef, 64)});
  Event first = queue.Pop();
  // Enough pushes to grow the slot storage several times over.
  for (uint64_t i = 0; i < 5000; ++i) queue.Push({2.0 + static_cast<double>(i), 0, 0, i + 1, Bytes(i, 64)});
  uint64_t tag;
  std::memcpy(&tag, first.payload.data(), sizeof(tag));
  EXPECT_EQ(tag, 0xabcdefu);
  EXPECT_EQ(first.payload.size(), 64u);
}

TEST(EventQueueTest, ReusesSlotsSoAPopPushCycleKeepsItsSize) {
  EventQueue queue(8);
  for (uint64_t i = 0; i < 100; ++i) queue.Push({static_cast<double>(i), 0, 0, i, Bytes(i, 8)});
  for (uint64_t i = 0; i < 100000; ++i) {
    Event e = queue.Pop();
    queue.Push({e.time + 100, 0, 0, e.src_seq + 100, Bytes(e.src_seq + 100, 8)});
  }
  EXPECT_EQ(queue.size(), 100u);
}

// Memory follows the pending population: a payload-free key costs at most
// 40 bytes at a steady 200,000 (no second copy while a year is spread, no
// slack from a bucket's past load), the figure holds year after year, and
// after the population falls tenfold and rises again the queue has reused
// its storage rather than grown.
TEST(EventQueueTest, HoldsAtMostFortyBytesPerPendingEventAcrossYears) {
  constexpr size_t kPending = 200000;
  constexpr size_t kFixedBytes = 256 * 1024;  // one block slab, the drained bucket's heap, the bucket table
  std::mt19937_64 random(17);
  std::exponential_distribution<double> delay(1.0);
  EventQueue queue(0);
  uint64_t seq = 0;
  double now = 0;
  for (size_t i = 0; i < kPending; ++i) queue.Push({delay(random), 0, static_cast<LpId>(i), seq++, {}});
  auto hold = [&](size_t steps) {
    for (size_t i = 0; i < steps; ++i) {
      const Event e = queue.Pop();
      now = e.time;
      queue.Push({now + 0.1 + delay(random), e.dst_lp, e.src_lp, seq++, {}});
    }
  };
  hold(2 * kPending);  // several years
  const size_t warm = queue.memory_bytes();
  EXPECT_LE(warm, EventQueue::kKeyBytesPerPendingEvent * kPending + kFixedBytes)
      << "bytes per pending event: " << warm / kPending;
  hold(4 * kPending);
  EXPECT_LE(queue.memory_bytes(), warm + warm / 20) << "grew while the population held";
  while (queue.size() > kPending / 10) now = queue.Pop().time;
  hold(kPending);
  for (size_t i = queue.size(); i < kPending; ++i) queue.Push({now + delay(random), 0, 0, seq++, {}});
  hold(2 * kPending);
  EXPECT_LE(queue.memory_bytes(), warm + warm / 20) << "did not reuse the storage of the smaller population";
}

}  // namespace
}  // namespace meshsim::sim
