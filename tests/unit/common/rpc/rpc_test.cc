#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <thread>

#include "common/rpc/rpc_client.h"
#include "common/rpc/rpc_server.h"
#include "common/time/clock.h"
#include "gtest/gtest.h"
#include "proto/meshsim.pb.h"
#include "proto/rpc.pb.h"

namespace meshsim::rpc {
namespace {

using namespace std::chrono_literals;

class RpcTest : public ::testing::Test {
 protected:
  std::unique_ptr<RpcServer> StartServer(size_t max_request_bytes = 16 << 20,
                                         std::string bind = "tcp://127.0.0.1:0") {
    auto server = RpcServer::Create(context_, {bind, max_request_bytes, "test-rpc"});
    EXPECT_TRUE(server.ok()) << server.status().message();
    (*server)->Register<v1::GetJobRequest, v1::GetJobReply>(
        "Coordinator.GetJob", [this](const v1::GetJobRequest& request, v1::GetJobReply* reply) {
          ++get_job_calls_;
          // Only the first call is slow.
          if (int delay = get_job_delay_ms_.exchange(0); delay > 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(delay));
          }
          if (request.job_id() == 0) return absl::NotFoundError("no job 0");
          reply->mutable_job()->set_job_id(request.job_id());
          return absl::OkStatus();
        });
    (*server)->Register<v1::SubmitJobRequest, v1::SubmitJobReply>(
        "Coordinator.SubmitJob", [this](const v1::SubmitJobRequest&, v1::SubmitJobReply* reply) {
          ++submit_calls_;
          submit_gate_.Pass();
          reply->set_job_id(9);
          return absl::OkStatus();
        });
    (*server)->Start();
    return std::move(*server);
  }

  std::unique_ptr<RpcClient> Client(const std::string& endpoint) {
    auto client = RpcClient::Create(
        context_,
        {.endpoint = endpoint, .default_timeout = 2s, .attempt_timeout = 300ms, .initial_backoff = 10ms});
    EXPECT_TRUE(client.ok());
    return std::move(*client);
  }

  // Sends raw ZeroMQ frames as a client would, returns the reply envelope.
  RpcReply SendRaw(const std::string& endpoint, const std::vector<std::string>& frames) {
    zmq::socket_t dealer(context_, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::linger, 0);
    dealer.connect(endpoint);
    for (size_t i = 0; i < frames.size(); ++i) {
      dealer.send(zmq::buffer(frames[i]),
                  i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
    zmq::pollitem_t item{dealer.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, 2000ms);
    RpcReply reply;
    zmq::message_t message;
    if ((item.revents & ZMQ_POLLIN) && dealer.recv(message)) {
      EXPECT_TRUE(reply.ParseFromArray(message.data(), static_cast<int>(message.size())));
    } else {
      ADD_FAILURE() << "no reply";
    }
    return reply;
  }

  void ExpectStillServing(const std::string& endpoint) {
    v1::GetJobRequest request;
    request.set_job_id(5);
    v1::GetJobReply reply;
    ASSERT_TRUE(Client(endpoint)->Call("Coordinator.GetJob", request, &reply).ok());
    EXPECT_EQ(reply.job().job_id(), 5u);
  }

  zmq::context_t context_;
  std::atomic<int> get_job_calls_{0};
  std::atomic<int> submit_calls_{0};
  std::atomic<int> get_job_delay_ms_{0};
  // Holds SubmitJob in its handler until the test opens it (a reply that
  // comes after the caller gave up); open unless closed.
  class Gate {
   public:
    void Close() { Set(false); }
    void Open() { Set(true); }
    void Pass() {
      std::unique_lock lock(mutex_);
      opened_.wait_for(lock, 10s, [&] { return open_; });  // bounded: a test that forgets to open ends
    }

   private:
    void Set(bool open) {
      {
        std::lock_guard lock(mutex_);
        open_ = open;
      }
      opened_.notify_all();
    }
    std::mutex mutex_;
    std::condition_variable opened_;
    bool open_ = true;
  };
  Gate submit_gate_;
};

TEST_F(RpcTest, CallReturnsTheHandlersReply) { ExpectStillServing(StartServer()->endpoint()); }

TEST_F(RpcTest, HandlerErrorCodeAndMessageReachTheCaller) {
  auto server = StartServer();
  v1::GetJobRequest request;  // job 0: the handler says NOT_FOUND
  v1::GetJobReply reply;
  absl::Status status = Client(server->endpoint())->Call("Coordinator.GetJob", request, &reply);
  EXPECT_TRUE(absl::IsNotFound(status));
  EXPECT_EQ(status.message(), "no job 0");
}

TEST_F(RpcTest, MethodWithoutHandlerIsUnimplemented) {
  auto server = StartServer();
  v1::ListNodesReply reply;
  absl::Status status =
      Client(server->endpoint())->Call("Coordinator.ListNodes", v1::ListNodesRequest(), &reply);
  EXPECT_TRUE(absl::IsUnimplemented(status)) << status;
  EXPECT_EQ(server->stats().unknown_method, 1u);
}

TEST_F(RpcTest, MethodNotInTheIdlIsRejectedBeforeSending) {
  auto server = StartServer();
  v1::ListNodesReply reply;
  absl::Status status =
      Client(server->endpoint())->Call("Coordinator.NoSuchMethod", v1::ListNodesRequest(), &reply);
  EXPECT_TRUE(absl::IsInvalidArgument(status));
}

TEST_F(RpcTest, SlowReplyExceedsTheDeadlineAndIsNotRetriedWhenNotIdempotent) {
  submit_gate_.Close();
  auto server = StartServer();
  auto client = Client(server->endpoint());
  v1::SubmitJobReply reply;
  // A deadline past one attempt (300 ms): an idempotent call would have been
  // retried by now, and the retry would be queued at the server.
  absl::Status status =
      client->Call("Coordinator.SubmitJob", v1::SubmitJobRequest(), &reply, Deadline::After(700ms));
  EXPECT_TRUE(absl::IsDeadlineExceeded(status)) << status;
  // The late reply goes out once the handler is let go; it must not be taken
  // for the next call's. The server runs one request at a time, so a queued
  // retry would be handled before the next call is even sent.
  submit_gate_.Open();
  const auto released = SteadyClock::now();
  while (server->stats().requests < 1 && SteadyClock::now() - released < 5s) std::this_thread::yield();
  ASSERT_EQ(server->stats().requests, 1u);
  v1::GetJobRequest request;
  request.set_job_id(3);
  v1::GetJobReply job;
  ASSERT_TRUE(client->Call("Coordinator.GetJob", request, &job).ok());
  EXPECT_EQ(job.job().job_id(), 3u);
  EXPECT_EQ(submit_calls_.load(), 1) << "a non-idempotent call was retried";
}

TEST_F(RpcTest, IdempotentCallIsRetriedAfterATimedOutAttempt) {
  get_job_delay_ms_ = 500;  // longer than one 300 ms attempt
  auto server = StartServer();
  v1::GetJobRequest request;
  request.set_job_id(4);
  v1::GetJobReply reply;
  absl::Status status = Client(server->endpoint())->Call("Coordinator.GetJob", request, &reply);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(reply.job().job_id(), 4u);
  EXPECT_GE(get_job_calls_.load(), 2);
}

TEST_F(RpcTest, NoServerMeansUnavailableWithinTheDeadline) {
  auto client = Client("tcp://127.0.0.1:1");  // nothing listens on port 1
  v1::SubmitJobReply reply;
  const auto start = SteadyClock::now();
  absl::Status status =
      client->Call("Coordinator.SubmitJob", v1::SubmitJobRequest(), &reply, Deadline::After(300ms));
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_LT(SteadyClock::now() - start, 2s);
}

TEST_F(RpcTest, IdempotentCallReachesAServerThatStartsLate) {
  // Find a free port, then bring the server up on it only after the call began.
  std::string endpoint;
  {
    zmq::socket_t probe(context_, zmq::socket_type::router);
    probe.bind("tcp://127.0.0.1:0");
    endpoint = probe.get(zmq::sockopt::last_endpoint);
  }
  std::unique_ptr<RpcServer> server;
  std::thread starter([&] {
    std::this_thread::sleep_for(400ms);  // the scenario: the server comes up while the call is retrying
    server = StartServer(16 << 20, endpoint);
  });
  v1::GetJobRequest request;
  request.set_job_id(8);
  v1::GetJobReply reply;
  absl::Status status = Client(endpoint)->Call("Coordinator.GetJob", request, &reply);
  starter.join();
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(reply.job().job_id(), 8u);
}

TEST_F(RpcTest, GarbageRequestsAreAnsweredWithErrorsAndCounted) {
  auto server = StartServer(/*max_request_bytes=*/1024);
  const std::string endpoint = server->endpoint();

  EXPECT_EQ(SendRaw(endpoint, {"\xff\xfe garbage that is not protobuf"}).code(),
            static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(SendRaw(endpoint, {"two", "frames"}).code(),
            static_cast<int>(absl::StatusCode::kInvalidArgument));
  // Over the limit: answered. Over twice the limit: libzmq closes the
  // connection before the message is ever buffered whole.
  EXPECT_EQ(SendRaw(endpoint, {std::string(1500, 'x')}).code(),
            static_cast<int>(absl::StatusCode::kResourceExhausted));
  {
    zmq::socket_t dealer(context_, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::linger, 0);
    dealer.connect(endpoint);
    dealer.send(zmq::buffer(std::string(1 << 20, 'y')));
    zmq::pollitem_t item{dealer.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, 300ms);
    EXPECT_FALSE(item.revents & ZMQ_POLLIN) << "a 1 MiB request got a reply";
  }

  RpcRequest bad_body;
  bad_body.set_method("Coordinator.GetJob");
  bad_body.set_call_id(12);
  bad_body.set_body("\xff\xff\xff");
  RpcReply reply = SendRaw(endpoint, {bad_body.SerializeAsString()});
  EXPECT_EQ(reply.code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(reply.call_id(), 12u);

  EXPECT_EQ(server->stats().malformed, 4u);
  ExpectStillServing(endpoint);
}

TEST_F(RpcTest, RawTcpGarbageDoesNotStopTheServer) {
  auto server = StartServer();
  const std::string endpoint = server->endpoint();
  const int port = std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
  for (const std::string& junk : {std::string("GET / HTTP/1.1\r\n\r\n"), std::string(100000, '\xff'),
                                  std::string("\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f", 10)}) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    (void)!write(fd, junk.data(), junk.size());
    close(fd);
  }
  ExpectStillServing(endpoint);
}

// The id of this process's thread named `name`, or 0.
pid_t ThreadNamed(const std::string& name) {
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string line;
    if (std::getline(comm, line) && line == name) return std::stoi(task.path().filename());
  }
  return 0;
}

// Whether thread `tid` of this process is asleep (state S): an idle RPC
// server sleeps only in its wait on the socket.
bool Sleeping(pid_t tid) {
  std::ifstream stat("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'S';
}

// Polls `condition` (without sleeping) for up to five seconds.
bool Eventually(const std::function<bool()>& condition) {
  const Deadline deadline = Deadline::After(5s);
  while (!condition()) {
    if (deadline.Expired()) return false;
    std::this_thread::yield();
  }
  return true;
}

// A signal a thread handles interrupts its wait on the socket (EINTR); the
// server waits again instead of its thread ending in an exception (which
// left a coordinator alive but answering nothing, found by node_rpc_fuzz
// under libFuzzer's SIGALRM).
TEST_F(RpcTest, SignalsInterruptingTheServersWaitDoNotStopIt) {
  struct sigaction action {};
  action.sa_handler = [](int) {};  // handled, without SA_RESTART: the wait fails with EINTR
  struct sigaction previous {};
  ASSERT_EQ(sigaction(SIGUSR1, &action, &previous), 0);
  auto server = StartServer();
  pid_t server_thread = 0;
  ASSERT_TRUE(Eventually([&] { return (server_thread = ThreadNamed("test-rpc")) != 0; }));
  for (int i = 0; i < 20; ++i) {
    // Each signal lands in the server's wait: it is asleep there.
    ASSERT_TRUE(Eventually([&] { return Sleeping(server_thread); })) << "the server thread is gone";
    ASSERT_EQ(syscall(SYS_tgkill, getpid(), server_thread, SIGUSR1), 0) << "the server thread is gone";
  }
  ExpectStillServing(server->endpoint());
  EXPECT_EQ(ThreadNamed("test-rpc"), server_thread);
  server.reset();
  sigaction(SIGUSR1, &previous, nullptr);
}

TEST(RpcServerDeathTest, HandlerWhoseTypesDisagreeWithTheIdlAborts) {
  zmq::context_t context;
  auto server = RpcServer::Create(context, {});
  ASSERT_TRUE(server.ok());
  EXPECT_DEATH(((*server)->Register<v1::GetJobRequest, v1::SubmitJobReply>(
                   "Coordinator.GetJob",
                   [](const v1::GetJobRequest&, v1::SubmitJobReply*) { return absl::OkStatus(); })),
               "do not match the IDL");
}

}  // namespace
}  // namespace meshsim::rpc
