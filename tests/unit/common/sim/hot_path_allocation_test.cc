// The hot path (event queue, event dispatch, frame encode/decode) allocates
// nothing per event once it has warmed up. This binary replaces global
// operator new to count allocations, so it stands alone.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
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
  void Cancel(uint32_t rank, const Event& event) override { writers[rank].AppendAnti(event); }
  std::vector<frame::FrameWriter> writers;
};

// Rank 0 of a two-node PHOLD, whose events for rank 1 come back to it.
struct LoopbackKernel {
  LoopbackKernel() : partition(*PartitionMap::Create(PartitionKind::kBlock, 4096, 2)), sink(2) {
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
    EXPECT_TRUE(model.ok());
    auto created = Kernel::Create({.seed = 1, .end_time = 1e9, .lookahead = 0.1, .rank = 0},
                                  std::move(*model), &partition, &sink);
    EXPECT_TRUE(created.ok());
    kernel = std::move(*created);
    EXPECT_TRUE(kernel->Init().ok());
  }
  // An event rank 0 sent to rank 1, turned back to one of rank 0's LPs.
  static Event Back(const Event& e) {
    Event back = e;
    back.dst_lp = e.dst_lp % 2048;  // keep the population on rank 0
    return back;
  }
  PartitionMap partition;
  FrameSink sink;
  std::unique_ptr<Kernel> kernel;
};

TEST(HotPathAllocationTest, SteadyStateWindowsAllocateNothing) {
  LoopbackKernel loopback;
  auto& kernel = loopback.kernel;
  auto& sink = loopback.sink;

  // Plays both nodes' parts for rank 0: each window, encode what went to
  // rank 1, decode it, and feed back the events rank 0 owns (a loopback).
  const frame::DecodeLimits limits{.lp_count = 4096, .max_payload_bytes = 16};
  double t = 0;
  uint64_t window = 0;
  auto run_windows = [&](int count) {
    for (int i = 0; i < count; ++i, ++window) {
      t += 0.1;
      ASSERT_TRUE(kernel->RunWindow(t).ok());
      auto& writer = sink.writers[1];
      auto view = frame::FrameCodec::Decode(writer.Finish(t), limits);
      ASSERT_TRUE(view.ok());
      view->ForEachEvent([&](const Event& e) { kernel->Deliver(LoopbackKernel::Back(e)); });
      writer.Begin(1, window + 1, 0);
    }
  };
  sink.writers[1].Begin(1, 0, 0);
  // Warm up: slots and frame buffer reach their size, and each of the event
  // queue's buckets the largest load its index meets (a few dozen years).
  run_windows(3000);
  const uint64_t events_before = kernel->committed_events();
  const uint64_t before = g_allocations.load();
  run_windows(300);
  const uint64_t allocations = g_allocations.load() - before;
  const uint64_t events = kernel->committed_events() - events_before;
  ASSERT_GT(events, 100000u);
  // Growth can still happen rarely (a new maximum population); never per event.
  EXPECT_LT(allocations, 10u) << allocations << " allocations for " << events << " events";
}

// Optimistic: rank 0 runs three lookaheads past GVT, so
// the events coming back reach LPs in their past: rollbacks, re-runs and
// anti-messages (which come back the same way) on top of saving every
// event's state. None of it allocates once the history has its size.
TEST(HotPathAllocationTest, SteadyStateOptimisticRunsWithRollbacksAllocateNothing) {
  LoopbackKernel loopback;
  auto& kernel = loopback.kernel;
  auto& writer = loopback.sink.writers[1];
  ASSERT_TRUE(kernel->EnableRollback({}).ok());
  frame::DecodeLimits limits{.lp_count = 4096, .max_payload_bytes = 16};
  limits.anti_messages = true;
  double gvt = 0;
  auto run_steps = [&](int count) {
    for (int i = 0; i < count; ++i) {
      ASSERT_TRUE(kernel->RunOptimistic(gvt, gvt + 0.3, UINT64_MAX).ok());
      auto view = frame::FrameCodec::Decode(writer.Finish(gvt), limits);
      ASSERT_TRUE(view.ok()) << view.status();
      // GVT: nothing pending or coming back is earlier.
      gvt = kernel->next_event_time();
      view->ForEachMessage([&](const Event& e, bool) { gvt = std::min(gvt, e.time); });
      view->ForEachMessage([&](const Event& e, bool anti) {
        anti ? kernel->DeliverAnti(LoopbackKernel::Back(e)) : kernel->Deliver(LoopbackKernel::Back(e));
      });
      kernel->FossilCollect(gvt);
      writer.Begin(1, 0, 0);
    }
  };
  writer.Begin(1, 0, 0);
  run_steps(3000);
  const OptimisticCounters before_counters = kernel->optimistic_counters();
  const uint64_t before = g_allocations.load();
  run_steps(300);
  const uint64_t allocations = g_allocations.load() - before;
  const OptimisticCounters& after = kernel->optimistic_counters();
  const uint64_t events = after.processed - before_counters.processed;
  ASSERT_GT(events, 100000u);
  ASSERT_GT(after.rollbacks - before_counters.rollbacks, 100u) << "the loopback should meet stragglers";
  ASSERT_GT(after.antis_sent - before_counters.antis_sent, 10u);
  EXPECT_LT(allocations, 10u) << allocations << " allocations for " << events << " events";
}

}  // namespace
}  // namespace meshsim::sim
