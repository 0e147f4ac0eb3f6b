#include "consumer/restore.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <thread>

#include "consumer/archive_manifest.h"
#include "consumer/archive_spool.h"
#include "ltx/checksum.h"
#include "ltx/compactor.h"
#include "ltx/decoder.h"
#include "sqlite/database.h"

namespace ltxbus::consumer {
namespace {

// One end of a socket pair; the compactor writes the merged file into one
// end on a thread while the decoder reads it from the other, so the merged
// file is never stored. A socket rather than a pipe: send() with
// MSG_NOSIGNAL turns a reader that gave up into an error, not SIGPIPE.
class SocketEnd final : public WritableFile, public SequentialFile {
 public:
  explicit SocketEnd(int fd) : fd_(fd) {}
  ~SocketEnd() override { Shut(); }
  void Shut() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  Status Append(std::span<const uint8_t> data) override {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Status::FromErrno("streaming the merged restore", errno);
      data = data.subspan(static_cast<size_t>(n));
    }
    return Status::OK();
  }
  Status Sync() override { return Status::OK(); }
  Status Close() override { return Status::OK(); }
  Result<size_t> Read(std::span<uint8_t> dst) override {
    for (;;) {
      const ssize_t n = ::recv(fd_, dst.data(), dst.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::FromErrno("reading the merged restore", errno);
      return static_cast<size_t>(n);
    }
  }

 private:
  int fd_;
};

}  // namespace

Result<std::vector<ArchiveFile>> PlanArchiveRestore(store::ObjectStore& store,
                                                    const RestoreTarget& target,
                                                    bool* from_manifest) {
  const ArchiveLayout layout = ArchiveLayout::For(store);
  LTXBUS_ASSIGN_OR_RETURN(
      std::vector<ArchiveFile> files,
      ArchiveFiles(store, layout, target.timestamp_ms.has_value(), from_manifest));
  if (files.empty()) return Status::NotFound("{} holds no archive", store.url());
  auto plan = PlanRestore(files, target);
  if (!plan.ok()) return plan.status().WithContext(store.url());
  return plan;
}

Result<RestoreResult> RestorePlanTo(Env* env, store::ObjectStore& store,
                                    const std::vector<ArchiveFile>& plan, const std::string& path,
                                    const RestoreOptions& options) {
  RestoreResult result;
  result.plan = plan;
  RestoreProgress progress;
  for (const ArchiveFile& f : plan) progress.total_bytes += f.size;
  std::mutex mu;
  auto report = [&] {
    if (options.progress) options.progress(progress);
  };
  LTXBUS_ASSIGN_OR_RETURN(auto spools,
                          DownloadFiles(store, plan, options.parallelism, [&](uint64_t bytes) {
                            std::lock_guard lock(mu);
                            progress.downloaded_bytes += bytes;
                            report();
                          }));
  LTXBUS_ASSIGN_OR_RETURN(std::vector<SequentialFile*> inputs, AsInputs(spools));

  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return Status::FromErrno("socketpair", errno);
  }
  SocketEnd reader(fds[0]);
  SocketEnd writer(fds[1]);
  Status merge_status;
  std::thread merger([&] {
    ltx::CompactOptions co;
    co.checksums = ltx::CompactOptions::Checksums::kOff;
    auto h = ltx::Compact(inputs, &writer, co);
    if (!h.ok()) merge_status = h.status();
    writer.Shut();  // end of stream for the decoder
  });
  Status apply_status = [&]() -> Status {
    LTXBUS_ASSIGN_OR_RETURN(auto db, env->OpenDataFile(path, /*create=*/true));
    LTXBUS_RETURN_IF_ERROR(db->Truncate(0));
    ltx::Decoder dec(&reader);
    LTXBUS_RETURN_IF_ERROR(dec.DecodeHeader());
    const ltx::Header& h = dec.header();
    if (h.min_txid != 1) {
      return Status::Corruption("the restore plan does not start with a full database (MinTXID {})",
                                ltx::FormatTXID(h.min_txid));
    }
    progress.total_pages = h.commit;
    std::vector<uint8_t> page(h.page_size);
    ltx::DatabaseChecksum sum;
    uint32_t pgno = 0;
    for (;;) {
      LTXBUS_ASSIGN_OR_RETURN(bool more, dec.NextPage(&pgno, page));
      if (!more) break;
      LTXBUS_RETURN_IF_ERROR(db->WriteAt(uint64_t{pgno - 1} * h.page_size, page));
      sum.Add(ltx::PageChecksum(pgno, page));
      if (++progress.pages_written % 4096 == 0) report();
    }
    LTXBUS_RETURN_IF_ERROR(dec.Finish());
    // The lock page is never in an LTX file; it stays a hole of zeros.
    LTXBUS_RETURN_IF_ERROR(db->Truncate(uint64_t{h.commit} * h.page_size));
    LTXBUS_RETURN_IF_ERROR(db->Sync());
    result.txid = h.max_txid;
    result.page_size = h.page_size;
    result.page_count = h.commit;
    result.checksum = sum.Value();
    report();
    return Status::OK();
  }();
  reader.Shut();  // unblocks a merger whose reader gave up
  merger.join();
  if (!merge_status.ok()) return merge_status.WithContext("merging the restore plan");
  LTXBUS_RETURN_IF_ERROR(apply_status.WithContext(path));
  if (result.txid != plan.back().max_txid) {
    return Status::Internal("restore reached TXID {}, planned {}", ltx::FormatTXID(result.txid),
                            ltx::FormatTXID(plan.back().max_txid));
  }
  const ltx::Checksum want = plan.back().post_apply_checksum;
  if (want != 0) {
    if (want != result.checksum) {
      return Status::Corruption(
          "{}: the restored database's checksum {:016x} is not the {:016x} the archive recorded "
          "for TXID {}",
          path, result.checksum, want, ltx::FormatTXID(result.txid));
    }
    result.checksum_checked = true;
  }
  return result;
}

Status IntegrityCheck(const std::string& path) {
  LTXBUS_ASSIGN_OR_RETURN(sqlite::Database db,
                          sqlite::Database::Open(path, sqlite::Database::Mode::kReadOnly));
  LTXBUS_ASSIGN_OR_RETURN(std::string result, db.QueryText("PRAGMA integrity_check"));
  if (result != "ok") return Status::Corruption("{}: integrity_check: {}", path, result);
  return Status::OK();
}

Result<RestoreResult> Restore(Env* env, store::ObjectStore& store, const RestoreOptions& options) {
  if (options.output.empty()) return Status::InvalidArgument("restore needs an output path");
  bool from_manifest = false;
  LTXBUS_ASSIGN_OR_RETURN(std::vector<ArchiveFile> plan,
                          PlanArchiveRestore(store, options.target, &from_manifest));
  const std::string tmp = options.output + ".tmp";
  auto result = RestorePlanTo(env, store, plan, tmp, options);
  if (result.ok() && options.integrity_check) {
    Status s = IntegrityCheck(tmp);
    if (!s.ok()) result = s;
  }
  if (!result.ok()) {
    (void)env->RemoveFile(tmp);
    return result.status();
  }
  result->from_manifest = from_manifest;
  LTXBUS_RETURN_IF_ERROR(env->RenameFile(tmp, options.output));
  const size_t slash = options.output.rfind('/');
  LTXBUS_RETURN_IF_ERROR(
      env->SyncDir(slash == std::string::npos ? "." : options.output.substr(0, slash + 1)));
  return result;
}

}  // namespace ltxbus::consumer
