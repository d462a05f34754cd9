// Data-plane frame encoding and decoding: a frame of N events, written into
// a reused buffer and then validated and walked in full.
#include <vector>

#include "benchmark/benchmark.h"
#include "common/frame/frame_codec.h"

namespace meshsim::frame {
namespace {

void BM_FrameEncode(benchmark::State& state) {
  const auto events = static_cast<uint32_t>(state.range(0));
  const std::vector<std::byte> payload(static_cast<size_t>(state.range(1)));
  FrameWriter writer;
  size_t bytes = 0;
  for (auto _ : state) {
    writer.Begin(1, 2, 0);
    for (uint32_t i = 0; i < events; ++i) writer.Append({1.0 + i, i, i, i, payload});
    bytes = writer.Finish(1.0).size();
    benchmark::DoNotOptimize(bytes);
  }
  state.SetItemsProcessed(state.iterations() * events);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_FrameEncode)->ArgNames({"events", "payload"})->Args({1000, 0})->Args({1000, 64});

void BM_FrameDecode(benchmark::State& state) {
  const auto events = static_cast<uint32_t>(state.range(0));
  const std::vector<std::byte> payload(static_cast<size_t>(state.range(1)));
  FrameWriter writer;
  writer.Begin(1, 2, 0);
  for (uint32_t i = 0; i < events; ++i) writer.Append({1.0 + i, i, i, i, payload});
  const auto frame = writer.Finish(1.0);
  const DecodeLimits limits{.lp_count = events, .max_payload_bytes = 64};
  for (auto _ : state) {
    auto view = FrameCodec::Decode(frame, limits);
    double sum = 0;
    view->ForEachEvent([&](const sim::Event& e) { sum += e.time; });
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * events);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * frame.size()));
}
BENCHMARK(BM_FrameDecode)->ArgNames({"events", "payload"})->Args({1000, 0})->Args({1000, 64});

}  // namespace
}  // namespace meshsim::frame

BENCHMARK_MAIN();
