// The follower on loopback, against the real nats-server and Kafka 3.9.1
// broker (scripts/servers/), with the app a separate process on the system
// SQLite (bench/producer_bench_app.c):
//
//   lag    commit -> visible on the replica, p50/p90/p99/max, at a paced
//          rate (default 1,000 transactions/s): `ltxbus replicate` +
//          `ltxbus follow` over NATS and over Kafka, side by side with
//          Litestream v0.5.16 (`litestream replicate` to a file replica +
//          `litestream restore -f`), each with its defaults (the
//          producer's monitor interval can be set: --monitor-interval);
//   apply  the follower's apply rate: the follower is stopped, the app
//          writes a backlog, the follower is started again and its
//          /metrics are sampled until it caught up; pages and transactions
//          per second of catching up.
//
// "Visible" is measured by this process reading the replica read-only in a
// loop (every --poll-us), as a reader on the host would: the time a
// transaction's row is first seen minus the app's CLOCK_REALTIME as its
// COMMIT returned. Prints the tables and replaces the follower section of
// bench/RESULTS.md (between its markers). bench/run.sh follower runs it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>
#include <sstream>
#include <thread>

#include "base/env.h"
#include "base/process.h"
#include "bench/producer_bench_util.h"
#include "sqlite/database.h"

namespace ltxbus::bench {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

struct Options {
  double rate = 1000;
  double seconds = 10;
  // Untimed transactions at the rate first: a freshly started broker (the
  // Kafka JVM before its JIT warmed up) is not what a deployed one does.
  // Kafka's p50 / p99 after 5 s: 15 / 40-53 ms; after 30 s: 9-10 / 26-33;
  // after 60 s: 9.3 / 29 (bench/RESULTS.md, session 7).
  double warmup = 30;
  std::string monitor_interval = "100ms";  // the producer's default
  int poll_us = 500;
  int backlog = 30000;  // transactions behind for the apply run (at most)
  // One apply run per row size; larger rows get fewer transactions, about
  // this many bytes of rows each.
  int64_t apply_bytes = 180'000'000;
  std::vector<int> row_bytes = {3000, 30000, 400000};
  int max_batch = 256;  // the apply run's follower -max-batch
  std::string only = "nats,kafka,litestream,apply";
  // Appended to the kafka:// URL as its query, e.g. "rdkafka.linger.ms=0".
  std::string kafka_options;
  std::string samples_dir;  // per-commit lags written here (one CSV per run)
  std::string results, command = "bench/run.sh follower";
};

// Whitespace-separated words of `s` (none if null).
std::vector<std::string> SplitWords(const char* s) {
  std::vector<std::string> words;
  std::istringstream in(s != nullptr ? s : "");
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

struct Tools {
  std::string source_dir, ltxbus, app, litestream;
  std::unique_ptr<Server> nats, kafka;
};

// The newest row id in the replica, read as a reader would: each read its own
// transaction. With `reopen`, each read opens the file afresh and closes it
// (a connection kept open was seen to stop Litestream v0.5.16's restore -f
// from applying anything).
class ReplicaReader {
 public:
  ReplicaReader(std::string path, bool reopen) : path_(std::move(path)), reopen_(reopen) {}
  std::optional<int64_t> MaxId() {
    if (!db_ || reopen_) {
      auto db = sqlite::Database::Open(path_, sqlite::Database::Mode::kReadOnly);
      if (!db.ok()) return std::nullopt;
      db_.emplace(std::move(*db));
    }
    auto v = db_->QueryInt64("SELECT coalesce(max(id), 0) FROM t");
    // Litestream's restore -f stalls while any connection stays open on the
    // replica (seen with v0.5.16): its reader closes after every read.
    if (reopen_) db_.reset();
    if (!v.ok()) {
      db_.reset();
      return std::nullopt;
    }
    return *v;
  }

 private:
  std::string path_;
  bool reopen_;
  std::optional<sqlite::Database> db_;
};

// Samples the replica's newest row every `poll` in a thread of its own.
class Poller {
 public:
  Poller(const std::string& replica, bool reopen, std::chrono::microseconds poll)
      : reader_(replica, reopen), poll_(poll) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Poller() {
    stop_ = true;
    thread_.join();
  }
  int64_t max_id() const { return max_.load(); }
  // (wall-clock ns, max id) each time the max grew.
  std::vector<std::pair<int64_t, int64_t>> changes() const {
    std::lock_guard lock(mu_);
    return changes_;
  }

 private:
  void Run() {
    while (!stop_) {
      if (auto v = reader_.MaxId(); v && *v > max_.load()) {
        const int64_t now = WallClockNs();
        max_ = *v;
        std::lock_guard lock(mu_);
        changes_.emplace_back(now, *v);
      }
      std::this_thread::sleep_for(poll_);
    }
  }
  ReplicaReader reader_;
  std::chrono::microseconds poll_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> max_{0};
  mutable std::mutex mu_;
  std::vector<std::pair<int64_t, int64_t>> changes_;
  std::thread thread_;
};

bool WaitForRows(ReplicaReader& r, int64_t want, std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (auto v = r.MaxId(); v && *v >= want) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// GET http://ADDR/metrics, body only ("" on failure).
std::string Scrape(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0) {
    const std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[8192];
      for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;) out.append(buf, size_t(n));
    }
  }
  ::close(fd);
  const size_t body = out.find("\r\n\r\n");
  return body == std::string::npos ? "" : out.substr(body + 4);
}

double Metric(const std::string& scrape, const std::string& name) {
  const size_t at = scrape.find(name + "{");
  if (at == std::string::npos) return -1;
  const size_t sp = scrape.find("} ", at);
  return std::atof(scrape.c_str() + sp + 2);
}

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sa);
  ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return ntohs(sa.sin_port);
}

enum class Kind { kNats, kKafka, kLitestream };
std::string Name(Kind k) {
  return k == Kind::kNats ? "ltxbus, NATS" : k == Kind::kKafka ? "ltxbus, Kafka" : "Litestream";
}

struct LagResult {
  Kind kind;
  uint64_t commits = 0;
  double app_rate = 0;
  std::vector<double> ms;   // commit -> visible, per transaction
  double follower_cpu = 0;  // CPU seconds per second of the run
  std::string note;
};

std::string BusUrl(const Tools& t, const Options& o, Kind k, const std::string& name) {
  if (k == Kind::kLitestream) return "";
  if (k == Kind::kNats) return fmt::format("{}/{}", t.nats->env("NATS_URL"), name);
  return fmt::format("kafka://{}/{}{}{}", t.kafka->env("KAFKA_BOOTSTRAP"), name,
                     o.kafka_options.empty() ? "" : "?", o.kafka_options);
}

// The producer and a follower of `db` into `replica` (ltxbus), or Litestream's
// replicate and restore -f. Returns the two processes.
Result<std::pair<Process, Process>> StartPipeline(const Tools& t, const Options& o, Kind k,
                                                  const RunDir& dir, const std::string& db,
                                                  const std::string& replica,
                                                  const std::string& url, int metrics_port) {
  const std::string log = dir.Join("pipeline.log");
  if (k == Kind::kLitestream) {
    const std::string config = dir.Join("litestream.yml");
    LTXBUS_RETURN_IF_ERROR(WriteFileAtomic(
        Env::Default(), config,
        AsBytes(fmt::format("dbs:\n  - path: {}\n    replica:\n      type: file\n      path: {}\n",
                            db, dir.Join("ls-replica")))));
    LTXBUS_ASSIGN_OR_RETURN(Process rep,
                            SpawnLogged({t.litestream, "replicate", "-config", config}, log));
    const std::string l0 = dir.Join("ls-replica/ltx/0");
    const auto deadline = Clock::now() + 60s;
    for (std::error_code ec;
         !std::filesystem::exists(l0, ec) || std::filesystem::is_empty(l0, ec);) {
      if (Clock::now() > deadline) return Status::Timeout("litestream wrote no L0 file in 60 s");
      std::this_thread::sleep_for(20ms);
    }
    // restore -f started on a half-written first file was seen to never
    // apply anything: let Litestream finish its first sync.
    std::this_thread::sleep_for(2s);
    LTXBUS_ASSIGN_OR_RETURN(Process fol, SpawnLogged({t.litestream, "restore", "-f", "-o", replica,
                                                      "file://" + dir.Join("ls-replica")},
                                                     log));
    return std::pair(std::move(rep), std::move(fol));
  }
  const std::string config = dir.Join("ltxbus.yml");
  LTXBUS_RETURN_IF_ERROR(WriteFileAtomic(
      Env::Default(), config,
      AsBytes(fmt::format("bus: '{}'\n{}dbs:\n  - path: '{}'\n    monitor-interval: {}\n", url,
                          o.samples_dir.empty() ? "" : "log-level: debug\n", db,
                          o.monitor_interval))));
  LTXBUS_ASSIGN_OR_RETURN(Process rep,
                          SpawnLogged({t.ltxbus, "replicate", "-config", config}, log));
  std::vector<std::string> follow = {t.ltxbus, "follow", url, "app.db", "-o", replica};
  if (!o.samples_dir.empty()) follow.insert(follow.begin() + 1, {"--log-level", "debug"});
  if (metrics_port > 0) {
    follow.insert(follow.end(), {"-metrics-addr", fmt::format("127.0.0.1:{}", metrics_port)});
  }
  LTXBUS_ASSIGN_OR_RETURN(Process fol, SpawnLogged(follow, log));
  return std::pair(std::move(rep), std::move(fol));
}

Result<LagResult> RunLag(const Tools& t, const Options& o, Kind k) {
  static int n = 0;
  RunDir dir;
  const std::string db = dir.Join("app.db"), replica = dir.Join("replica.db");
  LTXBUS_RETURN_IF_ERROR(RunBenchApp(t.app, {db, "--create", "--transactions", "1"}, 60s).status());
  LTXBUS_ASSIGN_OR_RETURN(auto procs,
                          StartPipeline(t, o, k, dir, db, replica,
                                        BusUrl(t, o, k, fmt::format("fb{}x{}", getpid(), ++n)), 0));
  ReplicaReader first(replica, true);
  if (!WaitForRows(first, 1, 120s)) {
    return Status::Timeout("{}: the replica never showed the first row; see {}", Name(k),
                           dir.Join("pipeline.log"));
  }
  int64_t base = 1;
  if (o.warmup > 0) {
    LTXBUS_ASSIGN_OR_RETURN(std::string warm,
                            RunBenchApp(t.app,
                                        {db, "--seconds", fmt::format("{}", o.warmup), "--rate",
                                         fmt::format("{}", o.rate)},
                                        std::chrono::seconds(static_cast<int>(o.warmup) + 120)));
    base += static_cast<int64_t>(Field(warm, "commits"));
    if (!WaitForRows(first, base, 120s)) {
      return Status::Timeout("{}: the replica did not catch up after the warm-up; see {}", Name(k),
                             dir.Join("pipeline.log"));
    }
  }
  const pid_t fpid = procs.second.pid();
  auto poller = std::make_unique<Poller>(replica, k == Kind::kLitestream,
                                         std::chrono::microseconds(o.poll_us));
  const std::string commit_log = dir.Join("commits.bin");
  const Seconds cpu0 = CpuTime(fpid);
  const auto start = Clock::now();
  LTXBUS_ASSIGN_OR_RETURN(std::string out,
                          RunBenchApp(t.app,
                                      {db, "--seconds", fmt::format("{}", o.seconds), "--rate",
                                       fmt::format("{}", o.rate), "--commit-log", commit_log},
                                      std::chrono::seconds(static_cast<int>(o.seconds) + 120)));
  LagResult res;
  res.kind = k;
  res.commits = static_cast<uint64_t>(Field(out, "commits"));
  res.app_rate = Field(out, "rate");
  const auto deadline = Clock::now() + 120s;
  while (poller->max_id() < base + static_cast<int64_t>(res.commits) && Clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  res.follower_cpu = (CpuTime(fpid) - cpu0).count() / Seconds(Clock::now() - start).count();
  const auto changes = poller->changes();
  poller.reset();

  (void)procs.second.Stop(10s);
  (void)procs.first.Stop(10s);
  if (changes.empty() || changes.back().second < base + static_cast<int64_t>(res.commits)) {
    res.note = "did not catch up within 120 s";
    auto log = ReadFileToString(Env::Default(), dir.Join("pipeline.log"));
    std::fprintf(stderr, "%s did not catch up; its log:\n%s\n", Name(k).c_str(),
                 log.ok() ? log->c_str() : "");
  }
  LTXBUS_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(Env::Default(), commit_log));
  std::vector<int64_t> commits(bytes.size() / sizeof(int64_t));
  std::memcpy(commits.data(), bytes.data(), commits.size() * sizeof(int64_t));
  size_t c = 0;
  for (size_t i = 0; i < commits.size(); i++) {
    const int64_t id = base + 1 + static_cast<int64_t>(i);
    while (c < changes.size() && changes[c].second < id) c++;
    if (c == changes.size()) break;
    res.ms.push_back(static_cast<double>(changes[c].first - commits[i]) / 1e6);
  }
  if (!o.samples_dir.empty()) {
    // Commit time (ms since the first commit) and lag, to see when the slow
    // ones happen; the pipeline log is copied beside it.
    std::string csv = fmt::format("commit_ms,lag_ms (first commit at unix ms {:.3f})\n",
                                  static_cast<double>(commits[0]) / 1e6);
    for (size_t i = 0; i < res.ms.size(); i++) {
      csv += fmt::format("{:.3f},{:.3f}\n", static_cast<double>(commits[i] - commits[0]) / 1e6,
                         res.ms[i]);
    }
    const std::string stem = fmt::format("{}/lag-{}-{}", o.samples_dir, static_cast<int>(k), n);
    LTXBUS_RETURN_IF_ERROR(WriteFileAtomic(Env::Default(), stem + ".csv", AsBytes(csv)));
    auto log = ReadFileToString(Env::Default(), dir.Join("pipeline.log"));
    if (log.ok()) {
      LTXBUS_RETURN_IF_ERROR(WriteFileAtomic(Env::Default(), stem + ".log", AsBytes(*log)));
    }
  }
  return res;
}

struct ApplyResult {
  int row_bytes = 0;
  uint64_t transactions = 0, pages = 0, commits = 0;
  double seconds = 0;  // the follower's start to caught up
};

Result<ApplyResult> RunApply(const Tools& t, const Options& o, int row_bytes) {
  const int backlog = static_cast<int>(
      std::max<int64_t>(1, std::min<int64_t>(o.backlog, o.apply_bytes / std::max(row_bytes, 1))));
  RunDir dir;
  const std::string db = dir.Join("app.db"), replica = dir.Join("replica.db");
  const std::string url = BusUrl(t, o, Kind::kNats, fmt::format("fa{}r{}", getpid(), row_bytes));
  LTXBUS_RETURN_IF_ERROR(RunBenchApp(t.app, {db, "--create", "--transactions", "1"}, 60s).status());
  const int port = FreePort();
  LTXBUS_ASSIGN_OR_RETURN(auto procs, StartPipeline(t, o, Kind::kNats, dir, db, replica, url, 0));
  ReplicaReader reader(replica, false);
  if (!WaitForRows(reader, 1, 120s)) return Status::Timeout("the replica never appeared");
  (void)procs.second.Stop(10s);
  LTXBUS_ASSIGN_OR_RETURN(std::string out,
                          RunBenchApp(t.app,
                                      {db, "--transactions", std::to_string(backlog), "--row-bytes",
                                       std::to_string(row_bytes)},
                                      600s));
  const auto txns = static_cast<uint64_t>(Field(out, "commits"));
  // Everything published before the follower starts: TXID 1 is the snapshot.
  LTXBUS_ASSIGN_OR_RETURN(auto watcher, Follower::Start(url, "app.db"));
  if (!watcher->WaitFor(1 + txns, 600s)) return Status::Timeout("the producer fell behind");
  watcher.reset();
  // Writing the backlog left the app's database, its WAL and the stream
  // dirty in the page cache; the follower should not pay for writing them.
  ::sync();
  const std::string log = dir.Join("pipeline.log");
  // A profiler may wrap the follower: LTXBUS_BENCH_FOLLOW_PREFIX="perf record -g -o F --".
  std::vector<std::string> follow = SplitWords(std::getenv("LTXBUS_BENCH_FOLLOW_PREFIX"));
  follow.insert(follow.end(),
                {t.ltxbus, "follow", url, "app.db", "-o", replica, "-metrics-addr",
                 fmt::format("127.0.0.1:{}", port), "-max-batch", std::to_string(o.max_batch)});
  LTXBUS_ASSIGN_OR_RETURN(Process fol, SpawnLogged(follow, log));
  // The clock starts with the follower's process. Its metrics cannot say
  // when applying began: the applied TXID moves only when a batch commits, so
  // a clock started at its last unchanged reading left the first batch's
  // time out while counting its pages (up to 3x the rate). Start-up
  // (connecting, subscribing, opening the replica) is ~20 ms of it.
  const auto start = Clock::now();
  ApplyResult res;
  res.row_bytes = row_bytes;
  res.transactions = txns;
  for (const auto deadline = start + 600s; Clock::now() < deadline;) {
    const std::string m = Scrape(port);
    if (Metric(m, "ltxbus_follower_applied_txid") >= static_cast<double>(1 + txns)) {
      res.pages = static_cast<uint64_t>(Metric(m, "ltxbus_follower_pages_applied_total"));
      res.commits = static_cast<uint64_t>(Metric(m, "ltxbus_follower_commits_total"));
      res.seconds = Seconds(Clock::now() - start).count();
      break;
    }
    std::this_thread::sleep_for(2ms);
  }
  (void)fol.Stop(10s);
  (void)procs.first.Stop(10s);
  if (res.seconds == 0) return Status::Timeout("the follower did not catch up in 600 s");
  return res;
}

std::string Markdown(const Options& o, const std::vector<LagResult>& lags,
                     const std::vector<ApplyResult>& applies, double dd_mbps,
                     const std::string& load) {
  std::string md = fmt::format(
      "Command: `{}`. Loopback, the shared 2-vCPU VM (load average before: {}), {}.\n"
      "App: bench/producer_bench_app (system SQLite), one 100-byte row per transaction, "
      "paced at {:.0f}/s for {:.0f} s, after {:.0f} s of the same untimed (warm-up: the "
      "servers, the Kafka JVM's JIT included, are started for the run). ltxbus: `replicate` "
      "with `monitor-interval: {}`, `follow` with its defaults. Litestream v0.5.16: "
      "`replicate` (file replica) and `restore -f`, both with their defaults (1 s "
      "intervals). Visible = first read of the row by a separate reader polling every {} "
      "µs.\n\n",
      o.command, load, UtcNow(), o.rate, o.seconds, o.warmup, o.monitor_interval, o.poll_us);
  md +=
      "| Pipeline | Commits | App rate/s | p50 ms | p90 ms | p99 ms | max ms | Follower CPU |\n"
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (LagResult l : lags) {
    const double mx = l.ms.empty() ? 0 : *std::max_element(l.ms.begin(), l.ms.end());
    md += fmt::format("| {}{} | {} | {:.0f} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.0f}% |\n",
                      Name(l.kind), l.note.empty() ? "" : " (" + l.note + ")", l.commits,
                      l.app_rate, Percentile(l.ms, 50), Percentile(l.ms, 90), Percentile(l.ms, 99),
                      mx, l.follower_cpu * 100);
  }
  if (!applies.empty()) {
    md += fmt::format(
        "\nApply rate (NATS): the follower stopped, transactions of one row each written and "
        "published and the disk synced, the follower started again (`-max-batch {}`, the "
        "default); from its start (~20 ms of it connecting and opening the replica) to caught "
        "up, at most {:.0f} MB of rows per run. A WAL-mode replica "
        "writes every page twice (its WAL, then "
        "the checkpoint), so \"× 2 ÷ dd\" compares twice the page bytes with `dd "
        "if=/dev/zero bs=1M conv=fdatasync` of 256 MiB in the replica's directory in the same "
        "run: **{:.0f} MB/s**.\n\n"
        "| Row bytes | Transactions | Pages | Pages per transaction | Replica commits | Seconds "
        "| Pages/s | Transactions/s | Page MB/s | × 2 ÷ dd |\n"
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        o.max_batch, static_cast<double>(o.apply_bytes) / 1e6, dd_mbps);
    for (const ApplyResult& a : applies) {
      const double pages_per_s = static_cast<double>(a.pages) / a.seconds;
      const double mbps = pages_per_s * 4096 / 1e6;
      md += fmt::format(
          "| {} | {} | {} | {:.1f} | {} | {:.2f} | {:.0f} | {:.0f} | {:.0f} | {:.2f} |\n",
          a.row_bytes, a.transactions, a.pages,
          static_cast<double>(a.pages) / static_cast<double>(a.transactions), a.commits, a.seconds,
          pages_per_s, static_cast<double>(a.transactions) / a.seconds, mbps,
          dd_mbps > 0 ? 2 * mbps / dd_mbps : 0.0);
    }
  }
  return md;
}

Status WriteResults(const std::string& path, const std::string& md) {
  constexpr std::string_view kBegin = "<!-- follower_bench: begin -->";
  constexpr std::string_view kEnd = "<!-- follower_bench: end -->";
  return ReplaceMarkedSection(path, kBegin, kEnd, fmt::format("{}\n{}{}\n", kBegin, md, kEnd),
                              "## Follower lag and apply rate (issue 4)\n\n");
}

int Main(int argc, char** argv) {
  CLI::App cli{"ltxbus follower benchmark (see bench/RESULTS.md)"};
  Options o;
  cli.add_option("--rate", o.rate, "transactions per second in the lag runs");
  cli.add_option("--seconds", o.seconds, "length of the lag runs");
  cli.add_option("--warmup", o.warmup, "seconds of untimed transactions before each lag run");
  cli.add_option("--monitor-interval", o.monitor_interval, "the producer's monitor-interval");
  cli.add_option("--poll-us", o.poll_us, "how often the reader polls the replica");
  cli.add_option("--backlog", o.backlog, "transactions behind in the apply run");
  cli.add_option("--row-bytes", o.row_bytes, "row sizes of the apply runs (one run each)")
      ->delimiter(',');
  cli.add_option("--apply-bytes", o.apply_bytes, "bytes of rows in each apply run (at most)");
  cli.add_option("--max-batch", o.max_batch, "the apply run's follower -max-batch");
  cli.add_option("--only", o.only, "comma-separated: nats,kafka,litestream,apply");
  cli.add_option("--samples-dir", o.samples_dir,
                 "write each lag run's per-commit lags (CSV) and pipeline log here");
  cli.add_option("--kafka-options", o.kafka_options,
                 "query appended to the kafka:// URL (e.g. rdkafka.fetch.wait.max.ms=500)");
  cli.add_option("--results", o.results, "RESULTS.md to update (default: none)");
  cli.add_option("--command", o.command, "the command line to record");
  CLI11_PARSE(cli, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  auto want = [&](const std::string& s) { return o.only.find(s) != std::string::npos; };
  Tools t;
  const BenchPrograms programs = FindPrograms();
  t.source_dir = LTXBUS_BENCH_SOURCE_DIR;
  t.ltxbus = programs.ltxbus;
  t.app = programs.app;
  t.litestream = programs.litestream;
  const std::string load = LoadAverage();
  auto nats = Server::Start(t.source_dir, "nats");
  if (!nats.ok()) return std::fprintf(stderr, "%s\n", nats.status().ToString().c_str()), 1;
  t.nats = std::move(*nats);
  if (want("kafka")) {
    auto kafka = Server::Start(t.source_dir, "kafka");
    if (!kafka.ok()) return std::fprintf(stderr, "%s\n", kafka.status().ToString().c_str()), 1;
    t.kafka = std::move(*kafka);
  }
  std::vector<LagResult> lags;
  for (Kind k : {Kind::kNats, Kind::kKafka, Kind::kLitestream}) {
    const std::string key = k == Kind::kNats ? "nats" : k == Kind::kKafka ? "kafka" : "litestream";
    if (!want(key)) continue;
    auto r = RunLag(t, o, k);
    if (!r.ok()) {
      std::fprintf(stderr, "%s: %s\n", Name(k).c_str(), r.status().ToString().c_str());
      return 1;
    }
    std::vector<double> v = r->ms;
    std::fprintf(stderr, "%-14s p50 %.1f ms p99 %.1f ms (%zu samples)\n", Name(k).c_str(),
                 Percentile(v, 50), Percentile(v, 99), v.size());
    lags.push_back(std::move(*r));
  }
  // The apply runs use NATS only. A Kafka broker left running after its lag
  // run halved the apply rate of 9.5-page transactions (49,000 against
  // 88,000 pages/s without it).
  t.kafka.reset();
  std::vector<ApplyResult> applies;
  double dd_mbps = 0;
  if (want("apply")) {
    RunDir dd_dir;
    constexpr int64_t kDdBytes = int64_t{256} << 20;
    auto dd = TimeDd(dd_dir.Join("dd.out"), kDdBytes);
    if (!dd.ok()) return std::fprintf(stderr, "dd: %s\n", dd.status().ToString().c_str()), 1;
    dd_mbps = static_cast<double>(kDdBytes) / 1e6 / *dd;
    for (int row_bytes : o.row_bytes) {
      auto r = RunApply(t, o, row_bytes);
      if (!r.ok()) {
        std::fprintf(stderr, "apply: %s\n", r.status().ToString().c_str());
        return 1;
      }
      std::fprintf(stderr, "apply, %d-byte rows: %.0f pages/s\n", row_bytes,
                   static_cast<double>(r->pages) / r->seconds);
      applies.push_back(*r);
    }
  }
  const std::string md = Markdown(o, lags, applies, dd_mbps, load);
  std::fputs(md.c_str(), stdout);
  if (!o.results.empty()) {
    Status s = WriteResults(o.results, md);
    if (!s.ok()) return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
  }
  return 0;
}

}  // namespace
}  // namespace ltxbus::bench

int main(int argc, char** argv) { return ltxbus::bench::Main(argc, argv); }
