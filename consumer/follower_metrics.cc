#include "consumer/follower_metrics.h"

#include <fmt/format.h>

#include <functional>
#include <optional>

namespace ltxbus::consumer {
namespace {

// Label values escape backslash, double quote and newline.
std::string EscapeLabel(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

struct Family {
  const char* name;
  const char* type;
  const char* help;
  std::function<std::optional<double>(const ReplicaReport&, const Lag&)> value;
};

std::optional<double> Num(uint64_t v) { return static_cast<double>(v); }

}  // namespace

std::string RenderFollowerMetrics(const std::vector<ReplicaReport>& reports, int64_t now_ms) {
  using R = const ReplicaReport&;
  using L = const Lag&;
  const Family families[] = {
      {"ltxbus_follower_up", "gauge",
       "1 while the replica is followed, 0 once it stopped on an error",
       [](R r, L) { return Num(r.stopped ? 0 : 1); }},
      {"ltxbus_follower_applied_txid", "gauge", "TXID of the newest source transaction applied",
       [](R r, L) { return Num(r.stats.txid); }},
      {"ltxbus_follower_head_txid", "gauge",
       "TXID of the newest frame on the stream (read every second)",
       [](R r, L) { return r.stats.head.known ? Num(r.stats.head.txid) : std::nullopt; }},
      {"ltxbus_follower_txids_behind", "gauge", "Source transactions on the stream not applied yet",
       [](R, L l) { return l.txids_behind ? Num(*l.txids_behind) : std::nullopt; }},
      {"ltxbus_follower_seconds_behind", "gauge",
       "Now minus the LTX timestamp of the newest frame applied",
       [](R, L l) { return l.seconds_behind; }},
      {"ltxbus_follower_head_seconds_behind", "gauge",
       "Now minus the LTX timestamp of the newest frame on the stream",
       [](R, L l) { return l.head_seconds_behind; }},
      {"ltxbus_follower_lag_seconds", "gauge",
       "Head timestamp minus applied timestamp while frames are missing, else 0",
       [](R, L l) { return l.lag_seconds; }},
      {"ltxbus_follower_frames_applied_total", "counter", "Frames applied to the replica",
       [](R r, L) { return Num(r.stats.frames); }},
      {"ltxbus_follower_pages_applied_total", "counter", "Pages written to the replica",
       [](R r, L) { return Num(r.stats.pages); }},
      {"ltxbus_follower_frames_rejected_total", "counter",
       "Frames refused: corrupt, foreign, a gap, out of order, checksum mismatch",
       [](R r, L) { return Num(r.stats.rejected); }},
      {"ltxbus_follower_frames_duplicate_total", "counter", "Frames already applied, skipped",
       [](R r, L) { return Num(r.stats.duplicates); }},
      {"ltxbus_follower_snapshots_applied_total", "counter", "Snapshot frames applied",
       [](R r, L) { return Num(r.stats.snapshots); }},
      {"ltxbus_follower_commits_total", "counter", "Replica transactions committed",
       [](R r, L) { return Num(r.stats.commits); }},
      {"ltxbus_follower_resyncing", "gauge",
       "1 while waiting for a frame that continues the replica after a rejection",
       [](R r, L) { return Num(r.stats.resyncing ? 1 : 0); }},
  };
  std::vector<Lag> lags;
  lags.reserve(reports.size());
  for (const ReplicaReport& r : reports) lags.push_back(r.stats.lag(now_ms));
  std::string out;
  for (const Family& f : families) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", f.name, f.help, f.name, f.type);
    for (size_t i = 0; i < reports.size(); i++) {
      const std::optional<double> v = f.value(reports[i], lags[i]);
      if (!v) continue;
      out += fmt::format("{}{{database=\"{}\",replica=\"{}\"}} {}\n", f.name,
                         EscapeLabel(reports[i].database), EscapeLabel(reports[i].replica), *v);
    }
  }
  return out;
}

}  // namespace ltxbus::consumer
