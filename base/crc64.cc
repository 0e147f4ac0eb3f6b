#include "base/crc64.h"

#include <array>
#include <cstring>

#include "base/crc64_internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LTXBUS_CRC64_CLMUL 1
#include <immintrin.h>
#endif

namespace ltxbus {
namespace {

constexpr uint64_t kPoly = 0xD800000000000000ull;  // reflected 0x1B

// Slice-by-8 tables: table[k][b] is the CRC of byte b followed by k zero bytes.
constexpr std::array<std::array<uint64_t, 256>, 8> MakeTables() {
  std::array<std::array<uint64_t, 256>, 8> t{};
  for (uint64_t i = 0; i < 256; i++) {
    uint64_t c = i;
    for (int j = 0; j < 8; j++) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[0][i] = c;
  }
  for (size_t k = 1; k < 8; k++) {
    for (size_t i = 0; i < 256; i++) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
  }
  return t;
}
constexpr auto kTables = MakeTables();

#ifdef LTXBUS_CRC64_CLMUL

// Carry-less multiplication folding (Intel, "Fast CRC Computation for Generic
// Polynomials Using PCLMULQDQ", 2009), ~10x the table's speed. The table
// version stays the reference and the fallback; crc64_test checks they agree.
//
// In the reflected domain a 16-byte little-endian load X holds the message
// polynomial H*x^64 + L with H in the low and L in the high 64-bit lane (the
// first byte's low bit is the highest power). clmul of two reflected 64-bit
// values yields x*A*B in that 128-bit form, hence the x^(n-1) below. Moving X
// forward over d bytes is X*x^(8d) = H*x^(8d+64) + L*x^(8d), and replacing
// each power by its residue mod P keeps X at 128 bits without changing the
// CRC. At the end X (still congruent to the message) is run through the table
// as 16 plain bytes, which performs the final reduction.

// x^e mod P, P = x^64 + x^4 + x^3 + x + 1, in normal bit order.
constexpr uint64_t XPowModP(unsigned e) {
  uint64_t r = 1;
  for (unsigned i = 0; i < e; i++) r = (r << 1) ^ ((r >> 63) != 0 ? 0x1Bu : 0u);
  return r;
}
constexpr uint64_t Reflect64(uint64_t v) {
  uint64_t r = 0;
  for (int i = 0; i < 64; i++) r |= ((v >> i) & 1) << (63 - i);
  return r;
}
struct FoldConstants {
  uint64_t hi;  // multiplies the low lane (H)
  uint64_t lo;  // multiplies the high lane (L)
};
// Constants to move a 16-byte accumulator forward over `bytes` bytes.
constexpr FoldConstants FoldBy(unsigned bytes) {
  return {Reflect64(XPowModP(8 * bytes + 63)), Reflect64(XPowModP(8 * bytes - 1))};
}
constexpr FoldConstants kFold64 = FoldBy(64);
constexpr FoldConstants kFold48 = FoldBy(48);
constexpr FoldConstants kFold32 = FoldBy(32);
constexpr FoldConstants kFold16 = FoldBy(16);

// Below this the table is as fast and the setup is not worth it.
constexpr size_t kClmulMinBytes = 64;

__attribute__((target("sse2,pclmul"))) inline __m128i Load(const uint8_t* p) {
  __m128i v;
  std::memcpy(&v, p, sizeof v);  // movdqu; no alignment assumed
  return v;
}

__attribute__((target("sse2,pclmul"))) inline __m128i Fold(__m128i x, FoldConstants k) {
  const __m128i kv =
      _mm_set_epi64x(static_cast<long long>(k.lo), static_cast<long long>(k.hi));  // NOLINT
  return _mm_xor_si128(_mm_clmulepi64_si128(x, kv, 0x00), _mm_clmulepi64_si128(x, kv, 0x11));
}

// Needs data.size() >= kClmulMinBytes.
__attribute__((target("sse2,pclmul"))) uint64_t ExtendClmul(uint64_t crc,
                                                            std::span<const uint8_t> data) {
  const uint8_t* p = data.data();
  size_t n = data.size();
  // Four independent accumulators hide the multiplier's latency.
  __m128i x0 = _mm_xor_si128(Load(p), _mm_cvtsi64_si128(static_cast<long long>(crc)));  // NOLINT
  __m128i x1 = Load(p + 16);
  __m128i x2 = Load(p + 32);
  __m128i x3 = Load(p + 48);
  p += 64;
  n -= 64;
  while (n >= 64) {
    x0 = _mm_xor_si128(Fold(x0, kFold64), Load(p));
    x1 = _mm_xor_si128(Fold(x1, kFold64), Load(p + 16));
    x2 = _mm_xor_si128(Fold(x2, kFold64), Load(p + 32));
    x3 = _mm_xor_si128(Fold(x3, kFold64), Load(p + 48));
    p += 64;
    n -= 64;
  }
  __m128i x = _mm_xor_si128(_mm_xor_si128(Fold(x0, kFold48), Fold(x1, kFold32)),
                            _mm_xor_si128(Fold(x2, kFold16), x3));
  while (n >= 16) {
    x = _mm_xor_si128(Fold(x, kFold16), Load(p));
    p += 16;
    n -= 16;
  }
  uint8_t rest[16];
  std::memcpy(rest, &x, sizeof rest);
  crc = crc64_internal::ExtendTable(0, rest);
  return crc64_internal::ExtendTable(crc, std::span(p, n));
}

bool CpuHasClmul() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("pclmul") != 0;
}

#endif  // LTXBUS_CRC64_CLMUL

// Decided once; never changes afterwards.
bool UseClmul() {
#ifdef LTXBUS_CRC64_CLMUL
  static const bool use = CpuHasClmul();
  return use;
#else
  return false;
#endif
}

}  // namespace

namespace crc64_internal {

uint64_t ExtendTable(uint64_t crc, std::span<const uint8_t> data) {
  const uint8_t* p = data.data();
  size_t n = data.size();
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);  // little-endian hosts only (x86-64, arm64)
    crc ^= word;
    crc = kTables[7][crc & 0xff] ^ kTables[6][(crc >> 8) & 0xff] ^ kTables[5][(crc >> 16) & 0xff] ^
          kTables[4][(crc >> 24) & 0xff] ^ kTables[3][(crc >> 32) & 0xff] ^
          kTables[2][(crc >> 40) & 0xff] ^ kTables[1][(crc >> 48) & 0xff] ^ kTables[0][crc >> 56];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) crc = kTables[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return crc;
}

bool HasFastPath() { return UseClmul(); }

uint64_t ExtendFast(uint64_t state, std::span<const uint8_t> data) {
#ifdef LTXBUS_CRC64_CLMUL
  if (data.size() >= kClmulMinBytes) return ExtendClmul(state, data);
#endif
  return ExtendTable(state, data);
}

std::string_view ImplementationName() { return UseClmul() ? "clmul" : "table"; }

}  // namespace crc64_internal

uint64_t Crc64::Extend(uint64_t state, std::span<const uint8_t> data) {
  if (UseClmul()) return crc64_internal::ExtendFast(state, data);
  return crc64_internal::ExtendTable(state, data);
}

}  // namespace ltxbus
