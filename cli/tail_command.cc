// `ltxbus tail URL DB`: a database's transactions from any position of its
// stream, as JSON lines, as LTX files, or applied to a new database file
// ("the database as of offset N"). Built on the consumer API
// (consumer/transaction_stream.h); docs/tail.md is the user's guide.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/env.h"
#include "bus/bus.h"
#include "cli/commands.h"
#include "cli/signals.h"
#include "config/config.h"
#include "consumer/table_map.h"
#include "consumer/transaction_stream.h"
#include "ltx/apply.h"

namespace ltxbus::cli {
namespace {

using consumer::StartAt;
using consumer::StopAt;
using consumer::Transaction;

struct TailOptions {
  std::string url;
  std::string db;
  std::string from_offset, from_time, from_txid;
  bool from_beginning = false;
  std::string to_offset, to_time, to_txid;
  bool follow = false;
  std::string format;
  std::string dir;
  std::string apply;
  std::string replica;
  std::vector<std::string> tables;
  std::string position_file;
  std::string timeout = "30s";
};

Result<uint64_t> ParseOffset(const std::string& flag, const std::string& text) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty()) {
    return Status::InvalidArgument("{} '{}' is not an offset (a non-negative integer)", flag, text);
  }
  return v;
}

Result<StartAt> ParseStart(const TailOptions& o) {
  const int given =
      !o.from_offset.empty() + !o.from_time.empty() + !o.from_txid.empty() + o.from_beginning;
  if (given > 1) {
    return Status::InvalidArgument(
        "give at most one of -from-offset, -from-time, -from-txid and -from-beginning");
  }
  if (!o.from_offset.empty()) {
    LTXBUS_ASSIGN_OR_RETURN(uint64_t v, ParseOffset("-from-offset", o.from_offset));
    return StartAt::Offset(v);
  }
  if (!o.from_time.empty()) {
    LTXBUS_ASSIGN_OR_RETURN(int64_t v, consumer::ParseRfc3339(o.from_time));
    return StartAt::Time(v);
  }
  if (!o.from_txid.empty()) {
    LTXBUS_ASSIGN_OR_RETURN(ltx::TXID v, consumer::ParseTxidArg(o.from_txid));
    return StartAt::Txid(v);
  }
  // A rebuild needs the stream from its first snapshot.
  if (o.from_beginning || !o.apply.empty()) return StartAt::Beginning();
  return StartAt::End();
}

Result<StopAt> ParseStop(const TailOptions& o) {
  const int given = !o.to_offset.empty() + !o.to_time.empty() + !o.to_txid.empty() + o.follow;
  if (given > 1) {
    return Status::InvalidArgument(
        "give at most one of -to-offset, -to-time, -to-txid and -follow");
  }
  if (!o.to_offset.empty()) {
    LTXBUS_ASSIGN_OR_RETURN(uint64_t v, ParseOffset("-to-offset", o.to_offset));
    return StopAt::Offset(v);
  }
  if (!o.to_time.empty()) {
    LTXBUS_ASSIGN_OR_RETURN(int64_t v, consumer::ParseRfc3339(o.to_time));
    return StopAt::Time(v);
  }
  if (!o.to_txid.empty()) {
    LTXBUS_ASSIGN_OR_RETURN(ltx::TXID v, consumer::ParseTxidArg(o.to_txid));
    return StopAt::Txid(v);
  }
  return o.follow ? StopAt::Never() : StopAt::End();
}

// Where transactions go. Nothing is created before the stream has opened, so
// a bad position writes nothing.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual Status Write(const Transaction& tx) = 0;
  // The stream ended where it was asked to.
  virtual Status Finish() { return Status::OK(); }
  // The stream failed: undo what is not complete.
  virtual void Abandon() {}
};

std::string Hex(uint64_t v) { return fmt::format("{:016x}", v); }

// One JSON object per line (docs/tail-json.schema.json).
class JsonSink final : public Sink {
 public:
  JsonSink(bool flush_each, std::string replica, std::set<std::string> tables)
      : flush_each_(flush_each), replica_(std::move(replica)), only_(std::move(tables)) {}

  Status Write(const Transaction& tx) override {
    std::vector<uint32_t> pages;
    consumer::PageReader reader = tx.ReadPages();
    uint32_t pgno = 0;
    std::span<const uint8_t> data;
    for (;;) {
      LTXBUS_ASSIGN_OR_RETURN(bool more, reader.Next(&pgno, &data));
      if (!more) break;
      pages.push_back(pgno);
    }
    const ltx::Header& h = tx.header();
    nlohmann::ordered_json j = {
        {"database", tx.database()},
        {"txid", ltx::FormatTXID(tx.txid())},
        {"min_txid", ltx::FormatTXID(h.min_txid)},
        {"max_txid", ltx::FormatTXID(h.max_txid)},
        {"snapshot", tx.snapshot()},
        {"timestamp", consumer::FormatRfc3339(h.timestamp_ms)},
        {"timestamp_ms", h.timestamp_ms},
        {"commit", h.commit},
        {"page_size", h.page_size},
        {"page_count", pages.size()},
        {"pages", pages},
        {"pre_apply_checksum", Hex(h.pre_apply_checksum)},
        {"post_apply_checksum", Hex(tx.post_apply_checksum())},
        {"offset", tx.position().first_offset},
        {"last_offset", tx.position().last_offset},
        {"position", tx.position().ToString()},
        {"bus_time", consumer::FormatRfc3339(tx.bus_time_ms())},
        {"bus_time_ms", tx.bus_time_ms()},
        {"size", tx.size()},
        {"producer", tx.producer()},
    };
    if (!replica_.empty()) {
      if (!map_ || stale_) {
        LTXBUS_ASSIGN_OR_RETURN(map_, consumer::TableMap::Load(replica_));
      }
      // The replica has moved on when this transaction reallocated pages.
      stale_ = consumer::TableMap::StaleAfter(pages);
      std::vector<std::string> tables = map_->TablesOf(pages);
      if (!only_.empty()) {
        bool wanted = false;
        for (const auto& t : tables) wanted = wanted || only_.count(t) > 0;
        if (!wanted) return Status::OK();
      }
      j["tables"] = tables;
    }
    const std::string line = j.dump() + "\n";
    if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size()) {
      return Status::IOError("writing to standard output failed");
    }
    if (flush_each_) std::fflush(stdout);
    return Status::OK();
  }
  Status Finish() override {
    if (std::fflush(stdout) != 0) return Status::IOError("writing to standard output failed");
    return Status::OK();
  }

 private:
  bool flush_each_;
  std::string replica_;
  std::set<std::string> only_;
  std::optional<consumer::TableMap> map_;
  bool stale_ = false;
};

Status CopyLtx(const Transaction& tx, WritableFile* out) {
  auto src = tx.OpenLtx();
  std::vector<uint8_t> buf(256 * 1024);
  for (;;) {
    LTXBUS_ASSIGN_OR_RETURN(size_t n, src->Read(buf));
    if (n == 0) return Status::OK();
    LTXBUS_RETURN_IF_ERROR(out->Append({buf.data(), n}));
  }
}

// One LTX file per transaction, named as Litestream names them.
class LtxDirSink final : public Sink {
 public:
  LtxDirSink(Env* env, std::string dir) : env_(env), dir_(std::move(dir)) {}
  Status Write(const Transaction& tx) override {
    if (!created_) {
      LTXBUS_RETURN_IF_ERROR(env_->CreateDirs(dir_));
      created_ = true;
    }
    const std::string path = dir_ + "/" + ltx::FormatFilename(tx.min_txid(), tx.txid());
    return WriteFileAtomicWith(env_, path, [&](WritableFile* f) { return CopyLtx(tx, f); });
  }

 private:
  Env* env_;
  std::string dir_;
  bool created_ = false;
};

// Rebuilds a database file: built beside the target and renamed over it only
// once the stream reached its stop position, so a failure leaves nothing.
class ApplySink final : public Sink {
 public:
  ApplySink(Env* env, std::string path)
      : env_(env),
        path_(std::move(path)),
        tmp_(path_ + ".ltxbus-tail"),
        frame_(path_ + ".ltxbus-tail-frame") {}
  ~ApplySink() override { Abandon(); }

  Status Write(const Transaction& tx) override {
    if (!applier_) {
      (void)env_->RemoveFile(tmp_);
      LTXBUS_ASSIGN_OR_RETURN(applier_, ltx::DatabaseFileApplier::Open(env_, tmp_));
    }
    {
      LTXBUS_ASSIGN_OR_RETURN(auto f, env_->NewWritableFile(frame_));
      LTXBUS_RETURN_IF_ERROR(CopyLtx(tx, f.get()));
      LTXBUS_RETURN_IF_ERROR(f->Close());
    }
    Status s = applier_->ApplyFile(frame_);
    if (!s.ok() && applier_->txid() == 0 && !tx.snapshot()) {
      return Status::InvalidArgument(
          "-apply must start at a snapshot (the oldest frame, or one a producer published when it "
          "started), but TXID {} at offset {} is not one; drop the -from flag",
          ltx::FormatTXID(tx.txid()), tx.position().first_offset);
    }
    return s;
  }
  Status Finish() override {
    (void)env_->RemoveFile(frame_);
    if (!applier_) return Status::NotFound("no transaction in the range; nothing was written");
    LTXBUS_RETURN_IF_ERROR(applier_->Sync());
    applier_.reset();
    LTXBUS_RETURN_IF_ERROR(env_->RenameFile(tmp_, path_));
    done_ = true;
    const std::string dir = std::filesystem::path(path_).parent_path().string();
    return env_->SyncDir(dir.empty() ? "." : dir);
  }
  void Abandon() override {
    if (done_) return;
    applier_.reset();
    (void)env_->RemoveFile(frame_);
    (void)env_->RemoveFile(tmp_);
  }

 private:
  Env* env_;
  std::string path_, tmp_, frame_;
  std::unique_ptr<ltx::DatabaseFileApplier> applier_;
  bool done_ = false;
};

Result<std::unique_ptr<Sink>> MakeSink(const TailOptions& o, Env* env) {
  if (!o.apply.empty()) return std::unique_ptr<Sink>(std::make_unique<ApplySink>(env, o.apply));
  if (o.format == "ltx") return std::unique_ptr<Sink>(std::make_unique<LtxDirSink>(env, o.dir));
  return std::unique_ptr<Sink>(std::make_unique<JsonSink>(
      o.follow, o.replica, std::set<std::string>(o.tables.begin(), o.tables.end())));
}

// Flag combinations and files, checked before the bus is asked anything.
Status CheckOptions(TailOptions& o, Env* env) {
  if (o.url.empty() || o.db.empty()) {
    return Status::InvalidArgument("usage: ltxbus tail URL DB [flags] (ltxbus tail --help)");
  }
  if (o.format.empty()) o.format = o.apply.empty() ? "json" : "none";
  if (o.format != "json" && o.format != "ltx" && o.format != "none") {
    return Status::InvalidArgument("-format is json, ltx or none, not '{}'", o.format);
  }
  if ((o.format == "ltx") != !o.dir.empty()) {
    return Status::InvalidArgument("-format ltx and -dir DIR go together");
  }
  if (!o.apply.empty()) {
    if (o.format != "none") {
      return Status::InvalidArgument("-apply writes a database; it takes no -format");
    }
    if (o.follow) {
      return Status::InvalidArgument(
          "-apply rebuilds a database as of a position and cannot -follow; for a live replica "
          "use `ltxbus follow`");
    }
    if (!o.position_file.empty()) {
      return Status::InvalidArgument("-apply does not take -position-file");
    }
    if (env->FileExists(o.apply)) {
      return Status::InvalidArgument(
          "{} exists; -apply writes a new database and never overwrites one", o.apply);
    }
  }
  if (!o.tables.empty() && o.replica.empty()) {
    return Status::InvalidArgument("-table needs -replica PATH to map pages to tables");
  }
  if (!o.replica.empty() && o.format != "json") {
    return Status::InvalidArgument("-replica and -table filter JSON output only");
  }
  if (!o.replica.empty() && !env->FileExists(o.replica)) {
    return Status::NotFound("replica {} does not exist", o.replica);
  }
  return Status::OK();
}

bool SignalPending(const sigset_t& set) {
  timespec zero{0, 0};
  return sigtimedwait(&set, nullptr, &zero) > 0;
}

Status Tail(TailOptions o) {
  Env* env = Env::Default();
  LTXBUS_RETURN_IF_ERROR(CheckOptions(o, env));
  consumer::StreamOptions so;
  LTXBUS_ASSIGN_OR_RETURN(so.start, ParseStart(o));
  LTXBUS_ASSIGN_OR_RETURN(so.stop, ParseStop(o));
  LTXBUS_ASSIGN_OR_RETURN(config::Millis silence, config::ParseDuration(o.timeout));
  std::unique_ptr<consumer::PositionStore> store;
  if (!o.position_file.empty()) {
    store = consumer::NewFilePositionStore(env, o.position_file);
    LTXBUS_ASSIGN_OR_RETURN(std::optional<consumer::Position> saved, store->Load());
    if (saved) {
      if (!o.from_offset.empty() || !o.from_time.empty() || !o.from_txid.empty() ||
          o.from_beginning) {
        return Status::InvalidArgument(
            "{} holds position {}; resuming from it and a -from flag exclude each other",
            o.position_file, saved->ToString());
      }
      so.start = StartAt::After(*saved);
    }
    so.positions = store.get();
  }
  const sigset_t signals = BlockTerminationSignals();
  LTXBUS_ASSIGN_OR_RETURN(bus::Endpoint endpoint, bus::Endpoint::Parse(o.url));
  LTXBUS_ASSIGN_OR_RETURN(std::unique_ptr<bus::Bus> bus, bus::Bus::Connect(endpoint));
  LTXBUS_ASSIGN_OR_RETURN(auto stream, consumer::TransactionStream::Open(*bus, o.db, so));
  LTXBUS_ASSIGN_OR_RETURN(std::unique_ptr<Sink> sink, MakeSink(o, env));

  auto last_progress = std::chrono::steady_clock::now();
  uint64_t count = 0;
  Status s;
  while (!stream->finished()) {
    if (SignalPending(signals)) {
      if (!o.follow) s = Status::Unavailable("interrupted before the stop position");
      break;
    }
    auto tx = stream->Next(bus::Millis(500));
    if (!tx.ok()) {
      s = tx.status();
      break;
    }
    if (!tx->has_value()) {
      if (!o.follow && std::chrono::steady_clock::now() - last_progress > silence) {
        s = Status::Timeout("the bus sent nothing for {} before the stop position ({})", o.timeout,
                            so.stop.ToString());
        break;
      }
      continue;
    }
    last_progress = std::chrono::steady_clock::now();
    s = sink->Write(**tx);
    if (s.ok()) s = stream->Ack((*tx)->position());
    if (!s.ok()) break;
    count++;
  }
  if (s.ok()) s = sink->Finish();
  if (!s.ok()) {
    sink->Abandon();
    return s;
  }
  spdlog::info("{} transaction(s) of database '{}'{}", count, o.db,
               o.apply.empty() ? "" : fmt::format(" applied to {}", o.apply));
  return Status::OK();
}

}  // namespace

void AddTailCommand(CLI::App& app, CommandResult* result) {
  auto o = std::make_shared<TailOptions>();
  CLI::App* cmd = app.add_subcommand(
      "tail",
      "Read a database's transactions from any position of its stream (docs/tail.md): as JSON "
      "lines, LTX files, or applied to a new database file");
  cmd->add_option("url", o->url, "Bus URL, e.g. nats://127.0.0.1:4222/LTX or kafka://host:9092/t")
      ->required();
  cmd->add_option("db", o->db, "The database's name on the bus (by default its file name)")
      ->required();
  cmd->add_option("--from-offset", o->from_offset, "Start at the first frame at or after OFFSET");
  cmd->add_option("--from-time", o->from_time,
                  "Start at the first frame stored at or after an RFC 3339 time");
  cmd->add_option("--from-txid", o->from_txid, "Start at the frame holding TXID");
  cmd->add_flag("--from-beginning", o->from_beginning, "Start at the oldest retained frame");
  cmd->add_option("--to-offset", o->to_offset, "Stop after the frames complete at OFFSET");
  cmd->add_option("--to-time", o->to_time, "Stop after the frames stored by an RFC 3339 time");
  cmd->add_option("--to-txid", o->to_txid, "Stop after the frame ending at TXID");
  cmd->add_flag("--follow", o->follow, "Keep reading new transactions until interrupted");
  cmd->add_option("--format", o->format, "json (default), ltx (with -dir) or none");
  cmd->add_option("--dir", o->dir, "Directory for -format ltx");
  cmd->add_option("--apply", o->apply, "Rebuild a new database file as of the stop position");
  cmd->add_option("--replica", o->replica,
                  "A copy of the database whose schema maps pages to tables (adds \"tables\")");
  cmd->add_option("--table", o->tables, "Print only transactions touching TABLE (with -replica)");
  cmd->add_option("--position-file", o->position_file,
                  "Resume after the position saved in FILE, and save each one written");
  cmd->add_option("--timeout", o->timeout,
                  "Fail if the bus is silent this long before the stop position (default 30s)");
  cmd->callback([o, result] { result->status = Tail(*o); });
}

}  // namespace ltxbus::cli
