#include "ltx/decoder.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>

#include "base/endian.h"

namespace ltxbus::ltx {
namespace {

constexpr size_t kReadBufferSize = 64 * 1024;

void HashFrameEntry(Crc64* crc, uint32_t pgno, uint64_t size) {
  uint8_t entry[12];
  StoreBE32(entry, pgno);
  StoreBE64(entry + 4, size);
  crc->Update(entry);
}

// Adds "page N" to an error. Formats only on failure: this runs per page.
Status InPage(uint32_t pgno, const Status& s) {
  return s.ok() ? s : s.WithContext(fmt::format("page {}", pgno));
}

}  // namespace

Decoder::Decoder(SequentialFile* src)
    : src_(src),
      buf_storage_(std::make_unique_for_overwrite<uint8_t[]>(kReadBufferSize)),
      buf_(buf_storage_.get(), kReadBufferSize) {}

Status Decoder::Fail(Status s) {
  state_ = State::kFailed;
  return s.WithContext("ltx decode");
}

Status Decoder::ReadExact(std::span<uint8_t> dst, const char* what) {
  size_t done = 0;
  while (done < dst.size()) {
    if (buf_pos_ == buf_len_) {
      if (src_eof_) {
        return Status::Corruption("truncated file: unexpected end of data at offset {} reading {}",
                                  offset_ + done, what);
      }
      LTXBUS_ASSIGN_OR_RETURN(buf_len_, src_->Read(buf_));
      buf_pos_ = 0;
      if (buf_len_ == 0) src_eof_ = true;
      continue;
    }
    size_t n = std::min(dst.size() - done, buf_len_ - buf_pos_);
    std::memcpy(dst.data() + done, buf_.data() + buf_pos_, n);
    buf_pos_ += n;
    done += n;
  }
  offset_ += dst.size();
  return Status::OK();
}

Result<uint64_t> Decoder::ReadUvarint(const char* what) {
  uint64_t v = 0;
  for (int i = 0; i < 10; i++) {
    uint8_t b;
    LTXBUS_RETURN_IF_ERROR(ReadExact(std::span(&b, 1), what));
    file_crc_.Update(std::span(&b, 1));
    if (i == 9 && b > 1) break;
    v |= uint64_t{b & 0x7fu} << (7 * i);
    if ((b & 0x80) == 0) return v;
  }
  return Status::Corruption("bad index: uvarint overflows 64 bits at offset {}", offset_);
}

Status Decoder::DecodeHeader() {
  if (state_ != State::kHeader) return Fail(Status::Internal("header decoded twice"));
  std::array<uint8_t, kHeaderSize> raw;
  if (Status s = ReadExact(raw, "the header"); !s.ok()) return Fail(s);
  auto header = Header::Decode(raw);
  if (!header.ok()) return Fail(header.status());
  header_ = *header;
  file_crc_.Update(raw);
  scratch_.reserve(PageCodec::MaxBlockSize(header_.page_size) + 64);
  state_ = State::kPages;
  return Status::OK();
}

Status Decoder::CheckPageOrder(uint32_t pgno) {
  const uint32_t lock = LockPgno(header_.page_size);
  if (pgno > header_.commit) {
    return Status::Corruption("page {} is beyond commit {}", pgno, header_.commit);
  }
  if (pgno == lock)
    return Status::Corruption("page {} is the lock page, which is never stored", pgno);
  if (header_.IsSnapshot()) {
    uint32_t want = last_pgno_ + 1 == lock ? lock + 1 : last_pgno_ + 1;
    if (pgno != want) {
      return Status::Corruption("snapshot page {} out of sequence: want page {}", pgno, want);
    }
  } else if (pgno <= last_pgno_) {
    return Status::Corruption("pages out of order: page {} after page {}", pgno, last_pgno_);
  }
  return Status::OK();
}

Status Decoder::ReadBlockPayload(uint32_t pgno, std::span<uint8_t> page) {
  uint8_t size_field[kPageSizeFieldSize];
  LTXBUS_RETURN_IF_ERROR(ReadExact(size_field, "a page size field"));
  file_crc_.Update(size_field);
  const uint32_t n = LoadBE32(size_field);
  if (n == 0 || n > PageCodec::MaxBlockSize(header_.page_size)) {
    return Status::Corruption("page {}: compressed size {} is impossible for a {}-byte page", pgno,
                              n, header_.page_size);
  }
  // Hot path: the whole block is already in the read buffer, so decompress it
  // from there instead of copying it to scratch first.
  std::span<const uint8_t> block;
  if (buf_len_ - buf_pos_ >= n) {
    block = std::span<const uint8_t>(buf_).subspan(buf_pos_, n);
    buf_pos_ += n;
    offset_ += n;
  } else {
    scratch_.resize(n);
    LTXBUS_RETURN_IF_ERROR(ReadExact(scratch_, "page data"));
    block = scratch_;
  }
  return InPage(pgno, PageCodec::DecompressBlock(block, page));
}

Status Decoder::ReadFramePayload(uint32_t pgno, std::span<uint8_t> page) {
  FrameScanner scanner(header_.page_size);
  // Hot path: scan the frame where it sits in the read buffer, growing the
  // view exactly as the copying loop below grows scratch, and decompress it in
  // place. Only a frame that runs past the buffered bytes is copied.
  size_t len = 0;
  const size_t avail = buf_len_ - buf_pos_;
  for (;;) {
    auto need = scanner.BytesNeeded(std::span<const uint8_t>(buf_).subspan(buf_pos_, len));
    if (!need.ok()) return InPage(pgno, need.status());
    if (*need == 0) {
      auto frame = std::span<const uint8_t>(buf_).subspan(buf_pos_, len);
      buf_pos_ += len;
      offset_ += len;
      return InPage(pgno, codec_.DecompressFrame(frame, page));
    }
    if (*need > avail - len) break;
    len += *need;
  }
  const uint8_t* start = buf_.data() + buf_pos_;
  scratch_.assign(start, start + len);
  buf_pos_ += len;
  offset_ += len;
  for (;;) {
    auto need = scanner.BytesNeeded(scratch_);
    if (!need.ok()) return InPage(pgno, need.status());
    if (*need == 0) break;
    size_t old = scratch_.size();
    scratch_.resize(old + *need);
    LTXBUS_RETURN_IF_ERROR(ReadExact(std::span(scratch_).subspan(old), "an LZ4 frame"));
  }
  return InPage(pgno, codec_.DecompressFrame(scratch_, page));
}

Result<bool> Decoder::NextPage(uint32_t* pgno, std::span<uint8_t> data) {
  if (state_ != State::kPages) return Fail(Status::Internal("NextPage called in the wrong state"));
  if (data.size() < header_.page_size) {
    return Fail(Status::InvalidArgument("page buffer of {} bytes is smaller than the page size {}",
                                        data.size(), header_.page_size));
  }
  data = data.first(header_.page_size);
  const uint64_t frame_offset = offset_;
  uint8_t ph[kPageHeaderSize];
  if (Status s = ReadExact(ph, "a page header"); !s.ok()) return Fail(s);
  file_crc_.Update(ph);
  const uint32_t n = LoadBE32(ph);
  const uint16_t flags = LoadBE16(ph + 4);
  if (n == 0 && flags == 0) {
    end_marker_offset_ = frame_offset;
    if (header_.IsSnapshot()) {
      const uint32_t lock = LockPgno(header_.page_size);
      uint32_t want = header_.commit == lock ? header_.commit - 1 : header_.commit;
      if (last_pgno_ != want) {
        return Fail(
            Status::Corruption("snapshot is missing pages: it ends at page {} but commit is {}",
                               last_pgno_, header_.commit));
      }
    }
    state_ = State::kIndex;
    return false;
  }
  if (n == 0) return Fail(Status::Corruption("page number 0 at offset {}", frame_offset));
  if (flags != 0 && flags != kPageFlagSize) {
    return Fail(
        Status::Corruption("invalid page flags 0x{:04x} for page {} at offset {} (a format 1 or 2 "
                           "file, written by ltx "
                           "v0.4 or older, is not supported)",
                           flags, n, frame_offset));
  }
  if (Status s = CheckPageOrder(n); !s.ok()) return Fail(s);
  Status s = flags == kPageFlagSize ? ReadBlockPayload(n, data) : ReadFramePayload(n, data);
  if (!s.ok()) return Fail(s);
  (flags == kPageFlagSize ? saw_block_ : saw_frame_) = true;
  file_crc_.Update(data);
  if (header_.IsSnapshot() && header_.HasChecksums()) db_checksum_.Add(PageChecksum(n, data));
  last_frame_offset_ = frame_offset;
  last_frame_size_ = offset_ - frame_offset;
  HashFrameEntry(&frames_crc_, n, last_frame_size_);
  last_pgno_ = n;
  page_count_++;
  *pgno = n;
  return true;
}

Status Decoder::Finish() {
  if (state_ != State::kIndex) {
    return Fail(Status::Internal("Finish called before all pages were read"));
  }
  // Index: (pgno, offset, size)* then 0. Offsets follow from sizes, so a
  // structural walk plus a hash of (pgno, size) proves the index describes
  // exactly the frames read, without keeping them in memory.
  const uint64_t index_start = offset_;
  Crc64 index_crc;
  uint64_t expect_offset = kHeaderSize;
  uint32_t entries = 0;
  for (;;) {
    auto pgno = ReadUvarint("the page index");
    if (!pgno.ok()) return Fail(pgno.status());
    if (*pgno == 0) break;
    auto off = ReadUvarint("the page index");
    if (!off.ok()) return Fail(off.status());
    auto size = ReadUvarint("the page index");
    if (!size.ok()) return Fail(size.status());
    entries++;
    if (*pgno > UINT32_MAX) {
      return Fail(Status::Corruption("bad index: entry {} has page number {}", entries, *pgno));
    }
    if (*off != expect_offset) {
      return Fail(Status::Corruption("bad index: entry {} (page {}) has offset {}, want {}",
                                     entries, *pgno, *off, expect_offset));
    }
    if (entries > page_count_) {
      return Fail(
          Status::Corruption("bad index: more entries than the {} page frames", page_count_));
    }
    HashFrameEntry(&index_crc, static_cast<uint32_t>(*pgno), *size);
    expect_offset += *size;
  }
  if (entries != page_count_ || expect_offset != end_marker_offset_ ||
      index_crc.Value() != frames_crc_.Value()) {
    return Fail(Status::Corruption(
        "bad index: its {} entries do not describe the {} page frames read (pages or sizes differ)",
        entries, page_count_));
  }
  uint8_t tail[8];
  if (Status s = ReadExact(tail, "the index length"); !s.ok()) return Fail(s);
  file_crc_.Update(tail);
  const uint64_t index_len = LoadBE64(tail);
  if (index_len != offset_ - 8 - index_start) {
    return Fail(Status::Corruption("bad index: length field says {} bytes, the index has {}",
                                   index_len, offset_ - 8 - index_start));
  }
  uint8_t trailer[kTrailerSize];
  if (Status s = ReadExact(trailer, "the trailer"); !s.ok()) return Fail(s);
  file_crc_.Update(std::span(trailer).first(8));
  trailer_.post_apply_checksum = LoadBE64(trailer);
  trailer_.file_checksum = LoadBE64(trailer + 8);
  uint8_t extra;
  auto more = ReadExact(std::span(&extra, 1), "");
  if (more.ok()) {
    return Fail(Status::Corruption("trailing data after the trailer at offset {}", offset_ - 1));
  }
  // The flag rules first: they name the broken field, the checksum cannot.
  if (!header_.HasChecksums()) {
    if (trailer_.post_apply_checksum != 0) {
      return Fail(Status::Corruption("post-apply checksum {:016x} set although NoChecksum is set",
                                     trailer_.post_apply_checksum));
    }
  } else if ((trailer_.post_apply_checksum & kChecksumFlag) == 0) {
    return Fail(Status::Corruption("post-apply checksum {:016x} lacks its flag bit 63",
                                   trailer_.post_apply_checksum));
  }
  const Checksum computed = kChecksumFlag | file_crc_.Value();
  if (trailer_.file_checksum != computed) {
    return Fail(Status::Corruption("file checksum mismatch: stored {:016x}, computed {:016x}",
                                   trailer_.file_checksum, computed));
  }
  if (header_.HasChecksums() && header_.IsSnapshot() &&
      trailer_.post_apply_checksum != db_checksum_.Value()) {
    return Fail(Status::Corruption(
        "post-apply checksum mismatch: trailer says {:016x}, the snapshot's pages give {:016x}",
        trailer_.post_apply_checksum, db_checksum_.Value()));
  }
  state_ = State::kDone;
  return Status::OK();
}

Result<FileSummary> DecodeFile(
    SequentialFile* src,
    const std::function<Status(uint32_t pgno, std::span<const uint8_t> data)>& on_page) {
  Decoder dec(src);
  LTXBUS_RETURN_IF_ERROR(dec.DecodeHeader());
  std::vector<uint8_t> page(dec.header().page_size);
  for (;;) {
    uint32_t pgno = 0;
    LTXBUS_ASSIGN_OR_RETURN(bool more, dec.NextPage(&pgno, page));
    if (!more) break;
    if (on_page) LTXBUS_RETURN_IF_ERROR(on_page(pgno, page));
  }
  LTXBUS_RETURN_IF_ERROR(dec.Finish());
  return FileSummary{dec.header(), dec.trailer(), dec.page_count(), dec.bytes_read()};
}

}  // namespace ltxbus::ltx
