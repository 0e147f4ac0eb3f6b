#include "consumer/follower_metrics.h"

#include "base/prometheus.h"

namespace ltxbus::consumer {
namespace {

// A replica's samples, with its lag computed once per scrape.
struct ReplicaSample {
  ReplicaReport report;
  Lag lag;
};

}  // namespace

std::string RenderFollowerMetrics(const std::vector<ReplicaReport>& reports, int64_t now_ms) {
  using R = const ReplicaSample&;
  using prometheus::Value;
  const std::vector<prometheus::Family<ReplicaSample>> families = {
      {"ltxbus_follower_up", "gauge",
       "1 while the replica is followed, 0 once it stopped on an error",
       [](R s) { return Value(s.report.stopped ? 0 : 1); }},
      {"ltxbus_follower_applied_txid", "gauge", "TXID of the newest source transaction applied",
       [](R s) { return Value(s.report.stats.txid); }},
      {"ltxbus_follower_head_txid", "gauge",
       "TXID of the newest frame on the stream (read every second)",
       [](R s) {
         return s.report.stats.head.known ? Value(s.report.stats.head.txid) : std::nullopt;
       }},
      {"ltxbus_follower_txids_behind", "gauge", "Source transactions on the stream not applied yet",
       [](R s) { return s.lag.txids_behind ? Value(*s.lag.txids_behind) : std::nullopt; }},
      {"ltxbus_follower_seconds_behind", "gauge",
       "Now minus the LTX timestamp of the newest frame applied",
       [](R s) { return s.lag.seconds_behind; }},
      {"ltxbus_follower_head_seconds_behind", "gauge",
       "Now minus the LTX timestamp of the newest frame on the stream",
       [](R s) { return s.lag.head_seconds_behind; }},
      {"ltxbus_follower_lag_seconds", "gauge",
       "Head timestamp minus applied timestamp while frames are missing, else 0",
       [](R s) { return s.lag.lag_seconds; }},
      {"ltxbus_follower_frames_applied_total", "counter", "Frames applied to the replica",
       [](R s) { return Value(s.report.stats.frames); }},
      {"ltxbus_follower_pages_applied_total", "counter", "Pages written to the replica",
       [](R s) { return Value(s.report.stats.pages); }},
      {"ltxbus_follower_frames_rejected_total", "counter",
       "Frames refused: corrupt, foreign, a gap, out of order, checksum mismatch",
       [](R s) { return Value(s.report.stats.rejected); }},
      {"ltxbus_follower_frames_duplicate_total", "counter", "Frames already applied, skipped",
       [](R s) { return Value(s.report.stats.duplicates); }},
      {"ltxbus_follower_snapshots_applied_total", "counter", "Snapshot frames applied",
       [](R s) { return Value(s.report.stats.snapshots); }},
      {"ltxbus_follower_commits_total", "counter", "Replica transactions committed",
       [](R s) { return Value(s.report.stats.commits); }},
      {"ltxbus_follower_resyncing", "gauge",
       "1 while waiting for a frame that continues the replica after a rejection",
       [](R s) { return Value(s.report.stats.resyncing ? 1 : 0); }},
  };
  std::vector<ReplicaSample> subjects;
  std::vector<std::string> labels;
  for (const ReplicaReport& r : reports) {
    subjects.push_back({r, r.stats.lag(now_ms)});
    labels.push_back(prometheus::Labels({{"database", r.database}, {"replica", r.replica}}));
  }
  return prometheus::Render(families, subjects, labels);
}

}  // namespace ltxbus::consumer
