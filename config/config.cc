#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "base/env.h"

namespace ltxbus::config {
namespace {

using Lookup = std::function<std::optional<std::string>(const std::string&)>;

std::optional<std::string> GetEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

std::string Where(const YAML::Node& n) { return fmt::format("line {}", n.Mark().line + 1); }

Status CheckKeys(const YAML::Node& map, const std::set<std::string>& allowed,
                 std::string_view what) {
  if (!map.IsMap()) return Status::InvalidArgument("{} ({}) must be a mapping", what, Where(map));
  for (const auto& kv : map) {
    const std::string key = kv.first.as<std::string>();
    if (!allowed.contains(key)) {
      std::string known;
      for (const auto& k : allowed) known += (known.empty() ? "" : ", ") + k;
      return Status::InvalidArgument("unknown key '{}' in {} ({}); known keys: {}", key, what,
                                     Where(kv.first), known);
    }
  }
  return Status::OK();
}

Result<std::string> String(const YAML::Node& n, std::string_view key) {
  if (!n.IsScalar()) return Status::InvalidArgument("'{}' ({}) must be a string", key, Where(n));
  return n.as<std::string>();
}

Result<Millis> Duration(const YAML::Node& n, std::string_view key) {
  LTXBUS_ASSIGN_OR_RETURN(std::string s, String(n, key));
  auto d = ParseDuration(s);
  if (!d.ok()) return d.status().WithContext(fmt::format("'{}' ({})", key, Where(n)));
  return d;
}

Result<uint64_t> Size(const YAML::Node& n, std::string_view key) {
  LTXBUS_ASSIGN_OR_RETURN(std::string s, String(n, key));
  auto v = ParseSize(s);
  if (!v.ok()) return v.status().WithContext(fmt::format("'{}' ({})", key, Where(n)));
  return v;
}

// The optional `page-encoding` key of `n` (dbs and archive entries).
Status PageEncodingKey(const YAML::Node& n, const std::string& what, std::string* encoding) {
  if (!n["page-encoding"]) return Status::OK();
  LTXBUS_ASSIGN_OR_RETURN(*encoding, String(n["page-encoding"], "page-encoding"));
  if (*encoding != "block" && *encoding != "frame") {
    return Status::InvalidArgument("{}: page-encoding must be 'block' or 'frame', not '{}'", what,
                                   *encoding);
  }
  return Status::OK();
}

Result<DatabaseConfig> ParseDatabase(const YAML::Node& n, size_t index) {
  const std::string what = fmt::format("dbs[{}]", index);
  LTXBUS_RETURN_IF_ERROR(CheckKeys(
      n,
      {"path", "name", "bus", "monitor-interval", "busy-timeout", "min-checkpoint-page-count",
       "checkpoint-interval", "wal-warn-size", "chunk-size", "page-encoding"},
      what));
  DatabaseConfig db;
  if (!n["path"]) return Status::InvalidArgument("{} ({}) has no 'path'", what, Where(n));
  LTXBUS_ASSIGN_OR_RETURN(db.path, String(n["path"], "path"));
  if (db.path.empty()) return Status::InvalidArgument("{} ({}): 'path' is empty", what, Where(n));
  db.name = std::filesystem::path(db.path).filename().string();
  if (n["name"]) {
    LTXBUS_ASSIGN_OR_RETURN(db.name, String(n["name"], "name"));
  }
  if (n["bus"]) {
    LTXBUS_ASSIGN_OR_RETURN(db.bus, String(n["bus"], "bus"));
  }
  if (n["monitor-interval"]) {
    LTXBUS_ASSIGN_OR_RETURN(db.monitor_interval,
                            Duration(n["monitor-interval"], "monitor-interval"));
  }
  if (n["busy-timeout"]) {
    LTXBUS_ASSIGN_OR_RETURN(db.busy_timeout, Duration(n["busy-timeout"], "busy-timeout"));
  }
  if (n["checkpoint-interval"]) {
    LTXBUS_ASSIGN_OR_RETURN(db.checkpoint_interval,
                            Duration(n["checkpoint-interval"], "checkpoint-interval"));
  }
  if (n["min-checkpoint-page-count"]) {
    LTXBUS_ASSIGN_OR_RETURN(uint64_t v,
                            Size(n["min-checkpoint-page-count"], "min-checkpoint-page-count"));
    if (v == 0 || v > UINT32_MAX) {
      return Status::InvalidArgument("{}: min-checkpoint-page-count must be 1..{}", what,
                                     UINT32_MAX);
    }
    db.min_checkpoint_page_count = static_cast<uint32_t>(v);
  }
  if (n["wal-warn-size"]) {
    LTXBUS_ASSIGN_OR_RETURN(db.wal_warn_bytes, Size(n["wal-warn-size"], "wal-warn-size"));
  }
  if (n["chunk-size"]) {
    LTXBUS_ASSIGN_OR_RETURN(uint64_t v, Size(n["chunk-size"], "chunk-size"));
    if (v < 4096 || v > (64u << 20)) {
      return Status::InvalidArgument("{}: chunk-size must be between 4KiB and 64MiB", what);
    }
    db.chunk_size = static_cast<size_t>(v);
  }
  LTXBUS_RETURN_IF_ERROR(PageEncodingKey(n, what, &db.page_encoding));
  return db;
}

Result<FollowConfig> ParseFollow(const YAML::Node& n, size_t index) {
  const std::string what = fmt::format("follow[{}]", index);
  LTXBUS_RETURN_IF_ERROR(CheckKeys(n,
                                   {"name", "replica", "bus", "archive", "max-batch",
                                    "min-checkpoint-page-count", "wal-truncate-size"},
                                   what));
  FollowConfig f;
  for (const char* key : {"name", "replica"}) {
    if (!n[key]) return Status::InvalidArgument("{} ({}) has no '{}'", what, Where(n), key);
  }
  LTXBUS_ASSIGN_OR_RETURN(f.name, String(n["name"], "name"));
  LTXBUS_ASSIGN_OR_RETURN(f.replica, String(n["replica"], "replica"));
  if (f.name.empty() || f.replica.empty()) {
    return Status::InvalidArgument("{} ({}): 'name' and 'replica' must not be empty", what,
                                   Where(n));
  }
  if (n["bus"]) {
    LTXBUS_ASSIGN_OR_RETURN(f.bus, String(n["bus"], "bus"));
  }
  if (n["archive"]) {
    LTXBUS_ASSIGN_OR_RETURN(f.archive, String(n["archive"], "archive"));
    if (f.archive.empty()) {
      return Status::InvalidArgument("{} ({}): 'archive' must not be empty", what, Where(n));
    }
  }
  if (n["max-batch"]) {
    LTXBUS_ASSIGN_OR_RETURN(uint64_t v, Size(n["max-batch"], "max-batch"));
    if (v == 0 || v > 100000)
      return Status::InvalidArgument("{}: max-batch must be 1..100000", what);
    f.max_batch = static_cast<int>(v);
  }
  if (n["min-checkpoint-page-count"]) {
    LTXBUS_ASSIGN_OR_RETURN(uint64_t v,
                            Size(n["min-checkpoint-page-count"], "min-checkpoint-page-count"));
    if (v == 0 || v > UINT32_MAX) {
      return Status::InvalidArgument("{}: min-checkpoint-page-count must be 1..{}", what,
                                     UINT32_MAX);
    }
    f.min_checkpoint_page_count = static_cast<uint32_t>(v);
  }
  if (n["wal-truncate-size"]) {
    LTXBUS_ASSIGN_OR_RETURN(f.wal_truncate_bytes,
                            Size(n["wal-truncate-size"], "wal-truncate-size"));
  }
  return f;
}

Result<ArchiveConfig> ParseArchive(const YAML::Node& n, size_t index) {
  const std::string what = fmt::format("archive[{}]", index);
  LTXBUS_RETURN_IF_ERROR(CheckKeys(n,
                                   {"name", "url", "bus", "sync-interval", "levels", "snapshot",
                                    "l0-retention", "lease-ttl", "page-encoding"},
                                   what));
  ArchiveConfig a;
  for (const char* key : {"name", "url"}) {
    if (!n[key]) return Status::InvalidArgument("{} ({}) has no '{}'", what, Where(n), key);
  }
  LTXBUS_ASSIGN_OR_RETURN(a.name, String(n["name"], "name"));
  LTXBUS_ASSIGN_OR_RETURN(a.url, String(n["url"], "url"));
  if (a.name.empty() || a.url.empty()) {
    return Status::InvalidArgument("{} ({}): 'name' and 'url' must not be empty", what, Where(n));
  }
  if (n["bus"]) {
    LTXBUS_ASSIGN_OR_RETURN(a.bus, String(n["bus"], "bus"));
  }
  if (n["sync-interval"]) {
    LTXBUS_ASSIGN_OR_RETURN(a.sync_interval, Duration(n["sync-interval"], "sync-interval"));
  }
  if (n["levels"]) {
    const YAML::Node levels = n["levels"];
    if (!levels.IsSequence() || levels.size() == 0 || levels.size() > 8) {
      return Status::InvalidArgument("{} ({}): 'levels' must be a list of 1 to 8 {{interval: ...}}",
                                     what, Where(levels));
    }
    a.levels.clear();
    for (size_t i = 0; i < levels.size(); i++) {
      LTXBUS_RETURN_IF_ERROR(
          CheckKeys(levels[i], {"interval"}, fmt::format("{}.levels[{}]", what, i)));
      if (!levels[i]["interval"]) {
        return Status::InvalidArgument("{}.levels[{}] has no 'interval'", what, i);
      }
      LTXBUS_ASSIGN_OR_RETURN(Millis iv, Duration(levels[i]["interval"], "interval"));
      if (iv.count() <= 0)
        return Status::InvalidArgument("{}.levels[{}]: interval must be > 0", what, i);
      a.levels.push_back(iv);
    }
  }
  if (n["snapshot"]) {
    const YAML::Node snap = n["snapshot"];
    LTXBUS_RETURN_IF_ERROR(CheckKeys(snap, {"interval", "retention"}, what + ".snapshot"));
    if (snap["interval"]) {
      LTXBUS_ASSIGN_OR_RETURN(a.snapshot_interval, Duration(snap["interval"], "interval"));
    }
    if (snap["retention"]) {
      LTXBUS_ASSIGN_OR_RETURN(a.snapshot_retention, Duration(snap["retention"], "retention"));
    }
    if (a.snapshot_interval.count() <= 0) {
      return Status::InvalidArgument("{}: snapshot interval must be > 0", what);
    }
  }
  if (n["l0-retention"]) {
    LTXBUS_ASSIGN_OR_RETURN(a.l0_retention, Duration(n["l0-retention"], "l0-retention"));
  }
  if (n["lease-ttl"]) {
    LTXBUS_ASSIGN_OR_RETURN(a.lease_ttl, Duration(n["lease-ttl"], "lease-ttl"));
    if (a.lease_ttl.count() < 100)
      return Status::InvalidArgument("{}: lease-ttl must be >= 100ms", what);
  }
  LTXBUS_RETURN_IF_ERROR(PageEncodingKey(n, what, &a.page_encoding));
  return a;
}

}  // namespace

std::string ExpandEnv(std::string_view text, const Lookup& lookup) {
  std::string out;
  for (size_t i = 0; i < text.size(); i++) {
    if (text[i] != '$' || i + 1 >= text.size()) {
      out.push_back(text[i]);
      continue;
    }
    std::string name;
    if (text[i + 1] == '{') {
      size_t end = text.find('}', i + 2);
      if (end == std::string_view::npos) {
        out.push_back(text[i]);
        continue;
      }
      name = std::string(text.substr(i + 2, end - i - 2));
      i = end;
    } else {
      size_t j = i + 1;
      while (j < text.size() &&
             (std::isalnum(static_cast<unsigned char>(text[j])) || text[j] == '_')) {
        j++;
      }
      if (j == i + 1) {
        out.push_back(text[i]);
        continue;
      }
      name = std::string(text.substr(i + 1, j - i - 1));
      i = j - 1;
    }
    if (auto v = lookup(name)) out += *v;
  }
  return out;
}

Result<Millis> ParseDuration(std::string_view text) {
  if (text.empty()) return Status::InvalidArgument("empty duration");
  if (text == "0") return Millis(0);
  double total_ms = 0;
  std::string_view s = text;
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) i++;
    if (i == 0)
      return Status::InvalidArgument("bad duration '{}' (e.g. 250ms, 1s, 1m30s, 24h)", text);
    double v = std::strtod(std::string(s.substr(0, i)).c_str(), nullptr);
    s.remove_prefix(i);
    size_t u = 0;
    while (u < s.size() && std::isalpha(static_cast<unsigned char>(s[u]))) u++;
    std::string_view unit = s.substr(0, u);
    s.remove_prefix(u);
    if (unit == "ms")
      total_ms += v;
    else if (unit == "s")
      total_ms += v * 1000;
    else if (unit == "m")
      total_ms += v * 60000;
    else if (unit == "h")
      total_ms += v * 3600000;
    else
      return Status::InvalidArgument("bad duration '{}': unknown unit '{}'", text, unit);
  }
  return Millis(static_cast<int64_t>(total_ms));
}

Result<uint64_t> ParseSize(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) i++;
  uint64_t v = 0;
  if (i == 0 || std::from_chars(text.data(), text.data() + i, v).ec != std::errc()) {
    return Status::InvalidArgument("bad size '{}' (e.g. 4096, 512KiB, 64MB)", text);
  }
  std::string_view unit = text.substr(i);
  uint64_t mult = 1;
  if (unit.empty() || unit == "B")
    mult = 1;
  else if (unit == "KB" || unit == "kB")
    mult = 1000;
  else if (unit == "KiB")
    mult = 1024;
  else if (unit == "MB")
    mult = 1000 * 1000;
  else if (unit == "MiB")
    mult = 1024 * 1024;
  else if (unit == "GB")
    mult = 1000 * 1000 * 1000;
  else if (unit == "GiB")
    mult = uint64_t{1} << 30;
  else
    return Status::InvalidArgument("bad size '{}': unknown unit '{}'", text, unit);
  return v * mult;
}

Result<Config> Config::Parse(std::string_view yaml, const Lookup& lookup) {
  const std::string expanded = ExpandEnv(yaml, lookup ? lookup : Lookup(GetEnv));
  YAML::Node root;
  try {
    root = YAML::Load(expanded);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("config is not valid YAML: {}", e.what());
  }
  Config c;
  if (!root || root.IsNull()) return Status::InvalidArgument("config is empty");
  try {
    LTXBUS_RETURN_IF_ERROR(CheckKeys(
        root, {"bus", "dbs", "follow", "archive", "on-fenced", "exec", "addr", "log-level"},
        "the top level"));
    if (root["bus"]) {
      LTXBUS_ASSIGN_OR_RETURN(c.bus, String(root["bus"], "bus"));
    }
    if (root["exec"]) {
      LTXBUS_ASSIGN_OR_RETURN(c.exec, String(root["exec"], "exec"));
    }
    if (root["addr"]) {
      LTXBUS_ASSIGN_OR_RETURN(c.metrics_addr, String(root["addr"], "addr"));
    }
    if (root["log-level"]) {
      LTXBUS_ASSIGN_OR_RETURN(c.log_level, String(root["log-level"], "log-level"));
      static constexpr std::string_view kLevels[] = {"trace", "debug", "info",
                                                     "warn",  "error", "off"};
      if (std::find(std::begin(kLevels), std::end(kLevels), c.log_level) == std::end(kLevels)) {
        return Status::InvalidArgument(
            "log-level: '{}' is not one of trace, debug, info, warn, error, off", c.log_level);
      }
    }
    if (root["on-fenced"]) {
      LTXBUS_ASSIGN_OR_RETURN(std::string v, String(root["on-fenced"], "on-fenced"));
      if (v == "exit")
        c.on_fenced = OnFenced::kExit;
      else if (v == "wait")
        c.on_fenced = OnFenced::kWait;
      else
        return Status::InvalidArgument("on-fenced must be 'exit' or 'wait', not '{}'", v);
    }
    const YAML::Node dbs = root["dbs"];
    const YAML::Node follow = root["follow"];
    const YAML::Node archive = root["archive"];
    if (follow && (!follow.IsSequence() || follow.size() == 0)) {
      return Status::InvalidArgument("'follow' must be a non-empty list of replicas");
    }
    if (archive && (!archive.IsSequence() || archive.size() == 0)) {
      return Status::InvalidArgument("'archive' must be a non-empty list of archives");
    }
    if ((follow || archive) && !dbs) {
      // A follower- or archiver-only config: nothing to replicate.
    } else if (!dbs || !dbs.IsSequence() || dbs.size() == 0) {
      return Status::InvalidArgument(
          "config needs a non-empty 'dbs' list (databases to replicate), a 'follow' list "
          "(replicas to keep) or an 'archive' list (archives to keep)");
    }
    std::set<std::string> names;
    for (size_t i = 0; dbs && i < dbs.size(); i++) {
      LTXBUS_ASSIGN_OR_RETURN(DatabaseConfig db, ParseDatabase(dbs[i], i));
      if (db.bus.empty()) db.bus = c.bus;
      if (db.bus.empty()) {
        return Status::InvalidArgument(
            "dbs[{}] ({}) has no bus URL and there is no top-level 'bus'", i, db.path);
      }
      if (!names.insert(db.name).second) {
        return Status::InvalidArgument("two databases are named '{}'; set 'name' on one", db.name);
      }
      c.dbs.push_back(std::move(db));
    }
    std::set<std::string> replicas;
    for (size_t i = 0; follow && i < follow.size(); i++) {
      LTXBUS_ASSIGN_OR_RETURN(FollowConfig f, ParseFollow(follow[i], i));
      if (f.bus.empty()) f.bus = c.bus;
      if (f.bus.empty()) {
        return Status::InvalidArgument(
            "follow[{}] ({}) has no bus URL and there is no top-level 'bus'", i, f.replica);
      }
      if (!replicas.insert(f.replica).second) {
        return Status::InvalidArgument("two follow entries write the replica '{}'", f.replica);
      }
      c.follow.push_back(std::move(f));
    }
    std::set<std::string> archives;
    for (size_t i = 0; archive && i < archive.size(); i++) {
      LTXBUS_ASSIGN_OR_RETURN(ArchiveConfig a, ParseArchive(archive[i], i));
      if (a.bus.empty()) a.bus = c.bus;
      if (!archives.insert(a.url).second) {
        return Status::InvalidArgument("two archive entries write the archive '{}'", a.url);
      }
      c.archive.push_back(std::move(a));
    }
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("config: {}", e.what());
  }
  return c;
}

Result<Config> Config::Load(const std::string& path) {
  LTXBUS_ASSIGN_OR_RETURN(std::string text, ReadFileToString(Env::Default(), path));
  auto c = Parse(text);
  if (!c.ok()) return c.status().WithContext(path);
  return c;
}

}  // namespace ltxbus::config
