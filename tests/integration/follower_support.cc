#include "tests/integration/follower_support.h"

#include <csignal>
#include <thread>

#include <librdkafka/rdkafka.h>

#include "base/env.h"
#include "bus/kafka/kafka_client.h"
#include "bus/nats/nats_bus.h"
#include "bus/nats/nats_internal.h"
#include "consumer/replica_position.h"
#include "tests/support/bus_connect.h"
#include "tests/support/sqlite_pages.h"

namespace ltxbus::testing {

using namespace std::chrono_literals;

void FollowerFixture::SetUp() {
  ServerTest::SetUp();
  db_ = dir_.Join("app.db");
  replica_ = dir_.Join("replicas/app.db");
  stop_file_ = dir_.Join("stop-readers");
  static int counter = 0;
  const std::string name = fmt::format("f{}x{}", ::getpid(), ++counter);
  url_ = GetParam() == ServerKind::kNats
             ? fmt::format("{}/{}", env(ServerKind::kNats, "NATS_URL"), "LTX" + name)
             : fmt::format("kafka://{}/{}", env(ServerKind::kKafka, "KAFKA_BOOTSTRAP"), name);
}

std::string FollowerFixture::App(const std::string& name) {
  return SourceDir() + "/tests/apps/" + name;
}

Result<Process> FollowerFixture::Ltxbus(std::vector<std::string> args) {
  args.insert(args.begin(), LtxbusBinary());
  ProcessOptions o;
  o.stdout_mode = Stream::kCapture;
  o.merge_stderr = true;
  return Process::Spawn(args, o);
}

Result<Process> FollowerFixture::StartFollower(std::vector<std::string> extra,
                                               const std::string& replica) {
  std::vector<std::string> args = {"follow", url_, "app.db", "-o",
                                   replica.empty() ? replica_ : replica};
  args.insert(args.end(), extra.begin(), extra.end());
  return Ltxbus(args);
}

void FollowerFixture::RunBank(std::vector<std::string> args) {
  std::vector<std::string> argv = {"python3", App("bank.py"), db_};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = RunCommand(argv, 300s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->exit_code, 0) << r->error_output;
}

std::vector<Process> FollowerFixture::StartReaders(int n, int min_reads) {
  std::vector<Process> readers;
  for (int i = 0; i < n; i++) {
    ProcessOptions o;
    o.stdout_mode = Stream::kCapture;
    o.stderr_mode = Stream::kCapture;
    auto p = Process::Spawn({"python3", App("bank_reader.py"), replica_, "--stop-file", stop_file_,
                             "--min-reads", std::to_string(min_reads)},
                            o);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    if (p.ok()) readers.push_back(std::move(*p));
  }
  return readers;
}

FollowerFixture::ReaderTotals FollowerFixture::StopReaders(std::vector<Process>& readers) {
  EXPECT_TRUE(WriteFileAtomic(Env::Default(), stop_file_, AsBytes("stop")).ok());
  ReaderTotals t;
  for (Process& r : readers) {
    auto code = r.Wait(240s);
    EXPECT_TRUE(code.ok()) << "a reader did not stop: " << r.error_output();
    EXPECT_EQ(code.ok() ? *code : -1, 0) << r.error_output();
    auto j = nlohmann::json::parse(r.output(), nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(j.is_object()) << r.output() << r.error_output();
    if (!j.is_object()) continue;
    t.reads += j["reads"].get<int64_t>();
    t.violations += j["violations"].get<int64_t>();
    t.errors += j["errors"].get<int64_t>();
    t.states += j["states"].get<int64_t>();
    EXPECT_EQ(j["version"].get<std::string>(), "3.40.1") << "readers use the system SQLite";
    EXPECT_EQ(j["violations"].get<int64_t>(), 0) << r.error_output();
  }
  return t;
}

void FollowerFixture::ExpectConverges(std::chrono::seconds timeout, const std::string& replica) {
  const std::string path = replica.empty() ? replica_ : replica;
  std::string diff = "the replica was never readable";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto want = ReadSqlitePages(db_);
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    if (Env::Default()->FileExists(path)) {
      auto got = ReadSqlitePages(path);
      if (got.ok()) {
        PageCompareOptions o;
        o.mask_header_counters = true;
        diff = DiffPages(*want, *got, o);
        if (diff.empty()) return;
      }
    }
    std::this_thread::sleep_for(100ms);
  }
  FAIL() << path << " never caught up with the primary: " << diff;
}

void FollowerFixture::ExpectIntegrityOk(const std::string& replica) {
  auto r = RunCommand(
      {"sqlite3", "-readonly", replica.empty() ? replica_ : replica, "PRAGMA integrity_check"},
      60s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->output, "ok\n") << r->error_output;
}

ltx::TXID FollowerFixture::PositionTxid(const std::string& replica) {
  auto f = consumer::LoadReplicaPositionFile(
      Env::Default(), consumer::ReplicaPositionPath(replica.empty() ? replica_ : replica));
  if (!f.ok()) return 0;
  ltx::TXID t = f->committed ? f->committed->txid : 0;
  if (f->pending) t = std::max(t, f->pending->txid);
  return t;
}

void FollowerFixture::StopCleanly(Result<Process>& p, const std::string& what) {
  ASSERT_TRUE(p->Signal(SIGTERM).ok());
  auto code = p->Wait(60s);
  ASSERT_TRUE(code.ok()) << what << " did not stop: " << p->output();
  EXPECT_EQ(*code, 0) << what << ": " << p->output();
}

void FollowerFixture::WaitForLog(Process& p, const std::string& needle, int count,
                                 std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int seen = 0;
    for (size_t at = p.output().find(needle); at != std::string::npos;
         at = p.output().find(needle, at + 1)) {
      seen++;
    }
    if (seen >= count) return;
    auto code = p.Wait(50ms);
    ASSERT_FALSE(code.ok()) << "exited (" << *code << ") before logging '" << needle
                            << "': " << p.output();
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "'" << needle << "' not logged " << count << " time(s): " << p.output();
  }
}

std::string FollowerFixture::MetricsAddress(Process& follower) {
  constexpr std::string_view kPrefix = "metrics on http://";
  WaitForLog(follower, std::string(kPrefix));
  const std::string& out = follower.output();
  const size_t at = out.find(kPrefix) + kPrefix.size();
  return out.substr(at, out.find("/metrics", at) - at);
}

std::string FollowerFixture::Scrape(const std::string& addr) {
  auto r =
      RunCommand({"curl", "-sS", "--fail", "--max-time", "10", "http://" + addr + "/metrics"}, 20s);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return "";
  EXPECT_EQ(r->exit_code, 0) << r->error_output;
  return r->output;
}

std::optional<double> FollowerFixture::Sample(const std::string& scrape, const std::string& metric,
                                              const std::string& replica) {
  const std::string prefix = metric + "{";
  const std::string label = fmt::format("replica=\"{}\"}} ", replica);
  size_t at = 0;
  while ((at = scrape.find(prefix, at)) != std::string::npos) {
    const size_t eol = scrape.find('\n', at);
    const std::string line = scrape.substr(at, eol - at);
    at = eol;
    const size_t l = line.find(label);
    if (l == std::string::npos) continue;
    return std::stod(line.substr(l + label.size()));
  }
  return std::nullopt;
}

void FollowerFixture::WaitForMetric(Process& follower, const std::string& addr,
                                    const std::string& metric, const std::string& replica,
                                    const std::function<bool(double)>& ok,
                                    std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last;
  for (;;) {
    last = Scrape(addr);
    const std::optional<double> v = Sample(last, metric, replica);
    if (v && ok(*v)) return;
    ASSERT_FALSE(follower.Wait(200ms).ok()) << "the follower exited: " << follower.output();
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << metric << " for " << replica << " never reached the expected value; last scrape:\n"
        << last;
  }
}

FollowerFixture::StatusOutput FollowerFixture::Status(std::vector<std::string> args) {
  args.insert(args.begin(), {LtxbusBinary(), "status"});
  args.push_back("-json");
  StatusOutput s;
  auto r = RunCommand(args, 60s);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return s;
  s.exit_code = r->exit_code;
  s.error_output = r->error_output;
  s.json = nlohmann::json::parse(r->output, nullptr, /*allow_exceptions=*/false);
  EXPECT_TRUE(s.json.is_object()) << r->output << r->error_output;
  return s;
}

FollowerFixture::StatusOutput FollowerFixture::SettledStatus(std::vector<std::string> args) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  for (;;) {
    StatusOutput s = Status(args);
    bool settled = s.json.is_object();
    for (const auto& j : s.json["replicas"]) settled = settled && j["pending_txid"].is_null();
    if (settled || std::chrono::steady_clock::now() > deadline) return s;
    std::this_thread::sleep_for(100ms);
  }
}

std::unique_ptr<bus::Bus> FollowerFixture::Connect() { return testing::ConnectBus(url_); }

void FollowerFixture::DropBefore(uint64_t offset) {
  auto ep = bus::Endpoint::Parse(url_);
  ASSERT_TRUE(ep.ok());
  if (GetParam() == ServerKind::kNats) {
    auto settings = bus::NatsSettings::FromEndpoint(*ep);
    ASSERT_TRUE(settings.ok()) << settings.status().ToString();
    auto conn = bus::nats::Connection::Open(*ep, *settings);
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    jsOptions o;
    jsOptions_Init(&o);
    o.Stream.Purge.Sequence = offset;  // purges every message below it
    jsErrCode jerr{};
    ASSERT_EQ(js_PurgeStream((*conn)->js(), settings->stream.c_str(), &o, &jerr), NATS_OK) << jerr;
    return;
  }
  auto settings = bus::kafka::KafkaSettings::FromEndpoint(*ep);
  ASSERT_TRUE(settings.ok()) << settings.status().ToString();
  auto client = bus::kafka::NewClient(*settings, RD_KAFKA_PRODUCER, {});
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  rd_kafka_t* rk = client->get();
  rd_kafka_topic_partition_list_t* offsets = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(offsets, settings->topic.c_str(),
                                    bus::kafka::PartitionForDatabase("app.db", 1))
      ->offset = static_cast<int64_t>(offset);
  rd_kafka_DeleteRecords_t* del = rd_kafka_DeleteRecords_new(offsets);
  rd_kafka_topic_partition_list_destroy(offsets);
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_DeleteRecords(rk, &del, 1, nullptr, queue);
  rd_kafka_DeleteRecords_destroy(del);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, 60000);
  ASSERT_NE(ev, nullptr) << "DeleteRecords got no answer in 60 s";
  EXPECT_EQ(rd_kafka_event_error(ev), RD_KAFKA_RESP_ERR_NO_ERROR)
      << rd_kafka_event_error_string(ev);
  const rd_kafka_topic_partition_list_t* done =
      rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev));
  ASSERT_NE(done, nullptr);
  ASSERT_EQ(done->cnt, 1);
  EXPECT_EQ(done->elems[0].err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(done->elems[0].err);
  rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(queue);
}

}  // namespace ltxbus::testing
