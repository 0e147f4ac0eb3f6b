// Internals of base/crc64.cc, exposed for its test and the benchmarks only.
// `state` is the raw CRC register (not inverted), as in Crc64.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace ltxbus::crc64_internal {

// The portable slice-by-8 table implementation: the reference.
uint64_t ExtendTable(uint64_t state, std::span<const uint8_t> data);
// Whether this CPU has the fast path (x86-64 PCLMULQDQ).
bool HasFastPath();
// The fast path (short inputs still go to the table). Only if HasFastPath().
uint64_t ExtendFast(uint64_t state, std::span<const uint8_t> data);
// "clmul" or "table": what Crc64 uses on this CPU.
std::string_view ImplementationName();

}  // namespace ltxbus::crc64_internal
