#include "ltx/encoder.h"

#include <array>

#include "base/endian.h"
#include "ltx/uvarint.h"

namespace ltxbus::ltx {

Encoder::Encoder(WritableFile* dst, EncoderOptions options) : dst_(dst), options_(options) {}
Encoder::~Encoder() = default;

Status Encoder::Fail(Status s) {
  state_ = State::kFailed;
  return s.WithContext("ltx encode");
}

Status Encoder::Write(std::span<const uint8_t> data, bool hash) {
  if (hash) crc_.Update(data);
  offset_ += data.size();
  return dst_->Append(data);
}

Status Encoder::EncodeHeader(const Header& header) {
  if (state_ != State::kHeader) return Fail(Status::Internal("header written twice"));
  if (Status s = header.Validate(); !s.ok()) return Fail(s.WithContext("header"));
  if (header.commit == 0 && !header.HasChecksums()) {
    // The Go encoder demands PostApply == bit 63 for Commit 0, which NoChecksum forbids.
    return Fail(Status::InvalidArgument("a deletion file (Commit 0) needs database checksums"));
  }
  header_ = header;
  std::array<uint8_t, kHeaderSize> buf;
  header.EncodeTo(buf);
  if (Status s = Write(buf, true); !s.ok()) return Fail(s);
  state_ = State::kPages;
  return Status::OK();
}

Status Encoder::EncodePage(uint32_t pgno, std::span<const uint8_t> data) {
  if (state_ != State::kPages) return Fail(Status::Internal("page written outside the page block"));
  const uint32_t lock = LockPgno(header_.page_size);
  if (pgno == 0) return Fail(Status::InvalidArgument("page number 0"));
  if (data.size() != header_.page_size) {
    return Fail(Status::InvalidArgument("page {} has {} bytes, want {}", pgno, data.size(),
                                        header_.page_size));
  }
  if (pgno > header_.commit) {
    return Fail(Status::InvalidArgument("page {} is beyond commit {}", pgno, header_.commit));
  }
  if (pgno == lock) return Fail(Status::InvalidArgument("page {} is the lock page", pgno));
  if (header_.IsSnapshot()) {
    uint32_t want = last_pgno_ + 1 == lock ? lock + 1 : last_pgno_ + 1;
    if (pgno != want) {
      return Fail(
          Status::InvalidArgument("snapshot page {} out of sequence, want page {}", pgno, want));
    }
  } else if (pgno <= last_pgno_) {
    return Fail(Status::InvalidArgument("page {} out of order after page {}", pgno, last_pgno_));
  }

  const uint64_t frame_offset = offset_;
  const uint16_t flags = options_.encoding == PageEncoding::kLZ4Block ? kPageFlagSize : 0;
  uint8_t page_header[kPageHeaderSize];
  StoreBE32(page_header, pgno);
  StoreBE16(page_header + 4, flags);
  if (Status s = codec_.Compress(options_.encoding, data, &scratch_); !s.ok()) return Fail(s);

  // The file checksum covers the stored page header (and size field) and the
  // *uncompressed* page, never the compressed payload.
  crc_.Update(page_header);
  std::span<const uint8_t> payload = scratch_;
  if (options_.encoding == PageEncoding::kLZ4Block) {
    crc_.Update(payload.first(kPageSizeFieldSize));
  }
  crc_.Update(data);
  Status s = Write(page_header, false);
  if (s.ok()) s = Write(payload, false);
  if (s.ok()) s = AppendIndexEntry(pgno, frame_offset, offset_ - frame_offset);
  if (!s.ok()) return Fail(s);
  last_pgno_ = pgno;
  page_count_++;
  return Status::OK();
}

Status Encoder::AppendIndexEntry(uint32_t pgno, uint64_t offset, uint64_t size) {
  AppendUvarint(&index_, pgno);
  AppendUvarint(&index_, offset);
  AppendUvarint(&index_, size);
  if (index_.size() < options_.index_memory_limit) return Status::OK();
  if (!index_spill_) {
    index_spill_.reset(std::tmpfile());
    if (!index_spill_) return Status::FromErrno("tmpfile for the LTX page index", errno);
  }
  if (std::fwrite(index_.data(), 1, index_.size(), index_spill_.get()) != index_.size()) {
    return Status::FromErrno("write LTX page index spill", errno);
  }
  index_spilled_ += index_.size();
  index_.clear();
  return Status::OK();
}

Status Encoder::Finish(Checksum post_apply_checksum) {
  if (state_ != State::kPages) return Fail(Status::Internal("finish called in the wrong state"));
  if (header_.IsSnapshot()) {
    uint32_t last_want =
        header_.commit == LockPgno(header_.page_size) ? header_.commit - 1 : header_.commit;
    if (last_pgno_ != last_want) {
      return Fail(Status::InvalidArgument("snapshot ends at page {}, want every page to commit {}",
                                          last_pgno_, header_.commit));
    }
  }
  if (!header_.HasChecksums() && post_apply_checksum != 0) {
    return Fail(Status::InvalidArgument(
        "post-apply checksum {:016x} set although NoChecksum is set", post_apply_checksum));
  }
  if (header_.HasChecksums() && (post_apply_checksum & kChecksumFlag) == 0) {
    return Fail(Status::InvalidArgument("post-apply checksum {:016x} lacks its flag bit 63",
                                        post_apply_checksum));
  }
  if (header_.commit == 0 && post_apply_checksum != kChecksumFlag) {
    return Fail(Status::InvalidArgument("a deletion file must have post-apply checksum {:016x}",
                                        kChecksumFlag));
  }
  static constexpr uint8_t kEndMarker[kPageHeaderSize] = {};
  Status s = Write(kEndMarker, true);

  // Index: the entries, a 0 terminator, then the BE64 byte length of both.
  index_.push_back('\0');
  const uint64_t index_len = index_spilled_ + index_.size();
  if (s.ok() && index_spill_) {
    std::rewind(index_spill_.get());
    std::vector<uint8_t> buf(64 * 1024);
    uint64_t left = index_spilled_;
    while (s.ok() && left > 0) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
      if (std::fread(buf.data(), 1, want, index_spill_.get()) != want) {
        s = Status::IOError("read back the LTX page index spill");
        break;
      }
      s = Write(std::span(buf).first(want), true);
      left -= want;
    }
  }
  if (s.ok()) s = Write(AsBytes(index_), true);
  uint8_t tail[8];
  StoreBE64(tail, index_len);
  if (s.ok()) s = Write(tail, true);
  StoreBE64(tail, post_apply_checksum);
  if (s.ok()) s = Write(tail, true);
  file_checksum_ = kChecksumFlag | crc_.Value();
  StoreBE64(tail, file_checksum_);
  if (s.ok()) s = Write(tail, false);
  if (!s.ok()) return Fail(s);
  state_ = State::kDone;
  return Status::OK();
}

}  // namespace ltxbus::ltx
