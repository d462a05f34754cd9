#include "node/checkpoint_client.h"

#include "common/rpc/rpc_client.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "common/thread/named_thread.h"
#include "spdlog/spdlog.h"

namespace meshsim::node {
namespace {

// Below the RPC server's 16 MiB request limit, large enough that a big
// part costs few round trips.
constexpr size_t kChunkBytes = 4 << 20;
constexpr auto kChunkTimeout = std::chrono::seconds(30);
// A size above this is not reserved ahead (it comes from the network).
constexpr uint64_t kMaxPartBytes = uint64_t{1} << 36;

}  // namespace

CheckpointClient::CheckpointClient(zmq::context_t& context, rpc::RpcClient::Options coordinator,
                                   NodeMetrics* metrics)
    : context_(context), coordinator_(std::move(coordinator)), metrics_(metrics) {}

CheckpointClient::~CheckpointClient() { Stop(); }

void CheckpointClient::Start() {
  thread_ = StartNamedThread("checkpoints", [this] { UploadLoop(); });
}

void CheckpointClient::Stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void CheckpointClient::Submit(CheckpointUpload upload) {
  std::lock_guard lock(mutex_);
  if (waiting_) {
    spdlog::warn("job {}: checkpoint part of window {} replaced by window {} before it was sent",
                 waiting_->job_id, waiting_->window, upload.window);
  }
  waiting_ = std::move(upload);
  wake_.notify_all();
}

bool CheckpointClient::busy() const {
  std::lock_guard lock(mutex_);
  return in_flight_ || waiting_.has_value();
}

void CheckpointClient::UploadLoop() {
  for (;;) {
    CheckpointUpload upload;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stop_ || waiting_.has_value(); });
      if (stop_) return;
      upload = std::move(*waiting_);
      waiting_.reset();
      in_flight_ = true;
    }
    const auto begin = SteadyClock::now();
    const absl::Status status = Upload(upload);
    if (status.ok()) {
      if (metrics_ != nullptr) metrics_->checkpoint_upload_seconds.Observe(SecondsSince(begin));
      spdlog::debug("job {}: checkpoint part of window {} stored ({} bytes)", upload.job_id, upload.window,
                    upload.bytes.size());
    } else {
      if (metrics_ != nullptr) metrics_->checkpoint_failures.Increment();
      spdlog::warn("job {}: checkpoint at window {} not stored, the job goes on: {}", upload.job_id,
                   upload.window, status.message());
    }
    std::lock_guard lock(mutex_);
    in_flight_ = false;
  }
}

absl::Status CheckpointClient::Upload(const CheckpointUpload& upload) {
  MESHSIM_ASSIGN_OR_RETURN(auto client, rpc::RpcClient::Create(context_, coordinator_));
  v1::PutCheckpointRequest request;
  request.set_node_id(upload.node_id);
  request.set_job_id(upload.job_id);
  request.set_attempt(upload.attempt);
  request.set_window(upload.window);
  request.set_rank(upload.rank);
  request.set_virtual_time(upload.virtual_time);
  const auto* data = reinterpret_cast<const char*>(upload.bytes.data());
  for (size_t offset = 0; offset < upload.bytes.size(); offset += kChunkBytes) {
    const size_t n = std::min(kChunkBytes, upload.bytes.size() - offset);
    request.set_offset(offset);
    request.set_data(data + offset, n);
    request.set_last(offset + n == upload.bytes.size());
    v1::PutCheckpointReply reply;
    MESHSIM_RETURN_IF_ERROR(
        client->Call("Coordinator.PutCheckpoint", request, &reply, Deadline::After(kChunkTimeout)));
    if (reply.complete()) {
      spdlog::info("job {}: checkpoint at window {} complete (this node's part was the last)", upload.job_id,
                   upload.window);
    }
  }
  if (metrics_ != nullptr) {
    metrics_->checkpoints_saved.Increment();
    metrics_->checkpoint_bytes.Increment(static_cast<double>(upload.bytes.size()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::vector<std::byte>>> CheckpointClient::Download(
    uint64_t job_id, const v1::CheckpointInfo& checkpoint) {
  MESHSIM_ASSIGN_OR_RETURN(auto client, rpc::RpcClient::Create(context_, coordinator_));
  std::vector<std::vector<std::byte>> parts(checkpoint.parts());
  for (uint32_t rank = 0; rank < checkpoint.parts(); ++rank) {
    v1::GetCheckpointRequest request;
    request.set_job_id(job_id);
    request.set_window(checkpoint.window());
    request.set_attempt(checkpoint.attempt());
    request.set_rank(rank);
    request.set_max_bytes(kChunkBytes);
    std::vector<std::byte>& part = parts[rank];
    uint64_t total = 1;
    while (part.size() < total) {
      {
        std::lock_guard lock(mutex_);
        if (stop_) return absl::AbortedError("the node is stopping");
      }
      request.set_offset(part.size());
      v1::GetCheckpointReply reply;
      MESHSIM_RETURN_IF_ERROR(
          Annotate(client->Call("Coordinator.GetCheckpoint", request, &reply, Deadline::After(kChunkTimeout)),
                   StrCat("checkpoint part ", rank)));
      total = reply.total_bytes();
      // Its size is known from the first chunk: grow once (a part of
      // gigabytes, doubled chunk by chunk, would be copied and held twice).
      if (part.empty() && total < kMaxPartBytes) part.reserve(total);
      if (reply.data().empty() && part.size() < total) {
        return absl::DataLossError(
            StrCat("checkpoint part ", rank, " ended at ", part.size(), " of ", total, " bytes"));
      }
      const auto* bytes = reinterpret_cast<const std::byte*>(reply.data().data());
      part.insert(part.end(), bytes, bytes + reply.data().size());
    }
  }
  return parts;
}

}  // namespace meshsim::node
