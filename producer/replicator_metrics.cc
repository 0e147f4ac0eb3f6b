#include "producer/replicator_metrics.h"

#include <algorithm>

#include "base/prometheus.h"

namespace ltxbus::producer {

std::string RenderProducerMetrics(const std::vector<DatabaseReport>& reports, int64_t now_ms) {
  using R = const DatabaseReport&;
  using prometheus::Value;
  const std::vector<prometheus::Family<DatabaseReport>> families = {
      {"ltxbus_producer_up", "gauge",
       "1 while the database is published, 0 while it cannot be (bus unreachable, fenced, "
       "database not openable; the log says why)",
       [](R r) { return Value(r.publishing ? 1 : 0); }},
      {"ltxbus_producer_txid", "gauge", "TXID of the newest frame published",
       [](R r) { return r.stats.txid != 0 ? Value(r.stats.txid) : std::nullopt; }},
      {"ltxbus_producer_last_publish_timestamp_seconds", "gauge",
       "Unix time the newest frame was acknowledged by the bus",
       [](R r) {
         return r.stats.last_publish_ms != 0
                    ? std::optional<double>(static_cast<double>(r.stats.last_publish_ms) / 1000)
                    : std::nullopt;
       }},
      {"ltxbus_producer_frames_published_total", "counter",
       "Frames (one per source transaction, or a snapshot) acknowledged by the bus",
       [](R r) { return Value(r.stats.frames); }},
      {"ltxbus_producer_snapshots_published_total", "counter", "Snapshot frames published",
       [](R r) { return Value(r.stats.snapshots); }},
      {"ltxbus_producer_checkpoints_total", "counter", "Checkpoints the producer ran",
       [](R r) { return Value(r.stats.checkpoints); }},
      {"ltxbus_producer_wal_restarting_checkpoints_total", "counter",
       "Checkpoints that copied back the whole WAL so the app's next write restarts it",
       [](R r) { return Value(r.stats.barrier_checkpoints); }},
      {"ltxbus_producer_app_lock_held_seconds_total", "counter",
       "Time the producer held the app's write lock (checkpoint barriers): the app's writes "
       "wait meanwhile",
       [](R r) {
         return std::optional<double>(static_cast<double>(r.stats.app_lock_held_us) / 1e6);
       }},
      {"ltxbus_producer_wal_frames", "gauge", "Frames in the WAL at the producer's last look",
       [](R r) { return Value(r.stats.wal_frames); }},
      {"ltxbus_producer_publish_seconds", "gauge",
       "How long the publish under way has been waiting for the bus (0 between publishes); "
       "a bus that stopped answering shows here before the publish times out",
       [now_ms](R r) {
         return std::optional<double>(
             r.publish_started_ms == 0
                 ? 0.0
                 : static_cast<double>(std::max<int64_t>(0, now_ms - r.publish_started_ms)) / 1000);
       }},
      {"ltxbus_producer_behind", "gauge",
       "1 while a backlog is published (more committed than one poll publishes)",
       [](R r) { return Value(r.behind ? 1 : 0); }},
  };
  std::vector<std::string> labels;
  for (const DatabaseReport& r : reports) {
    labels.push_back(prometheus::Labels({{"database", r.database}, {"path", r.path}}));
  }
  return prometheus::Render(families, reports, labels);
}

}  // namespace ltxbus::producer
