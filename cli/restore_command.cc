// `ltxbus restore`: rebuild a database as of any archived point in time, from
// an archive ltxbus or Litestream v0.5 wrote (docs/archive.md).
//
//   ltxbus restore -o OUT [-txid N | -timestamp T] STORE-URL
//   ltxbus restore -o OUT -config FILE DB          DB: an `archive:` entry's name
//   ltxbus restore -if-db-not-exists -if-replica-exists -o app.db URL   (entrypoints)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "config/config.h"
#include "consumer/restore.h"
#include "consumer/stream_position.h"
#include "store/object_store.h"

namespace ltxbus::cli {
namespace {

struct RestoreCommandOptions {
  std::string source;
  std::string config_path;
  std::string output;
  std::string txid;
  std::string timestamp;
  int parallelism = 8;
  bool integrity_check = false;
  bool if_replica_exists = false;
  bool if_db_not_exists = false;
};

// The archive URL SOURCE names: itself, or the `archive:` entry of that name.
Result<std::string> SourceUrl(const std::string& source, const std::string& config_path) {
  if (config_path.empty()) return source;
  LTXBUS_ASSIGN_OR_RETURN(config::Config c, config::Config::Load(config_path));
  for (const auto& a : c.archive) {
    if (a.name == source) return a.url;
  }
  return Status::NotFound("{} has no archive for a database named '{}'", config_path, source);
}

class ProgressBar {
 public:
  ProgressBar() : enabled_(::isatty(STDERR_FILENO) == 1) {}
  ~ProgressBar() {
    if (shown_) std::fputs("\n", stderr);
  }
  void Show(const consumer::RestoreProgress& p) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (shown_ && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    shown_ = true;
    std::fprintf(stderr, "\rrestoring: downloaded %.1f/%.1f MiB, wrote %u/%u pages   ",
                 static_cast<double>(p.downloaded_bytes) / (1 << 20),
                 static_cast<double>(p.total_bytes) / (1 << 20), p.pages_written, p.total_pages);
  }

 private:
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_;
};

Status RunRestore(const RestoreCommandOptions& o, CommandResult* result) {
  if (o.output.empty()) return Status::InvalidArgument("restore needs -o OUT");
  if (!o.txid.empty() && !o.timestamp.empty()) {
    return Status::InvalidArgument("give -txid or -timestamp, not both");
  }
  Env* env = Env::Default();
  if (o.if_db_not_exists && env->FileExists(o.output)) {
    std::printf("%s already exists; nothing restored (-if-db-not-exists)\n", o.output.c_str());
    return Status::OK();
  }
  consumer::RestoreOptions ro;
  ro.output = o.output;
  ro.parallelism = o.parallelism;
  ro.integrity_check = o.integrity_check;
  if (!o.txid.empty()) {
    LTXBUS_ASSIGN_OR_RETURN(ltx::TXID t, consumer::ParseTxidArg(o.txid));
    ro.target.txid = t;
  }
  if (!o.timestamp.empty()) {
    LTXBUS_ASSIGN_OR_RETURN(int64_t t, consumer::ParseRfc3339(o.timestamp));
    ro.target.timestamp_ms = t;
  }
  LTXBUS_ASSIGN_OR_RETURN(std::string url, SourceUrl(o.source, o.config_path));
  LTXBUS_ASSIGN_OR_RETURN(std::unique_ptr<store::ObjectStore> store, store::Open(url));
  if (o.if_replica_exists) {
    bool from_manifest = false;
    auto plan = consumer::PlanArchiveRestore(*store, ro.target, &from_manifest);
    if (!plan.ok() && plan.status().code() == Status::Code::kNotFound &&
        plan.status().message().find("holds no archive") != std::string::npos) {
      std::printf("%s holds no archive; nothing restored (-if-replica-exists)\n",
                  store->url().c_str());
      return Status::OK();
    }
  }
  auto bar = std::make_unique<ProgressBar>();
  ro.progress = [&bar](const consumer::RestoreProgress& p) { bar->Show(p); };
  LTXBUS_ASSIGN_OR_RETURN(consumer::RestoreResult r, consumer::Restore(env, *store, ro));
  bar.reset();
  std::printf("restored %s as of TXID %s: %u pages of %u bytes from %zu files (%s)%s%s\n",
              o.output.c_str(), ltx::FormatTXID(r.txid).c_str(), r.page_count, r.page_size,
              r.plan.size(), r.from_manifest ? "ltxbus manifest" : "listing",
              r.checksum_checked ? ", database checksum verified" : "",
              o.integrity_check ? ", integrity_check ok" : "");
  result->exit_code = 0;
  return Status::OK();
}

}  // namespace

void AddRestoreCommand(CLI::App& app, CommandResult* result) {
  auto o = std::make_shared<RestoreCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "restore",
      "Restore a database as of any archived point in time (ltxbus or Litestream archives)");
  cmd->add_option("source", o->source,
                  "Archive URL (s3://, file:// or a path, nats://), or with -config an archived "
                  "database's name")
      ->required();
  cmd->add_option("-o,--output", o->output, "The database file to write")->required();
  cmd->add_option("--config", o->config_path, "YAML config whose 'archive' list names SOURCE");
  cmd->add_option("--txid", o->txid, "Restore as of this TXID (16 hex digits, 0x.. or decimal)");
  cmd->add_option("--timestamp", o->timestamp,
                  "Restore as of this RFC 3339 time (files created strictly before it)");
  cmd->add_option("--parallelism", o->parallelism, "Concurrent downloads (default 8)")
      ->check(CLI::Range(1, 64));
  cmd->add_flag("--integrity-check", o->integrity_check,
                "Run PRAGMA integrity_check on the result before it replaces OUT");
  cmd->add_flag("--if-replica-exists", o->if_replica_exists,
                "Exit 0 without restoring when the archive is empty");
  cmd->add_flag("--if-db-not-exists", o->if_db_not_exists,
                "Exit 0 without restoring when OUT already exists");
  cmd->callback([o, result] { result->status = RunRestore(*o, result); });
}

}  // namespace ltxbus::cli
