// The pending-event set under the classic "hold" workload: pop the first
// event, push one a random delay later, at a steady population. Side by side
// with std::priority_queue holding whole events, as a baseline.
#include <queue>
#include <vector>

#include "benchmark/benchmark.h"
#include "common/sim/event_queue.h"
#include "meshsim/rng.h"

namespace meshsim::sim {
namespace {

void BM_EventQueueHold(benchmark::State& state) {
  const auto population = static_cast<size_t>(state.range(0));
  const auto payload_bytes = static_cast<size_t>(state.range(1));
  std::vector<std::byte> payload(payload_bytes);
  EventQueue queue(payload_bytes);
  queue.Reserve(population);
  Rng rng = Rng::ForLp(1, 0);
  for (size_t i = 0; i < population; ++i) {
    queue.Push({rng.Exponential(1.0), static_cast<LpId>(i), static_cast<LpId>(i), 0, payload});
  }
  uint64_t seq = 0;
  for (auto _ : state) {
    const Event e = queue.Pop();
    queue.Push({e.time + 0.1 + rng.Exponential(0.9), e.src_lp, e.dst_lp, ++seq, payload});
  }
  state.SetItemsProcessed(state.iterations());
  // What the queue holds per pending event at the end, payload slots included.
  state.counters["bytes_per_event"] =
      static_cast<double>(queue.memory_bytes()) / static_cast<double>(population);
}
BENCHMARK(BM_EventQueueHold)
    ->ArgNames({"pending", "payload"})
    ->Args({1000, 0})
    ->Args({1000000, 0})
    ->Args({1000, 64})
    ->Args({1000000, 64});

struct BaselineEvent {
  double time;
  LpId dst, src;
  uint64_t seq;
  bool operator>(const BaselineEvent& o) const {
    if (time != o.time) return time > o.time;
    if (src != o.src) return src > o.src;
    return seq > o.seq;
  }
};

void BM_StdPriorityQueueHold(benchmark::State& state) {
  const auto population = static_cast<size_t>(state.range(0));
  std::vector<BaselineEvent> storage;
  storage.reserve(population + 1);
  std::priority_queue<BaselineEvent, std::vector<BaselineEvent>, std::greater<>> queue(std::greater<>(),
                                                                                       std::move(storage));
  Rng rng = Rng::ForLp(1, 0);
  for (size_t i = 0; i < population; ++i) {
    queue.push({rng.Exponential(1.0), static_cast<LpId>(i), static_cast<LpId>(i), 0});
  }
  uint64_t seq = 0;
  for (auto _ : state) {
    const BaselineEvent e = queue.top();
    queue.pop();
    queue.push({e.time + 0.1 + rng.Exponential(0.9), e.src, e.dst, ++seq});
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StdPriorityQueueHold)->ArgName("pending")->Arg(1000)->Arg(1000000);

}  // namespace
}  // namespace meshsim::sim

BENCHMARK_MAIN();
