#include "consumer/follower_metrics.h"

#include <utility>

#include "base/prometheus.h"

namespace ltxbus::consumer {

std::string RenderFollowerMetrics(const std::vector<ReplicaReport>& reports, int64_t now_ms) {
  // A replica's sample may need its lag, computed once per scrape.
  using P = const std::pair<ReplicaReport, Lag>&;
  using prometheus::Value;
  const std::vector<prometheus::Family<std::pair<ReplicaReport, Lag>>> families = {
      {"ltxbus_follower_up", "gauge",
       "1 while the replica is followed, 0 once it stopped on an error",
       [](P p) {
         const ReplicaReport& r = p.first;
         return Value(r.stopped ? 0 : 1);
       }},
      {"ltxbus_follower_applied_txid", "gauge", "TXID of the newest source transaction applied",
       [](P p) {
         const ReplicaReport& r = p.first;
         return Value(r.stats.txid);
       }},
      {"ltxbus_follower_head_txid", "gauge",
       "TXID of the newest frame on the stream (read every second)",
       [](P p) {
         const ReplicaReport& r = p.first;
         return r.stats.head.known ? Value(r.stats.head.txid) : std::nullopt;
       }},
      {"ltxbus_follower_txids_behind", "gauge", "Source transactions on the stream not applied yet",
       [](P p) {
         const Lag& l = p.second;
         return l.txids_behind ? Value(*l.txids_behind) : std::nullopt;
       }},
      {"ltxbus_follower_seconds_behind", "gauge",
       "Now minus the LTX timestamp of the newest frame applied",
       [](P p) {
         const Lag& l = p.second;
         return l.seconds_behind;
       }},
      {"ltxbus_follower_head_seconds_behind", "gauge",
       "Now minus the LTX timestamp of the newest frame on the stream",
       [](P p) {
         const Lag& l = p.second;
         return l.head_seconds_behind;
       }},
      {"ltxbus_follower_lag_seconds", "gauge",
       "Head timestamp minus applied timestamp while frames are missing, else 0",
       [](P p) {
         const Lag& l = p.second;
         return l.lag_seconds;
       }},
      {"ltxbus_follower_frames_applied_total", "counter", "Frames applied to the replica",
       [](P p) {
         const ReplicaReport& r = p.first;
         return Value(r.stats.frames);
       }},
      {"ltxbus_follower_pages_applied_total", "counter", "Pages written to the replica",
       [](P p) {
         const ReplicaReport& r = p.first;
         return Value(r.stats.pages);
       }},
      {"ltxbus_follower_frames_rejected_total", "counter",
       "Frames refused: corrupt, foreign, a gap, out of order, checksum mismatch",
       [](P p) {
         const ReplicaReport& r = p.first;
         return Value(r.stats.rejected);
       }},
      {"ltxbus_follower_frames_duplicate_total", "counter", "Frames already applied, skipped",
       [](P p) {
         const ReplicaReport& r = p.first;
         return Value(r.stats.duplicates);
       }},
      {"ltxbus_follower_snapshots_applied_total", "counter", "Snapshot frames applied",
       [](P p) {
         const ReplicaReport& r = p.first;
         return Value(r.stats.snapshots);
       }},
      {"ltxbus_follower_commits_total", "counter", "Replica transactions committed",
       [](P p) {
         const ReplicaReport& r = p.first;
         return Value(r.stats.commits);
       }},
      {"ltxbus_follower_resyncing", "gauge",
       "1 while waiting for a frame that continues the replica after a rejection",
       [](P p) {
         const ReplicaReport& r = p.first;
         return Value(r.stats.resyncing ? 1 : 0);
       }},
  };
  std::vector<std::pair<ReplicaReport, Lag>> subjects;
  std::vector<std::string> labels;
  for (const ReplicaReport& r : reports) {
    subjects.emplace_back(r, r.stats.lag(now_ms));
    labels.push_back(prometheus::Labels({{"database", r.database}, {"replica", r.replica}}));
  }
  return prometheus::Render(families, subjects, labels);
}

}  // namespace ltxbus::consumer
