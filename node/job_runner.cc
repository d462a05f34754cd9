#include "node/job_runner.h"

#include <algorithm>

#include "common/process/process_memory.h"
#include "common/scenario/scenario.h"
#include "common/sim/model_registry.h"
#include "common/status/status.h"
#include "common/strings/format.h"
#include "spdlog/spdlog.h"

namespace meshsim::node {

absl::StatusOr<std::unique_ptr<JobRunner>> JobRunner::Create(JobSetup setup, JobRunnerOptions options,
                                                             zmq::context_t& context,
                                                             transport::FrameInbox* inbox) {
  // The peak the job reports is its own, not an earlier job's.
  if (!process::ResetPeakResident()) {
    spdlog::debug("job {}: cannot reset the peak resident memory; it is the process's", setup.job_id);
  }
  const v1::Scenario& scenario = setup.scenario;
  const auto* info = sim::ModelRegistry::Global().Find(scenario.model());
  if (info == nullptr) return absl::InvalidArgumentError(StrCat("unknown model '", scenario.model(), "'"));
  MESHSIM_ASSIGN_OR_RETURN(auto model, sim::CreateModel(*info, scenario::ModelContextOf(scenario)));
  const auto ranks = static_cast<uint32_t>(setup.peers.size());
  MESHSIM_ASSIGN_OR_RETURN(
      auto partition,
      sim::PartitionMap::Create(scenario::PartitionKindOf(scenario.partition()), model->lp_count(), ranks));
  auto runner = std::unique_ptr<JobRunner>(new JobRunner(std::move(setup), options, std::move(partition)));
  const JobSetup& kept = runner->setup_;  // `setup` was moved into the runner
  runner->limits_ = {model->lp_count(), 0, model->max_payload_bytes()};
  MESHSIM_ASSIGN_OR_RETURN(
      runner->links_,
      PeerLinks::Create({kept.job_id, kept.attempt, kept.run_id(), kept.node_id, kept.rank, kept.peers,
                         kept.probe_name, kept.doorbell},
                        {options.stall_timeout, options.link_linger, options.metrics, options.keyring},
                        context, inbox, &runner->abort_));
  runner->checkpoints_ = std::make_unique<JobCheckpoints>(
      CheckpointOwner{kept.node_id, kept.job_id, kept.attempt, kept.rank, ranks, model->lp_count()},
      kept.scenario.checkpoint_every_seconds(), options.checkpoints, options.metrics);
  MESHSIM_RETURN_IF_ERROR(runner->BuildKernel(std::move(model)));
  // Init (or restore) runs now, before the job starts, because the
  // coordinator needs every node's mailbox subscriptions to build the
  // job's mailbox table. What init sends waits in the window-0 frames.
  MESHSIM_RETURN_IF_ERROR(runner->InitOrRestore());
  runner->subscribed_mailboxes_ = runner->kernel_->subscribed_mailboxes();
  const v1::MemoryStats memory = runner->Memory();
  runner->metrics_.PublishMemory(memory);
  const size_t lps = runner->kernel_->local_lp_count();
  const auto kernel_bytes = static_cast<double>(memory.kernel_bytes());
  spdlog::info("job {} rank {}: {} LPs ready, kernel holds {} ({} per LP), process peak {}", kept.job_id,
               kept.rank, lps, HumanBytes(kernel_bytes),
               HumanBytes(kernel_bytes / static_cast<double>(std::max<size_t>(1, lps))),
               HumanBytes(static_cast<double>(memory.peak_rss_bytes())));
  return runner;
}

JobRunner::JobRunner(JobSetup setup, JobRunnerOptions options, sim::PartitionMap partition)
    : setup_(std::move(setup)),
      options_(std::move(options)),
      partition_(std::move(partition)),
      metrics_(options_.metrics) {}

JobRunner::~JobRunner() = default;

absl::Status JobRunner::BuildKernel(std::unique_ptr<sim::Model> model) {
  const v1::Scenario& scenario = setup_.scenario;
  if (scenario.sync() != v1::SYNC_CONSERVATIVE && scenario.sync() != v1::SYNC_OPTIMISTIC) {
    return absl::InvalidArgumentError(StrCat("job ", setup_.job_id, " came with sync ",
                                             scenario::SyncName(scenario.sync()),
                                             "; the coordinator resolves it to conservative or optimistic"));
  }
  parts_ = {.job_id = setup_.job_id,
            .run_id = setup_.run_id(),
            .rank = setup_.rank,
            .end_time = scenario.end_time(),
            .lookahead = scenario.lookahead(),
            .optimistic = scenario.sync() == v1::SYNC_OPTIMISTIC,
            .optimism = scenario::OptimismBoundOf(scenario),
            .contract_check_every = scenario.optimism().check_every(),
            .model_name = scenario.model(),
            .stall_timeout = options_.stall_timeout,
            .kernel = nullptr,
            .partition = &partition_,
            .links = links_.get(),
            .checkpoints = checkpoints_.get(),
            .metrics = &metrics_,
            .limits = &limits_,
            .abort = &abort_};
  protocol_ = MakeSyncProtocol(parts_);
  sim::KernelOptions kernel_options{.seed = scenario.seed(),
                                    .end_time = scenario.end_time(),
                                    .lookahead = scenario.lookahead(),
                                    .rank = setup_.rank};
  MESHSIM_ASSIGN_OR_RETURN(
      kernel_, sim::Kernel::Create(kernel_options, std::move(model), &partition_, protocol_.get()));
  parts_.kernel = kernel_.get();
  return absl::OkStatus();
}

absl::Status JobRunner::InitOrRestore() {
  if (setup_.restore_parts.empty()) return kernel_->Init();
  MESHSIM_ASSIGN_OR_RETURN(start_.cut,
                           checkpoints_->Restore(*kernel_, setup_.restore_parts, limits_.max_payload_bytes));
  start_.restored = true;
  setup_.restore_parts.clear();  // the kernel has copied what it needs
  setup_.restore_parts.shrink_to_fit();
  return absl::OkStatus();
}

absl::Status JobRunner::InstallMailboxes(
    const google::protobuf::RepeatedPtrField<v1::MailboxRoute>& mailboxes) {
  std::vector<sim::MailboxRoute> table;
  table.reserve(static_cast<size_t>(mailboxes.size()));
  for (const v1::MailboxRoute& route : mailboxes) {
    table.push_back({route.name(), {route.ranks().begin(), route.ranks().end()}});
  }
  MESHSIM_RETURN_IF_ERROR(kernel_->InstallMailboxes(std::move(table)));
  limits_.mailbox_count = kernel_->mailbox_count();
  if (!mailboxes.empty()) {
    spdlog::info("job {}: {} mailboxes, {} with subscribers here", setup_.job_id, mailboxes.size(),
                 subscribed_mailboxes_.size());
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::NodeShare> JobRunner::Run() {
  MESHSIM_RETURN_IF_ERROR(links_->OpenInbound());
  MESHSIM_ASSIGN_OR_RETURN(const RunSummary summary, protocol_->Run(start_));
  return Share(summary);
}

v1::MemoryStats JobRunner::Memory() const {
  const sim::KernelMemory kernel = kernel_->memory();
  v1::MemoryStats memory;
  memory.set_peak_rss_bytes(process::PeakResidentBytes().value_or(0));
  memory.set_lp_state_bytes(kernel.lp_states);
  memory.set_lp_record_bytes(kernel.lp_records);
  memory.set_pending_event_bytes(kernel.pending_events);
  memory.set_saved_state_bytes(kernel.saved_states);
  memory.set_kernel_bytes(kernel.total());
  return memory;
}

v1::NodeShare JobRunner::Share(const RunSummary& summary) {
  v1::NodeShare share;
  share.set_node_id(setup_.node_id);
  share.set_rank(setup_.rank);
  share.set_lps(kernel_->local_lp_count());
  share.set_committed_events(kernel_->committed_events());
  share.set_pending_events(kernel_->pending_events());
  share.set_windows(summary.windows);
  share.set_loop_seconds(summary.loop_seconds);
  share.set_frames_dropped(frames_dropped());
  const sim::KernelOutcome outcome = kernel_->Fold();
  share.set_digest(outcome.digest);
  const auto fields = kernel_->model().summary_fields();
  for (size_t i = 0; i < fields.size(); ++i) (*share.mutable_summary())[fields[i]] = outcome.summary[i];
  const sim::MailboxCounters& mailbox = kernel_->mailbox_counters();
  share.mutable_mailboxes()->set_posts(mailbox.posts);
  share.mutable_mailboxes()->set_deliveries(mailbox.deliveries);
  share.mutable_mailboxes()->set_remote_events(mailbox.remote_events);
  if (!outcome.series.empty()) share.set_series_interval(outcome.series_spec.interval);
  for (size_t i = 0; i < outcome.series.size(); ++i) {
    v1::TimeSeries* series = share.add_series();
    series->set_name(outcome.series_spec.names[i]);
    series->mutable_values()->Add(outcome.series[i].begin(), outcome.series[i].end());
  }
  for (const v1::LinkStats& link : links_->stats()) *share.add_links() = link;
  if (kernel_->rollback_enabled()) {
    const sim::OptimisticCounters& c = kernel_->optimistic_counters();
    v1::OptimisticStats* optimistic = share.mutable_optimistic();
    optimistic->set_events_run(c.processed);
    optimistic->set_rolled_back(c.rolled_back);
    optimistic->set_rollbacks(c.rollbacks);
    optimistic->set_anti_messages_sent(c.antis_sent);
    optimistic->set_anti_messages_received(c.antis_received);
    optimistic->set_gvt_rounds(summary.windows);
    optimistic->set_peak_saved_bytes(kernel_->saved_bytes());
  }
  *share.mutable_memory() = Memory();
  metrics_.PublishMemory(share.memory());
  return share;
}

absl::Status ModelThrew(std::exception_ptr exception, std::string_view node_name, std::string_view model,
                        std::string_view during, const process::MemoryLimit& limit) {
  try {
    std::rethrow_exception(exception);
  } catch (const std::bad_alloc&) {
    const auto peak = process::PeakResidentBytes();
    // A cap set since the node started (an rlimit, a cgroup) counts too.
    process::MemoryLimit now = process::ProcessMemoryLimit();
    if (limit.bytes < now.bytes) now = limit;
    return absl::ResourceExhaustedError(
        StrCat("node ", node_name, " ran out of memory ", during, " (peak RSS ",
               peak ? HumanBytes(static_cast<double>(*peak)) : std::string("unknown"), ", limit ",
               HumanBytes(static_cast<double>(now.bytes)), " from ", now.source,
               "): run it on more nodes or on nodes with more memory"));
  } catch (...) {
  }
  return absl::InternalError(
      StrCat("node ", node_name, ": model '", model, "' ", sim::DescribeException(exception), " ", during));
}

}  // namespace meshsim::node
