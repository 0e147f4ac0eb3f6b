// `ltxbus status`: each replica's position and lag (docs/follower.md, "Lag").
//
//   ltxbus status URL DB -o REPLICA [-json]
//   ltxbus status -config FILE [-json]     every `follow:` entry
//
// It needs no running follower: the position comes from the replica's
// position file (consumer/replica_position.h), which the follower rewrites
// before every commit, and the head from the bus (ReadLastFrame, which never
// disturbs a producer). A running follower's live view is on its /metrics.
// Exits non-zero, after printing what it could, when a replica or a bus
// cannot be read.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <map>
#include <memory>

#include "bus/bus.h"
#include "cli/commands.h"
#include "cli/config_args.h"
#include "config/config.h"
#include "consumer/follower_lag.h"
#include "consumer/replica_position.h"

namespace ltxbus::cli {
namespace {

struct StatusOptions {
  std::string config_path;
  std::string url;
  std::string db;
  std::string replica;
  bool json = false;
};

struct Row {
  config::FollowConfig entry;
  std::optional<consumer::ReplicaPosition> position;  // nothing applied yet: empty
  // The batch a running follower committed last, or is committing: the
  // replica is at `position` or at this (the follower settles it when idle).
  std::optional<ltx::TXID> pending_txid;
  consumer::StreamHead head;
  std::string error;
};

Result<std::vector<config::FollowConfig>> Entries(const StatusOptions& o) {
  LTXBUS_ASSIGN_OR_RETURN(config::Config c,
                          FollowConfigFrom("status", o.config_path, o.url, o.db, o.replica));
  return c.follow;
}

Status ReadPosition(Env* env, Row& row) {
  const std::string path = consumer::ReplicaPositionPath(row.entry.replica);
  auto file = consumer::LoadReplicaPositionFile(env, path);
  if (!file.ok() && file.status().IsNotFound()) {
    return Status::NotFound(
        "{} has no position file {}: `ltxbus follow` never ran for this replica (or it is not "
        "one)",
        row.entry.replica, path);
  }
  if (!file.ok()) return file.status().WithContext(path);
  if (file->database != row.entry.name) {
    return Status::InvalidArgument("{} is a replica of database '{}', not '{}'", row.entry.replica,
                                   file->database, row.entry.name);
  }
  row.position = file->committed;
  if (file->pending) row.pending_txid = file->pending->txid;
  return Status::OK();
}

// Reads every position, then each bus's head once per database.
std::vector<Row> Collect(const std::vector<config::FollowConfig>& entries) {
  std::vector<Row> rows;
  std::map<std::string, std::unique_ptr<bus::Bus>> buses;  // by URL
  std::map<std::pair<std::string, std::string>, Result<consumer::StreamHead>> heads;
  for (const config::FollowConfig& e : entries) {
    Row row{e, {}, {}, {}, {}};
    Status s = ReadPosition(Env::Default(), row);
    if (!s.ok()) {
      row.error = s.message();
      rows.push_back(std::move(row));
      continue;
    }
    auto key = std::make_pair(e.bus, e.name);
    auto it = heads.find(key);
    if (it == heads.end()) {
      Result<consumer::StreamHead> head = Status::Internal("not read");
      auto& b = buses[e.bus];
      if (!b) {
        auto endpoint = bus::Endpoint::Parse(e.bus);
        auto connected = endpoint.ok() ? bus::Bus::Connect(*endpoint)
                                       : Result<std::unique_ptr<bus::Bus>>(endpoint.status());
        if (connected.ok()) {
          b = std::move(*connected);
        } else {
          head = connected.status();
        }
      }
      if (b) head = consumer::ReadStreamHead(*b, e.name, consumer::WallClockMs());
      it = heads.emplace(key, std::move(head)).first;
    }
    if (it->second.ok()) {
      row.head = *it->second;
    } else {
      row.error = fmt::format("reading the head of {} on {}: {}", e.name, e.bus,
                              it->second.status().message());
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

consumer::Lag LagOf(const Row& r, int64_t now_ms) {
  return consumer::ComputeLag(r.position ? r.position->txid : 0,
                              r.position ? r.position->timestamp_ms : 0, r.head, now_ms);
}

std::string Seconds(const std::optional<double>& s) {
  return s ? fmt::format("{:.3f}", *s) : std::string("-");
}

std::string State(const Row& r, const consumer::Lag& lag) {
  if (!r.error.empty()) return "error";
  if (!r.position) return "bootstrapping";
  if (lag.txids_behind && *lag.txids_behind == 0) return "caught up";
  return r.pending_txid ? "applying" : "behind";
}

std::string Table(const std::vector<Row>& rows, int64_t now_ms) {
  std::vector<std::vector<std::string>> cells = {{"DATABASE", "REPLICA", "TXID", "HEAD TXID",
                                                  "TXIDS BEHIND", "SECONDS BEHIND",
                                                  "HEAD SECONDS BEHIND", "STATE"}};
  for (const Row& r : rows) {
    const consumer::Lag lag = LagOf(r, now_ms);
    cells.push_back({r.entry.name, r.entry.replica,
                     r.position ? ltx::FormatTXID(r.position->txid) : "-",
                     r.head.known ? ltx::FormatTXID(r.head.txid) : "-",
                     lag.txids_behind ? std::to_string(*lag.txids_behind) : "-",
                     Seconds(lag.seconds_behind), Seconds(lag.head_seconds_behind), State(r, lag)});
  }
  std::vector<size_t> width(cells[0].size(), 0);
  for (const auto& row : cells) {
    for (size_t i = 0; i < row.size(); i++) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : cells) {
    std::string line;
    for (size_t i = 0; i < row.size(); i++) {
      line += i + 1 < row.size() ? fmt::format("{:<{}}  ", row[i], width[i]) : row[i];
    }
    out += line + "\n";
  }
  return out;
}

std::string Json(const std::vector<Row>& rows, int64_t now_ms) {
  auto optional = [](const auto& v) { return v ? nlohmann::ordered_json(*v) : nullptr; };
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const Row& r : rows) {
    const consumer::Lag lag = LagOf(r, now_ms);
    nlohmann::ordered_json j = {
        {"database", r.entry.name},
        {"replica", r.entry.replica},
        {"bus", r.entry.bus},
        {"state", State(r, lag)},
        {"txid", r.position ? nlohmann::ordered_json(r.position->txid) : nullptr},
        {"timestamp_ms", r.position ? nlohmann::ordered_json(r.position->timestamp_ms) : nullptr},
        {"offset", r.position ? nlohmann::ordered_json(r.position->offset) : nullptr},
        {"pending_txid", optional(r.pending_txid)},
        {"head_txid", r.head.known ? nlohmann::ordered_json(r.head.txid) : nullptr},
        {"head_timestamp_ms", r.head.known ? nlohmann::ordered_json(r.head.timestamp_ms) : nullptr},
        {"head_offset", r.head.known ? nlohmann::ordered_json(r.head.offset) : nullptr},
        {"txids_behind", optional(lag.txids_behind)},
        {"seconds_behind", optional(lag.seconds_behind)},
        {"head_seconds_behind", optional(lag.head_seconds_behind)},
        {"lag_seconds", optional(lag.lag_seconds)},
        {"error",
         r.error.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(r.error)},
    };
    list.push_back(std::move(j));
  }
  return nlohmann::ordered_json{{"replicas", std::move(list)}}.dump(2) + "\n";
}

Status ShowStatus(const StatusOptions& o) {
  LTXBUS_ASSIGN_OR_RETURN(std::vector<config::FollowConfig> entries, Entries(o));
  const std::vector<Row> rows = Collect(entries);
  const int64_t now_ms = consumer::WallClockMs();
  const std::string out = o.json ? Json(rows, now_ms) : Table(rows, now_ms);
  if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
    return Status::IOError("writing to standard output failed");
  }
  size_t failed = 0;
  std::string first;
  for (const Row& r : rows) {
    if (r.error.empty()) continue;
    if (failed++ == 0) first = r.error;
  }
  if (failed == 0) return Status::OK();
  if (failed == 1) return Status::Unavailable("{}", first);
  return Status::Unavailable("{} (and {} more replica(s) that could not be read)", first,
                             failed - 1);
}

}  // namespace

void AddStatusCommand(CLI::App& app, CommandResult* result) {
  auto o = std::make_shared<StatusOptions>();
  auto* cmd = app.add_subcommand(
      "status", "Show replicas' positions and lag behind the head of their streams");
  cmd->add_option("--config", o->config_path, "YAML config file with a 'follow' list");
  cmd->add_option("url", o->url, "Bus URL, e.g. nats://127.0.0.1:4222/LTX");
  cmd->add_option("db", o->db, "The database's name on the bus");
  cmd->add_option("-o,--replica", o->replica, "The replica");
  cmd->add_flag("--json", o->json, "JSON for scripts instead of a table");
  cmd->callback([o, result] { result->status = ShowStatus(*o); });
}

}  // namespace ltxbus::cli
