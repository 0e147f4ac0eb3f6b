// The /metrics endpoint on a real socket, scraped with curl.
#include "base/metrics_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

#include "base/process.h"

namespace ltxbus {
namespace {

using namespace std::chrono_literals;

struct Answer {
  std::string code;
  std::string body;
};

Answer Curl(const std::string& url, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {"curl", "-sS", "--max-time", "10",
                                   "-o",   "-",   "-w",         "\n%{http_code}"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(url);
  auto r = RunCommand(argv, 20s);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return {};
  const size_t nl = r->output.rfind('\n');
  return {r->output.substr(nl + 1), r->output.substr(0, nl)};
}

TEST(MetricsServerTest, ServesMetricsAndNothingElse) {
  std::atomic<int> scrapes{0};
  auto server = MetricsServer::Start(
      "127.0.0.1:0", [&] { return fmt::format("ltxbus_test_scrapes {}\n", ++scrapes); });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  ASSERT_GT((*server)->port(), 0);
  const std::string base = "http://" + (*server)->address();
  Answer a = Curl(base + "/metrics");
  EXPECT_EQ(a.code, "200");
  EXPECT_EQ(a.body, "ltxbus_test_scrapes 1\n");
  a = Curl(base + "/metrics?x=1");
  EXPECT_EQ(a.body, "ltxbus_test_scrapes 2\n");
  EXPECT_EQ(Curl(base + "/").code, "404");
  EXPECT_EQ(Curl(base + "/metrics", {"-X", "POST", "-d", "x"}).code, "405");
  EXPECT_EQ(scrapes.load(), 2);
}

// A client that connects and never sends a request is dropped after the
// client timeout; the next scrape is then answered.
TEST(MetricsServerTest, ASilentClientDoesNotStopScrapes) {
  auto server = MetricsServer::Start("127.0.0.1:0", [] { return std::string("ok 1\n"); });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>((*server)->port()));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  const Answer a = Curl("http://" + (*server)->address() + "/metrics");
  EXPECT_EQ(a.code, "200");
  EXPECT_EQ(a.body, "ok 1\n");
  ::close(fd);
}

TEST(MetricsServerTest, RefusesBadAddressesAndBusyPorts) {
  auto bad = MetricsServer::Start("localhost", [] { return std::string(); });
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument) << bad.status().ToString();
  bad = MetricsServer::Start("127.0.0.1:http", [] { return std::string(); });
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument) << bad.status().ToString();
  auto first = MetricsServer::Start("127.0.0.1:0", [] { return std::string(); });
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = MetricsServer::Start((*first)->address(), [] { return std::string(); });
  EXPECT_EQ(second.status().code(), Status::Code::kIOError) << second.status().ToString();
}

}  // namespace
}  // namespace ltxbus
