// Streaming LTX writer. Memory is bounded by a few pages: pages are compressed
// and written one at a time, and the page index spills to an anonymous
// temporary file past `index_memory_limit` bytes.
//
//   Encoder enc(&file, {.encoding = PageEncoding::kLZ4Frame});
//   LTXBUS_RETURN_IF_ERROR(enc.EncodeHeader(header));
//   for (each page in ascending pgno) LTXBUS_RETURN_IF_ERROR(enc.EncodePage(pgno, data));
//   LTXBUS_RETURN_IF_ERROR(enc.Finish(post_apply_checksum));
//
// The encoder refuses to write an invalid file: a bad header, a page that is
// the lock page, beyond Commit, out of order, of the wrong size, a snapshot
// missing a page, or a post-apply checksum that contradicts the flags. After
// any error the encoder is unusable and the output must be discarded.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/crc64.h"
#include "base/env.h"
#include "ltx/ltx.h"
#include "ltx/page_codec.h"

namespace ltxbus::ltx {

struct EncoderOptions {
  PageEncoding encoding = PageEncoding::kLZ4Frame;
  size_t index_memory_limit = 1 << 20;
};

class Encoder {
 public:
  explicit Encoder(WritableFile* dst, EncoderOptions options = {});
  ~Encoder();
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  Status EncodeHeader(const Header& header);
  // `data` must be exactly page_size bytes.
  Status EncodePage(uint32_t pgno, std::span<const uint8_t> data);
  // Writes the end marker, index and trailer. With NoChecksum the post-apply
  // checksum must be 0; otherwise it must have bit 63 set.
  Status Finish(Checksum post_apply_checksum);

  const Header& header() const { return header_; }
  uint64_t bytes_written() const { return offset_; }
  uint32_t page_count() const { return page_count_; }
  Checksum file_checksum() const { return file_checksum_; }

 private:
  Status Write(std::span<const uint8_t> data, bool hash);
  Status AppendIndexEntry(uint32_t pgno, uint64_t offset, uint64_t size);
  Status Fail(Status s);

  WritableFile* dst_;
  EncoderOptions options_;
  PageCodec codec_;
  Crc64 crc_;
  Header header_;
  enum class State { kHeader, kPages, kDone, kFailed } state_ = State::kHeader;
  uint64_t offset_ = 0;
  uint32_t page_count_ = 0;
  uint32_t last_pgno_ = 0;
  Checksum file_checksum_ = 0;
  std::vector<uint8_t> scratch_;
  std::string index_;  // serialized entries not yet spilled
  struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, FileCloser> index_spill_;
  uint64_t index_spilled_ = 0;
};

}  // namespace ltxbus::ltx
