#include "base/crc64.h"

#include <gtest/gtest.h>

#include <string>

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

}  // namespace
}  // namespace ltxbus
