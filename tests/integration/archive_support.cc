#include "tests/integration/archive_support.h"

#include <chrono>
#include <csignal>
#include <thread>

#include "base/env.h"
#include "bus/bus.h"
#include "consumer/archive_manifest.h"
#include "consumer/stream_test_util.h"
#include "consumer/transaction_stream.h"
#include "store/s3/s3_store.h"
#include "tests/support/bus_connect.h"
#include "tests/support/sqlite_pages.h"

namespace ltxbus::archive_test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kSteps = 16;

int64_t NowMs() { return Env::Default()->NowUnixMillis(); }

// Replays a database's stream from the beginning with the consumer API,
// keeping the state after every transaction.
class Replay {
 public:
  Replay(const std::string& url, const std::string& db) {
    bus_ = testing::ConnectBus(url);
    if (bus_ == nullptr) return;
    consumer::StreamOptions o;
    o.start = consumer::StartAt::Beginning();
    o.stop = consumer::StopAt::Never();
    auto s = consumer::TransactionStream::Open(*bus_, db, o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (s.ok()) stream_ = std::move(*s);
  }
  void Drain(std::map<ltx::TXID, Pages>* states) {
    while (stream_ != nullptr) {
      auto tx = stream_->Next(100ms);
      ASSERT_TRUE(tx.ok()) << tx.status().ToString();
      if (!tx->has_value()) return;
      consumer::testing::ApplyTo(**tx, &image_);
      last_txid_ = (*tx)->txid();
      (*states)[last_txid_] = image_;
    }
  }
  const Pages& image() const { return image_; }
  ltx::TXID last_txid() const { return last_txid_; }

 private:
  std::unique_ptr<bus::Bus> bus_;
  std::unique_ptr<consumer::TransactionStream> stream_;
  Pages image_;
  ltx::TXID last_txid_ = 0;
};

std::string Quote(const std::string& s) { return "'" + s + "'"; }

}  // namespace

std::string ArchiveTest::NewBusUrl() const {
  return fmt::format("{}/{}", env(ServerKind::kNats, "NATS_URL"), testing::UniqueName("ARCH"));
}

std::string ArchiveTest::NewS3Url(ServerKind kind) {
  const std::string bucket = testing::UniqueName("ltxbus-archive");
  const std::string url = fmt::format("s3://{}/db?endpoint={}&region={}", bucket,
                                      env(kind, "S3_ENDPOINT"), env(kind, "S3_REGION"));
  auto s = store::Open(url, {env(kind, "S3_ACCESS_KEY"), env(kind, "S3_SECRET_KEY"), ""});
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  if (s.ok()) {
    Status created = dynamic_cast<store::s3::S3Store&>(**s).CreateBucket();
    EXPECT_TRUE(created.ok()) << created.ToString();
  }
  return url;
}

std::string ArchiveTest::NewNatsStoreUrl() const {
  return fmt::format("{}/{}", env(ServerKind::kNats, "NATS_URL"), testing::UniqueName("archive"));
}

std::vector<std::pair<std::string, std::string>> ArchiveTest::S3Env(ServerKind kind) const {
  return {{"AWS_ACCESS_KEY_ID", env(kind, "S3_ACCESS_KEY")},
          {"AWS_SECRET_ACCESS_KEY", env(kind, "S3_SECRET_KEY")},
          {"AWS_REGION", env(kind, "S3_REGION")}};
}

Result<std::unique_ptr<store::ObjectStore>> ArchiveTest::OpenStore(const std::string& url) const {
  const ServerKind kind = url.find(env(ServerKind::kVersitygw, "S3_ENDPOINT")) != std::string::npos
                              ? ServerKind::kVersitygw
                              : ServerKind::kMoto;
  return store::Open(url, {env(kind, "S3_ACCESS_KEY"), env(kind, "S3_SECRET_KEY"), ""});
}

Result<Process> ArchiveTest::StartProducer(const std::string& db, const std::string& url,
                                           const std::string& dir) const {
  const std::string config = dir + "/producer.yml";
  LTXBUS_RETURN_IF_ERROR(
      WriteFileAtomic(Env::Default(), config,
                      AsBytes(fmt::format("bus: {}\ndbs:\n  - path: {}\n    chunk-size: 8KiB\n",
                                          Quote(url), Quote(db)))));
  ProcessOptions o;
  o.stdout_mode = Stream::kCapture;
  o.merge_stderr = true;
  return Process::Spawn({testing::LtxbusBinary(), "replicate", "-config", config}, o);
}

Result<Process> ArchiveTest::StartArchiver(const std::string& bus_url,
                                           const std::vector<std::string>& urls,
                                           const std::string& config_path,
                                           const std::string& levels,
                                           const std::vector<std::string>& extra_args) const {
  std::string yaml = fmt::format("bus: {}\narchive:\n", Quote(bus_url));
  for (const std::string& url : urls) {
    yaml += fmt::format(
        "  - name: app.db\n    url: {}\n    sync-interval: 0\n{}    l0-retention: 1h\n"
        "    lease-ttl: 2s\n",
        Quote(url), levels);
  }
  LTXBUS_RETURN_IF_ERROR(WriteFileAtomic(Env::Default(), config_path, AsBytes(yaml)));
  ProcessOptions o;
  o.env = S3Env();
  o.stdout_mode = Stream::kCapture;
  o.merge_stderr = true;
  std::vector<std::string> argv = {testing::LtxbusBinary(), "archive", "-config", config_path};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  return Process::Spawn(argv, o);
}

void ArchiveTest::StopGracefully(Process& p, const char* what) {
  ASSERT_TRUE(p.Signal(SIGTERM).ok());
  auto code = p.Wait(60s);
  ASSERT_TRUE(code.ok()) << what << ": " << code.status().ToString();
  EXPECT_EQ(*code, 0) << what << ":\n" << p.output();
}

void ArchiveTest::WaitArchived(const std::string& url, ltx::TXID txid, Process* archiver) const {
  auto s = OpenStore(url);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const auto layout = consumer::ArchiveLayout::For(**s);
  const auto deadline = Clock::now() + 120s;
  ltx::TXID have = 0;
  while (Clock::now() < deadline) {
    auto m = consumer::LoadManifest(**s, layout);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    have = *m ? (*m)->manifest.last_txid() : 0;
    if (have >= txid) return;
    if (archiver != nullptr) {
      auto exited = archiver->Wait(0ms);
      ASSERT_FALSE(exited.ok()) << "the archiver exited with " << *exited << ":\n"
                                << archiver->output();
    }
    std::this_thread::sleep_for(100ms);
  }
  FAIL() << url << " archived up to TXID " << have << ", not " << txid << "\n"
         << (archiver != nullptr ? archiver->output() : "");
}

CommandResult ArchiveTest::Ltxbus(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {testing::LtxbusBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessOptions o;
  o.env = S3Env();
  o.stdout_mode = Stream::kCapture;
  o.stderr_mode = Stream::kCapture;
  auto r = RunCommand(argv, 300s, o);
  if (!r.ok()) {
    ADD_FAILURE() << CommandLine(argv) << ": " << r.status().ToString();
    return {-1, "", ""};
  }
  return *r;
}

Pages ArchiveTest::Restore(const std::string& url, const std::vector<std::string>& target,
                           const std::string& out) const {
  std::vector<std::string> args = {"restore", "-o", out};
  args.insert(args.end(), target.begin(), target.end());
  args.push_back(url);
  CommandResult r = Ltxbus(args);
  EXPECT_EQ(r.exit_code, 0) << CommandLine(args) << "\n" << r.output << r.error_output;
  if (r.exit_code != 0) return {};
  auto pages = testing::ReadFilePages(out);
  EXPECT_TRUE(pages.ok()) << pages.status().ToString();
  return pages.ok() ? *pages : Pages{};
}

const Recording& ArchiveTest::SharedRecording() {
  static std::unique_ptr<Recording> recording;
  if (recording != nullptr) return *recording;
  recording = std::make_unique<Recording>();
  Recording& r = *recording;
  r.dir = std::make_unique<testing::TempDir>();
  r.db_path = r.dir->Join("app.db");
  r.bus_url = NewBusUrl();
  // The archiver's environment holds moto's credentials; versitygw's go in its URL.
  r.archives = {
      "file://" + r.dir->Join("archive"), NewS3Url(ServerKind::kMoto), NewNatsStoreUrl(),
      NewS3Url(ServerKind::kVersitygw) + fmt::format("&access-key-id={}&secret-access-key={}",
                                                     env(ServerKind::kVersitygw, "S3_ACCESS_KEY"),
                                                     env(ServerKind::kVersitygw, "S3_SECRET_KEY"))};
  Status s = testing::RunWorkload(r.db_path, {"--create", "--transactions", "3"});
  EXPECT_TRUE(s.ok()) << s.ToString();
  auto producer = StartProducer(r.db_path, r.bus_url, r.dir->path());
  EXPECT_TRUE(producer.ok()) << producer.status().ToString();
  if (!producer.ok()) return r;
  auto archiver = StartArchiver(
      r.bus_url, {r.archives.file, r.archives.s3, r.archives.nats, r.archives.versitygw},
      r.dir->Join("archive.yml"),
      "    levels: [{interval: 1s}, {interval: 3s}]\n    snapshot: {interval: 4s, retention: "
      "1h}\n");
  EXPECT_TRUE(archiver.ok()) << archiver.status().ToString();
  if (!archiver.ok()) return r;
  Replay replay(r.bus_url, "app.db");
  auto capture = [&] {
    std::string diff = "nothing read";
    const auto deadline = Clock::now() + 90s;
    while (Clock::now() < deadline && !::testing::Test::HasFatalFailure()) {
      replay.Drain(&r.replayed);
      auto want = testing::ReadSqlitePages(r.db_path);
      ASSERT_TRUE(want.ok()) << want.status().ToString();
      diff = testing::DiffPages(*want, replay.image());
      if (diff.empty() && replay.last_txid() > 0) {
        r.captures.push_back({replay.last_txid(), NowMs(), *want});
        // Nothing the app commits next shares this millisecond.
        std::this_thread::sleep_for(20ms);
        return;
      }
      std::this_thread::sleep_for(50ms);
    }
    FAIL() << "the stream never caught up with the primary: " << diff << "\n" << producer->output();
  };
  capture();
  for (int step = 0; step < kSteps && !::testing::Test::HasFatalFailure(); step++) {
    std::vector<std::string> args = {"--seed", std::to_string(300 + step), "--transactions",
                                     std::to_string(1 + step % 4)};
    if (step % 5 == 2) args.insert(args.end(), {"--big-every", "1", "--big-bytes", "30000"});
    if (step % 7 == 3) args.insert(args.end(), {"--vacuum-every", "1"});
    s = testing::RunWorkload(r.db_path, args);
    EXPECT_TRUE(s.ok()) << s.ToString();
    capture();
  }
  r.last_txid = replay.last_txid();
  StopGracefully(*producer, "the producer");
  for (const std::string& url :
       {r.archives.file, r.archives.s3, r.archives.nats, r.archives.versitygw}) {
    WaitArchived(url, r.last_txid, &*archiver);
  }
  StopGracefully(*archiver, "the archiver");
  return r;
}

}  // namespace ltxbus::archive_test
