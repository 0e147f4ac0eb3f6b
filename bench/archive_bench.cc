// Archive and restore on loopback (issue 5), ltxbus side by side with
// Litestream v0.5.16, against the real nats-server and versitygw (posix
// backend; moto keeps objects in memory and, with signature checking, refuses
// the LISTs Litestream's SDK sends, see tests/integration/archive_test.cc):
//
//   restore   a ~1 GiB database (bench/producer_bench_app --big-bytes, the
//             system SQLite, random blobs) archived by `ltxbus replicate` +
//             `ltxbus archive` to a local directory and to S3, and by
//             `litestream replicate` to the same two; then `ltxbus restore`
//             and `litestream restore` from each, timed, against the disk's
//             durable sequential write speed (dd conv=fdatasync, same
//             filesystem, before each round); each tool also restores the
//             other's archive once; every restore is compared byte for byte
//             with its source, and one traced run per tool shows whether the
//             restore syncs its output (strace of the sync calls);
//   requests  object-store requests per hour at a paced 10 transactions/s,
//             counted on the wire by bench/counting_proxy for both, in steady
//             state (after L0 retention began deleting); it runs alongside
//             the restores (archive_bench_requests.cc).
//
// Prints the tables and replaces the archive section of bench/RESULTS.md
// (between its markers). bench/run.sh archive builds and runs it.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <future>
#include <optional>
#include <sstream>
#include <thread>

#include "base/env.h"
#include "base/process.h"
#include "bench/archive_bench.h"

namespace ltxbus::bench {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

struct Options {
  int64_t db_bytes = int64_t{1} << 30;
  int reps = 5;
  RequestsOptions requests;
  std::string only = "restore,requests";
  std::string results, command = "bench/run.sh archive";
};

// One archive: who wrote it, where, and what it must restore to.
struct Archive {
  std::string writer;                      // "ltxbus" or "Litestream"
  std::string backend;                     // "file" or "S3"
  std::string ltxbus_url, litestream_url;  // the same archive, as each tool names it
  std::string reference;                   // a database file equal to what it holds
};

struct RestoreRow {
  std::string tool;  // who restores
  Archive archive;
  std::vector<double> seconds;
  bool identical = true;
  std::string error;
};

struct SyncCheck {
  std::string tool;
  int output_syncs = 0, dir_syncs = 0;
  std::string calls;  // the distinct sync calls seen
};

struct RestoreResults {
  int64_t db_bytes = 0;
  std::vector<double> dd_seconds;
  std::vector<RestoreRow> rows;
  std::vector<SyncCheck> syncs;
  double ltxbus_archive_s = 0, litestream_file_s = 0, litestream_s3_s = 0;
};

std::vector<std::string> RestoreArgv(const Tools& t, const std::string& tool, const Archive& a,
                                     const std::string& out) {
  return tool == "ltxbus"
             ? std::vector<std::string>{t.ltxbus, "restore", "-o", out, a.ltxbus_url}
             : std::vector<std::string>{t.litestream, "restore", "-o", out, a.litestream_url};
}

void RemoveOutput(const std::string& out) {
  for (const char* suffix : {"", "-wal", "-shm", ".tmp", "-journal"}) {
    std::error_code ec;
    std::filesystem::remove(out + suffix, ec);
  }
}

Result<double> TimeRestore(const Tools& t, const std::vector<std::string>& argv,
                           const std::string& out) {
  RemoveOutput(out);
  LTXBUS_RETURN_IF_ERROR(SyncAll());
  ProcessOptions po;
  po.env = t.S3Env();
  po.stdout_mode = Stream::kCapture;
  po.merge_stderr = true;
  const auto start = Clock::now();
  LTXBUS_ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv, 900s, po));
  const double s = Seconds(Clock::now() - start).count();
  if (r.exit_code != 0) {
    return Status::Internal("`{}` exited with {}: {}", CommandLine(argv), r.exit_code, r.output);
  }
  return s;
}

Result<bool> SameFile(const std::string& a, const std::string& b) {
  LTXBUS_ASSIGN_OR_RETURN(CommandResult r, RunCommand({"cmp", "-s", a, b}, 300s));
  return r.exit_code == 0;
}

// One restore under strace, counting the sync calls on the output file and
// on its directory.
Result<SyncCheck> TraceSyncs(const Tools& t, const std::string& tool, const Archive& a,
                             const std::string& out, const std::string& trace) {
  RemoveOutput(out);
  std::vector<std::string> argv = {
      "strace", "-f",  "-qq", "-y",
      "-o",     trace, "-e",  "trace=fsync,fdatasync,sync_file_range,syncfs,sync,msync"};
  for (const std::string& s : RestoreArgv(t, tool, a, out)) argv.push_back(s);
  ProcessOptions po;
  po.env = t.S3Env();
  po.stdout_mode = Stream::kCapture;
  po.merge_stderr = true;
  LTXBUS_ASSIGN_OR_RETURN(CommandResult r, RunCommand(argv, 900s, po));
  if (r.exit_code != 0) return Status::Internal("{} under strace: {}", tool, r.output);
  LTXBUS_ASSIGN_OR_RETURN(std::string text, ReadFileToString(Env::Default(), trace));
  SyncCheck c;
  c.tool = tool;
  const std::string dir = out.substr(0, out.rfind('/'));
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const size_t lt = line.find('<'), gt = line.find('>', lt);
    if (lt == std::string::npos || gt == std::string::npos) continue;
    const std::string path = line.substr(lt + 1, gt - lt - 1);
    const size_t paren = line.find('(');
    const size_t space = line.rfind(' ', paren);
    const std::string call = line.substr(space + 1, paren - space - 1);
    if (path.rfind(out, 0) == 0) {
      c.output_syncs++;
    } else if (path == dir) {
      c.dir_syncs++;
    } else {
      continue;
    }
    if (c.calls.find(call) == std::string::npos) c.calls += (c.calls.empty() ? "" : ", ") + call;
  }
  return c;
}

Status ArchiveWithLtxbus(const Tools& t, const RunDir& dir, const std::string& db,
                         const std::vector<std::string>& urls) {
  const std::string bus = fmt::format("{}/ARB{}", t.nats->env("NATS_URL"), getpid());
  const std::string log = dir.Join("ltxbus.log");
  LTXBUS_ASSIGN_OR_RETURN(Process producer, SpawnLogged({t.ltxbus, "replicate", db, bus}, log));
  std::string yaml = fmt::format("bus: '{}'\narchive:\n", bus);
  for (const std::string& url : urls) yaml += fmt::format("  - name: app.db\n    url: '{}'\n", url);
  LTXBUS_RETURN_IF_ERROR(WriteFileAtomic(Env::Default(), dir.Join("archive.yml"), AsBytes(yaml)));
  LTXBUS_ASSIGN_OR_RETURN(
      Process archiver,
      SpawnLogged(WithEnv(t.S3Env(), {t.ltxbus, "archive", "-config", dir.Join("archive.yml")}),
                  log));
  for (const std::string& url : urls) {
    LTXBUS_RETURN_IF_ERROR(WaitUntil(
        [&]() -> Result<bool> {
          if (!archiver.running() || archiver.Wait(0ms).ok()) {
            return Status::Internal("ltxbus archive exited; see {}", log);
          }
          LTXBUS_ASSIGN_OR_RETURN(ltx::TXID txid, ArchivedTxid(t, url));
          return txid >= 1;
        },
        900s, "ltxbus archived no snapshot of the database to " + url));
  }
  (void)archiver.Stop(60s);
  (void)producer.Stop(60s);
  return Status::OK();
}

// `litestream replicate` of `db` until its first LTX file is at `url`, then
// stopped; the database is checkpointed so it equals what was archived.
Status ArchiveWithLitestream(const Tools& t, const RunDir& dir, const std::string& db,
                             const std::string& yaml, const std::string& probe_url) {
  LTXBUS_RETURN_IF_ERROR(
      WriteFileAtomic(Env::Default(), dir.Join("litestream.yml"), AsBytes(yaml)));
  const std::string log = dir.Join("litestream.log");
  LTXBUS_ASSIGN_OR_RETURN(Process ls,
                          SpawnLogged(WithEnv(t.S3Env(), {t.litestream, "replicate", "-config",
                                                          dir.Join("litestream.yml")}),
                                      log));
  LTXBUS_RETURN_IF_ERROR(WaitUntil([&] { return LitestreamHasLtx(t, probe_url); }, 900s,
                                   "litestream wrote no LTX file to " + probe_url));
  (void)ls.Stop(60s);
  LTXBUS_ASSIGN_OR_RETURN(CommandResult r,
                          RunCommand({"sqlite3", db, "PRAGMA wal_checkpoint(TRUNCATE);"}, 300s));
  if (r.exit_code != 0) return Status::Internal("checkpoint of {}: {}", db, r.error_output);
  return Status::OK();
}

Result<RestoreResults> RunRestore(const Tools& t, const Options& o) {
  RunDir dir;
  RestoreResults res;
  // Litestream gets copies of its own (one per archive): it keeps state beside
  // the database and may add its bookkeeping to it.
  const std::string lx_db = dir.Join("app.db"), ls_file_db = dir.Join("ls-file.db"),
                    ls_s3_db = dir.Join("ls-s3.db");
  std::fprintf(stderr, "restore: building a %.0f MiB database\n", double(o.db_bytes) / (1 << 20));
  LTXBUS_RETURN_IF_ERROR(
      RunBenchApp(t.app, {lx_db, "--create", "--transactions", "1"}, 60s).status());
  LTXBUS_RETURN_IF_ERROR(
      RunBenchApp(t.app, {lx_db, "--big-bytes", std::to_string(o.db_bytes)}, 900s).status());
  for (const std::string& copy : {ls_file_db, ls_s3_db}) {
    std::error_code ec;
    std::filesystem::copy_file(lx_db, copy, ec);
    if (ec) return Status::Internal("copy {}: {}", lx_db, ec.message());
  }
  LTXBUS_ASSIGN_OR_RETURN(const uint64_t db_bytes, Env::Default()->GetFileSize(lx_db));
  res.db_bytes = static_cast<int64_t>(db_bytes);

  LTXBUS_ASSIGN_OR_RETURN(const std::string lx_bucket, t.NewBucket("lxrestore"));
  LTXBUS_ASSIGN_OR_RETURN(const std::string ls_bucket, t.NewBucket("lsrestore"));
  const int port = t.s3_port();
  std::vector<Archive> archives = {
      {"ltxbus", "file", "file://" + dir.Join("lx-archive"), "file://" + dir.Join("lx-archive"),
       lx_db},
      {"ltxbus", "S3", t.LtxbusS3Url(lx_bucket, port), t.LitestreamS3Url(lx_bucket, port), lx_db},
      {"Litestream", "file", "file://" + dir.Join("ls-archive"), "file://" + dir.Join("ls-archive"),
       ls_file_db},
      {"Litestream", "S3", t.LtxbusS3Url(ls_bucket, port), t.LitestreamS3Url(ls_bucket, port),
       ls_s3_db},
  };
  std::fprintf(stderr, "restore: ltxbus replicate + archive (file, S3)\n");
  auto start = Clock::now();
  LTXBUS_RETURN_IF_ERROR(
      ArchiveWithLtxbus(t, dir, lx_db, {archives[0].ltxbus_url, archives[1].ltxbus_url}));
  res.ltxbus_archive_s = Seconds(Clock::now() - start).count();
  std::fprintf(stderr, "restore: litestream replicate (file, then S3)\n");
  start = Clock::now();
  LTXBUS_RETURN_IF_ERROR(ArchiveWithLitestream(
      t, dir, ls_file_db,
      fmt::format("dbs:\n  - path: {}\n    replica:\n      type: file\n      path: {}\n",
                  ls_file_db, dir.Join("ls-archive")),
      archives[2].ltxbus_url));
  res.litestream_file_s = Seconds(Clock::now() - start).count();
  start = Clock::now();
  LTXBUS_RETURN_IF_ERROR(ArchiveWithLitestream(
      t, dir, ls_s3_db, t.LitestreamS3Yaml(ls_s3_db, ls_bucket, port), archives[3].ltxbus_url));
  res.litestream_s3_s = Seconds(Clock::now() - start).count();

  // Each tool from its own writer's archives, o.reps times, alternating who
  // goes first; then once from the other's.
  for (bool own : {true, false}) {
    for (const Archive& a : archives) {
      RestoreRow row;
      row.tool = own == (a.writer == "ltxbus") ? "ltxbus" : "Litestream";
      row.archive = a;
      res.rows.push_back(row);
    }
  }
  const std::string out = dir.Join("restored.db");
  for (int rep = 0; rep < o.reps; rep++) {
    LTXBUS_ASSIGN_OR_RETURN(double dd, TimeDd(dir.Join("dd.bin"), res.db_bytes));
    res.dd_seconds.push_back(dd);
    std::fprintf(stderr, "restore: round %d, dd %.0f MB/s\n", rep + 1,
                 double(res.db_bytes) / 1e6 / dd);
    for (const std::string backend : {"file", "S3"}) {
      std::vector<RestoreRow*> round;
      for (RestoreRow& r : res.rows) {
        if (r.archive.backend == backend && (r.tool == r.archive.writer || rep == 0)) {
          round.push_back(&r);
        }
      }
      if (rep % 2 == 1) std::reverse(round.begin(), round.end());
      for (RestoreRow* r : round) {
        if (!r->error.empty()) continue;
        auto s = TimeRestore(t, RestoreArgv(t, r->tool, r->archive, out), out);
        if (!s.ok()) {
          r->error = s.status().ToString();
          std::fprintf(stderr, "%s\n", r->error.c_str());
          continue;
        }
        r->seconds.push_back(*s);
        std::fprintf(stderr, "  %s from %s's %s archive: %.2f s\n", r->tool.c_str(),
                     r->archive.writer.c_str(), backend.c_str(), *s);
        if (rep == 0) {
          LTXBUS_ASSIGN_OR_RETURN(r->identical, SameFile(out, r->archive.reference));
        }
      }
    }
  }
  for (const std::string tool : {"ltxbus", "Litestream"}) {
    const Archive& own = archives[tool == "ltxbus" ? 0 : 2];
    LTXBUS_ASSIGN_OR_RETURN(SyncCheck c, TraceSyncs(t, tool, own, out, dir.Join("strace.txt")));
    res.syncs.push_back(c);
  }
  RemoveOutput(out);
  return res;
}

double D(uint64_t n) { return static_cast<double>(n); }

double MBps(int64_t bytes, const std::vector<double>& seconds) {
  return seconds.empty() ? 0 : static_cast<double>(bytes) / 1e6 / Median(seconds);
}

std::string Markdown(const Options& o, const std::optional<RestoreResults>& r,
                     const std::vector<RequestsResult>& req, const std::string& load) {
  std::string md = fmt::format(
      "Command: `{}`. Loopback, the shared 2-vCPU VM (load average before: {}), {}; "
      "S3 is versitygw (posix backend, on the same disk), the bus nats-server; "
      "Litestream v0.5.16; ltxbus Release build. Both tools with their defaults.\n\n",
      o.command, load, UtcNow());
  if (r) {
    const double dd = MBps(r->db_bytes, r->dd_seconds);
    std::string rounds;
    for (double s : r->dd_seconds) {
      rounds += fmt::format("{}{:.0f}", rounds.empty() ? "" : ", ", double(r->db_bytes) / 1e6 / s);
    }
    md += fmt::format(
        "**Restore of a {:.0f} MiB database** (bench/producer_bench_app --big-bytes: random "
        "blobs, so LZ4 gains nothing; one whole-database LTX file in each archive: ltxbus's "
        "level-9 snapshot, Litestream's first L0 file). Wall time of `restore -o OUT SOURCE`, "
        "median of {} (cross rows: 1), output on the same filesystem as the archive. Disk: `dd "
        "if=/dev/zero bs=1M conv=fdatasync` of the same size before each round: **{:.0f} MB/s** "
        "(rounds: {}); an untimed `sync` before every dd and every restore, so none pays for "
        "dirty pages an earlier step left. Archiving took {:.0f} s for ltxbus (replicate + archive "
        "to both), "
        "{:.0f} s + {:.0f} s for Litestream (file, S3).\n\n"
        "| Restore by | Archive (writer, backend) | Seconds (median) | Best | MB/s (median) | ÷ dd "
        "| Byte-identical |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | --- |\n",
        double(r->db_bytes) / (1 << 20), o.reps, dd, rounds, r->ltxbus_archive_s,
        r->litestream_file_s, r->litestream_s3_s);
    for (const RestoreRow& row : r->rows) {
      const double mb = MBps(r->db_bytes, row.seconds);
      if (!row.error.empty()) {
        md += fmt::format("| {} | {}, {} | failed: {} | | | | |\n", row.tool, row.archive.writer,
                          row.archive.backend, row.error.substr(0, 200));
        continue;
      }
      md += fmt::format("| {} | {}, {} | {:.2f} | {:.2f} | {:.0f} | {:.0f}% | {} |\n", row.tool,
                        row.archive.writer, row.archive.backend, Median(row.seconds),
                        *std::min_element(row.seconds.begin(), row.seconds.end()), mb,
                        100 * mb / dd, row.identical ? "yes" : "**no**");
    }
    md += "\n| Backend | ltxbus ÷ Litestream (own archives) |\n| --- | ---: |\n";
    for (size_t i = 0; i < 2; i++) {
      const double a = MBps(r->db_bytes, r->rows[i].seconds);
      const double b = MBps(r->db_bytes, r->rows[i + 2].seconds);
      md += fmt::format("| {} | {:.2f}× |\n", r->rows[i].archive.backend, b > 0 ? a / b : 0);
    }
    md +=
        "\nDurability (one restore each from the local archive under `strace -f -y`, sync "
        "calls on the output):\n\n| Tool | Syncs of the output file | Syncs of its directory | "
        "Calls |\n| --- | ---: | ---: | --- |\n";
    for (const SyncCheck& c : r->syncs) {
      md += fmt::format("| {} | {} | {} | {} |\n", c.tool, c.output_syncs, c.dir_syncs,
                        c.calls.empty() ? "none" : c.calls);
    }
  }
  if (!req.empty()) {
    const double scale = 3600 / o.requests.seconds;
    md += fmt::format(
        "\n**Object-store requests at {:.0f} transactions/s** (one 100-byte row each, each tool "
        "with its own app and bucket, at the same time), counted on the wire by a proxy in "
        "front of versitygw (bench/counting_proxy.cc; LIST = a GET on the bucket) over {:.0f} s "
        "after {:.0f} s of warm-up (past both tools' 5-minute L0 retention, so its deletions "
        "count), ×{:.0f} for per hour; this run goes on while the restores above run. ltxbus: "
        "`replicate` to NATS + "
        "`archive` with its defaults (L0 every 1 s, L1 30 s, L2 5 min, L3 1 h, lease 30 s); "
        "Litestream: `replicate` with its defaults.\n\n"
        "| Archiver | Commits | PUT/h | GET/h | HEAD/h | LIST/h | DELETE/h | Total/h |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        o.requests.rate, o.requests.seconds, o.requests.warmup, scale);
    for (const RequestsResult& q : req) {
      const auto& c = q.counted;
      md += fmt::format("| {} | {} | {:.0f} | {:.0f} | {:.0f} | {:.0f} | {:.0f} | **{:.0f}** |\n",
                        q.who, q.commits, D(c.put) * scale, D(c.get) * scale, D(c.head) * scale,
                        D(c.list) * scale, D(c.delete_) * scale, D(c.total()) * scale);
    }
    if (!req[0].own_counters.empty()) {
      md += fmt::format("\n`ltxbus archive`'s own count for its whole run (startup included): {}\n",
                        req[0].own_counters);
    }
  }
  return md;
}

int Main(int argc, char** argv) {
  CLI::App cli{"ltxbus archive/restore benchmark (see bench/RESULTS.md)"};
  Options o;
  cli.add_option("--db-bytes", o.db_bytes, "size of the restored database's data");
  cli.add_option("--reps", o.reps, "restore rounds");
  cli.add_option("--rate", o.requests.rate, "transactions per second in the requests run");
  cli.add_option("--seconds", o.requests.seconds, "counted seconds in the requests run");
  cli.add_option("--warmup", o.requests.warmup, "uncounted seconds before");
  cli.add_option("--only", o.only, "comma-separated: restore,requests");
  cli.add_option("--results", o.results, "RESULTS.md to update (default: none)");
  cli.add_option("--command", o.command, "the command line to record");
  CLI11_PARSE(cli, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  Tools t;
  const BenchPrograms programs = FindPrograms();
  t.source_dir = LTXBUS_BENCH_SOURCE_DIR;
  t.ltxbus = programs.ltxbus;
  t.app = programs.app;
  t.litestream = programs.litestream;
  const std::string load = LoadAverage();
  for (auto [slot, name] : {std::pair{&t.nats, "nats"}, std::pair{&t.s3, "versitygw"}}) {
    auto s = Server::Start(t.source_dir, name);
    if (!s.ok()) return std::fprintf(stderr, "%s\n", s.status().ToString().c_str()), 1;
    *slot = std::move(*s);
  }
  auto want = [&](const std::string& s) { return o.only.find(s) != std::string::npos; };
  // The requests run mostly waits (its warm-up outlasts L0 retention), so it
  // goes alongside the restores: light load (two apps at 10/s) against the
  // minutes it saves.
  std::future<Result<std::vector<RequestsResult>>> requests_run;
  if (want("requests")) {
    requests_run = std::async(std::launch::async, [&] { return RunRequests(t, o.requests); });
  }
  std::optional<RestoreResults> restore;
  if (want("restore")) {
    auto r = RunRestore(t, o);
    if (!r.ok()) return std::fprintf(stderr, "restore: %s\n", r.status().ToString().c_str()), 1;
    restore = std::move(*r);
  }
  std::vector<RequestsResult> requests;
  if (requests_run.valid()) {
    auto r = requests_run.get();
    if (!r.ok()) return std::fprintf(stderr, "requests: %s\n", r.status().ToString().c_str()), 1;
    requests = std::move(*r);
  }
  const std::string md = Markdown(o, restore, requests, load);
  std::fputs(md.c_str(), stdout);
  if (!o.results.empty()) {
    constexpr std::string_view kBegin = "<!-- archive_bench: begin -->";
    constexpr std::string_view kEnd = "<!-- archive_bench: end -->";
    Status s =
        ReplaceMarkedSection(o.results, kBegin, kEnd, fmt::format("{}\n{}{}\n", kBegin, md, kEnd),
                             "## Archive: restore throughput and requests (issue 5)\n\n");
    if (!s.ok()) return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
  }
  return 0;
}

}  // namespace
}  // namespace ltxbus::bench

int main(int argc, char** argv) { return ltxbus::bench::Main(argc, argv); }
