// The hot path (event queue, event dispatch, frame encode/decode) allocates
// nothing per event once it has warmed up. This binary replaces global
// operator new to count allocations, so it stands alone.
#include <atomic>
#include <cstdlib>
#include <new>

#include "common/frame/frame_codec.h"
#include "common/sim/kernel.h"
#include "common/sim/model_registry.h"
#include "gtest/gtest.h"
#include "models/builtin.h"

namespace {
std::atomic<uint64_t> g_allocations{0};
}  // namespace

// GCC pairs the malloc in this operator new with the free in the matching
// operator delete and warns of a mismatch that is not there.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace meshsim::sim {
namespace {

// Routes remote events into per-rank frames, as the node does.
class FrameSink final : public RemoteSink {
 public:
  explicit FrameSink(uint32_t ranks) : writers(ranks) {}
  void Route(uint32_t rank, const Event& event) override { writers[rank].Append(event); }
  std::vector<frame::FrameWriter> writers;
};

TEST(HotPathAllocationTest, SteadyStateWindowsAllocateNothing) {
  models::RegisterBuiltinModels();
  const auto* phold = ModelRegistry::Global().Find("phold");
  ModelContext context{.end_time = 1e9,
                       .lookahead = 0.1,
                       .params = {{"lps", 4096},
                                  {"start_events", 2},
                                  {"remote_fraction", 0.25},
                                  {"mean", 1.0},
                                  {"payload_bytes", 16}}};
  auto model = phold->create(context);
  ASSERT_TRUE(model.ok());
  auto partition = PartitionMap::Create(PartitionKind::kBlock, 4096, 2);
  FrameSink sink(2);
  auto kernel = Kernel::Create({.seed = 1, .end_time = 1e9, .lookahead = 0.1, .rank = 0}, std::move(*model),
                               &*partition, &sink);
  ASSERT_TRUE(kernel.ok());
  ASSERT_TRUE((*kernel)->Init().ok());

  // Plays both nodes' parts for rank 0: each window, encode what went to
  // rank 1, decode it, and feed back the events rank 0 owns (a loopback).
  const frame::DecodeLimits limits{.lp_count = 4096, .max_payload_bytes = 16};
  double t = 0;
  uint64_t window = 0;
  auto run_windows = [&](int count) {
    for (int i = 0; i < count; ++i, ++window) {
      t += 0.1;
      ASSERT_TRUE((*kernel)->RunWindow(t).ok());
      auto& writer = sink.writers[1];
      auto view = frame::FrameCodec::Decode(writer.Finish(t), limits);
      ASSERT_TRUE(view.ok());
      view->ForEachEvent([&](const Event& e) {
        Event back = e;
        back.dst_lp = e.dst_lp % 2048;  // keep the population on rank 0
        (*kernel)->Deliver(back);
      });
      writer.Begin(1, window + 1, 0);
    }
  };
  sink.writers[1].Begin(1, 0, 0);
  // Warm up: slots and frame buffer reach their size, and each of the event
  // queue's buckets the largest load its index meets (a few dozen years).
  run_windows(3000);
  const uint64_t events_before = (*kernel)->committed_events();
  const uint64_t before = g_allocations.load();
  run_windows(300);
  const uint64_t allocations = g_allocations.load() - before;
  const uint64_t events = (*kernel)->committed_events() - events_before;
  ASSERT_GT(events, 100000u);
  // Growth can still happen rarely (a new maximum population); never per event.
  EXPECT_LT(allocations, 10u) << allocations << " allocations for " << events << " events";
}

}  // namespace
}  // namespace meshsim::sim
