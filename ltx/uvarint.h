// Go's encoding/binary uvarint (unsigned LEB128, at most 10 bytes), used by
// the LTX page index.
#pragma once

#include <cstdint>
#include <string>

namespace ltxbus::ltx {

inline void AppendUvarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(static_cast<uint8_t>(v) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

}  // namespace ltxbus::ltx
