// LZ4 compression of single pages in either LTX page encoding. Internal to
// the encoder and decoder; holds reusable LZ4 contexts, so keep one per
// encoder or decoder rather than one per page.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/status.h"
#include "ltx/ltx.h"

namespace ltxbus::ltx {

class PageCodec {
 public:
  PageCodec();
  ~PageCodec();
  PageCodec(const PageCodec&) = delete;
  PageCodec& operator=(const PageCodec&) = delete;

  // Replaces *out with what follows the page header: for kLZ4Block the u32 BE
  // length and the block, for kLZ4Frame one complete LZ4 frame.
  Status Compress(PageEncoding encoding, std::span<const uint8_t> page, std::vector<uint8_t>* out);

  // Decompresses one raw LZ4 block that must yield exactly dst.size() bytes.
  static Status DecompressBlock(std::span<const uint8_t> block, std::span<uint8_t> dst);
  // Decompresses one complete LZ4 frame that must yield exactly dst.size()
  // bytes and end exactly at the end of `frame`. Its content checksum is not
  // checked: callers are LTX decoders, which check the file's CRC-64.
  Status DecompressFrame(std::span<const uint8_t> frame, std::span<uint8_t> dst);

  // Largest valid compressed block for a page: LZ4_compressBound(page_size).
  static size_t MaxBlockSize(uint32_t page_size);

 private:
  struct Contexts;
  std::unique_ptr<Contexts> ctx_;
};

// The structure of a legacy LZ4 frame, for finding where it ends in a stream.
// Feed it bytes from the frame start; it says how many more it needs.
class FrameScanner {
 public:
  explicit FrameScanner(uint32_t page_size) : page_size_(page_size) {}
  // Given the frame bytes so far, returns how many more bytes are needed, or 0
  // when the frame is complete (all of `so_far` belongs to it).
  Result<size_t> BytesNeeded(std::span<const uint8_t> so_far);

 private:
  uint32_t page_size_;
  size_t pos_ = 0;  // parsed up to here
  int stage_ = 0;   // 0 magic+FLG+BD, 1 header rest, 2 block size, 3 block, 4 trailer
  uint8_t flg_ = 0;
  size_t total_block_bytes_ = 0;
};

}  // namespace ltxbus::ltx
