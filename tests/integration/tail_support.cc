#include "tests/integration/tail_support.h"

#include <librdkafka/rdkafka.h>
#include <nats/nats.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fstream>
#include <thread>

#include "bus/bus.h"
#include "bus/message.h"
#include "consumer/stream_test_util.h"
#include "consumer/transaction_stream.h"
#include "tests/support/bus_connect.h"
#include "tests/support/sqlite_pages.h"

namespace ltxbus::tail_test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kSteps = 20;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Follows a database's stream from the beginning, applying every transaction
// to an in-memory image of the database.
class Follower {
 public:
  Follower(const std::string& url, const std::string& db) : bus_(testing::ConnectBus(url)) {
    if (bus_ == nullptr) return;
    consumer::StreamOptions o;
    o.start = consumer::StartAt::Beginning();
    o.stop = consumer::StopAt::Never();
    auto s = consumer::TransactionStream::Open(*bus_, db, o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (s.ok()) stream_ = std::move(*s);
  }
  // Takes what the bus has now.
  void Drain() {
    if (stream_ == nullptr) return;
    for (;;) {
      auto tx = stream_->Next(100ms);
      ASSERT_TRUE(tx.ok()) << tx.status().ToString();
      if (!tx->has_value()) return;
      const consumer::Transaction& t = **tx;
      consumer::testing::ApplyTo(t, &image_);
      frames_.push_back(
          {t.txid(), t.position().first_offset, t.position().last_offset, t.bus_time_ms()});
    }
  }
  const testing::Pages& image() const { return image_; }
  const std::vector<RecordedFrame>& frames() const { return frames_; }

 private:
  std::unique_ptr<bus::Bus> bus_;
  std::unique_ptr<consumer::TransactionStream> stream_;
  testing::Pages image_;
  std::vector<RecordedFrame> frames_;
};

}  // namespace

std::string Hex(uint64_t v) { return fmt::format("{:016x}", v); }

std::string TailTest::NewUrl(const std::string& prefix) const {
  static int counter = 0;
  const std::string name = fmt::format("{}{}x{}", prefix, ::getpid(), ++counter);
  if (GetParam() == ServerKind::kNats) {
    return fmt::format("{}/{}", env(ServerKind::kNats, "NATS_URL"), name);
  }
  return fmt::format("kafka://{}/{}", env(ServerKind::kKafka, "KAFKA_BOOTSTRAP"), name);
}

Result<Process> TailTest::StartProducer(const std::string& db, const std::string& url,
                                        const std::string& dir) const {
  const std::string config = dir + "/ltxbus.yml";
  LTXBUS_RETURN_IF_ERROR(WriteFileAtomic(
      Env::Default(), config,
      AsBytes(fmt::format("bus: '{}'\ndbs:\n  - path: '{}'\n    chunk-size: 8KiB\n", url, db))));
  ProcessOptions o;
  o.stdout_mode = Stream::kCapture;
  o.merge_stderr = true;
  return Process::Spawn({testing::LtxbusBinary(), "replicate", "-config", config}, o);
}

void TailTest::StopProducer(Process& p) {
  ASSERT_TRUE(p.Signal(SIGTERM).ok());
  auto code = p.Wait(60s);
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, 0) << p.output();
}

void TailTest::RunApp(const std::string& db, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"python3", testing::SourceDir() + "/tests/apps/workload.py", db};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = RunCommand(argv, 300s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->exit_code, 0) << r->error_output;
}

std::vector<RecordedFrame> TailTest::WaitForSource(const std::string& url, const std::string& db,
                                                   const std::string& db_path) {
  Follower f(url, db);
  std::string diff = "nothing read";
  const auto deadline = Clock::now() + 90s;
  while (Clock::now() < deadline && !::testing::Test::HasFatalFailure()) {
    f.Drain();
    auto want = testing::ReadSqlitePages(db_path);
    EXPECT_TRUE(want.ok()) << want.status().ToString();
    if (!want.ok()) break;
    diff = testing::DiffPages(*want, f.image());
    if (diff.empty() && !f.frames().empty()) return f.frames();
    std::this_thread::sleep_for(50ms);
  }
  ADD_FAILURE() << "the stream of " << db << " on " << url << " never caught up: " << diff;
  return f.frames();
}

CommandResult TailTest::Tail(const std::string& url, const std::string& db,
                             const std::vector<std::string>& args) {
  std::vector<std::string> argv = {testing::LtxbusBinary(), "tail", url, db};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = RunCommand(argv, 300s);
  if (!r.ok()) {
    ADD_FAILURE() << CommandLine(argv) << ": " << r.status().ToString();
    return {-1, "", ""};
  }
  return *r;
}

const Recording& TailTest::SharedRecording() {
  static std::map<ServerKind, std::unique_ptr<Recording>> recordings;
  auto& slot = recordings[GetParam()];
  if (slot != nullptr) return *slot;
  slot = std::make_unique<Recording>();
  Recording& r = *slot;
  r.dir = std::make_unique<testing::TempDir>();
  r.db_name = "app.db";
  r.db_path = r.dir->Join(r.db_name);
  r.url = NewUrl("tail");
  RunApp(r.db_path, {"--create", "--transactions", "3"});
  auto producer = StartProducer(r.db_path, r.url, r.dir->path());
  EXPECT_TRUE(producer.ok()) << producer.status().ToString();
  if (!producer.ok()) return r;
  Follower follower(r.url, r.db_name);
  // Waits until the stream holds everything the app committed, then records
  // the database as it is: the state as of the newest TXID on the bus.
  auto capture = [&] {
    std::string diff = "nothing read";
    const auto deadline = Clock::now() + 90s;
    while (Clock::now() < deadline && !::testing::Test::HasFatalFailure()) {
      follower.Drain();
      auto want = testing::ReadSqlitePages(r.db_path);
      ASSERT_TRUE(want.ok()) << want.status().ToString();
      diff = testing::DiffPages(*want, follower.image());
      if (diff.empty() && !follower.frames().empty()) {
        r.captures.push_back(
            {follower.frames().back().txid, follower.frames().size() - 1, NowMs(), *want});
        // Nothing the app writes next can share this millisecond.
        std::this_thread::sleep_for(20ms);
        return;
      }
      std::this_thread::sleep_for(50ms);
    }
    FAIL() << "the stream never caught up with the source: " << diff << "\n" << producer->output();
  };
  capture();
  for (int step = 0; step < kSteps && !::testing::Test::HasFatalFailure(); step++) {
    std::vector<std::string> args = {"--seed", std::to_string(100 + step), "--transactions",
                                     std::to_string(1 + step % 3)};
    if (step % 5 == 2) args.insert(args.end(), {"--big-every", "1", "--big-bytes", "30000"});
    if (step % 7 == 3) args.insert(args.end(), {"--vacuum-every", "1"});
    RunApp(r.db_path, args);
    capture();
  }
  StopProducer(*producer);
  r.frames = follower.frames();
  return r;
}

void TailTest::DeleteBefore(const std::string& url, const std::string& db, uint64_t offset) const {
  auto endpoint = bus::Endpoint::Parse(url);
  ASSERT_TRUE(endpoint.ok());
  if (endpoint->kind == bus::Endpoint::Kind::kNats) {
    natsConnection* nc = nullptr;
    ASSERT_EQ(natsConnection_ConnectTo(&nc, endpoint->servers.c_str()), NATS_OK);
    jsCtx* js = nullptr;
    ASSERT_EQ(natsConnection_JetStream(&js, nc, nullptr), NATS_OK);
    std::string subject = endpoint->name;
    std::transform(subject.begin(), subject.end(), subject.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    subject += "." + bus::EscapeDatabaseName(db);
    jsOptions o;
    jsOptions_Init(&o);
    o.Stream.Purge.Subject = subject.c_str();
    o.Stream.Purge.Sequence = offset;
    jsErrCode jerr{};
    const natsStatus s = js_PurgeStream(js, endpoint->name.c_str(), &o, &jerr);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    ASSERT_EQ(s, NATS_OK) << natsStatus_GetText(s) << " " << jerr;
    return;
  }
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  ASSERT_EQ(
      rd_kafka_conf_set(conf, "bootstrap.servers", endpoint->servers.c_str(), err, sizeof err),
      RD_KAFKA_CONF_OK);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  ASSERT_NE(rk, nullptr) << err;
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  // One partition: the tests' topics are created with the default of 1.
  rd_kafka_topic_partition_list_add(list, endpoint->name.c_str(), 0)->offset =
      static_cast<int64_t>(offset);
  rd_kafka_DeleteRecords_t* del = rd_kafka_DeleteRecords_new(list);
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_DeleteRecords(rk, &del, 1, nullptr, q);
  rd_kafka_DeleteRecords_destroy(del);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
  std::string failure;
  if (ev == nullptr) {
    failure = "DeleteRecords timed out";
  } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    failure = rd_kafka_event_error_string(ev);
  } else {
    const rd_kafka_topic_partition_list_t* done =
        rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev));
    for (int i = 0; done != nullptr && i < done->cnt; i++) {
      if (done->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        failure = rd_kafka_err2str(done->elems[i].err);
      }
    }
  }
  if (ev != nullptr) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(rk);
  ASSERT_TRUE(failure.empty()) << failure;
}

namespace {

bool IsHex16(std::string_view s) {
  return s.size() == 16 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// The schema's patterns (std::regex would do, but g++ 12 warns inside it).
bool Matches(const std::string& pattern, const std::string& s) {
  if (pattern == "^[0-9a-f]{16}$") return IsHex16(s);
  if (pattern == "^[0-9a-f]{16}:[0-9]+:[0-9]+$") {
    return s.size() > 17 && IsHex16(s.substr(0, 16)) && consumer::Position::Parse(s).ok();
  }
  ADD_FAILURE() << "SchemaErrors does not know the pattern " << pattern;
  return false;
}

}  // namespace

std::string SchemaErrors(const nlohmann::json& line) {
  static const nlohmann::json schema = [] {
    std::ifstream in(testing::SourceDir() + "/docs/tail-json.schema.json");
    return nlohmann::json::parse(in);
  }();
  std::string errors;
  auto check = [&](const std::string& key, const nlohmann::json& v, const nlohmann::json& rule) {
    const auto it = rule.find("type");
    const std::string type = it != rule.end() && it->is_string() ? it->get<std::string>() : "";
    const bool ok = (type == "string" && v.is_string()) ||
                    (type == "integer" && v.is_number_integer()) ||
                    (type == "boolean" && v.is_boolean()) || (type == "array" && v.is_array());
    if (!ok) {
      errors += fmt::format("{} is not of type {}: {}; ", key, type, v.dump());
      return;
    }
    if (rule.contains("pattern") &&
        !Matches(rule["pattern"].get<std::string>(), v.get<std::string>())) {
      errors += fmt::format("{} does not match {}: {}; ", key, rule["pattern"].dump(), v.dump());
    }
    if (rule.contains("minimum") && v.get<int64_t>() < rule["minimum"].get<int64_t>()) {
      errors += fmt::format("{} is below {}: {}; ", key, rule["minimum"].dump(), v.dump());
    }
  };
  for (const auto& key : schema["required"]) {
    if (!line.contains(key.get<std::string>()))
      errors += fmt::format("{} is missing; ", key.dump());
  }
  for (const auto& [key, value] : line.items()) {
    if (!schema["properties"].contains(key)) {
      errors += fmt::format("{} is not in the schema; ", key);
      continue;
    }
    const nlohmann::json& rule = schema["properties"][key];
    check(key, value, rule);
    if (value.is_array() && rule.contains("items")) {
      for (const auto& item : value) check(key + "[]", item, rule["items"]);
    }
  }
  return errors;
}

}  // namespace ltxbus::tail_test
