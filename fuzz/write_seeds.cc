// Writes the seed corpora of the fuzzers (fuzz/corpus/<fuzzer>/) with the
// real encoders, so every seed is a valid input the fuzzer mutates from:
//   build/fuzz/fuzz/write_seeds fuzz/corpus
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "common/checkpoint/checkpoint_codec.h"
#include "common/frame/frame_codec.h"
#include "common/scenario/scenario.h"
#include "common/transport/shm/probe.h"
#include "common/transport/shm/ring.h"
#include "models/builtin.h"
#include "proto/meshsim.pb.h"
#include "proto/rpc.pb.h"

namespace {

namespace fs = std::filesystem;
using namespace meshsim;

void Write(const fs::path& path, std::span<const std::byte> bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}
void Write(const fs::path& path, const std::string& text) {
  Write(path, std::span(reinterpret_cast<const std::byte*>(text.data()), text.size()));
}

std::vector<std::byte> Payload(std::string_view text) {
  return {reinterpret_cast<const std::byte*>(text.data()),
          reinterpret_cast<const std::byte*>(text.data()) + text.size()};
}

void Frames(const fs::path& dir) {
  frame::FrameWriter writer;
  writer.Begin(frame::RunId(7, 1), 3, 1);
  writer.Append({12.5, 4, 900, 1, {}});
  writer.Append({12.75, 0x80000002, 901, 2, Payload("payload")});
  writer.Append({13.0, 4095, 902, 3, Payload("x")});
  Write(dir / "three-events", writer.Finish(13.0));
  writer.Begin(frame::RunId(7, 1), 4, 0);
  Write(dir / "empty-window", writer.Finish(1e300));
  writer.Begin(frame::RunId(9, 2), 0, 2);
  writer.Append({0.1, 1, 2, 0, {}});
  Write(dir / "checkpoint-flag", writer.Finish(0.1, frame::kFlagCheckpoint));
  writer.Begin(frame::RunId(9, 2), 6, 1);
  writer.Append({2.5, 17, 3, 8, Payload("ab")});
  writer.AppendAnti({2.5, 17, 3, 8, {}});
  writer.AppendAnti({2.75, 0x80000001, 3, 9, {}});
  Write(dir / "optimistic-cut-with-antis", writer.Finish(2.25, frame::kFlagOptimistic | frame::kFlagCut));
}

void Checkpoints(const fs::path& dir) {
  checkpoint::CheckpointPartWriter writer(
      {.job_id = 3, .attempt = 1, .rank = 0, .ranks = 2, .window = 40, .next_time = 4.0, .lp_count = 8});
  const auto state = Payload("lp-state");
  for (uint32_t lp = 0; lp < 4; ++lp) {
    writer.AddLp({.lp = lp,
                  .rng_state = lp * 31u,
                  .rng_gamma = 0x9e3779b97f4a7c15ull,
                  .sent = lp,
                  .processed = 2u * lp,
                  .state = state});
  }
  writer.AddEvent({4.5, 5, 1, 10, Payload("e")});
  writer.AddEvent({4.7, 0x80000001, 2, 11, {}});
  Write(dir / "two-lps-two-events", std::move(writer).Finish());
}

void Rings(const fs::path& dir) {
  const std::string name = transport::shm::SegmentName("seed-ring");
  auto probe = transport::shm::ColocationProbe::Create("seed-probe");
  auto writer = transport::shm::RingWriter::Create(name, 4096, 1);
  if (!probe.ok() || !writer.ok()) return;
  transport::shm::Doorbell bell = probe->doorbell();
  const auto never = [] { return false; };
  (void)writer->Write(Payload("first message"), bell, never);
  (void)writer->Write(std::vector<std::byte>(700, std::byte{0x42}), bell, never);
  auto segment = transport::shm::ShmSegment::Open(name);
  if (segment.ok()) Write(dir / "two-messages", std::span(segment->data(), segment->size()));
}

void Rpcs(const fs::path& dir) {
  auto add = [&](const std::string& method, const google::protobuf::Message& body) {
    rpc::RpcRequest request;
    request.set_method(method);
    request.set_call_id(1);
    request.set_deadline_ms(1000);
    request.set_body(body.SerializeAsString());
    Write(dir / method, request.SerializeAsString());
  };
  v1::RegisterNodeRequest node;
  node.set_name("n1");
  node.set_rpc_endpoint("tcp://127.0.0.1:1");
  node.set_data_endpoint("tcp://127.0.0.1:2");
  add("Coordinator.RegisterNode", node);
  v1::HeartbeatRequest heartbeat;
  heartbeat.set_node_id(1);
  add("Coordinator.Heartbeat", heartbeat);
  v1::SubmitJobRequest submit;
  auto scenario = scenario::LoadFile("scenarios/phold.yaml");
  if (scenario.ok()) *submit.mutable_scenario() = *scenario;
  add("Coordinator.SubmitJob", submit);
  v1::SubmitJobRequest yaml;
  yaml.set_scenario_yaml("model: phold\nend_time: 5\nlookahead: 0.1\nparams: { lps: 64 }\n");
  add("Coordinator.SubmitJob.yaml", yaml);
  v1::GetJobRequest get;
  get.set_job_id(1);
  add("Coordinator.GetJob", get);
  add("Coordinator.CancelJob", v1::CancelJobRequest());
  add("Coordinator.ListNodes", v1::ListNodesRequest());
  add("Coordinator.ListJobs", v1::ListJobsRequest());
  add("Coordinator.ListModels", v1::ListModelsRequest());
  add("Coordinator.ReportJob", v1::ReportJobRequest());
  add("Coordinator.LeaveNode", v1::LeaveNodeRequest());
  add("Coordinator.PutCheckpoint", v1::PutCheckpointRequest());
  add("Coordinator.GetCheckpoint", v1::GetCheckpointRequest());
}

// A node_rpc_fuzz input: envelopes, each after its length (two bytes, little-endian).
void NodeRpcs(const fs::path& dir) {
  auto envelope = [](const std::string& method, const google::protobuf::Message& body) {
    rpc::RpcRequest request;
    request.set_method(method);
    request.set_call_id(1);
    request.set_deadline_ms(1000);
    request.set_body(body.SerializeAsString());
    const std::string bytes = request.SerializeAsString();
    return std::string{static_cast<char>(bytes.size() & 0xff), static_cast<char>(bytes.size() >> 8)} + bytes;
  };
  v1::PrepareJobRequest prepare;
  prepare.set_job_id(7);
  prepare.set_attempt(1);
  prepare.set_rank(0);
  auto scenario = scenario::LoadFile("scenarios/phold.yaml");
  if (scenario.ok()) *prepare.mutable_scenario() = *scenario;
  (*prepare.mutable_scenario()->mutable_params())["lps"] = 32;
  prepare.mutable_model_build()->set_version("fuzz");  // the build node_rpc_fuzz registers
  prepare.mutable_model_build()->set_fingerprint("fuzz");
  for (uint32_t rank = 0; rank < 2; ++rank) {
    v1::PeerInfo* peer = prepare.add_peers();
    peer->set_rank(rank);
    peer->set_node_id(rank + 1);
    peer->set_data_endpoint("tcp://127.0.0.1:" + std::to_string(7801 + rank));
  }
  v1::StartJobRequest start;
  start.set_job_id(7);
  start.set_attempt(1);
  start.add_link_transports(v1::TRANSPORT_TCP);
  start.add_link_transports(v1::TRANSPORT_TCP);
  v1::AbortJobRequest abort_job;
  abort_job.set_job_id(7);
  abort_job.set_attempt(1);
  abort_job.set_reason("seed");
  v1::PrepareJobRequest restore = prepare;
  restore.mutable_restore()->set_window(3);
  restore.mutable_restore()->set_attempt(1);
  restore.mutable_restore()->set_parts(2);
  v1::PrepareJobRequest epidemic = prepare;
  auto epidemic_scenario = scenario::LoadFile("scenarios/epidemic.yaml");
  if (epidemic_scenario.ok()) *epidemic.mutable_scenario() = *epidemic_scenario;
  (*epidemic.mutable_scenario()->mutable_params())["persons"] = 64;

  Write(dir / "prepare", envelope("Node.PrepareJob", prepare));
  Write(dir / "prepare-start", envelope("Node.PrepareJob", prepare) + envelope("Node.StartJob", start));
  Write(dir / "prepare-start-abort", envelope("Node.PrepareJob", prepare) + envelope("Node.StartJob", start) +
                                         envelope("Node.AbortJob", abort_job));
  Write(dir / "prepare-restore", envelope("Node.PrepareJob", restore));
  Write(dir / "prepare-epidemic", envelope("Node.PrepareJob", epidemic) + envelope("Node.StartJob", start));
  Write(dir / "start-unprepared", envelope("Node.StartJob", start));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR (run from the repository root)\n", argv[0]);
    return 2;
  }
  models::RegisterBuiltinModels();
  const fs::path root(argv[1]);
  Frames(root / "frame_codec");
  Checkpoints(root / "checkpoint_part");
  Rings(root / "shm_ring");
  Rpcs(root / "rpc");
  NodeRpcs(root / "node_rpc");
  fs::create_directories(root / "scenario");
  for (const auto& entry : fs::directory_iterator("scenarios")) {
    if (entry.path().extension() == ".yaml")
      fs::copy_file(entry.path(), root / "scenario" / entry.path().filename(),
                    fs::copy_options::overwrite_existing);
  }
  return 0;
}
