#include "ltx/ltx.h"

#include <algorithm>
#include <cstring>

#include "base/endian.h"

namespace ltxbus::ltx {

std::string_view PageEncodingName(PageEncoding e) {
  return e == PageEncoding::kLZ4Block ? "block" : "frame";
}

Result<PageEncoding> ParsePageEncoding(std::string_view name) {
  if (name == "frame" || name == "lz4-frame") return PageEncoding::kLZ4Frame;
  if (name == "block" || name == "lz4-block") return PageEncoding::kLZ4Block;
  return Status::InvalidArgument("unknown page encoding '{}' (want 'frame' or 'block')", name);
}

bool IsValidPageSize(uint32_t page_size) {
  return page_size >= kMinPageSize && page_size <= kMaxPageSize &&
         (page_size & (page_size - 1)) == 0;
}

Status Header::Validate() const {
  if ((flags & ~kHeaderFlagsMask) != 0) {
    return Status::Corruption("invalid header flags 0x{:08x} (only NoChecksum 0x2 is defined)",
                              flags);
  }
  if (!IsValidPageSize(page_size)) {
    return Status::Corruption("invalid page size {} (want a power of two from 512 to 65536)",
                              page_size);
  }
  if (min_txid == 0) return Status::Corruption("minimum TXID is zero");
  if (max_txid == 0) return Status::Corruption("maximum TXID is zero");
  if (min_txid > max_txid) {
    return Status::Corruption("minimum TXID {} is after maximum TXID {}", FormatTXID(min_txid),
                              FormatTXID(max_txid));
  }
  if (wal_offset < 0) return Status::Corruption("negative WAL offset {}", wal_offset);
  if (wal_size < 0) return Status::Corruption("negative WAL size {}", wal_size);
  if ((wal_salt1 != 0 || wal_salt2 != 0) && wal_offset == 0) {
    return Status::Corruption("WAL salts set without a WAL offset");
  }
  if (wal_offset == 0 && wal_size != 0) {
    return Status::Corruption("WAL size {} set without a WAL offset", wal_size);
  }
  if (IsSnapshot()) {
    if (pre_apply_checksum != 0) {
      return Status::Corruption("snapshot (minimum TXID 1) has a pre-apply checksum {:016x}",
                                pre_apply_checksum);
    }
  } else if (!HasChecksums()) {
    if (pre_apply_checksum != 0) {
      return Status::Corruption("pre-apply checksum {:016x} set although NoChecksum is set",
                                pre_apply_checksum);
    }
  } else if ((pre_apply_checksum & kChecksumFlag) == 0) {
    return Status::Corruption("pre-apply checksum {:016x} lacks its flag bit 63",
                              pre_apply_checksum);
  }
  return Status::OK();
}

void Header::EncodeTo(std::span<uint8_t, kHeaderSize> out) const {
  uint8_t* p = out.data();
  std::memcpy(p, kMagic, 4);
  StoreBE32(p + 4, flags);
  StoreBE32(p + 8, page_size);
  StoreBE32(p + 12, commit);
  StoreBE64(p + 16, min_txid);
  StoreBE64(p + 24, max_txid);
  StoreBE64(p + 32, static_cast<uint64_t>(timestamp_ms));
  StoreBE64(p + 40, pre_apply_checksum);
  StoreBE64(p + 48, static_cast<uint64_t>(wal_offset));
  StoreBE64(p + 56, static_cast<uint64_t>(wal_size));
  StoreBE32(p + 64, wal_salt1);
  StoreBE32(p + 68, wal_salt2);
  StoreBE64(p + 72, node_id);
  std::memset(p + 80, 0, 20);
}

Result<Header> Header::Decode(std::span<const uint8_t, kHeaderSize> in) {
  const uint8_t* p = in.data();
  if (std::memcmp(p, kMagic, 4) != 0) {
    return Status::Corruption(
        "not an LTX file: bad magic {:02x} {:02x} {:02x} {:02x} (want 'LTX1')", p[0], p[1], p[2],
        p[3]);
  }
  Header h;
  h.flags = LoadBE32(p + 4);
  h.page_size = LoadBE32(p + 8);
  h.commit = LoadBE32(p + 12);
  h.min_txid = LoadBE64(p + 16);
  h.max_txid = LoadBE64(p + 24);
  h.timestamp_ms = static_cast<int64_t>(LoadBE64(p + 32));
  h.pre_apply_checksum = LoadBE64(p + 40);
  h.wal_offset = static_cast<int64_t>(LoadBE64(p + 48));
  h.wal_size = static_cast<int64_t>(LoadBE64(p + 56));
  h.wal_salt1 = LoadBE32(p + 64);
  h.wal_salt2 = LoadBE32(p + 68);
  h.node_id = LoadBE64(p + 72);
  LTXBUS_RETURN_IF_ERROR(h.Validate().WithContext("header"));
  return h;
}

std::string FormatTXID(TXID txid) { return fmt::format("{:016x}", txid); }

Result<TXID> ParseTXID(std::string_view hex16) {
  if (hex16.size() != 16) {
    return Status::InvalidArgument("TXID '{}' must be 16 hex digits", hex16);
  }
  TXID v = 0;
  for (char c : hex16) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return Status::InvalidArgument("TXID '{}' must be 16 hex digits", hex16);
    }
    v = (v << 4) | static_cast<TXID>(d);
  }
  return v;
}

std::string FormatPosition(TXID txid, Checksum checksum) {
  return fmt::format("{:016x}/{:016x}", txid, checksum);
}

std::string FormatFilename(TXID min_txid, TXID max_txid) {
  return fmt::format("{:016x}-{:016x}.ltx", min_txid, max_txid);
}

std::optional<std::pair<TXID, TXID>> ParseFilename(std::string_view name) {
  if (name.size() != 37 || name[16] != '-' || name.substr(33) != ".ltx") return std::nullopt;
  auto lower_hex = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
  };
  if (!lower_hex(name.substr(0, 16)) || !lower_hex(name.substr(17, 16))) return std::nullopt;
  return std::pair{ParseTXID(name.substr(0, 16)).value(), ParseTXID(name.substr(17, 16)).value()};
}

}  // namespace ltxbus::ltx
