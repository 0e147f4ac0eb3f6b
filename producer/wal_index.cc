#include "producer/wal_index.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <thread>

#include "base/endian.h"

namespace ltxbus::producer {
namespace {

constexpr uint64_t kCopy1Offset = kWalIndexHeaderSize;
constexpr uint64_t kCkptInfoOffset = 2 * kWalIndexHeaderSize;
constexpr size_t kCkptInfoSize = 40;  // nBackfill, aReadMark[5], aLock[8], nBackfillAttempted, pad

uint32_t LoadNative32(const uint8_t* p) {
  uint32_t v = 0;
  std::memcpy(&v, p, sizeof v);
  return v;
}
uint16_t LoadNative16(const uint8_t* p) {
  uint16_t v = 0;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

WalIndexHeader WalIndexHeader::Decode(std::span<const uint8_t, kWalIndexHeaderSize> copy) {
  const uint8_t* p = copy.data();
  WalIndexHeader h;
  h.version = LoadNative32(p + 0);
  h.change = LoadNative32(p + 8);
  h.is_init = p[12] != 0;
  h.big_endian_checksums = p[13] != 0;
  const uint16_t sz = LoadNative16(p + 14);
  // A u16 cannot hold 65536, so the format stores 1 for it.
  h.page_size = sz == 1 ? 65536u : sz;
  h.max_frame = LoadNative32(p + 16);
  h.db_pages = LoadNative32(p + 20);
  h.frame_checksum = {LoadNative32(p + 24), LoadNative32(p + 28)};
  // The salts are a byte copy of the WAL header's (big-endian) salt bytes,
  // not native integers: decode them as the WAL reader does so the two can be
  // compared directly.
  h.salt1 = LoadBE32(p + 32);
  h.salt2 = LoadBE32(p + 36);
  h.checksum = {LoadNative32(p + 40), LoadNative32(p + 44)};
  return h;
}

WalChecksum WalIndexHeader::ComputeChecksum(std::span<const uint8_t, kWalIndexHeaderSize> copy) {
  constexpr bool kNativeBigEndian = std::endian::native == std::endian::big;
  return WalChecksumUpdate(kNativeBigEndian, copy.first(40), {});
}

WalIndex::WalIndex(std::unique_ptr<RandomAccessFile> shm) : shm_(std::move(shm)) {}

Result<WalIndex> WalIndex::Open(Env* env, const std::string& shm_path) {
  LTXBUS_ASSIGN_OR_RETURN(auto file, env->NewRandomAccessFile(shm_path));
  return WalIndex(std::move(file));
}

Result<WalIndexHeader> WalIndex::Read(const WalIndexReadOptions& options) const {
  std::array<uint8_t, kWalIndexHeaderSize> copy0{};
  std::array<uint8_t, kWalIndexHeaderSize> copy1{};
  std::array<uint8_t, kCkptInfoSize> ckpt{};
  std::string problem = "no attempt made";
  const int attempts = std::max(options.max_attempts, 1);
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (attempt > 0 && attempt < 5) {
      std::this_thread::yield();
    } else if (attempt >= 5) {
      auto delay = std::chrono::microseconds(int64_t{attempt} * attempt);
      std::this_thread::sleep_for(std::min(delay, options.max_delay));
    }
    // Copy 0 strictly before copy 1: writers finish copy 1 before they start
    // copy 0, so equal copies read in this order are one writer's complete
    // header (separate reads, so the kernel cannot reorder the two copies).
    LTXBUS_ASSIGN_OR_RETURN(bool present, ReadAtIfPresent(*shm_, 0, copy0));
    if (present) {
      LTXBUS_ASSIGN_OR_RETURN(present, ReadAtIfPresent(*shm_, kCopy1Offset, copy1));
    }
    if (present) {
      LTXBUS_ASSIGN_OR_RETURN(present, ReadAtIfPresent(*shm_, kCkptInfoOffset, ckpt));
    }
    if (!present) {
      problem = "the -shm file is shorter than the wal-index header";
      continue;
    }
    if (copy0 != copy1) {
      problem = "the two header copies differ (a writer is updating them)";
      continue;
    }
    WalIndexHeader h = WalIndexHeader::Decode(copy0);
    if (!h.is_init) {
      problem = "the header is not initialised (isInit is 0)";
      continue;
    }
    const WalChecksum want = WalIndexHeader::ComputeChecksum(copy0);
    if (want != h.checksum) {
      problem = fmt::format("header checksum {:08x}{:08x} != computed {:08x}{:08x}", h.checksum.s0,
                            h.checksum.s1, want.s0, want.s1);
      continue;
    }
    if (h.version != kWalIndexVersion) {
      return Status::Corruption("wal-index version {} is not {}", h.version, kWalIndexVersion);
    }
    h.backfill = LoadNative32(&ckpt[0]);
    for (size_t i = 0; i < h.read_marks.size(); ++i)
      h.read_marks[i] = LoadNative32(&ckpt[4 + 4 * i]);
    h.backfill_attempted = LoadNative32(&ckpt[32]);
    return h;
  }
  return Status::Unavailable("no consistent wal-index header after {} attempts: {}", attempts,
                             problem);
}

}  // namespace ltxbus::producer
