// CRC-64 with Go's crc64.ISO table: polynomial 0x1B (reflected
// 0xD800000000000000), init and final xor all ones, reflected in and out.
// check("123456789") == 0xB90956C775A41001. Used for LTX file and page
// checksums (docs/ltx-format.md).
#pragma once

#include <cstdint>
#include <span>

namespace ltxbus {

// Incremental CRC-64/ISO. Value() may be called at any point.
class Crc64 {
 public:
  void Update(std::span<const uint8_t> data) { state_ = Extend(state_, data); }
  uint64_t Value() const { return ~state_; }
  static uint64_t Of(std::span<const uint8_t> data) { return ~Extend(~uint64_t{0}, data); }

 private:
  static uint64_t Extend(uint64_t state, std::span<const uint8_t> data);
  uint64_t state_ = ~uint64_t{0};
};

}  // namespace ltxbus
