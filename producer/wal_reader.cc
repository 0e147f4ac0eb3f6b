#include "producer/wal_reader.h"

#include <algorithm>
#include <array>
#include <unordered_map>
#include <utility>

#include "ltx/ltx.h"

namespace ltxbus::producer {
namespace {

WalStopInfo MakeStop(WalStop reason, uint32_t frame, std::string detail) {
  return WalStopInfo{reason, frame, std::move(detail)};
}

// The header as it is now, or the stop that describes why there is none.
struct HeaderRead {
  std::optional<WalHeader> header;
  WalStopInfo stop;
};

Result<HeaderRead> ReadWalHeader(const RandomAccessFile& file, uint32_t frame) {
  std::array<uint8_t, kWalHeaderSize> buf{};
  LTXBUS_ASSIGN_OR_RETURN(bool present, ReadAtIfPresent(file, 0, buf));
  if (!present) {
    LTXBUS_ASSIGN_OR_RETURN(uint64_t size, file.Size());
    return HeaderRead{std::nullopt,
                      MakeStop(WalStop::kShortFile, frame,
                               fmt::format("the WAL is {} bytes, shorter than its header", size))};
  }
  Result<WalHeader> h = WalHeader::Decode(buf);
  if (!h.ok()) {
    if (!h.status().IsCorruption()) return h.status();
    return HeaderRead{std::nullopt, MakeStop(WalStop::kHeaderChanged, frame, h.status().message())};
  }
  return HeaderRead{*h, {}};
}

bool SameSalts(uint32_t a1, uint32_t a2, uint32_t b1, uint32_t b2) { return a1 == b1 && a2 == b2; }

std::string SaltText(uint32_t s1, uint32_t s2) { return fmt::format("{:08x}/{:08x}", s1, s2); }

}  // namespace

std::string_view WalStopName(WalStop stop) {
  switch (stop) {
    case WalStop::kEndOfFrames:
      return "end of frames";
    case WalStop::kReachedMaxFrame:
      return "reached max frame";
    case WalStop::kSaltMismatch:
      return "salt mismatch";
    case WalStop::kChecksumMismatch:
      return "checksum mismatch";
    case WalStop::kShortFile:
      return "short file";
    case WalStop::kHeaderChanged:
      return "header changed";
    case WalStop::kPrevFrameMismatch:
      return "previous frame mismatch";
  }
  return "unknown";
}

WalReader::WalReader(std::unique_ptr<RandomAccessFile> file) : file_(std::move(file)) {}

Result<WalReader> WalReader::Open(Env* env, const std::string& wal_path) {
  LTXBUS_ASSIGN_OR_RETURN(auto file, env->NewRandomAccessFile(wal_path));
  return WalReader(std::move(file));
}

Result<WalResume> WalReader::Start() const {
  LTXBUS_ASSIGN_OR_RETURN(HeaderRead hr, ReadWalHeader(*file_, 1));
  WalResume out;
  if (!hr.header) {
    out.stop = std::move(hr.stop);
    return out;
  }
  out.header = *hr.header;
  out.position = WalPosition{out.header.salt1, out.header.salt2, 1, out.header.checksum};
  return out;
}

Result<WalResume> WalReader::ResumeAt(const WalPosition& p) const {
  return ResumeAt(p.salt1, p.salt2, p.frame, p.checksum);
}

Result<WalResume> WalReader::ResumeAt(uint32_t salt1, uint32_t salt2, uint32_t frame,
                                      std::optional<WalChecksum> expected) const {
  if (frame == 0) return Status::InvalidArgument("WAL frame indexes start at 1");
  WalResume out;
  LTXBUS_ASSIGN_OR_RETURN(HeaderRead hr, ReadWalHeader(*file_, frame));
  if (!hr.header) {
    out.stop = std::move(hr.stop);
    return out;
  }
  const WalHeader& h = *hr.header;
  const bool header_matches = SameSalts(h.salt1, h.salt2, salt1, salt2);

  WalChecksum seed = h.checksum;
  if (frame > 1) {
    // The frame before the position is the only evidence that the file still
    // continues the history we captured (its predecessors may have been
    // checkpointed and overwritten legitimately long ago).
    const uint32_t prev = frame - 1;
    std::array<uint8_t, kWalFrameHeaderSize> buf{};
    LTXBUS_ASSIGN_OR_RETURN(bool present, ReadAtIfPresent(*file_, h.FrameOffset(prev), buf));
    if (!present) {
      out.stop =
          MakeStop(WalStop::kPrevFrameMismatch, frame,
                   fmt::format("frame {} is past the end of the WAL: it was truncated", prev));
      return out;
    }
    WalFrameHeader fh = WalFrameHeader::Decode(buf);
    if (!SameSalts(fh.salt1, fh.salt2, salt1, salt2)) {
      out.stop = MakeStop(WalStop::kPrevFrameMismatch, frame,
                          fmt::format("frame {} carries salts {}, not {}: the WAL was overwritten",
                                      prev, SaltText(fh.salt1, fh.salt2), SaltText(salt1, salt2)));
      return out;
    }
    seed = fh.checksum;
  } else if (!header_matches) {
    out.stop = MakeStop(WalStop::kSaltMismatch, frame,
                        fmt::format("WAL header salts {}, position's {}: the WAL was restarted",
                                    SaltText(h.salt1, h.salt2), SaltText(salt1, salt2)));
    return out;
  }
  if (expected && *expected != seed) {
    out.stop = MakeStop(
        WalStop::kPrevFrameMismatch, frame,
        fmt::format("checksum before frame {} is {:08x}{:08x}, position's {:08x}{:08x}: the WAL "
                    "was overwritten",
                    frame, seed.s0, seed.s1, expected->s0, expected->s1));
    return out;
  }
  if (!header_matches) {
    out.stop = MakeStop(WalStop::kSaltMismatch, frame,
                        fmt::format("WAL header salts {}, position's {}: the WAL restarted after "
                                    "frame {}, which is intact",
                                    SaltText(h.salt1, h.salt2), SaltText(salt1, salt2), frame - 1));
    return out;
  }
  out.header = h;
  out.position = WalPosition{salt1, salt2, frame, seed};
  return out;
}

Result<WalRead> WalReader::Next(const WalPosition& pos, uint32_t max_frame) const {
  if (pos.frame == 0) return Status::InvalidArgument("WAL frame indexes start at 1");
  WalRead out;
  auto stop = [&out](WalStop reason, uint64_t frame, std::string detail) {
    out.stop = MakeStop(reason, static_cast<uint32_t>(std::min<uint64_t>(frame, kNoMaxFrame)),
                        std::move(detail));
    return out;
  };

  LTXBUS_ASSIGN_OR_RETURN(HeaderRead hr, ReadWalHeader(*file_, pos.frame));
  if (!hr.header) {
    out.stop = std::move(hr.stop);
    return out;
  }
  const WalHeader h = *hr.header;
  if (!SameSalts(h.salt1, h.salt2, pos.salt1, pos.salt2)) {
    return stop(WalStop::kSaltMismatch, pos.frame,
                fmt::format("WAL header salts {}, position's {}: the WAL was restarted",
                            SaltText(h.salt1, h.salt2), SaltText(pos.salt1, pos.salt2)));
  }

  const bool big_endian = h.big_endian_checksums();
  std::vector<uint8_t> buf(h.FrameSize());
  const auto frame_header = std::span<const uint8_t, kWalFrameHeaderSize>(buf.data(), 24);
  const auto page = std::span<const uint8_t>(buf).subspan(kWalFrameHeaderSize);
  // Offset of the last image of each page so far; bounded by distinct pages.
  std::unordered_map<uint32_t, uint64_t> last_image;
  WalChecksum chain = pos.checksum;

  // 64-bit so that an unbounded read cannot wrap the frame counter.
  for (uint64_t frame = pos.frame;; ++frame) {
    if (frame > max_frame) {
      return stop(WalStop::kReachedMaxFrame, frame, fmt::format("max frame is {}", max_frame));
    }
    const uint64_t offset = kWalHeaderSize + (frame - 1) * h.FrameSize();
    LTXBUS_ASSIGN_OR_RETURN(bool present, ReadAtIfPresent(*file_, offset, buf));
    if (!present) {
      LTXBUS_ASSIGN_OR_RETURN(uint64_t size, file_->Size());
      if (size <= offset) {
        return stop(WalStop::kEndOfFrames, frame,
                    fmt::format("the WAL ends after frame {} ({} bytes)", frame - 1, size));
      }
      return stop(WalStop::kShortFile, frame,
                  fmt::format("the WAL ends inside frame {} ({} of {} bytes)", frame, size - offset,
                              h.FrameSize()));
    }
    const WalFrameHeader fh = WalFrameHeader::Decode(frame_header);
    if (!SameSalts(fh.salt1, fh.salt2, pos.salt1, pos.salt2)) {
      // Either a leftover from before the last restart, beyond the end of this
      // generation, or the WAL restarted while we were reading it.
      LTXBUS_ASSIGN_OR_RETURN(HeaderRead again,
                              ReadWalHeader(*file_, static_cast<uint32_t>(frame)));
      if (!again.header) {
        out.stop = std::move(again.stop);
        return out;
      }
      if (!SameSalts(again.header->salt1, again.header->salt2, pos.salt1, pos.salt2)) {
        return stop(
            WalStop::kSaltMismatch, frame,
            fmt::format("frame {} and the header now carry salts {}, position's {}: the "
                        "WAL was restarted",
                        frame, SaltText(fh.salt1, fh.salt2), SaltText(pos.salt1, pos.salt2)));
      }
      return stop(WalStop::kEndOfFrames, frame,
                  fmt::format("frame {} carries salts {} of another WAL generation", frame,
                              SaltText(fh.salt1, fh.salt2)));
    }
    const WalChecksum computed = WalFrameChecksum(big_endian, chain, frame_header, page);
    if (computed != fh.checksum) {
      return stop(
          WalStop::kChecksumMismatch, frame,
          fmt::format("frame {} (page {}) stores checksum {:08x}{:08x}, chain gives "
                      "{:08x}{:08x}",
                      frame, fh.pgno, fh.checksum.s0, fh.checksum.s1, computed.s0, computed.s1));
    }
    if (fh.pgno == 0) {
      return Status::Corruption("WAL frame {} has a valid checksum but page number 0", frame);
    }
    chain = computed;
    last_image.insert_or_assign(fh.pgno, offset + kWalFrameHeaderSize);
    if (!fh.is_commit()) continue;

    WalTransaction t;
    t.page_size = h.page_size;
    t.commit = fh.commit;
    t.begin = pos;
    t.end = WalPosition{pos.salt1, pos.salt2, static_cast<uint32_t>(frame + 1), chain};
    t.wal_offset = h.FrameOffset(pos.frame);
    t.wal_size = (frame + 1 - pos.frame) * h.FrameSize();
    const uint32_t lock_pgno = ltx::LockPgno(h.page_size);
    t.pages.reserve(last_image.size());
    for (const auto& [pgno, image] : last_image) {
      // Pages past the new end were written before the transaction shrank the
      // database (spilled from the cache); SQLite never writes the lock page,
      // and LTX files must not contain it.
      if (pgno > t.commit || pgno == lock_pgno) continue;
      t.pages.push_back(WalPage{pgno, image});
    }
    std::sort(t.pages.begin(), t.pages.end(),
              [](const WalPage& a, const WalPage& b) { return a.pgno < b.pgno; });
    out.txn = std::move(t);
    return out;
  }
}

Status WalReader::ReadPage(uint64_t offset, std::span<uint8_t> dst) const {
  return file_->ReadAt(offset, dst);
}

}  // namespace ltxbus::producer
