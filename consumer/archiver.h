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
//  - The manifest (consumer/archive_manifest.h) is written with a
//    conditional write after compactions, snapshots and retention, and at
//    least every lease-ttl/3; it is the lease. L0 files are named at the next
//    write (restores find the newer ones with one LIST, UnnamedL0Tail).
//    Objects are written before the manifest that names them and deleted
//    after the manifest that drops them, so a crash (kill -9) at any point
//    leaves every file the manifest names in place; at worst objects no
//    manifest names, which are adopted, rewritten or harmless.
//  - Resume: from the manifest's bus position, re-reading (and verifying)
//    the stream through the L0 files uploaded after it; never a gap.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "bus/bus.h"
#include "config/config.h"
#include "consumer/archive_manifest.h"
#include "consumer/archive_spool.h"
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
  // `tx` is archived (or adopted): the chain continues after it.
  void Advance(const Transaction& tx);
  Status Flush();
  Status WriteSnapshotFrame(const Transaction& tx);
  Status AdoptUnnamedTail();
  Status Maintain(int64_t now_ms);
  bool LeaseRenewalDue(int64_t now_ms) const;
  Status RenewLeaseIfDue(int64_t now_ms);
  // True if something was written (the manifest is not).
  Result<bool> Compact(int level, int64_t now_ms);
  Result<bool> Snapshot(int64_t now_ms);
  std::vector<ArchiveFile> RetentionVictims(int64_t now_ms);
  void KeepLocalCopy(const ArchiveFile& f, std::unique_ptr<Spool> spool);
  void DropLocalCopies(const std::vector<ArchiveFile>& files);
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
  // L0 files an earlier run uploaded but never named (AdoptUnnamedTail).
  std::vector<ArchiveFile> adopted_;
  // This run's L0 files until L1 merges them, so compaction downloads none.
  static constexpr uint64_t kLocalL0Bytes = uint64_t{256} << 20;
  std::map<std::string, std::unique_ptr<Spool>> local_l0_;
  uint64_t local_l0_bytes_ = 0;
  int64_t last_retention_ms_ = 0;
  ltx::TXID last_txid_ = 0;
  ltx::Checksum last_checksum_ = 0;
  Position last_position_;
};

}  // namespace ltxbus::consumer
