#include "consumer/restore.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <thread>
#include <vector>

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
// Both directions are buffered: the compactor writes and the decoder reads
// a page (or a page header) at a time, and a system call per piece cost as
// much as the rest of a restore (bench/archive_bench).
class SocketEnd final : public WritableFile, public SequentialFile {
 public:
  static constexpr size_t kBufferBytes = 256 * 1024;
  explicit SocketEnd(int fd) : fd_(fd) {}
  ~SocketEnd() override { Shut(); }
  void Shut() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  Status Append(std::span<const uint8_t> data) override {
    if (out_.size() + data.size() > kBufferBytes) LTXBUS_RETURN_IF_ERROR(Flush());
    if (data.size() >= kBufferBytes) return Send(data);
    out_.insert(out_.end(), data.begin(), data.end());
    return Status::OK();
  }
  // Sends what Append buffered; the writer calls it before Shut().
  Status Flush() {
    Status s = Send(out_);
    out_.clear();
    return s;
  }
  Status Sync() override { return Flush(); }
  Status Close() override { return Flush(); }
  Result<size_t> Read(std::span<uint8_t> dst) override {
    if (in_pos_ == in_.size()) {
      if (dst.size() >= kBufferBytes) return Receive(dst);
      in_.resize(kBufferBytes);
      auto n = Receive(in_);
      in_.resize(n.ok() ? *n : 0);
      in_pos_ = 0;
      if (!n.ok()) return n.status();
    }
    const size_t n = std::min(dst.size(), in_.size() - in_pos_);
    std::copy_n(in_.begin() + static_cast<std::ptrdiff_t>(in_pos_), n, dst.begin());
    in_pos_ += n;
    return n;
  }

 private:
  Status Send(std::span<const uint8_t> data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Status::FromErrno("streaming the merged restore", errno);
      data = data.subspan(static_cast<size_t>(n));
    }
    return Status::OK();
  }
  Result<size_t> Receive(std::span<uint8_t> dst) {
    for (;;) {
      const ssize_t n = ::recv(fd_, dst.data(), dst.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::FromErrno("reading the merged restore", errno);
      return static_cast<size_t>(n);
    }
  }

  int fd_;
  std::vector<uint8_t> out_;
  std::vector<uint8_t> in_;
  size_t in_pos_ = 0;
};

// Gathers consecutive pages into one write (the merged file comes in page
// order), so a restore is not one pwrite per page.
class PageWriter {
 public:
  PageWriter(DataFile& file, uint32_t page_size) : file_(file), page_size_(page_size) {}
  Status Add(uint32_t pgno, std::span<const uint8_t> page) {
    if (!run_.empty() && (pgno != next_ || run_.size() >= kRunBytes)) {
      LTXBUS_RETURN_IF_ERROR(Flush());
    }
    if (run_.empty()) first_ = pgno;
    run_.insert(run_.end(), page.begin(), page.end());
    next_ = pgno + 1;
    return Status::OK();
  }
  Status Flush() {
    if (run_.empty()) return Status::OK();
    Status s = file_.WriteAt(uint64_t{first_ - 1} * page_size_, run_);
    run_.clear();
    return s;
  }

 private:
  static constexpr size_t kRunBytes = 1024 * 1024;
  DataFile& file_;
  uint32_t page_size_;
  uint32_t first_ = 0, next_ = 0;
  std::vector<uint8_t> run_;
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

  // A plan of one file (a snapshot) needs no merge: the decoder reads its
  // spool directly and verifies it as the compactor would, and no page is
  // LZ4-compressed again only to be decompressed (most of a restore's CPU).
  const bool merge = inputs.size() > 1;
  int fds[2] = {-1, -1};
  if (merge && ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return Status::FromErrno("socketpair", errno);
  }
  SocketEnd reader(fds[0]);
  SocketEnd writer(fds[1]);
  Status merge_status;
  std::thread merger;
  if (merge) {
    merger = std::thread([&] {
      ltx::CompactOptions co;
      co.checksums = ltx::CompactOptions::Checksums::kOff;
      auto h = ltx::Compact(inputs, &writer, co);
      merge_status = h.ok() ? writer.Flush() : h.status();
      writer.Shut();  // end of stream for the decoder
    });
  }
  Status apply_status = [&]() -> Status {
    LTXBUS_ASSIGN_OR_RETURN(auto db, env->OpenDataFile(path, /*create=*/true));
    LTXBUS_RETURN_IF_ERROR(db->Truncate(0));
    ltx::Decoder dec(merge ? &reader : inputs.front());
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
    PageWriter out(*db, h.page_size);
    for (;;) {
      LTXBUS_ASSIGN_OR_RETURN(bool more, dec.NextPage(&pgno, page));
      if (!more) break;
      LTXBUS_RETURN_IF_ERROR(out.Add(pgno, page));
      sum.Add(ltx::PageChecksum(pgno, page));
      if (++progress.pages_written % 4096 == 0) report();
    }
    LTXBUS_RETURN_IF_ERROR(out.Flush());
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
  if (merger.joinable()) merger.join();
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
