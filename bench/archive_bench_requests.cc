// Object-store requests at a paced transaction rate: `ltxbus replicate` +
// `ltxbus archive` and `litestream replicate`, each to its own bucket on the
// same versitygw through its own CountingProxy, each with its own app (the
// system SQLite) writing one 100-byte row per transaction at the same rate,
// at the same time. Both use their defaults (L0 every 1 s, L1 30 s, ...).
// The first `warmup` seconds (the initial snapshot) are not counted.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <sstream>
#include <thread>

#include "base/env.h"
#include "base/process.h"
#include "bench/archive_bench.h"
#include "bench/counting_proxy.h"

namespace ltxbus::bench {
namespace {

using namespace std::chrono_literals;

store::RequestCounts Minus(const store::RequestCounts& a, const store::RequestCounts& b) {
  return {a.put - b.put, a.get - b.get, a.head - b.head, a.list - b.list, a.delete_ - b.delete_};
}

// The archiver's own "N requests (PUT ...)" line from its log, if any.
std::string OwnCounters(const std::string& log) {
  auto text = ReadFileToString(Env::Default(), log);
  if (!text.ok()) return "";
  std::istringstream lines(*text);
  std::string found;
  for (std::string line; std::getline(lines, line);) {
    if (const size_t at = line.find(" requests (PUT "); at != std::string::npos) {
      found = line.substr(line.rfind(": ", at) + 2);
    }
  }
  return found;
}

}  // namespace

Result<std::vector<RequestsResult>> RunRequests(const Tools& t, const RequestsOptions& o) {
  RunDir dir;
  LTXBUS_ASSIGN_OR_RETURN(auto lx_proxy, CountingProxy::Start(t.s3_port()));
  LTXBUS_ASSIGN_OR_RETURN(auto ls_proxy, CountingProxy::Start(t.s3_port()));
  LTXBUS_RETURN_IF_ERROR(Env::Default()->CreateDirs(dir.Join("lx")));
  LTXBUS_RETURN_IF_ERROR(Env::Default()->CreateDirs(dir.Join("ls")));
  const std::string lx_db = dir.Join("lx/app.db"), ls_db = dir.Join("ls/app.db");
  for (const std::string& db : {lx_db, ls_db}) {
    LTXBUS_RETURN_IF_ERROR(
        RunBenchApp(t.app, {db, "--create", "--transactions", "1"}, 60s).status());
  }
  LTXBUS_ASSIGN_OR_RETURN(const std::string lx_bucket, t.NewBucket("lxreq"));
  LTXBUS_ASSIGN_OR_RETURN(const std::string ls_bucket, t.NewBucket("lsreq"));

  // ltxbus: the producer to NATS, the archiver from NATS to S3 via its proxy.
  const std::string bus = fmt::format("{}/ARQ{}", t.nats->env("NATS_URL"), getpid());
  const std::string archive_log = dir.Join("archive.log");
  LTXBUS_ASSIGN_OR_RETURN(Process producer,
                          SpawnLogged({t.ltxbus, "replicate", lx_db, bus}, dir.Join("lx.log")));
  LTXBUS_ASSIGN_OR_RETURN(
      Process archiver,
      SpawnLogged(WithEnv(t.S3Env(), {t.ltxbus, "archive", bus, "app.db",
                                      t.LtxbusS3Url(lx_bucket, lx_proxy->port())}),
                  archive_log));
  // Litestream: replicate straight to S3 via the other proxy.
  const std::string ls_config = dir.Join("litestream.yml");
  LTXBUS_RETURN_IF_ERROR(WriteFileAtomic(
      Env::Default(), ls_config, AsBytes(t.LitestreamS3Yaml(ls_db, ls_bucket, ls_proxy->port()))));
  LTXBUS_ASSIGN_OR_RETURN(
      Process litestream,
      SpawnLogged(WithEnv(t.S3Env(), {t.litestream, "replicate", "-config", ls_config}),
                  dir.Join("ls.log")));

  const std::string lx_direct = t.LtxbusS3Url(lx_bucket, t.s3_port());
  const std::string ls_direct = t.LtxbusS3Url(ls_bucket, t.s3_port());
  Status ready = WaitUntil(
      [&]() -> Result<bool> {
        LTXBUS_ASSIGN_OR_RETURN(ltx::TXID txid, ArchivedTxid(t, lx_direct));
        return txid >= 1;
      },
      120s, "ltxbus archived no snapshot");
  if (ready.ok()) {
    ready = WaitUntil([&] { return LitestreamHasLtx(t, ls_direct); }, 120s,
                      "litestream wrote no LTX file");
  }
  if (!ready.ok()) return ready.WithContext("see the logs in " + dir.Join(""));

  // Both apps at once, so both replicators see the same minutes.
  const double app_seconds = o.warmup + o.seconds + 2;
  std::vector<Process> apps;
  for (const std::string& db : {lx_db, ls_db}) {
    ProcessOptions po;
    po.stdout_mode = Stream::kCapture;
    LTXBUS_ASSIGN_OR_RETURN(
        Process p, Process::Spawn({t.app, db, "--seconds", fmt::format("{}", app_seconds), "--rate",
                                   fmt::format("{}", o.rate)},
                                  po));
    apps.push_back(std::move(p));
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup));
  const store::RequestCounts lx0 = lx_proxy->counts(), ls0 = ls_proxy->counts();
  std::fprintf(stderr, "requests: counting for %.0f s\n", o.seconds);
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  const store::RequestCounts lx1 = lx_proxy->counts(), ls1 = ls_proxy->counts();

  std::vector<RequestsResult> out(2);
  out[0].who = "ltxbus archive";
  out[1].who = "Litestream replicate";
  for (size_t i = 0; i < apps.size(); i++) {
    LTXBUS_ASSIGN_OR_RETURN(int code, apps[i].Wait(60s));
    if (code != 0) return Status::Internal("the app exited with {}", code);
    out[i].commits = static_cast<uint64_t>(Field(apps[i].output(), "commits"));
  }
  out[0].counted = Minus(lx1, lx0);
  out[1].counted = Minus(ls1, ls0);
  (void)litestream.Stop(30s);
  (void)archiver.Stop(30s);
  (void)producer.Stop(30s);
  out[0].own_counters = OwnCounters(archive_log);
  return out;
}

}  // namespace ltxbus::bench
