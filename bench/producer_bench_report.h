// What bench/producer_bench measures, and its Markdown section of
// bench/RESULTS.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace ltxbus::bench {

enum class Replicator { kNone, kNats, kKafka, kLitestream };
std::string_view Name(Replicator r);

struct BenchOptions {
  double seconds = 5;
  int reps = 3;
  double sustain_seconds = 8;
  double latency_rate = 50;
  double latency_seconds = 20;
  int64_t big_bytes = int64_t{1} << 30;
  std::string command = "bench/run.sh producer";
  std::string deviations;  // settings that differ from the defaults, if any
};

// One app run with one replicator.
struct RunResult {
  Replicator replicator = Replicator::kNone;
  double target_rate = 0;  // the paced rate asked for; 0: as fast as possible
  uint64_t commits = 0;
  double app_rate = 0;          // commits per second
  double app_cpu = 0;           // CPU seconds per second of the run
  uint64_t busy = 0;            // BEGINs that failed with SQLITE_BUSY after the 5 s busy_timeout
  double longest_ms = 0;        // the longest BEGIN-to-COMMIT time
  double begin_share = 0;       // share of the run the app spent in BEGIN (work, lock waits)
  double repl_cpu = 0;          // of the replicator process
  double broker_cpu = 0;        // of nats-server or the Kafka broker
  uint64_t wal_bytes = 0;       // -wal size when the app stopped
  uint64_t backlog_at_end = 0;  // commits not yet visible on the bus when the app stopped
  double publish_rate = 0;      // TXIDs visible per second, app start to catch-up (or timeout)
  bool caught_up = false;
  double catchup_seconds = -1;  // app end to the last commit visible
};

struct SustainedResult {
  Replicator replicator;
  std::vector<RunResult> steps;  // increasing paced rates; the last one may have fallen behind
};

struct LatencyResult {
  Replicator replicator;
  double rate = 0;
  RunResult run;
  std::vector<double> visible_ms;  // commit -> frame complete at a consumer
  std::vector<double> stored_ms;   // commit -> bus timestamp of the last chunk (ms resolution)
};

struct RssResult {
  Replicator replicator;
  int64_t bytes = 0;
  int64_t hwm_before = 0;  // after the initial sync
  int64_t hwm_after = 0;   // after the big frame was on the bus
  uint64_t frame_bytes = 0;
  double app_seconds = 0;    // the app's transaction, start to commit
  double total_seconds = 0;  // start of the transaction to the frame visible
};

// One line for progress output.
std::string Describe(const RunResult& r);

class Report {
 public:
  explicit Report(BenchOptions options) : o_(std::move(options)) {}
  // Median publish rate of the saturated rate runs of `r`; 0 if none.
  double MedianPublishRate(Replicator r) const;
  // The highest paced rate the producer kept up with; 0 if none.
  static double HighestSustained(const SustainedResult& s);
  // Kept up: when the app stopped, fewer than max(20, rate × 0.5 s) commits
  // were not yet visible on the bus.
  static bool KeptUp(const RunResult& r);
  std::string Markdown() const;

  std::vector<std::pair<std::string, std::string>> versions;
  std::string sqlite_version;           // the app's (system) SQLite
  std::string load_before, load_after;  // /proc/loadavg's 1, 5, 15 min averages
  std::vector<RunResult> rate_runs;
  std::vector<SustainedResult> sustained;
  std::vector<LatencyResult> latency;
  std::vector<RssResult> rss;

 private:
  BenchOptions o_;
};

// Replaces the text between the producer markers of `path` (appending the
// section if the markers are absent) with `section`.
Status ReplaceSection(const std::string& path, const std::string& section);

}  // namespace ltxbus::bench
