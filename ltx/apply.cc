#include "ltx/apply.h"

#include <vector>

#include "base/endian.h"
#include "ltx/checksum.h"
#include "ltx/compactor.h"
#include "ltx/decoder.h"

namespace ltxbus::ltx {

DatabaseFileApplier::DatabaseFileApplier(Env* env, std::string path, std::unique_ptr<DataFile> file)
    : env_(env), path_(std::move(path)), file_(std::move(file)) {}

Result<std::unique_ptr<DatabaseFileApplier>> DatabaseFileApplier::Open(Env* env,
                                                                       const std::string& path) {
  const std::string wal = path + "-wal";
  if (env->FileExists(wal)) {
    LTXBUS_ASSIGN_OR_RETURN(uint64_t wal_size, env->GetFileSize(wal));
    if (wal_size > 0) {
      return Status::InvalidArgument(
          "{} has a non-empty WAL ({}); checkpoint it first, or use a live follower", path, wal);
    }
  }
  LTXBUS_ASSIGN_OR_RETURN(auto file, env->OpenDataFile(path, /*create=*/true));
  std::unique_ptr<DatabaseFileApplier> a(new DatabaseFileApplier(env, path, std::move(file)));
  LTXBUS_RETURN_IF_ERROR(a->LoadExisting());
  return a;
}

Status DatabaseFileApplier::LoadExisting() {
  LTXBUS_ASSIGN_OR_RETURN(uint64_t size, file_->Size());
  if (size == 0) return Status::OK();
  uint8_t hdr[100];
  if (size < sizeof hdr)
    return Status::Corruption("{} is not a SQLite database (too short)", path_);
  LTXBUS_RETURN_IF_ERROR(file_->ReadAt(0, hdr));
  uint32_t ps = LoadBE16(hdr + 16);
  if (ps == 1) ps = 65536;
  if (!IsValidPageSize(ps) || size % ps != 0) {
    return Status::Corruption("{} is not a SQLite database (page size {}, file size {})", path_, ps,
                              size);
  }
  page_size_ = ps;
  page_count_ = static_cast<uint32_t>(size / ps);
  return Status::OK();
}

Result<Checksum> DatabaseFileApplier::DatabaseChecksumNow() {
  if (!checksum_known_) {
    if (page_size_ == 0) {
      checksum_ = DatabaseChecksum().Value();
    } else {
      LTXBUS_ASSIGN_OR_RETURN(checksum_, ChecksumDatabaseFile(*file_, page_size_, page_count_));
    }
    checksum_known_ = true;
  }
  return checksum_;
}

Status DatabaseFileApplier::ApplyFile(const std::string& ltx_path) {
  // Pass 1: verify the whole file before touching the database.
  auto fail = [&](Status s) { return s.WithContext(ltx_path); };
  FileSummary summary;
  {
    LTXBUS_ASSIGN_OR_RETURN(auto src, env_->NewSequentialFile(ltx_path));
    auto verified = DecodeFile(src.get());
    if (!verified.ok()) return fail(verified.status());
    summary = *verified;
  }
  const Header& h = summary.header;
  if (have_prev_) LTXBUS_RETURN_IF_ERROR(fail(CheckChain(prev_header_, prev_trailer_, h)));
  if (!h.IsSnapshot() && page_size_ == 0) {
    return fail(
        Status::InvalidArgument("the database is empty, so the first file must be a snapshot"));
  }
  if (page_size_ != 0 && h.page_size != page_size_) {
    return fail(Status::InvalidArgument("page size {} does not match the database's {}",
                                        h.page_size, page_size_));
  }
  const bool verify = h.HasChecksums();
  if (verify && !h.IsSnapshot()) {
    LTXBUS_ASSIGN_OR_RETURN(Checksum before, DatabaseChecksumNow());
    if (before != h.pre_apply_checksum) {
      return fail(Status::Corruption(
          "database checksum {:016x} does not match the file's pre-apply checksum {:016x}", before,
          h.pre_apply_checksum));
    }
  }

  // Pass 2: write. The incremental checksum swaps each page's old value out.
  const bool track = checksum_known_ || verify;
  DatabaseChecksum sum;
  if (track && !h.IsSnapshot()) sum = DatabaseChecksum(checksum_);
  std::vector<uint8_t> old(h.page_size);
  const uint32_t lock = LockPgno(h.page_size);
  LTXBUS_ASSIGN_OR_RETURN(auto src, env_->NewSequentialFile(ltx_path));
  auto written = DecodeFile(src.get(), [&](uint32_t pgno, std::span<const uint8_t> data) -> Status {
    if (track && !h.IsSnapshot() && pgno <= page_count_) {
      LTXBUS_RETURN_IF_ERROR(file_->ReadAt(uint64_t{pgno - 1} * h.page_size, old));
      sum.Remove(PageChecksum(pgno, old));
    }
    if (track) sum.Add(PageChecksum(pgno, data));
    return file_->WriteAt(uint64_t{pgno - 1} * h.page_size, data);
  });
  LTXBUS_RETURN_IF_ERROR(fail(written.status()));
  if (track && !h.IsSnapshot()) {
    // Pages dropped by a shrink leave the checksum; pages added by growth
    // without a frame (holes) cannot occur in valid input.
    for (uint32_t pgno = h.commit + 1; pgno <= page_count_; pgno++) {
      if (pgno == lock) continue;
      LTXBUS_RETURN_IF_ERROR(file_->ReadAt(uint64_t{pgno - 1} * h.page_size, old));
      sum.Remove(PageChecksum(pgno, old));
    }
  }
  LTXBUS_RETURN_IF_ERROR(file_->Truncate(uint64_t{h.commit} * h.page_size));
  page_size_ = h.page_size;
  page_count_ = h.commit;
  checksum_known_ = track;
  checksum_ = sum.Value();
  if (verify && checksum_ != summary.trailer.post_apply_checksum) {
    return fail(Status::Corruption(
        "after applying, the database checksum is {:016x} but the file says {:016x}", checksum_,
        summary.trailer.post_apply_checksum));
  }
  have_prev_ = true;
  prev_header_ = h;
  prev_trailer_ = summary.trailer;
  txid_ = h.max_txid;
  return Status::OK();
}

Status DatabaseFileApplier::Sync() { return file_->Sync(); }

}  // namespace ltxbus::ltx
