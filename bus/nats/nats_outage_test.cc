// The NATS bus when the network or the server fails: no server at all, a
// server that stops, acknowledgements that never arrive, and connections cut
// in the middle of a stream. Built into nats_bus_test (tests/nats.cmake).
//
// Both with one chunk in flight at a time and with a window of them.
//
// Lost acknowledgements and cut connections go through a TCP proxy between
// client and server, which can hold back what the server sends (the server
// stores a message, the client never hears so) and cut every connection (the
// client reconnects through it).
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <list>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bus/nats/nats_test_util.h"

namespace ltxbus::bus::testing {
namespace {

using ::testing::HasSubstr;

// Binds a listening socket on 127.0.0.1 (port 0: any); -1 on failure.
int Listen(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd, 16) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

// A TCP proxy from an ephemeral port to 127.0.0.1:target, one thread per
// direction per connection.
class Proxy {
 public:
  explicit Proxy(int target) : target_(target) {
    listen_fd_ = Listen(&port_);
    if (listen_fd_ >= 0) acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~Proxy() {
    stop_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    Cut();
    if (listen_fd_ >= 0) close(listen_fd_);
  }
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  int port() const { return listen_fd_ >= 0 ? port_ : -1; }
  // While held, bytes from the server wait in the proxy (nothing is lost
  // unless the connection is cut meanwhile).
  void Hold(bool hold) { hold_ = hold; }
  // Closes every connection; new ones are accepted as before.
  void Cut() {
    std::list<Link> links;
    {
      std::lock_guard lock(mu_);
      links.swap(links_);
    }
    for (Link& l : links) {
      l.dead = true;
      shutdown(l.client, SHUT_RDWR);
      shutdown(l.server, SHUT_RDWR);
    }
    for (Link& l : links) {
      l.up.join();
      l.down.join();
      close(l.client);
      close(l.server);
    }
  }

 private:
  struct Link {
    int client = -1, server = -1;
    std::atomic<bool> dead{false};
    std::thread up, down;
  };

  void AcceptLoop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int client = accept(listen_fd_, nullptr, nullptr);
      if (client < 0) continue;
      int server = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<uint16_t>(target_));
      if (connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        close(client);
        close(server);
        continue;
      }
      std::lock_guard lock(mu_);
      Link& l = links_.emplace_back();
      l.client = client;
      l.server = server;
      l.up = std::thread([this, &l] { Pump(l, l.client, l.server, false); });
      l.down = std::thread([this, &l] { Pump(l, l.server, l.client, true); });
    }
  }

  void Pump(Link& l, int from, int to, bool from_server) {
    std::vector<char> buf(64 * 1024);
    while (!l.dead) {
      ssize_t n = read(from, buf.data(), buf.size());
      if (n <= 0) break;
      while (from_server && hold_ && !l.dead) std::this_thread::sleep_for(Millis(5));
      for (ssize_t done = 0; done < n && !l.dead;) {
        ssize_t w = write(to, buf.data() + done, static_cast<size_t>(n - done));
        if (w <= 0) return;
        done += w;
      }
    }
    // One side is gone: so is the other.
    shutdown(to, SHUT_RDWR);
  }

  int target_;
  int port_ = -1;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false}, hold_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::list<Link> links_;
};

class NatsOutageTest : public NatsBusTest {
 protected:
  void SetUp() override {
    NatsBusTest::SetUp();
    proxy_ = std::make_unique<Proxy>(ltxbus::testing::PortOf(env(ServerKind::kNats, "NATS_URL")));
    ASSERT_GT(proxy_->port(), 0);
  }
  void TearDown() override { proxy_.reset(); }
  // A bus whose connection goes through the proxy.
  std::unique_ptr<Bus> ConnectViaProxy(const std::string& stream, const std::string& more = "") {
    auto ep = Endpoint::Parse(
        fmt::format("nats://127.0.0.1:{}/{}?connect-timeout=2s{}", proxy_->port(), stream, more));
    EXPECT_TRUE(ep.ok());
    auto bus = ConnectNats(*ep);
    EXPECT_TRUE(bus.ok()) << bus.status().ToString();
    return bus.ok() ? std::move(bus).value() : nullptr;
  }
  std::unique_ptr<Publisher> ShortAckPublisher(Bus& bus, const std::string& db) {
    PublisherOptions o;
    o.producer = "outage/1/1";
    o.chunk_size = 4096;
    o.ack_timeout = Millis(1500);
    auto p = bus.NewPublisher(db, o);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? std::move(p).value() : nullptr;
  }
  // Publishes through `pub` while the proxy holds the acknowledgements back:
  // the server stores, the publisher times out. Then cuts the connection so
  // the held bytes are gone for good.
  Status PublishWithLostAck(const std::function<Status()>& publish) {
    proxy_->Hold(true);
    Status s = publish();
    proxy_->Cut();
    proxy_->Hold(false);
    return s;
  }

  std::unique_ptr<Proxy> proxy_;
};

TEST_F(NatsOutageTest, AFrameWhoseLastAckWasLostIsNotPublishedTwice) {
  auto direct = Connect("LOSTACK");
  auto bus = ConnectViaProxy("LOSTACK");
  ASSERT_TRUE(direct && bus);
  auto pub = ShortAckPublisher(*bus, "db");
  ASSERT_TRUE(pub->Open().ok());
  const std::string f1 = RandomBytes(100, 1), f2 = RandomBytes(200, 2), f3 = RandomBytes(300, 3);
  ASSERT_TRUE(PublishFrame(*pub, Id("db", 1), f1).ok());

  Status lost = PublishWithLostAck([&] { return PublishFrame(*pub, Id("db", 2), f2).status(); });
  ASSERT_FALSE(lost.ok()) << "the acknowledgement was not held back";
  EXPECT_TRUE(lost.code() == Status::Code::kTimeout || lost.code() == Status::Code::kUnavailable)
      << lost.ToString();

  // The producer retries TXID 2: the frame that did land is taken as
  // published, and TXID 3 follows it.
  auto retry = PublishFrame(*pub, Id("db", 2), f2);
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  ASSERT_TRUE(PublishFrame(*pub, Id("db", 3), f3).ok());

  auto sub = Subscribe(*direct, "db");
  Received r = Drain(*sub, 3);
  ASSERT_EQ(r.frames.size(), 3u);
  EXPECT_EQ(r.chunks.size(), 3u) << "a frame was stored twice";
  EXPECT_EQ(r.frames[1].last_offset(), *retry);
  EXPECT_TRUE(r.drops.empty());
}

// One chunk in flight at a time: the chunk whose ack is lost fails the
// frame at once.
TEST_F(NatsOutageTest, AFrameInterruptedByALostAckIsRepublishedUnderANewAttempt) {
  auto direct = Connect("LOSTMID");
  auto bus = ConnectViaProxy("LOSTMID", "&max-in-flight=1");
  ASSERT_TRUE(direct && bus);
  auto pub = ShortAckPublisher(*bus, "db");
  ASSERT_TRUE(pub->Open().ok());
  const std::string f1 = RandomBytes(3 * 4096, 1);
  auto w = pub->BeginFrame(Id("db", 1));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append(AsBytes(std::string_view(f1).substr(0, 4096 + 1))).ok());
  // Appending the next chunk's worth publishes chunk 1, whose ack is lost.
  Status lost = PublishWithLostAck(
      [&] { return (*w)->Append(AsBytes(std::string_view(f1).substr(4096 + 1, 4096))); });
  ASSERT_FALSE(lost.ok());
  EXPECT_FALSE((*w)->Commit(Trailer(1, f1.size())).ok()) << "a failed writer committed";

  auto retry = PublishFrame(*pub, Id("db", 1), f1);
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  auto sub = Subscribe(*direct, "db");
  Received r = Drain(*sub, 1);
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_TRUE(*r.frames[0].ReadAll() == f1);
  EXPECT_EQ(r.chunks.size(), 2u + 3u);  // the interrupted attempt, then the whole frame
  EXPECT_EQ(r.drops.size(), 1u);
}

// With a window, a middle chunk's lost ack does not fail the frame: the next
// chunk, fenced on the lost one's Msg-Id, can only have been stored right
// after it, and its ack vouches for both.
TEST_F(NatsOutageTest, AWindowedFrameSurvivesALostMiddleAck) {
  auto direct = Connect("LOSTWIN");
  auto bus = ConnectViaProxy("LOSTWIN", "&max-in-flight=8");
  ASSERT_TRUE(direct && bus);
  auto pub = ShortAckPublisher(*bus, "db");
  ASSERT_TRUE(pub->Open().ok());
  const std::string f1 = RandomBytes(5 * 4096, 1);
  auto w = pub->BeginFrame(Id("db", 1));
  ASSERT_TRUE(w.ok());
  // Chunk 0 goes out alone and is acknowledged.
  ASSERT_TRUE((*w)->Append(AsBytes(std::string_view(f1).substr(0, 4096 + 1))).ok());
  // Chunks 1 and 2 are in flight when their acks are lost with the connection.
  Status sent = PublishWithLostAck(
      [&] { return (*w)->Append(AsBytes(std::string_view(f1).substr(4096 + 1, 2 * 4096))); });
  ASSERT_TRUE(sent.ok()) << "a pipelined chunk waited for its ack: " << sent.ToString();
  ASSERT_TRUE((*w)->Append(AsBytes(std::string_view(f1).substr(3 * 4096 + 1))).ok());
  auto off = (*w)->Commit(Trailer(1, f1.size()));
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  ASSERT_TRUE(PublishFrame(*pub, Id("db", 2), RandomBytes(100, 2)).ok());

  auto sub = Subscribe(*direct, "db");
  Received r = Drain(*sub, 2);
  ASSERT_EQ(r.frames.size(), 2u);
  EXPECT_TRUE(*r.frames[0].ReadAll() == f1);
  EXPECT_EQ(r.frames[0].last_offset(), *off);
  EXPECT_EQ(r.chunks.size(), 5u + 1u) << "a chunk was stored twice";
  EXPECT_TRUE(r.drops.empty()) << r.drops.front();
}

// Every ack of a windowed frame is lost and the writer fails: the next try
// learns that the whole frame landed and stores nothing again.
TEST_F(NatsOutageTest, AWindowedFrameWhoseAcksWereAllLostIsNotPublishedTwice) {
  auto direct = Connect("LOSTALL");
  auto bus = ConnectViaProxy("LOSTALL", "&max-in-flight=8");
  ASSERT_TRUE(direct && bus);
  auto pub = ShortAckPublisher(*bus, "db");
  ASSERT_TRUE(pub->Open().ok());
  ASSERT_TRUE(PublishFrame(*pub, Id("db", 1), RandomBytes(100, 1)).ok());
  const std::string f2 = RandomBytes(4 * 4096 + 7, 2);
  auto w = pub->BeginFrame(Id("db", 2));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append(AsBytes(std::string_view(f2).substr(0, 4096 + 1))).ok());
  Status lost = PublishWithLostAck([&] {
    LTXBUS_RETURN_IF_ERROR((*w)->Append(AsBytes(std::string_view(f2).substr(4096 + 1))));
    return (*w)->Commit(Trailer(2, f2.size())).status();
  });
  ASSERT_FALSE(lost.ok()) << "the acknowledgements were not held back";
  EXPECT_TRUE(lost.code() == Status::Code::kTimeout || lost.code() == Status::Code::kUnavailable)
      << lost.ToString();

  // The next try learns where the subject ends; on a loaded machine the
  // reconnect may outlast one short ack timeout, so it may take a few tries,
  // as the producer's own retries would.
  auto retry = PublishFrame(*pub, Id("db", 2), f2);
  for (int i = 0; i < 3 && !retry.ok() &&
                  (retry.status().code() == Status::Code::kTimeout ||
                   retry.status().code() == Status::Code::kUnavailable);
       i++) {
    retry = PublishFrame(*pub, Id("db", 2), f2);
  }
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  ASSERT_TRUE(PublishFrame(*pub, Id("db", 3), RandomBytes(300, 3)).ok());
  auto sub = Subscribe(*direct, "db");
  Received r = Drain(*sub, 3);
  ASSERT_EQ(r.frames.size(), 3u);
  EXPECT_TRUE(*r.frames[1].ReadAll() == f2);
  EXPECT_EQ(r.frames[1].last_offset(), *retry);
  EXPECT_EQ(r.chunks.size(), 1u + 5u + 1u) << "a chunk was stored twice";
  EXPECT_TRUE(r.drops.empty()) << r.drops.front();
}

TEST_F(NatsOutageTest, ASubscriberKeepsItsPlaceAcrossCutConnections) {
  auto direct = Connect("CUT");
  auto bus = ConnectViaProxy("CUT");
  ASSERT_TRUE(direct && bus);
  auto pub = NewPublisher(*direct, "db", "cut/1/1", 4096);
  ASSERT_TRUE(pub->Open().ok());
  auto sub = Subscribe(*bus, "db");
  std::vector<std::string> frames;
  for (int i = 0; i < 40; i++) frames.push_back(RandomBytes(10'000, static_cast<uint64_t>(i)));
  Received r;
  FrameAssembler assembler(1 << 20, [&](const std::string& why) { r.drops.push_back(why); });
  const auto deadline = Clock::now() + std::chrono::seconds(40);
  size_t published = 0;
  while (r.frames.size() < frames.size() && Clock::now() < deadline) {
    if (published < frames.size()) {
      ASSERT_TRUE(PublishFrame(*pub, Id("db", published + 1), frames[published]).ok());
      published++;
      // Cut while chunks are in flight to the subscriber, several times.
      if (published % 10 == 5) proxy_->Cut();
    }
    auto next = sub->Next(Millis(published < frames.size() ? 10 : 500));
    ASSERT_TRUE(next.ok()) << next.status().ToString();
    if (!next->has_value()) continue;
    r.chunks.push_back(**next);
    auto frame = assembler.Add(std::move(**next));
    ASSERT_TRUE(frame.ok());
    if (frame->has_value()) r.frames.push_back(std::move(**frame));
  }
  ASSERT_EQ(r.frames.size(), frames.size());
  for (size_t i = 0; i < frames.size(); i++) {
    EXPECT_EQ(r.frames[i].id().max_txid, i + 1);
    EXPECT_TRUE(*r.frames[i].ReadAll() == frames[i]) << "frame " << i + 1;
  }
  EXPECT_TRUE(r.drops.empty()) << r.drops.front();
  EXPECT_EQ(r.chunks.size(), frames.size() * 3);  // no chunk twice, none missing
}

// A port nothing listens on: bound once by us, then released.
int ClosedPort() {
  int port = -1;
  int fd = Listen(&port);
  if (fd < 0) return -1;
  close(fd);
  return port;
}

TEST(NatsBusDownTest, AServerThatIsNotThereIsUnavailable) {
  const int port = ClosedPort();
  ASSERT_GT(port, 0);
  auto ep = Endpoint::Parse(fmt::format("nats://127.0.0.1:{}/LTX?connect-timeout=500ms", port));
  ASSERT_TRUE(ep.ok());
  const auto start = Clock::now();
  auto bus = ConnectNats(*ep);
  ASSERT_FALSE(bus.ok());
  EXPECT_EQ(bus.status().code(), Status::Code::kUnavailable) << bus.status().ToString();
  EXPECT_THAT(bus.status().message(), HasSubstr(fmt::format("127.0.0.1:{}", port)));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
}

// Its own suite, so stopping the server does not disturb the others.
class NatsServerStopTest : public NatsBusTest {};

TEST_F(NatsServerStopTest, PublishingAndReadingFailCleanlyWhenTheServerStops) {
  auto bus = Connect("STOP", "?connect-timeout=1s");
  ASSERT_NE(bus, nullptr);
  PublisherOptions o;
  o.producer = "stop/1/1";
  o.ack_timeout = Millis(1500);
  auto pub = bus->NewPublisher("db", o);
  ASSERT_TRUE(pub.ok());
  ASSERT_TRUE((*pub)->Open().ok());
  ASSERT_TRUE(PublishFrame(**pub, Id("db", 1), RandomBytes(100, 1)).ok());
  auto sub = Subscribe(*bus, "db");
  ASSERT_EQ(Drain(*sub, 1).frames.size(), 1u);

  ASSERT_TRUE(server(ServerKind::kNats).Stop().ok());
  const auto start = Clock::now();
  auto off = PublishFrame(**pub, Id("db", 2), RandomBytes(100, 2));
  ASSERT_FALSE(off.ok());
  EXPECT_TRUE(off.status().code() == Status::Code::kUnavailable ||
              off.status().code() == Status::Code::kTimeout)
      << off.status().ToString();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  // The next frame first has to learn what happened to the last one.
  auto next = (*pub)->BeginFrame(Id("db", 2));
  ASSERT_FALSE(next.ok());
  EXPECT_NE(next.status().code(), Status::Code::kConflict) << next.status().ToString();
  auto chunk = sub->Next(Millis(200));
  EXPECT_TRUE(!chunk.ok() || !chunk->has_value());
  auto head = sub->HeadOffset();
  ASSERT_FALSE(head.ok());
  EXPECT_TRUE(head.status().code() == Status::Code::kUnavailable ||
              head.status().code() == Status::Code::kTimeout)
      << head.status().ToString();
}

}  // namespace
}  // namespace ltxbus::bus::testing
