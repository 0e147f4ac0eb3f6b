// Shared by bench/archive_bench.cc (restore throughput) and
// bench/archive_bench_requests.cc (object-store requests per hour): the
// programs, the servers (nats-server, versitygw), and helpers to reach S3.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "bench/producer_bench_util.h"
#include "ltx/ltx.h"
#include "store/object_store.h"

namespace ltxbus::bench {

using EnvVars = std::vector<std::pair<std::string, std::string>>;

struct Tools {
  std::string source_dir, ltxbus, app, litestream;
  std::unique_ptr<Server> nats, s3;  // s3: versitygw (see archive_bench.cc)

  int s3_port() const;
  // AWS credentials of the S3 server, for ltxbus and Litestream alike.
  EnvVars S3Env() const;
  // The S3 endpoint URL through `port` (the server's own, or a proxy's).
  std::string Endpoint(int port) const;
  // Archive URLs of `bucket`/db for ltxbus and for Litestream (path-style).
  std::string LtxbusS3Url(const std::string& bucket, int port) const;
  std::string LitestreamS3Url(const std::string& bucket, int port) const;
  // A litestream.yml replicating `db` to `bucket`/db through `port`.
  std::string LitestreamS3Yaml(const std::string& db, const std::string& bucket, int port) const;
  // A fresh bucket name, created on the server.
  Result<std::string> NewBucket(const std::string& prefix) const;
  // The store at an archive URL, with the server's credentials.
  Result<std::unique_ptr<store::ObjectStore>> OpenStore(const std::string& url) const;
};

// `env K=V... argv...`: argv with `env` added to its environment (for
// SpawnLogged, which takes no environment).
std::vector<std::string> WithEnv(const EnvVars& env, std::vector<std::string> argv);

// Polls `ready` every 100 ms until it says true, fails or `timeout` passes.
Status WaitUntil(const std::function<Result<bool>()>& ready, std::chrono::seconds timeout,
                 const std::string& what);
// The newest TXID in an ltxbus archive's manifest (0: none yet).
Result<ltx::TXID> ArchivedTxid(const Tools& t, const std::string& url);
// True once Litestream has an LTX file at `url` (file:// or s3://).
Result<bool> LitestreamHasLtx(const Tools& t, const std::string& url);

// Requests per hour at a paced transaction rate (archive_bench_requests.cc).
struct RequestsOptions {
  double rate = 10;  // transactions per second
  // Seconds of the app before counting starts: past both tools' 5-minute
  // L0 retention and an L1 compaction after it, so deletions are counted.
  double warmup = 330;
  double seconds = 120;  // seconds counted
};
struct RequestsResult {
  std::string who;
  store::RequestCounts counted;  // in the counted window, at the proxy
  uint64_t commits = 0;          // the app's commits in the whole run
  std::string own_counters;      // ltxbus archive's own log line (whole run)
};
Result<std::vector<RequestsResult>> RunRequests(const Tools& t, const RequestsOptions& o);

}  // namespace ltxbus::bench
