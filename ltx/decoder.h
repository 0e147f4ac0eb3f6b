// Streaming LTX reader. Reads front to back with a fixed buffer and one page
// of scratch, so memory never depends on the file size.
//
//   Decoder dec(&file);
//   LTXBUS_RETURN_IF_ERROR(dec.DecodeHeader());
//   std::vector<uint8_t> page(dec.header().page_size);
//   uint32_t pgno;
//   for (;;) {
//     LTXBUS_ASSIGN_OR_RETURN(bool more, dec.NextPage(&pgno, page));
//     if (!more) break;
//     ... use page ...
//   }
//   LTXBUS_RETURN_IF_ERROR(dec.Finish());  // index, trailer, checksums
//
// Nothing a file says is trusted until Finish() returns OK: a caller that
// applies pages as they stream must be able to undo them (e.g. apply inside a
// transaction and commit only after Finish).
//
// Validation is stricter than the Go decoder's: pages must be ascending, not
// beyond Commit, not the lock page; a snapshot must hold every page; the index
// must describe exactly the frames read; nothing may follow the trailer. Each
// violation has its own message (see decoder_test.cc).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "base/crc64.h"
#include "base/env.h"
#include "ltx/checksum.h"
#include "ltx/ltx.h"
#include "ltx/page_codec.h"

namespace ltxbus::ltx {

class Decoder {
 public:
  explicit Decoder(SequentialFile* src);
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  Status DecodeHeader();
  const Header& header() const { return header_; }

  // Decodes the next page into `data` (at least page_size bytes). Returns
  // false once the end marker is reached.
  Result<bool> NextPage(uint32_t* pgno, std::span<uint8_t> data);
  // Reads the index and trailer and verifies everything. Call after NextPage
  // returned false.
  Status Finish();

  const Trailer& trailer() const { return trailer_; }
  uint32_t page_count() const { return page_count_; }
  uint64_t bytes_read() const { return offset_; }
  bool saw_block_pages() const { return saw_block_; }
  // Where the page NextPage last returned sits in the file, and its frame size.
  uint64_t last_frame_offset() const { return last_frame_offset_; }
  uint64_t last_frame_size() const { return last_frame_size_; }
  bool saw_frame_pages() const { return saw_frame_; }

 private:
  Status ReadExact(std::span<uint8_t> dst, const char* what);
  Result<uint64_t> ReadUvarint(const char* what);
  Status Fail(Status s);
  Status ReadFramePayload(uint32_t pgno, std::span<uint8_t> page);
  Status ReadBlockPayload(uint32_t pgno, std::span<uint8_t> page);
  Status CheckPageOrder(uint32_t pgno);

  SequentialFile* src_;
  // Left uninitialized (only the bytes read are used): decoders are made per
  // frame (the follower makes two), and zero-filling 64 KiB for each frame of
  // a few KiB showed in the follower's profile.
  std::unique_ptr<uint8_t[]> buf_storage_;
  std::span<uint8_t> buf_;
  size_t buf_pos_ = 0;
  size_t buf_len_ = 0;
  bool src_eof_ = false;

  enum class State { kHeader, kPages, kIndex, kDone, kFailed } state_ = State::kHeader;
  Header header_;
  Trailer trailer_;
  PageCodec codec_;
  Crc64 file_crc_;                // the file checksum as the format defines it
  Crc64 frames_crc_;              // (pgno, frame size) of each frame read, to check the index
  DatabaseChecksum db_checksum_;  // of the pages read; verified for snapshots
  std::vector<uint8_t> scratch_;
  uint64_t offset_ = 0;
  uint64_t end_marker_offset_ = 0;
  uint64_t last_frame_offset_ = 0;
  uint64_t last_frame_size_ = 0;
  uint32_t page_count_ = 0;
  uint32_t last_pgno_ = 0;
  bool saw_block_ = false;
  bool saw_frame_ = false;
};

// What a full decode found.
struct FileSummary {
  Header header;
  Trailer trailer;
  uint32_t page_count = 0;
  uint64_t size = 0;
};

// Decodes and verifies a whole file, calling `on_page` (if set) per page.
Result<FileSummary> DecodeFile(
    SequentialFile* src,
    const std::function<Status(uint32_t pgno, std::span<const uint8_t> data)>& on_page = {});

}  // namespace ltxbus::ltx
