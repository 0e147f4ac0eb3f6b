// `ltxbus sync`: whether — or, with -wait, once — the bus holds every
// transaction a database had committed when the command was called
// (docs/sync.md). The rules are bus/sync.h's; this file reads the
// database's files and prints.
#include <spdlog/spdlog.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include "base/endian.h"
#include "bus/sync.h"
#include "cli/commands.h"
#include "cli/config_args.h"
#include "config/config.h"
#include "ltx/checksum.h"
#include "producer/wal_index.h"

namespace ltxbus::cli {
namespace {

// `sync` without -wait prints the status; this exit code says "not covered
// yet" without it being an error.
constexpr int kNotCovered = 2;
// The database file header: page size at 16, change counter at 24, size in
// pages at 28 (valid when the version-valid-for number at 92 equals the
// change counter).
constexpr size_t kDbHeaderSize = 100;

struct SyncArgs {
  std::string config_path;
  std::string db;
  std::string url;
  bool wait = false;
  std::string timeout = "30s";
};

struct Target {
  std::string path;  // the database file
  std::string name;  // its name on the bus
  std::string url;   // the bus
};

Result<Target> ResolveTarget(const SyncArgs& a) {
  if (a.config_path.empty()) {
    if (a.db.empty() || a.url.empty()) {
      return Status::InvalidArgument(
          "usage: ltxbus sync [-wait] [-timeout 30s] DB URL | ltxbus sync [-wait] -config FILE "
          "[DB]");
    }
    LTXBUS_ASSIGN_OR_RETURN(config::Config cfg, ShortFormConfig(a.db, a.url));
    const config::DatabaseConfig& d = cfg.dbs.front();
    return Target{d.path, d.name, d.bus};
  }
  if (!a.url.empty()) {
    return Status::InvalidArgument(
        "with -config, give at most a database (name or path), not a URL");
  }
  LTXBUS_ASSIGN_OR_RETURN(config::Config cfg, config::Config::Load(a.config_path));
  if (cfg.dbs.empty()) {
    return Status::InvalidArgument("{} lists no databases (dbs)", a.config_path);
  }
  auto absolute = [](const std::string& p) {
    return std::filesystem::absolute(p).lexically_normal().string();
  };
  std::vector<std::string> names;
  for (const config::DatabaseConfig& d : cfg.dbs) {
    names.push_back(d.name);
    if (a.db.empty() ? cfg.dbs.size() == 1
                     : (d.name == a.db || d.path == a.db || absolute(d.path) == absolute(a.db))) {
      return Target{d.path, d.name, d.bus};
    }
  }
  if (a.db.empty()) {
    return Status::InvalidArgument("{} lists {} databases ({}); name the one to sync",
                                   a.config_path, names.size(), fmt::join(names, ", "));
  }
  return Status::NotFound("{} has no database named or at '{}' (it has {})", a.config_path, a.db,
                          fmt::join(names, ", "));
}

// The wal-index header, or nullopt when there is no -shm. A -wal with frames
// but no -shm (a crash, then the -shm removed) holds commits that only
// SQLite's recovery can vouch for: refused.
Result<std::optional<producer::WalIndexHeader>> ReadWalIndex(Env* env, const std::string& db) {
  const std::string shm = db + "-shm";
  if (!env->FileExists(shm)) {
    const std::string wal = db + "-wal";
    if (env->FileExists(wal)) {
      LTXBUS_ASSIGN_OR_RETURN(uint64_t size, env->GetFileSize(wal));
      if (size > 0) {
        return Status::InvalidArgument(
            "{} has a -wal ({} bytes) but no -shm, so what it committed cannot be told without "
            "SQLite's recovery: open the database once (e.g. sqlite3 {} 'PRAGMA user_version'), "
            "then sync again",
            db, size, db);
      }
    }
    return std::optional<producer::WalIndexHeader>();
  }
  // Opened and closed here: this process holds no SQLite locks to lose.
  LTXBUS_ASSIGN_OR_RETURN(producer::WalIndex index, producer::WalIndex::Open(env, shm));
  LTXBUS_ASSIGN_OR_RETURN(producer::WalIndexHeader h, index.Read());
  return std::optional(h);
}

// The LTX checksum of the database file's pages, as a snapshot frame would
// carry it.
Result<ltx::Checksum> ChecksumDatabase(Env* env, const std::string& db) {
  LTXBUS_ASSIGN_OR_RETURN(auto file, env->NewRandomAccessFile(db));
  LTXBUS_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  if (size == 0) return ltx::DatabaseChecksum().Value();
  std::array<uint8_t, kDbHeaderSize> h{};
  LTXBUS_ASSIGN_OR_RETURN(bool whole, ReadAtIfPresent(*file, 0, h));
  if (!whole) return Status::Corruption("{}: shorter than a database header", db);
  const uint32_t raw_size = LoadBE16(&h[16]);
  const uint32_t page_size = raw_size == 1 ? 65536 : raw_size;
  if (page_size < 512 || (page_size & (page_size - 1)) != 0) {
    return Status::Corruption("{}: page size {} in the header", db, raw_size);
  }
  uint64_t pages = size / page_size;
  if (const uint32_t in_header = LoadBE32(&h[28]);
      in_header != 0 && LoadBE32(&h[92]) == LoadBE32(&h[24])) {
    pages = in_header;
  }
  if (pages > UINT32_MAX) return Status::Corruption("{}: {} pages", db, pages);
  return ltx::ChecksumDatabaseFile(*file, page_size, static_cast<uint32_t>(pages));
}

Result<bus::LocalCommits> ReadLocalCommits(Env* env, const std::string& db, bool with_checksum) {
  if (!env->FileExists(db)) return Status::NotFound("database {} does not exist", db);
  auto fill = [](const std::optional<producer::WalIndexHeader>& h) {
    bus::LocalCommits c;
    if (h) {
      c.wal_index = true;
      c.salt1 = h->salt1;
      c.salt2 = h->salt2;
      c.max_frame = h->max_frame;
      c.change = h->change;
    }
    return c;
  };
  LTXBUS_ASSIGN_OR_RETURN(auto header, ReadWalIndex(env, db));
  bus::LocalCommits c = fill(header);
  if (!with_checksum || (c.wal_index && c.max_frame > 0)) return c;
  // The file is the committed state only while nothing is in the WAL; keep
  // the checksum only if the wal-index did not move while it was read.
  LTXBUS_ASSIGN_OR_RETURN(ltx::Checksum sum, ChecksumDatabase(env, db));
  LTXBUS_ASSIGN_OR_RETURN(auto after, ReadWalIndex(env, db));
  const bus::LocalCommits a = fill(after);
  if (a.wal_index == c.wal_index && a.salt1 == c.salt1 && a.salt2 == c.salt2 &&
      a.max_frame == c.max_frame && a.change == c.change) {
    c.db_checksum = sum;
  }
  return c;
}

Result<int> Sync(const SyncArgs& a) {
  LTXBUS_ASSIGN_OR_RETURN(Target t, ResolveTarget(a));
  LTXBUS_ASSIGN_OR_RETURN(config::Millis timeout, config::ParseDuration(a.timeout));
  Env* env = Env::Default();
  if (!env->FileExists(t.path)) return Status::NotFound("database {} does not exist", t.path);
  LTXBUS_ASSIGN_OR_RETURN(bus::Endpoint endpoint, bus::Endpoint::Parse(t.url));
  LTXBUS_ASSIGN_OR_RETURN(auto b, bus::Bus::Connect(endpoint));
  const bus::LocalReader read = [env, &t](bool with_checksum) {
    return ReadLocalCommits(env, t.path, with_checksum);
  };
  if (a.wait) {
    bus::SyncOptions options;
    options.timeout = timeout;
    auto r = bus::WaitForSync(*b, t.name, read, options);
    if (!r.ok()) return r.status().WithContext(fmt::format("{} on {}", t.path, endpoint.url));
    std::printf("synced: database %s: %s (waited %.3fs)\n", t.name.c_str(), r->verdict.why.c_str(),
                static_cast<double>(r->waited.count()) / 1000.0);
    return 0;
  }
  LTXBUS_ASSIGN_OR_RETURN(bus::SyncResult r, bus::CheckSync(*b, t.name, read));
  std::printf("database %s (%s) on %s\n", t.name.c_str(), t.path.c_str(), endpoint.url.c_str());
  std::printf("  local:   %s\n", r.point.local.Format().c_str());
  std::printf("  bus:     %s\n", bus::FormatFrame(r.frame).c_str());
  std::printf("  covered: %s: %s\n", r.verdict.covered ? "yes" : "no", r.verdict.why.c_str());
  return r.verdict.covered ? 0 : kNotCovered;
}

}  // namespace

void AddSyncCommand(CLI::App& app, CommandResult* result) {
  auto a = std::make_shared<SyncArgs>();
  CLI::App* cmd = app.add_subcommand(
      "sync",
      "Show whether the bus holds every transaction a database has committed; with -wait, "
      "wait until it does (exit 0) or the timeout passes (exit 1)");
  cmd->add_flag("--wait", a->wait, "Wait until everything committed before the call is on the bus");
  cmd->add_option("--timeout", a->timeout, "How long -wait waits (Go duration, e.g. 10s, 500ms)")
      ->capture_default_str();
  cmd->add_option("--config", a->config_path, "YAML config file (see docs/config.md)");
  cmd->add_option("db", a->db, "Database file (with URL), or with -config its name or path");
  cmd->add_option("url", a->url,
                  "Bus URL, e.g. nats://127.0.0.1:4222/LTX or kafka://host:9092/topic");
  cmd->callback([a, result] {
    auto code = Sync(*a);
    if (!code.ok()) {
      result->status = code.status();
    } else {
      result->exit_code = *code;
    }
  });
}

}  // namespace ltxbus::cli
