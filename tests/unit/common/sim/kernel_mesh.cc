#include "tests/unit/common/sim/kernel_mesh.h"

#include <algorithm>
#include <deque>
#include <map>
#include <random>

#include "common/status/status.h"
#include "gtest/gtest.h"

namespace meshsim::sim {

KernelMesh::KernelMesh(KernelOptions options, PartitionMap partition, const ModelFactory& make_model)
    : options_(options), partition_(std::move(partition)), outboxes_(partition_.ranks()) {
  for (uint32_t rank = 0; rank < partition_.ranks(); ++rank) {
    KernelOptions own = options_;
    own.rank = rank;
    auto kernel = Kernel::Create(own, make_model(), &partition_, &outboxes_[rank]);
    MESHSIM_CHECK(kernel.ok(), "the test's kernel options are valid");
    kernels_.push_back(std::move(*kernel));
  }
}

absl::Status KernelMesh::Init() {
  for (auto& kernel : kernels_) MESHSIM_RETURN_IF_ERROR(kernel->Init());
  MESHSIM_RETURN_IF_ERROR(InstallMailboxes());
  Exchange();
  return absl::OkStatus();
}

absl::Status KernelMesh::Restore(std::span<const checkpoint::CheckpointPart> parts) {
  for (auto& kernel : kernels_) MESHSIM_RETURN_IF_ERROR(kernel->Restore(parts));
  MESHSIM_RETURN_IF_ERROR(InstallMailboxes());
  window_ = parts.front().header().window;
  next_ = parts.front().header().next_time;
  return absl::OkStatus();
}

absl::Status KernelMesh::Run(double until, uint64_t stop_after_window) {
  const double end = std::min(until, options_.end_time);
  while (next_ < end && window_ < stop_after_window) {
    const double window_end = std::min(next_ + options_.lookahead, until);
    for (auto& kernel : kernels_) MESHSIM_RETURN_IF_ERROR(kernel->RunWindow(window_end));
    ++window_;
    Exchange();
  }
  return absl::OkStatus();
}

absl::Status KernelMesh::InstallMailboxes() {
  std::map<std::string, std::vector<uint32_t>> ranks_by_name;
  for (uint32_t rank = 0; rank < ranks(); ++rank) {
    for (const std::string& name : kernels_[rank]->subscribed_mailboxes())
      ranks_by_name[name].push_back(rank);
  }
  std::vector<MailboxRoute> table;
  for (auto& [name, subscriber_ranks] : ranks_by_name) table.push_back({name, subscriber_ranks});
  for (auto& kernel : kernels_) MESHSIM_RETURN_IF_ERROR(kernel->InstallMailboxes(table));
  return absl::OkStatus();
}

void KernelMesh::Deliver(uint32_t from, Outbox::Routed& routed) {
  if (routed.anti) {
    kernels_[routed.rank]->DeliverAnti(routed.event);
    return;
  }
  crossings_.emplace_back(from, routed.rank, routed.event.dst_lp);
  routed.event.payload = routed.payload;
  kernels_[routed.rank]->Deliver(routed.event);
}

void KernelMesh::Exchange() {
  for (uint32_t from = 0; from < outboxes_.size(); ++from) {
    for (Outbox::Routed& routed : outboxes_[from].routed) Deliver(from, routed);
    outboxes_[from].routed.clear();
  }
  next_ = std::numeric_limits<double>::infinity();
  for (auto& kernel : kernels_) next_ = std::min(next_, kernel->next_event_time());
}

}  // namespace meshsim::sim

namespace meshsim::sim {

absl::Status KernelMesh::RunOptimistic(uint64_t seed, const OptimismBound& bound, uint64_t max_steps) {
  for (auto& kernel : kernels_) {
    MESHSIM_RETURN_IF_ERROR(kernel->EnableRollback(bound));
    if (check_every_ > 0) kernel->EnableContractCheck(check_every_, "mesh model");
  }
  std::mt19937_64 random(seed);
  // In flight from one rank to another, oldest first.
  std::vector<std::deque<Outbox::Routed>> links(ranks() * ranks());
  auto link = [&](uint32_t from, uint32_t to) -> std::deque<Outbox::Routed>& {
    return links[from * ranks() + to];
  };
  auto collect = [&](uint32_t from) {
    for (Outbox::Routed& routed : outboxes_[from].routed)
      link(from, routed.rank).push_back(std::move(routed));
    outboxes_[from].routed.clear();
  };
  auto gvt = [&] {
    double low = std::numeric_limits<double>::infinity();
    for (auto& kernel : kernels_) low = std::min(low, kernel->next_event_time());
    for (const auto& in_flight : links) {
      for (const Outbox::Routed& routed : in_flight) low = std::min(low, routed.event.time);
    }
    return low;
  };
  double now = gvt();
  for (uint64_t step = 0; now < options_.end_time; ++step) {
    if (step == max_steps) return absl::InternalError("the optimistic run did not end");
    const uint32_t rank = static_cast<uint32_t>(random() % ranks());
    if (random() % 3 != 0) {
      MESHSIM_RETURN_IF_ERROR(
          kernels_[rank]->RunOptimistic(now, options_.end_time, 1 + random() % 64).status());
      collect(rank);
    } else {
      // Some of what one pair has in flight arrives, in order: a random
      // share of it, so that delivery keeps pace with what running sends.
      const auto from = static_cast<uint32_t>(random() % ranks());
      auto& in_flight = link(from, rank);
      for (uint64_t n = random() % (in_flight.size() + 1); n > 0; --n) {
        Outbox::Routed routed = std::move(in_flight.front());
        in_flight.pop_front();
        Deliver(from, routed);
      }
    }
    if (step % 16 == 0) {
      now = gvt();
      ++gvt_rounds_;
      for (auto& kernel : kernels_) kernel->FossilCollect(now);
    }
  }
  // Nothing below the end time can change any more; what is still in
  // flight lies beyond it and is delivered for the counters it moves.
  for (uint32_t from = 0; from < ranks(); ++from) {
    for (uint32_t to = 0; to < ranks(); ++to) {
      for (Outbox::Routed& routed : link(from, to)) Deliver(from, routed);
    }
  }
  next_ = gvt();
  return absl::OkStatus();
}

KernelMesh::Outcome KernelMesh::Finish() {
  Outcome outcome;
  for (auto& kernel : kernels_) {
    outcome.committed += kernel->committed_events();
    const MailboxCounters& m = kernel->mailbox_counters();
    outcome.mailboxes.posts += m.posts;
    outcome.mailboxes.deliveries += m.deliveries;
    outcome.mailboxes.remote_events += m.remote_events;
    const KernelOutcome folded = kernel->Fold();
    outcome.digest += folded.digest;
    outcome.summary.resize(folded.summary.size());
    for (size_t i = 0; i < folded.summary.size(); ++i) outcome.summary[i] += folded.summary[i];
    if (!folded.series.empty()) {
      outcome.first_series.resize(folded.series[0].size());
      for (size_t i = 0; i < folded.series[0].size(); ++i) outcome.first_series[i] += folded.series[0][i];
    }
  }
  return outcome;
}

ModelContext SmallPhold(uint32_t lps, double end_time, double lookahead, double remote_fraction) {
  return {.seed = 11,
          .end_time = end_time,
          .lookahead = lookahead,
          .params = {{"lps", lps},
                     {"start_events", 2},
                     {"remote_fraction", remote_fraction},
                     {"mean", 1.0},
                     {"payload_bytes", 12}}};
}

ModelContext SmallEpidemic(uint32_t persons, double end_time) {
  return {.seed = 3,
          .end_time = end_time,
          .lookahead = 0.5,
          .params = {{"persons", persons},
                     {"initial_infected", 6},
                     {"latent_days", 2},
                     {"infectious_days", 4},
                     {"community_rate", 0.2},
                     {"friends", 6},
                     {"household_size", 4},
                     {"household_rate", 0.15},
                     {"workplace_size", 15},
                     {"workplace_rate", 0.02}}};
}

void ExpectSameOutcome(const KernelMesh::Outcome& got, const KernelMesh::Outcome& want) {
  EXPECT_EQ(got.committed, want.committed);
  EXPECT_EQ(got.digest, want.digest);
  EXPECT_EQ(got.summary, want.summary);
  EXPECT_EQ(got.first_series, want.first_series);
  EXPECT_EQ(got.mailboxes.posts, want.mailboxes.posts);
  EXPECT_EQ(got.mailboxes.deliveries, want.mailboxes.deliveries);
}

}  // namespace meshsim::sim
