// The archiver (`ltxbus archive`, docs/archive.md): a consumer of one
// database's stream that keeps a point-in-time archive of it in object
// storage, in Litestream v0.5's layout, so `ltxbus restore` and `litestream
// restore` can rebuild the database as of any archived transaction.
//
//  - Ingest: transactions are read with the consumer API (verified, in
//    order). Each must continue the archive's checksum chain (pre-apply ==
//    the previous post-apply) or be a snapshot frame, which restarts the
//    chain; anything else stops archiving with a Corruption error naming the
//    TXIDs. Transactions received within `sync_interval` become one L0 file
//    (0: one per transaction), re-encoded NoChecksum (what Litestream reads)
//    with the litestream-timestamp metadata. A snapshot frame becomes a
//    level-9 file: a restore starts from it.
//  - Levels, snapshots and retention as in consumer/archive_levels.h.
//  - The manifest (consumer/archive_manifest.h) is written after each change
//    with a conditional write; it is the lease. Objects are written before the
//    manifest that names them and deleted after the manifest that drops them,
//    so a crash (kill -9) at any point leaves every file the manifest names
//    in place; at worst objects no manifest names, which are rewritten or
//    harmless.
//  - Resume: from the manifest's last TXID and bus position; never a gap.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "bus/bus.h"
#include "config/config.h"
#include "consumer/archive_manifest.h"
#include "consumer/transaction_stream.h"
#include "ltx/ltx.h"
#include "store/object_store.h"

namespace ltxbus::consumer {

using Millis = std::chrono::milliseconds;

struct ArchiverOptions {
  config::ArchiveConfig config;
  // Who we are in the lease ("host/pid/start-ms"); a default is made.
  std::string owner;
  // How long to wait for another archiver's lease; 0 exits at once.
  Millis lease_wait{0};
  int download_parallelism = 8;
};

class Archiver {
 public:
  // Takes the lease (waiting up to options.lease_wait), reads the manifest
  // (creating it for a new archive) and opens the stream after the last
  // archived transaction. `bus` and `store` must outlive the archiver.
  static Result<std::unique_ptr<Archiver>> Open(Env* env, bus::Bus& bus, store::ObjectStore& store,
                                                ArchiverOptions options);
  ~Archiver();

  // Archives until `stop` is set (then flushes and releases the lease) or an
  // error: a broken chain, a lost lease (Conflict), a store or bus failure.
  Status Run(const std::atomic<bool>& stop);
  // One step: waits up to `timeout` for a transaction, then uploads, compacts
  // and renews what is due. For tests and Run().
  Status Step(Millis timeout);
  // Uploads what is pending and releases the lease.
  Status Close();

  ltx::TXID archived_txid() const { return manifest_.last_txid(); }
  const Manifest& manifest() const { return manifest_; }

 private:
  Archiver(Env* env, store::ObjectStore& store, ArchiverOptions options);
  Status TakeLease();
  Status OpenStream(bus::Bus& bus);
  Status Ingest(Transaction tx);
  Status Flush();
  Status WriteSnapshotFrame(const Transaction& tx);
  Status Maintain(int64_t now_ms);
  Status Compact(int level, int64_t now_ms);
  Status Snapshot(int64_t now_ms);
  Status Retain(int64_t now_ms);
  // Merges `inputs` (archive files, in TXID order) into one file at `level`.
  Result<ArchiveFile> Merge(const std::vector<ArchiveFile>& inputs, int level);
  Result<ArchiveFile> Upload(int level, SequentialFile& ltx_file, const ltx::Header& header,
                             uint64_t size, ltx::Checksum post_apply);
  // Writes the manifest (renewing the lease), then deletes `victims`.
  Status Commit(const std::vector<ArchiveFile>& victims = {});

  Env* env_;
  store::ObjectStore& store_;
  ArchiverOptions options_;
  ArchiveLayout layout_;
  Manifest manifest_;
  std::string etag_;
  std::unique_ptr<TransactionStream> stream_;
  struct Pending;
  std::vector<Pending> pending_;
  int64_t pending_since_ms_ = 0;
  ltx::TXID last_txid_ = 0;
  ltx::Checksum last_checksum_ = 0;
  Position last_position_;
};

}  // namespace ltxbus::consumer
