#include "consumer/follower_archive.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>

#include "consumer/restore.h"
#include "consumer/stream_locator.h"
#include "ltx/encoder.h"

namespace ltxbus::consumer {
namespace {

using ltx::FormatTXID;

bus::StartPosition AtOffset(uint64_t offset) {
  bus::StartPosition p;
  p.kind = bus::StartPosition::Kind::kOffset;
  p.offset = offset;
  return p;
}

// Removes a temporary file when it goes out of scope.
struct RemoveOnExit {
  Env* env;
  std::string path;
  ~RemoveOnExit() {
    if (env->FileExists(path)) (void)env->RemoveFile(path);
  }
};

// Writes the restored database at `db_path` as one snapshot LTX file.
Status EncodeSnapshot(Env* env, const std::string& db_path, const RestoreResult& restored,
                      int64_t timestamp_ms, const std::string& ltx_path) {
  LTXBUS_ASSIGN_OR_RETURN(auto in, env->NewRandomAccessFile(db_path));
  LTXBUS_ASSIGN_OR_RETURN(auto out, env->NewWritableFile(ltx_path));
  ltx::Encoder enc(out.get(), {.encoding = ltx::PageEncoding::kLZ4Block});
  ltx::Header h;
  h.flags = 0;  // database checksums tracked: the follower verifies them
  h.page_size = restored.page_size;
  h.commit = restored.page_count;
  h.min_txid = 1;
  h.max_txid = restored.txid;
  h.timestamp_ms = timestamp_ms;
  LTXBUS_RETURN_IF_ERROR(enc.EncodeHeader(h));
  std::vector<uint8_t> page(restored.page_size);
  const uint32_t lock = ltx::LockPgno(restored.page_size);
  for (uint32_t pgno = 1; pgno <= restored.page_count; pgno++) {
    if (pgno == lock) continue;
    LTXBUS_RETURN_IF_ERROR(in->ReadAt(uint64_t{pgno - 1} * restored.page_size, page));
    LTXBUS_RETURN_IF_ERROR(enc.EncodePage(pgno, page));
  }
  LTXBUS_RETURN_IF_ERROR(enc.Finish(restored.checksum));
  return out->Close();
}

}  // namespace

Result<std::optional<ArchiveBootstrapPlan>> PlanArchiveBootstrap(
    store::ObjectStore& archive, bus::Bus& bus, const std::string& database,
    std::optional<ltx::TXID> replica_txid, bus::Millis timeout) {
  using Plan = std::optional<ArchiveBootstrapPlan>;
  internal::StreamLocator locator(bus, database, timeout);
  LTXBUS_ASSIGN_OR_RETURN(std::optional<StreamBounds> bounds, locator.ReadBounds());
  if (replica_txid) {
    // The stream still continues the replica, or restarts it with a snapshot.
    if (!bounds || bounds->first_min_txid <= *replica_txid + 1 || bounds->first_min_txid == 1) {
      return Plan();
    }
    spdlog::warn(
        "{}: the stream no longer holds what the replica needs: it is at TXID {}, and the oldest "
        "frame on the bus holds TXIDs {}-{} (retention removed the rest); looking at the archive "
        "{}",
        database, FormatTXID(*replica_txid), FormatTXID(bounds->first_min_txid),
        FormatTXID(bounds->first_txid), archive.url());
  }
  bool from_manifest = false;
  auto files = PlanArchiveRestore(archive, RestoreTarget{}, &from_manifest);
  if (!files.ok()) {
    if (!files.status().IsNotFound()) return files.status().WithContext("reading the archive");
    spdlog::warn("{}: the archive {} holds nothing yet ({}); bootstrapping from the stream",
                 database, archive.url(), files.status().message());
    return Plan();
  }
  ArchiveBootstrapPlan plan;
  plan.files = std::move(*files);
  plan.txid = plan.files.back().max_txid;
  plan.checksum = plan.files.back().post_apply_checksum;
  plan.timestamp_ms = plan.files.back().timestamp_ms;
  const std::string archived =
      fmt::format("the archive {} ends at TXID {}", archive.url(), FormatTXID(plan.txid));
  if (replica_txid && plan.txid <= *replica_txid) {
    spdlog::warn(
        "{}: {}, no newer than the replica (TXID {}): it cannot bridge to the stream either; "
        "waiting for a snapshot on the stream (restarting the producer publishes one)",
        database, archived, FormatTXID(*replica_txid));
    return Plan();
  }
  if (!bounds) {
    // Nothing on the bus yet: the archive's state, then whatever comes.
    plan.resume.kind = bus::StartPosition::Kind::kBeginning;
    return Plan(std::move(plan));
  }
  const StreamBounds& b = *bounds;
  const std::string held =
      fmt::format("the bus holds TXIDs {} to {} at offsets {} to {}", FormatTXID(b.first_min_txid),
                  FormatTXID(b.last_txid), b.first_offset, b.last_offset);
  if (plan.txid + 1 < b.first_min_txid) {
    spdlog::warn(
        "{}: {}, behind the stream's oldest frame as well ({}): neither can rebuild the replica; "
        "waiting for a snapshot on the stream (restarting the producer publishes one)",
        database, archived, held);
    return Plan();
  }
  // The frame that must continue the archive's state: after the head, the
  // next one published; else the locator finds it.
  internal::ChunkInfo next;
  if (plan.txid >= b.last_txid) {
    LTXBUS_ASSIGN_OR_RETURN(internal::ChunkInfo head, locator.ChunkAtOrAfter(b.last_offset));
    if (plan.txid > b.last_txid ||
        (plan.checksum != 0 && head.headers.trailer.post_apply != plan.checksum)) {
      spdlog::warn(
          "{}: {} with checksum {:016x}, but {} ending with checksum {:016x}: the archive holds "
          "another history than the stream (was the stream emptied and restarted?); "
          "bootstrapping from the stream",
          database, archived, plan.checksum, held, head.headers.trailer.post_apply);
      return Plan();
    }
    plan.resume = AtOffset(b.last_offset + 1);
    plan.position_offset = b.last_offset;
    return Plan(std::move(plan));
  }
  LTXBUS_ASSIGN_OR_RETURN(next, locator.FindTxid(plan.txid + 1));
  const bus::FrameId& id = next.headers.frame;
  const bool snapshot = id.min_txid == 1;
  if (!snapshot &&
      (id.min_txid != plan.txid + 1 || (plan.checksum != 0 && id.pre_apply != plan.checksum))) {
    spdlog::warn(
        "{}: {} with checksum {:016x}, but the stream's next frame (TXIDs {}-{} at offset {}) "
        "does not continue it (pre-apply checksum {:016x}): the archive holds another history "
        "than the stream; bootstrapping from the stream",
        database, archived, plan.checksum, FormatTXID(id.min_txid), FormatTXID(id.max_txid),
        next.offset, id.pre_apply);
    return Plan();
  }
  plan.resume = AtOffset(next.offset);
  plan.position_offset = next.offset > 0 ? next.offset - 1 : 0;
  return Plan(std::move(plan));
}

Result<bus::Frame> RestoreArchiveSnapshot(Env* env, store::ObjectStore& archive,
                                          const ArchiveBootstrapPlan& plan,
                                          const std::string& database,
                                          const std::string& replica_path) {
  RemoveOnExit db{env, replica_path + ".ltxbus-restore"};
  RemoveOnExit ltx{env, replica_path + ".ltxbus-restore.ltx"};
  spdlog::info("{}: restoring TXID {} from the archive {} ({}) into {}", database,
               FormatTXID(plan.txid), archive.url(), Summarize(plan.files), db.path);
  RestoreOptions options;
  options.output = db.path;
  LTXBUS_ASSIGN_OR_RETURN(RestoreResult restored,
                          RestorePlanTo(env, archive, plan.files, db.path, options));
  if (!restored.checksum_checked) {
    spdlog::warn(
        "{}: the archive records no checksum for TXID {}; only the stream's next frame will "
        "verify the restored state",
        database, FormatTXID(restored.txid));
  }
  LTXBUS_RETURN_IF_ERROR(EncodeSnapshot(env, db.path, restored, plan.timestamp_ms, ltx.path));
  LTXBUS_ASSIGN_OR_RETURN(uint64_t size, env->GetFileSize(ltx.path));
  std::FILE* f = std::fopen(ltx.path.c_str(), "rb");
  if (f == nullptr) return Status::FromErrno("opening " + ltx.path, errno);
  // The open file keeps it until the frame is gone (RemoveOnExit unlinks it).
  bus::ChunkHeaders h;
  h.frame.database = database;
  h.frame.min_txid = 1;
  h.frame.max_txid = restored.txid;
  h.frame.attempt = "archive";
  h.frame.producer = archive.url();
  h.frame.timestamp_ms = plan.timestamp_ms;
  h.index = 0;
  h.last = true;
  h.trailer.frame_size = size;
  h.trailer.post_apply = restored.checksum;
  return bus::Frame(std::move(h), plan.position_offset, plan.position_offset, 0, size,
                    std::string(), f);
}

}  // namespace ltxbus::consumer
