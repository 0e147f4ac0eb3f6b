#include "ltx/page_codec.h"

#include <lz4.h>
#include <lz4frame.h>

#include <cstring>

#include "base/endian.h"

namespace ltxbus::ltx {
namespace {

constexpr uint32_t kFrameMagic = 0x184D2204;
constexpr uint8_t kFlgBlockChecksum = 0x10;
constexpr uint8_t kFlgContentSize = 0x08;
constexpr uint8_t kFlgContentChecksum = 0x04;
constexpr uint8_t kFlgDictId = 0x01;
constexpr int kBlockSizeId64K = 4;  // BD bits 6-4: 4..7 = 64 KiB, 256 KiB, 1 MiB, 4 MiB

// The largest frame accepted for one page: twice the page's compress bound,
// ample for any real writer's header, blocks and checksums (one block each).
size_t MaxFrameSize(uint32_t page_size) { return 2 * (PageCodec::MaxBlockSize(page_size) + 32); }

// What ltx's Go writer (pierrec/lz4) emits: 64 KB blocks, independent blocks,
// content checksum on, no block checksum, no content size, fast level.
LZ4F_preferences_t LegacyFramePreferences() {
  LZ4F_preferences_t p;
  std::memset(&p, 0, sizeof p);
  p.frameInfo.blockSizeID = LZ4F_max64KB;
  p.frameInfo.blockMode = LZ4F_blockIndependent;
  p.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
  p.frameInfo.frameType = LZ4F_frame;
  p.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum;
  p.compressionLevel = 0;
  p.autoFlush = 1;
  return p;
}

}  // namespace

struct PageCodec::Contexts {
  LZ4F_cctx* cctx = nullptr;
  LZ4F_dctx* dctx = nullptr;
  ~Contexts() {
    if (cctx != nullptr) LZ4F_freeCompressionContext(cctx);
    if (dctx != nullptr) LZ4F_freeDecompressionContext(dctx);
  }
};

PageCodec::PageCodec() : ctx_(std::make_unique<Contexts>()) {}
PageCodec::~PageCodec() = default;

size_t PageCodec::MaxBlockSize(uint32_t page_size) {
  return static_cast<size_t>(LZ4_compressBound(static_cast<int>(page_size)));
}

Status PageCodec::Compress(PageEncoding encoding, std::span<const uint8_t> page,
                           std::vector<uint8_t>* out) {
  if (encoding == PageEncoding::kLZ4Block) {
    const size_t bound = MaxBlockSize(static_cast<uint32_t>(page.size()));
    out->resize(kPageSizeFieldSize + bound);
    int n = LZ4_compress_default(reinterpret_cast<const char*>(page.data()),
                                 reinterpret_cast<char*>(out->data() + kPageSizeFieldSize),
                                 static_cast<int>(page.size()), static_cast<int>(bound));
    if (n <= 0) return Status::Internal("LZ4 block compression failed");
    StoreBE32(out->data(), static_cast<uint32_t>(n));
    out->resize(kPageSizeFieldSize + static_cast<size_t>(n));
    return Status::OK();
  }
  if (ctx_->cctx == nullptr) {
    if (LZ4F_isError(LZ4F_createCompressionContext(&ctx_->cctx, LZ4F_VERSION))) {
      return Status::Internal("cannot create an LZ4 frame compression context");
    }
  }
  const LZ4F_preferences_t prefs = LegacyFramePreferences();
  out->resize(LZ4F_HEADER_SIZE_MAX + LZ4F_compressBound(page.size(), &prefs));
  size_t pos = LZ4F_compressBegin(ctx_->cctx, out->data(), out->size(), &prefs);
  if (LZ4F_isError(pos)) return Status::Internal("LZ4F_compressBegin: {}", LZ4F_getErrorName(pos));
  size_t n = LZ4F_compressUpdate(ctx_->cctx, out->data() + pos, out->size() - pos, page.data(),
                                 page.size(), nullptr);
  if (LZ4F_isError(n)) return Status::Internal("LZ4F_compressUpdate: {}", LZ4F_getErrorName(n));
  pos += n;
  n = LZ4F_compressEnd(ctx_->cctx, out->data() + pos, out->size() - pos, nullptr);
  if (LZ4F_isError(n)) return Status::Internal("LZ4F_compressEnd: {}", LZ4F_getErrorName(n));
  out->resize(pos + n);
  return Status::OK();
}

Status PageCodec::DecompressBlock(std::span<const uint8_t> block, std::span<uint8_t> dst) {
  int n = LZ4_decompress_safe(reinterpret_cast<const char*>(block.data()),
                              reinterpret_cast<char*>(dst.data()), static_cast<int>(block.size()),
                              static_cast<int>(dst.size()));
  if (n < 0) return Status::Corruption("corrupt LZ4 block ({} bytes)", block.size());
  if (static_cast<size_t>(n) != dst.size()) {
    return Status::Corruption("LZ4 block decompresses to {} bytes, want the page size {}", n,
                              dst.size());
  }
  return Status::OK();
}

Status PageCodec::DecompressFrame(std::span<const uint8_t> frame, std::span<uint8_t> dst) {
  if (ctx_->dctx == nullptr) {
    if (LZ4F_isError(LZ4F_createDecompressionContext(&ctx_->dctx, LZ4F_VERSION))) {
      return Status::Internal("cannot create an LZ4 frame decompression context");
    }
  }
  LZ4F_resetDecompressionContext(ctx_->dctx);
  size_t src_size = frame.size();
  size_t dst_size = dst.size();
  // The LZ4 content checksum (xxHash32 of each page) is skipped: every
  // LTX decode also verifies the file's CRC-64 over these same bytes, so it
  // would catch nothing more, and it was a tenth of a follower's apply time.
  LZ4F_decompressOptions_t options{};
  options.skipChecksums = 1;
  size_t hint =
      LZ4F_decompress(ctx_->dctx, dst.data(), &dst_size, frame.data(), &src_size, &options);
  if (LZ4F_isError(hint)) {
    return Status::Corruption("corrupt LZ4 frame: {}", LZ4F_getErrorName(hint));
  }
  if (hint != 0 || src_size != frame.size()) {
    return Status::Corruption("LZ4 frame does not end where its structure says");
  }
  if (dst_size != dst.size()) {
    return Status::Corruption("LZ4 frame decompresses to {} bytes, want the page size {}", dst_size,
                              dst.size());
  }
  return Status::OK();
}

Result<size_t> FrameScanner::BytesNeeded(std::span<const uint8_t> so_far) {
  for (;;) {
    switch (stage_) {
      case 0:  // magic, FLG, BD
        if (so_far.size() < 6) return 6 - so_far.size();
        if (LoadLE32(so_far.data()) != kFrameMagic) {
          return Status::Corruption("page frame is not an LZ4 frame (magic {:08x})",
                                    LoadLE32(so_far.data()));
        }
        flg_ = so_far[4];
        if ((flg_ >> 6) != 1) return Status::Corruption("unsupported LZ4 frame version");
        // liblz4 allocates two buffers of the declared maximum block size (up
        // to 4 MiB each) in the decompression context; a page needs 64 KiB at
        // most, which is what the Go writer and ltxbus declare. Invalid BD
        // values are left to liblz4, which rejects them.
        if (const int id = (so_far[5] >> 4) & 7; id > kBlockSizeId64K) {
          return Status::Corruption(
              "LZ4 frame declares {} KiB maximum blocks; a page frame may declare at most 64 KiB",
              64 << (2 * (id - kBlockSizeId64K)));
        }
        pos_ =
            size_t{6} + ((flg_ & kFlgContentSize) ? 8u : 0u) + ((flg_ & kFlgDictId) ? 4u : 0u) + 1u;
        stage_ = 2;
        break;
      case 2: {  // block size, or the end mark
        if (so_far.size() < pos_ + 4) return pos_ + 4 - so_far.size();
        uint32_t raw = LoadLE32(so_far.data() + pos_);
        pos_ += 4;
        if (raw == 0) {
          if ((flg_ & kFlgContentChecksum) != 0) pos_ += 4;
          stage_ = 4;
          break;
        }
        size_t block = raw & 0x7fffffffu;
        total_block_bytes_ += block;
        // A page never needs more than its compress bound, in any number of blocks.
        if (total_block_bytes_ > PageCodec::MaxBlockSize(page_size_) + 16) {
          return Status::Corruption("LZ4 frame blocks total {} bytes, too large for a {}-byte page",
                                    total_block_bytes_, page_size_);
        }
        pos_ += block + ((flg_ & kFlgBlockChecksum) ? 4u : 0u);
        // Empty blocks add no data but 4 or 8 bytes each, and the decoder
        // holds the whole frame: cap the frame itself, not just its data.
        if (pos_ > MaxFrameSize(page_size_)) {
          return Status::Corruption("LZ4 frame is over {} bytes, too large for a {}-byte page",
                                    MaxFrameSize(page_size_), page_size_);
        }
        break;
      }
      case 4:
        if (so_far.size() < pos_) return pos_ - so_far.size();
        return size_t{0};
      default:
        return Status::Internal("frame scanner in bad state");
    }
  }
}

}  // namespace ltxbus::ltx
