// PeerLinks, the node's data plane for one job, between two "nodes" in one
// process: real shm rings with real doorbells, and real ZeroMQ TCP on
// loopback.
#include "node/peer_links.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "common/frame/frame_codec.h"
#include "common/transport/shm/probe.h"
#include "common/transport/zmq/zmq_link.h"

namespace meshsim::node {
namespace {

using transport::shm::ColocationProbe;

// One side of the pair: its probe, doorbell and tcp inbox.
struct TestNode {
  explicit TestNode(zmq::context_t& context, const std::string& what)
      : probe(*ColocationProbe::Create(what)),
        doorbell(probe.doorbell()),
        inbox(*transport::ZmqFrameInbox::Bind(context, "tcp://127.0.0.1:0", 1 << 20)) {}
  ColocationProbe probe;
  transport::shm::Doorbell doorbell;
  std::unique_ptr<transport::ZmqFrameInbox> inbox;
};

class PeerLinksTest : public testing::Test {
 protected:
  static constexpr uint64_t kJob = 7;

  PeerLinksTest() : a_(context_, "probe-links-a"), b_(context_, "probe-links-b") {}

  std::vector<v1::PeerInfo> Peers() const {
    std::vector<v1::PeerInfo> peers(2);
    const TestNode* nodes[] = {&a_, &b_};
    for (uint32_t rank = 0; rank < 2; ++rank) {
      peers[rank].set_rank(rank);
      peers[rank].set_node_id(rank + 1);
      peers[rank].set_probe_name(nodes[rank]->probe.name());
      peers[rank].set_probe_token(nodes[rank]->probe.token_hex());
      peers[rank].set_data_endpoint(nodes[rank]->inbox->endpoint());
    }
    return peers;
  }

  std::unique_ptr<PeerLinks> Links(TestNode& node, uint32_t rank) {
    PeerSet set{kJob, 1, frame::RunId(kJob, 1), rank + 1, rank, Peers(), node.probe.name(), &node.doorbell};
    auto links = PeerLinks::Create(std::move(set), FiveSecondLinks(), context_,
                                   node.inbox.get(), &abort_);
    EXPECT_TRUE(links.ok()) << links.status();
    return std::move(*links);
  }

  static PeerLinksOptions FiveSecondLinks() {
    PeerLinksOptions options;
    options.stall_timeout = std::chrono::seconds(5);
    return options;
  }

  static std::vector<std::byte> Frame(uint32_t source_rank, uint64_t window) {
    frame::FrameWriter writer;
    writer.Begin(frame::RunId(kJob, 1), window, source_rank);
    writer.Append({.time = 1.5, .dst_lp = 3, .src_lp = 2, .src_seq = 9, .payload = {}});
    auto bytes = writer.Finish(2.0);
    return {bytes.begin(), bytes.end()};
  }

  // Sends one frame 0 -> 1 over `transport` and returns what rank 1 got.
  void ExchangeOver(v1::Transport transport, FrameOrigin* origin, std::vector<std::byte>* got) {
    auto links_a = Links(a_, 0);
    auto links_b = Links(b_, 1);
    ASSERT_TRUE(links_a->Connect({v1::TRANSPORT_SHM, transport}).ok());
    ASSERT_TRUE(links_b->Connect({transport, v1::TRANSPORT_SHM}).ok());
    ASSERT_TRUE(links_a->OpenInbound().ok());
    ASSERT_TRUE(links_b->OpenInbound().ok());
    const auto frame = Frame(0, 4);
    ASSERT_TRUE(links_a->Send(1, frame, 1).ok());
    auto received = links_b->Receive(got, origin, std::chrono::seconds(5));
    ASSERT_TRUE(received.ok()) << received.status();
    ASSERT_TRUE(*received);
    EXPECT_EQ(*got, frame);
    const auto stats = links_a->stats();
    ASSERT_EQ(stats.size(), 1u);
    EXPECT_EQ(stats[0].transport(), transport);
    EXPECT_EQ(stats[0].messages(), 1u);
    EXPECT_EQ(stats[0].events(), 1u);
    EXPECT_EQ(stats[0].bytes(), frame.size());
  }

  zmq::context_t context_;
  std::atomic<bool> abort_{false};
  TestNode a_;
  TestNode b_;
};

TEST_F(PeerLinksTest, PeersOnOneHostFindEachOthersProbe) {
  auto links = Links(a_, 0);
  EXPECT_EQ(links->colocated_ranks(), std::vector<uint32_t>{1});
}

TEST_F(PeerLinksTest, ShmFrameArrivesThroughTheSendersRing) {
  FrameOrigin origin;
  std::vector<std::byte> got;
  ExchangeOver(v1::TRANSPORT_SHM, &origin, &got);
  EXPECT_EQ(origin.ring_rank, 0);  // known from the ring, not from the frame
}

TEST_F(PeerLinksTest, TcpFrameArrivesThroughTheInbox) {
  FrameOrigin origin;
  std::vector<std::byte> got;
  ExchangeOver(v1::TRANSPORT_TCP, &origin, &got);
  EXPECT_EQ(origin.ring_rank, -1);
}

TEST_F(PeerLinksTest, EarlyFramesComeFirst) {
  auto links = Links(b_, 1);
  ASSERT_TRUE(links->Connect({v1::TRANSPORT_TCP, v1::TRANSPORT_SHM}).ok());
  const auto early = Frame(0, 0);
  links->AdoptEarlyFrame(early, "sender-key");
  std::vector<std::byte> got;
  FrameOrigin origin;
  auto received = links->Receive(&got, &origin, std::chrono::milliseconds(10));
  ASSERT_TRUE(received.ok() && *received);
  EXPECT_EQ(got, early);
  EXPECT_EQ(origin.sender, "sender-key");
  received = links->Receive(&got, &origin, std::chrono::milliseconds(10));
  ASSERT_TRUE(received.ok());
  EXPECT_FALSE(*received);  // nothing else was sent
}

TEST_F(PeerLinksTest, ShmConnectWithoutAVisibleProbeIsRefused) {
  PeerSet set{kJob, 1, frame::RunId(kJob, 1), 1, 0, Peers(), "", nullptr};  // no shm on this "node"
  auto links = PeerLinks::Create(std::move(set), {}, context_, a_.inbox.get(), &abort_);
  ASSERT_TRUE(links.ok());
  EXPECT_TRUE((*links)->colocated_ranks().empty());
  EXPECT_EQ((*links)->Connect({v1::TRANSPORT_SHM, v1::TRANSPORT_SHM}).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(PeerLinksTest, WithKeysAFrameMustComeFromTheRankItClaims) {
  std::vector<v1::PeerInfo> peers = Peers();
  peers[0].set_public_key("KEY-OF-RANK-0");
  PeerSet set{kJob, 1, frame::RunId(kJob, 1), 2, 1, peers, b_.probe.name(), &b_.doorbell};
  auto links = PeerLinks::Create(std::move(set), {}, context_, b_.inbox.get(), &abort_);
  ASSERT_TRUE(links.ok());
  EXPECT_TRUE((*links)->Authentic(0, {.ring_rank = -1, .sender = "KEY-OF-RANK-0", .verified = false}));
  EXPECT_TRUE((*links)->Authentic(0, {.ring_rank = 0, .sender = {}, .verified = false}));
  EXPECT_EQ((*links)->frames_dropped(), 0u);
  EXPECT_FALSE((*links)->Authentic(0, {.ring_rank = -1, .sender = "SOMEONE-ELSE", .verified = false}));
  EXPECT_FALSE((*links)->Authentic(0, {.ring_rank = 1, .sender = {}, .verified = false}));
  EXPECT_EQ((*links)->frames_dropped(), 2u);
}

TEST_F(PeerLinksTest, DestroyingTheLinksRemovesTheJobsRings) {
  std::string ring;
  {
    auto links_a = Links(a_, 0);
    auto links_b = Links(b_, 1);
    ASSERT_TRUE(links_a->Connect({v1::TRANSPORT_SHM, v1::TRANSPORT_SHM}).ok());
    ASSERT_TRUE(links_b->Connect({v1::TRANSPORT_SHM, v1::TRANSPORT_SHM}).ok());
    ring = transport::shm::RingName(a_.probe.name(), kJob, 1, 0, 1);
    ASSERT_TRUE(transport::shm::ShmSegment::Open(ring).ok());
  }
  EXPECT_TRUE(absl::IsNotFound(transport::shm::ShmSegment::Open(ring).status()));
}

}  // namespace
}  // namespace meshsim::node
