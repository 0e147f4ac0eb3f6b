#include "base/crc64.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "base/crc64_internal.h"
#include "base/env.h"

namespace ltxbus {
namespace {

TEST(Crc64Test, CheckValueIsGoIso) {
  EXPECT_EQ(Crc64::Of(AsBytes("123456789")), 0xB90956C775A41001ull);
}

TEST(Crc64Test, IncrementalEqualsOneShot) {
  std::string data;
  for (int i = 0; i < 1000; i++) data.push_back(static_cast<char>(i * 7));
  for (size_t split : {0u, 1u, 7u, 8u, 9u, 500u, 1000u}) {
    Crc64 c;
    c.Update(AsBytes(std::string_view(data).substr(0, split)));
    c.Update(AsBytes(std::string_view(data).substr(split)));
    EXPECT_EQ(c.Value(), Crc64::Of(AsBytes(data))) << split;
  }
}

// The PCLMULQDQ path must equal the table on every length (each fold stage
// boundary: 64, 16 and the table tail), alignment and starting state.
TEST(Crc64Test, FastPathEqualsTable) {
  if (!crc64_internal::HasFastPath()) GTEST_SKIP() << "no fast CRC-64 path on this CPU";
  std::mt19937_64 rng(42);
  std::vector<uint8_t> buf(70000 + 64);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  auto check = [&](size_t offset, size_t len, uint64_t state) {
    std::span<const uint8_t> d(buf.data() + offset, len);
    ASSERT_EQ(crc64_internal::ExtendFast(state, d), crc64_internal::ExtendTable(state, d))
        << "offset " << offset << " len " << len << " state " << state;
  };
  for (size_t len = 0; len <= 600; len++) {
    for (size_t offset : {0u, 1u, 3u, 8u, 15u}) check(offset, len, ~uint64_t{0});
  }
  for (size_t len : {4096u, 4096u + 4u, 8192u, 65536u, 65536u + 17u, 70000u}) check(5, len, 0);
  for (int i = 0; i < 2000; i++) {
    const size_t len = rng() % 20000;
    const size_t offset = rng() % 64;
    check(offset, len, rng());
  }
}

TEST(Crc64Test, CheckValueOnLongInputIsStableAcrossPaths) {
  // 1 MiB of a fixed pattern through the public API, split unevenly, equals
  // the table reference: Crc64 may choose either path.
  std::vector<uint8_t> data(1 << 20);
  for (size_t i = 0; i < data.size(); i++) data[i] = static_cast<uint8_t>(i * 31 + (i >> 9));
  Crc64 c;
  c.Update(std::span(data).first(12345));
  c.Update(std::span(data).subspan(12345));
  EXPECT_EQ(c.Value(), ~crc64_internal::ExtendTable(~uint64_t{0}, data));
}

}  // namespace
}  // namespace ltxbus
