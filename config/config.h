// ltxbus's YAML configuration (`ltxbus replicate -config FILE`). Keys follow
// Litestream's where the meaning is the same (dbs, path, monitor-interval,
// checkpoint-interval, min-checkpoint-page-count, busy-timeout); docs/config.md
// lists them all with defaults. `${VAR}` and `$VAR` are expanded from the
// environment before parsing, as Litestream does; unknown keys are errors, so
// a typo never silently falls back to a default.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace ltxbus::config {

using Millis = std::chrono::milliseconds;

struct DatabaseConfig {
  std::string path;              // the app's database file
  std::string name;              // name on the bus; default: the file name
  std::string bus;               // bus URL; default: the top-level `bus`
  Millis monitor_interval{100};  // how often the WAL is polled when idle
  Millis busy_timeout{5000};     // for the producer's short write-lock barrier
  // Checkpoints the producer runs (PASSIVE only, under a barrier).
  uint32_t min_checkpoint_page_count = 1000;
  Millis checkpoint_interval{60000};
  // Warn when the WAL grows past this many bytes (the bus is down or slow).
  uint64_t wal_warn_bytes = uint64_t{256} << 20;
  size_t chunk_size = 512 * 1024;  // bus message payload size
  // How frames' pages are compressed: "block" (Go ltx v0.5.2+, Litestream
  // v0.5.16+) or "frame" (every ltx v0.4+ reader).
  std::string page_encoding = "block";
};

// A live read replica to keep (`ltxbus follow -config`, docs/follower.md).
struct FollowConfig {
  std::string name;     // the database's name on the bus
  std::string replica;  // the replica's path
  std::string bus;      // bus URL; default: the top-level `bus`
  int max_batch = 256;  // source transactions per replica commit when behind
  // The replica's checkpoints: PASSIVE past this many WAL frames, TRUNCATE
  // past this many WAL bytes.
  uint32_t min_checkpoint_page_count = 1000;
  uint64_t wal_truncate_bytes = uint64_t{64} << 20;
  // An archive of the database (`ltxbus archive`'s URL: s3://, file://,
  // nats://) to bootstrap from when the stream no longer holds what the
  // replica needs; empty: the stream's snapshots only.
  std::string archive;
};

// A database's stream compacted into an archive (`ltxbus archive -config`,
// docs/archive.md). Defaults are Litestream v0.5's.
struct ArchiveConfig {
  std::string name;  // the database's name on the bus
  std::string url;   // the archive: s3://, file:// (or a path), nats://
  std::string bus;   // bus URL; default: the top-level `bus`
  // L0 cadence: transactions received within one interval become one L0
  // file; 0 writes one L0 file per transaction (TXID-exact restores).
  Millis sync_interval{1000};
  // Compaction intervals of levels 1, 2, ... (at most 8 levels).
  std::vector<Millis> levels{Millis(30000), Millis(300000), Millis(3600000)};
  Millis snapshot_interval{24 * 3600 * 1000};
  Millis snapshot_retention{24 * 3600 * 1000};
  Millis l0_retention{5 * 60 * 1000};
  Millis lease_ttl{30000};              // how long the archive stays ours without a write
  std::string page_encoding = "block";  // "block" (Litestream v0.5.16+) or "frame"
};

struct Config {
  std::string bus;  // default bus URL for every database
  std::vector<DatabaseConfig> dbs;
  std::vector<FollowConfig> follow;    // replicas; `dbs` may then be empty
  std::vector<ArchiveConfig> archive;  // archives; `dbs` may then be empty
  // What a fenced producer does: exit non-zero, or wait and retry.
  enum class OnFenced { kExit, kWait } on_fenced = OnFenced::kExit;
  std::string exec;          // command to start after the first sync
  std::string metrics_addr;  // e.g. "127.0.0.1:9090"; empty = no endpoint
  // trace, debug, info, warn, error or off; empty = not set (info, unless
  // --log-level says otherwise: the command line wins).
  std::string log_level;

  // Parses YAML text (after environment expansion). `lookup` resolves
  // environment variables (defaults to getenv).
  static Result<Config> Parse(
      std::string_view yaml,
      const std::function<std::optional<std::string>(const std::string&)>& lookup = {});
  static Result<Config> Load(const std::string& path);
};

// Expands ${VAR} and $VAR; unset variables become empty, like Go's os.ExpandEnv.
std::string ExpandEnv(std::string_view text,
                      const std::function<std::optional<std::string>(const std::string&)>& lookup);

// "250ms", "1s", "1m30s", "24h" (Go's time.ParseDuration subset).
Result<Millis> ParseDuration(std::string_view text);
// "512KiB", "64MB", "1GiB", "4096".
Result<uint64_t> ParseSize(std::string_view text);

}  // namespace ltxbus::config
