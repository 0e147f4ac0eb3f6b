// The producer's cost and speed on loopback, against the real nats-server and
// Kafka 3.9.1 broker (scripts/servers/), with the app a separate process on
// the system SQLite (bench/producer_bench_app.c):
//
//   rate       the app's commit rate without a replicator, with `ltxbus
//              replicate` to NATS and to Kafka, and with Litestream v0.5.16
//              (file replica); ratios to "none";
//   sustained  per bus, the highest paced commit rate the producer keeps up
//              with (no growing backlog);
//   latency    per bus, commit -> visible to a consumer, and commit -> stored
//              by the bus, p50/p90/p99;
//   rss        peak RSS (VmHWM) of `ltxbus replicate` while one 1 GiB
//              transaction streams through.
//
// Prints the tables and replaces the producer section of bench/RESULTS.md
// (between its markers). bench/run.sh producer builds and runs it.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <sstream>
#include <thread>

#include "base/env.h"
#include "base/process.h"
#include "bench/producer_bench_report.h"
#include "bench/producer_bench_util.h"

namespace ltxbus::bench {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

struct Tools {
  std::string source_dir, ltxbus, app, litestream;
  std::string nats_query, kafka_query;  // appended to bus URLs, e.g. "?rdkafka.linger.ms=0"
  std::string app_autocheckpoint;       // the app's wal_autocheckpoint; empty: SQLite's default
  std::string app_synchronous;          // the app's PRAGMA synchronous; empty: NORMAL
  std::string monitor_interval;         // the producer's; empty: its default
  std::vector<std::string> db_options;  // more "key: value" lines for the producer's dbs entry
  std::unique_ptr<Server> nats, kafka;
};

std::string BusUrl(const Tools& t, Replicator r) {
  static int counter = 0;
  const std::string name = fmt::format("b{}x{}", getpid(), ++counter);
  return r == Replicator::kNats
             ? fmt::format("{}/LTX{}{}", t.nats->env("NATS_URL"), name, t.nats_query)
             : fmt::format("kafka://{}/{}{}", t.kafka->env("KAFKA_BOOTSTRAP"), name, t.kafka_query);
}

pid_t BrokerPid(const Tools& t, Replicator r) {
  if (r == Replicator::kNats) return t.nats->pid();
  if (r == Replicator::kKafka) return t.kafka->pid();
  return -1;
}

// A replicator running on one database: ltxbus (with a Follower on its
// stream) or Litestream.
struct Replication {
  std::optional<Process> process;
  std::unique_ptr<Follower> follower;
};

Result<Replication> StartReplication(const Tools& t, Replicator r, const RunDir& dir,
                                     const std::string& db) {
  Replication rep;
  const std::string log = dir.Join("replicator.log");
  if (r == Replicator::kNone) return rep;
  if (r == Replicator::kLitestream) {
    // Litestream's defaults (1 s monitor and sync intervals), file replica.
    const std::string config = dir.Join("litestream.yml");
    LTXBUS_RETURN_IF_ERROR(WriteFileAtomic(
        Env::Default(), config,
        AsBytes(fmt::format("dbs:\n  - path: {}\n    replica:\n      type: file\n      path: {}\n",
                            db, dir.Join("replica")))));
    LTXBUS_ASSIGN_OR_RETURN(Process p,
                            SpawnLogged({t.litestream, "replicate", "-config", config}, log));
    rep.process.emplace(std::move(p));
    const std::string l0 = dir.Join("replica/ltx/0");
    const auto deadline = Clock::now() + 60s;
    for (;;) {
      std::error_code ec;
      if (std::filesystem::exists(l0, ec) && !std::filesystem::is_empty(l0, ec)) break;
      if (Clock::now() > deadline) return Status::Timeout("litestream wrote no L0 file in 60 s");
      std::this_thread::sleep_for(20ms);
    }
    return rep;
  }
  const std::string url = BusUrl(t, r);
  LTXBUS_ASSIGN_OR_RETURN(rep.follower, Follower::Start(url, "app.db"));
  std::vector<std::string> argv = {t.ltxbus, "replicate", db, url};
  if (!t.monitor_interval.empty() || !t.db_options.empty()) {
    std::string entry = fmt::format("  - path: '{}'\n", db);
    if (!t.monitor_interval.empty())
      entry += fmt::format("    monitor-interval: {}\n", t.monitor_interval);
    for (const std::string& line : t.db_options) entry += fmt::format("    {}\n", line);
    const std::string config = dir.Join("ltxbus.yml");
    LTXBUS_RETURN_IF_ERROR(WriteFileAtomic(
        Env::Default(), config, AsBytes(fmt::format("bus: '{}'\ndbs:\n{}", url, entry))));
    argv = {t.ltxbus, "replicate", "-config", config};
  }
  LTXBUS_ASSIGN_OR_RETURN(Process p, SpawnLogged(argv, log));
  rep.process.emplace(std::move(p));
  // TXID 1, the snapshot of the freshly created database: replicating.
  if (!rep.follower->WaitFor(1, 120s)) {
    return Status::Timeout("no snapshot from `ltxbus replicate` within 120 s: {}",
                           rep.follower->error().ToString());
  }
  return rep;
}

void StopReplication(Replication& rep) {
  // A producer far behind would publish its whole backlog before exiting.
  if (rep.process) (void)rep.process->Stop(10s);
  rep.follower.reset();
}

// One app run of `seconds` at `rate` (0: as fast as it can) with replicator
// `r`, then up to `catchup_timeout` for the producer to publish the rest.
// With `visible_ms` and `stored_ms`, also each commit's latencies (see the
// latency section's description in producer_bench_report.cc).
Result<RunResult> RunRate(const Tools& t, Replicator r, double seconds, double rate,
                          std::chrono::seconds catchup_timeout,
                          std::vector<double>* visible_ms = nullptr,
                          std::vector<double>* stored_ms = nullptr) {
  RunDir dir;
  const std::string db = dir.Join("app.db");
  LTXBUS_RETURN_IF_ERROR(RunBenchApp(t.app, {db, "--create", "--transactions", "1"}, 60s).status());
  LTXBUS_ASSIGN_OR_RETURN(Replication rep, StartReplication(t, r, dir, db));
  const pid_t repl_pid = rep.process ? rep.process->pid() : -1;
  const pid_t broker_pid = BrokerPid(t, r);
  const Seconds repl_cpu0 = repl_pid > 0 ? CpuTime(repl_pid) : Seconds(0);
  const Seconds broker_cpu0 = broker_pid > 0 ? CpuTime(broker_pid) : Seconds(0);

  const std::string commit_log = dir.Join("commits.bin");
  std::vector<std::string> args = {db, "--seconds", fmt::format("{}", seconds)};
  if (!t.app_autocheckpoint.empty()) {
    args.insert(args.end(), {"--autocheckpoint", t.app_autocheckpoint});
  }
  if (!t.app_synchronous.empty()) args.insert(args.end(), {"--synchronous", t.app_synchronous});
  if (rate > 0) args.insert(args.end(), {"--rate", fmt::format("{}", rate)});
  if (visible_ms != nullptr) args.insert(args.end(), {"--commit-log", commit_log});
  const auto app_start = Clock::now();
  auto out = RunBenchApp(t.app, args, std::chrono::seconds(static_cast<int>(seconds) + 120));
  const auto app_end = Clock::now();
  if (!out.ok()) {
    StopReplication(rep);
    return out.status();
  }
  RunResult res;
  res.replicator = r;
  res.target_rate = rate;
  res.commits = static_cast<uint64_t>(Field(*out, "commits"));
  res.app_rate = Field(*out, "rate");
  res.app_cpu = Field(*out, "cpu") / Field(*out, "seconds");
  res.busy = static_cast<uint64_t>(Field(*out, "busy"));
  res.longest_ms = Field(*out, "longest_ms");
  res.begin_share = Field(*out, "begin_ms") / 1e3 / Field(*out, "seconds");
  const double app_seconds = Seconds(app_end - app_start).count();
  if (repl_pid > 0) res.repl_cpu = (CpuTime(repl_pid) - repl_cpu0).count() / app_seconds;
  if (broker_pid > 0) res.broker_cpu = (CpuTime(broker_pid) - broker_cpu0).count() / app_seconds;
  auto wal = Env::Default()->GetFileSize(db + "-wal");
  res.wal_bytes = wal.ok() ? *wal : 0;

  if (rep.follower) {
    const ltx::TXID last = 1 + res.commits;  // TXID 1 is the snapshot
    res.backlog_at_end = last - std::min(last, rep.follower->last_txid());
    res.caught_up = rep.follower->WaitFor(last, catchup_timeout);
    const auto caught = Clock::now();
    const uint64_t published = rep.follower->last_txid() - 1;
    res.publish_rate = static_cast<double>(published) / Seconds(caught - app_start).count();
    if (res.caught_up) res.catchup_seconds = Seconds(caught - app_end).count();
    if (visible_ms != nullptr && res.caught_up) {
      auto bytes = ReadFileToString(Env::Default(), commit_log);
      LTXBUS_RETURN_IF_ERROR(bytes.status());
      std::vector<int64_t> commits(bytes->size() / sizeof(int64_t));
      std::memcpy(commits.data(), bytes->data(), commits.size() * sizeof(int64_t));
      for (const SeenFrame& f : rep.follower->frames()) {
        if (f.min_txid != f.max_txid || f.max_txid < 2 || f.max_txid - 2 >= commits.size()) {
          continue;
        }
        const int64_t committed = commits[f.max_txid - 2];
        visible_ms->push_back(static_cast<double>(f.visible_ns - committed) / 1e6);
        stored_ms->push_back(static_cast<double>(f.bus_time_ms * 1'000'000 - committed) / 1e6);
      }
    }
  }
  StopReplication(rep);
  return res;
}

Result<RssResult> RunRss(const Tools& t, Replicator r, int64_t big_bytes) {
  RunDir dir;
  const std::string db = dir.Join("app.db");
  LTXBUS_RETURN_IF_ERROR(RunBenchApp(t.app, {db, "--create", "--transactions", "1"}, 60s).status());
  LTXBUS_ASSIGN_OR_RETURN(Replication rep, StartReplication(t, r, dir, db));
  RssResult res;
  res.replicator = r;
  res.bytes = big_bytes;
  res.hwm_before = ProcStatusBytes(rep.process->pid(), "VmHWM");
  const auto start = Clock::now();
  auto out = RunBenchApp(t.app, {db, "--big-bytes", std::to_string(big_bytes)}, 600s);
  const auto committed = Clock::now();
  if (out.ok() && !rep.follower->WaitFor(2, 1200s)) {
    out = Status::Timeout("the 1 GiB frame did not arrive within 20 minutes");
  }
  res.app_seconds = Seconds(committed - start).count();
  res.total_seconds = Seconds(Clock::now() - start).count();
  res.hwm_after = ProcStatusBytes(rep.process->pid(), "VmHWM");
  for (const SeenFrame& f : rep.follower->frames())
    res.frame_bytes = std::max(res.frame_bytes, f.size);
  StopReplication(rep);
  if (!out.ok()) return out.status();
  return res;
}

// The first line a `--version`-style command prints; "?" if it fails.
std::string Version(const std::vector<std::string>& argv) {
  auto r = RunCommand(argv, 30s);
  if (!r.ok()) return "?";
  std::string v = r->output + r->error_output;
  return v.substr(0, v.find('\n'));
}

int Main(int argc, char** argv) {
  CLI::App cli{"ltxbus producer benchmark (see bench/RESULTS.md)"};
  BenchOptions o;
  std::string t_nats_query, t_kafka_query;
  std::string results, only = "rate,sustained,latency,rss";
  cli.add_option("--seconds", o.seconds, "app run length for the rate runs");
  cli.add_option("--reps", o.reps, "repetitions of each rate run (median reported)");
  cli.add_option("--sustain-seconds", o.sustain_seconds, "length of each paced run");
  cli.add_option("--latency-rate", o.latency_rate, "commits per second in the latency runs");
  cli.add_option("--latency-seconds", o.latency_seconds, "length of the latency runs");
  cli.add_option("--big-bytes", o.big_bytes, "size of the big transaction (rss)");
  cli.add_option("--only", only, "comma-separated: rate,sustained,latency,rss");
  cli.add_option("--results", results, "RESULTS.md to update (default: none)");
  cli.add_option("--command", o.command, "the command line to record as the way to reproduce");
  std::string ltxbus_path, rate_list = "none,nats,kafka,litestream";
  cli.add_option("--ltxbus", ltxbus_path, "the ltxbus binary (default: the one beside this one)");
  cli.add_option("--rate-replicators", rate_list, "which replicators the rate runs compare");
  std::string app_autocheckpoint, app_synchronous, monitor_interval;
  std::vector<std::string> db_options;
  cli.add_option("--db-option", db_options,
                 "a 'key: value' line added to the producer's dbs entry (docs/config.md)");
  cli.add_option("--monitor-interval", monitor_interval,
                 "the producer's monitor-interval (default: its own, 100ms)");
  cli.add_option("--app-synchronous", app_synchronous,
                 "the app's PRAGMA synchronous (default NORMAL; FULL is SQLite's default)")
      ->check(CLI::IsMember({"NORMAL", "FULL"}));
  cli.add_option("--app-autocheckpoint", app_autocheckpoint,
                 "the app's PRAGMA wal_autocheckpoint (default: SQLite's, 1000)");
  cli.add_option("--nats-query", t_nats_query, "query string for NATS bus URLs (\"?...\")");
  cli.add_option("--kafka-query", t_kafka_query, "query string for Kafka bus URLs (\"?...\")");
  CLI11_PARSE(cli, argc, argv);
  auto want = [&](const std::string& s) { return only.find(s) != std::string::npos; };
  spdlog::set_level(spdlog::level::warn);

  Tools t;
  t.nats_query = t_nats_query;
  t.kafka_query = t_kafka_query;
  if (!t_nats_query.empty() || !t_kafka_query.empty()) {
    o.deviations += fmt::format("bus URL options `{}{}`; ", t_nats_query, t_kafka_query);
  }
  const BenchPrograms programs = FindPrograms();
  t.source_dir = LTXBUS_BENCH_SOURCE_DIR;
  t.ltxbus = ltxbus_path.empty() ? programs.ltxbus : ltxbus_path;
  t.app_autocheckpoint = app_autocheckpoint;
  t.app_synchronous = app_synchronous;
  if (!app_synchronous.empty()) {
    o.deviations += fmt::format("app synchronous={}; ", app_synchronous);
  }
  t.monitor_interval = monitor_interval;
  t.db_options = db_options;
  if (!monitor_interval.empty()) {
    o.deviations += fmt::format("producer monitor-interval {}; ", monitor_interval);
  }
  for (const std::string& line : db_options) o.deviations += fmt::format("producer {}; ", line);
  if (!app_autocheckpoint.empty()) {
    o.deviations += fmt::format("app wal_autocheckpoint={}; ", app_autocheckpoint);
  }
  if (!ltxbus_path.empty()) o.deviations += fmt::format("ltxbus binary {}; ", ltxbus_path);
  t.app = programs.app;
  t.litestream = programs.litestream;
  auto nats = Server::Start(t.source_dir, "nats");
  auto kafka = Server::Start(t.source_dir, "kafka");
  if (!nats.ok() || !kafka.ok()) {
    std::fprintf(stderr, "servers did not start: %s %s\n", nats.status().ToString().c_str(),
                 kafka.status().ToString().c_str());
    return 1;
  }
  t.nats = std::move(*nats);
  t.kafka = std::move(*kafka);
  Report report(o);
  report.load_before = LoadAverage();
  report.sqlite_version = Version({t.app, "--version"});
  report.versions = {
      {"nats-server", Version({"nats-server", "--version"})},
      {"Litestream", Version({t.litestream, "version"})},
  };
  auto fail = [](const Status& s) {
    std::fprintf(stderr, "producer_bench: %s\n", s.ToString().c_str());
    return 1;
  };

  if (want("rate")) {
    // Interleaved, so drift (other load on the machine) spreads evenly.
    for (int rep = 0; rep < o.reps; rep++) {
      for (Replicator r :
           {Replicator::kNone, Replicator::kNats, Replicator::kKafka, Replicator::kLitestream}) {
        std::string name(Name(r));
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
        if (rate_list.find(name) == std::string::npos) continue;
        auto res = RunRate(t, r, o.seconds, 0, 30s);
        if (!res.ok()) return fail(res.status().WithContext(std::string(Name(r))));
        std::fprintf(stderr, "rate %-10s %s\n", std::string(Name(r)).c_str(),
                     Describe(*res).c_str());
        report.rate_runs.push_back(*res);
      }
    }
  }
  if (want("sustained")) {
    for (Replicator r : {Replicator::kNats, Replicator::kKafka}) {
      SustainedResult s;
      s.replicator = r;
      // Start from half the saturated publish rate (measured now if the rate
      // runs did not); paced runs may do better, since the app then leaves
      // the producer more CPU. Step down until one keeps up, then up.
      double base = report.MedianPublishRate(r);
      if (base <= 0) {
        auto res = RunRate(t, r, o.seconds, 0, 20s);
        if (!res.ok()) return fail(res.status().WithContext(std::string(Name(r))));
        base = res->publish_rate;
      }
      double rate = std::max(10.0, std::round(base * 0.5));
      bool kept_any = false;
      for (int step = 0; step < 14; step++) {
        auto res = RunRate(t, r, o.sustain_seconds, rate, 20s);
        if (!res.ok()) return fail(res.status().WithContext(std::string(Name(r))));
        std::fprintf(stderr, "sustain %-6s %6.0f/s %s\n", std::string(Name(r)).c_str(), rate,
                     Describe(*res).c_str());
        s.steps.push_back(*res);
        // Kept up: when the app stopped, the producer was less than half a
        // second behind.
        const bool kept =
            static_cast<double>(res->backlog_at_end) <= std::max(20.0, 0.5 * res->app_rate);
        if (kept) {
          kept_any = true;
          if (res->app_rate < 0.95 * rate) break;  // the app itself cannot go faster
          rate = std::round(rate * 1.2);
        } else if (!kept_any && rate > 10) {
          rate = std::max(10.0, std::round(rate * 0.5));
        } else {
          break;
        }
      }
      report.sustained.push_back(s);
    }
  }
  if (want("latency")) {
    // At a light rate both buses sustain, and at half of each bus's highest
    // sustained rate (if measured).
    std::vector<std::pair<Replicator, double>> runs = {{Replicator::kNats, o.latency_rate},
                                                       {Replicator::kKafka, o.latency_rate}};
    for (const SustainedResult& s : report.sustained) {
      if (double best = Report::HighestSustained(s); best > 0) {
        runs.emplace_back(s.replicator, std::round(best / 2));
      }
    }
    for (const auto& [r, rate] : runs) {
      LatencyResult l;
      l.replicator = r;
      l.rate = rate;
      auto res = RunRate(t, r, o.latency_seconds, rate, 120s, &l.visible_ms, &l.stored_ms);
      if (!res.ok()) return fail(res.status().WithContext(std::string(Name(r))));
      l.run = *res;
      std::fprintf(stderr, "latency %-6s %5.0f/s %s, %zu samples\n", std::string(Name(r)).c_str(),
                   rate, Describe(*res).c_str(), l.visible_ms.size());
      report.latency.push_back(std::move(l));
    }
  }
  if (want("rss")) {
    for (Replicator r : {Replicator::kNats, Replicator::kKafka}) {
      auto res = RunRss(t, r, o.big_bytes);
      if (!res.ok()) return fail(res.status().WithContext(std::string(Name(r))));
      std::fprintf(stderr, "rss %-6s peak %.1f MiB\n", std::string(Name(r)).c_str(),
                   static_cast<double>(res->hwm_after) / (1 << 20));
      report.rss.push_back(*res);
    }
  }
  report.load_after = LoadAverage();
  const std::string markdown = report.Markdown();
  std::printf("%s\n", markdown.c_str());
  if (!results.empty()) {
    Status s = ReplaceSection(results, markdown);
    if (!s.ok()) return fail(s);
    std::fprintf(stderr, "updated %s\n", results.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace ltxbus::bench

int main(int argc, char** argv) { return ltxbus::bench::Main(argc, argv); }
