#include "tests/support/bus_connect.h"

#include <gtest/gtest.h>

namespace ltxbus::testing {

std::unique_ptr<bus::Bus> ConnectBus(const std::string& url) {
  auto endpoint = bus::Endpoint::Parse(url);
  EXPECT_TRUE(endpoint.ok()) << endpoint.status().ToString();
  if (!endpoint.ok()) return nullptr;
  auto b = bus::Bus::Connect(*endpoint);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return b.ok() ? std::move(*b) : nullptr;
}

}  // namespace ltxbus::testing
