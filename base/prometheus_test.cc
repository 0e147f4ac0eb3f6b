#include "base/prometheus.h"

#include <gtest/gtest.h>

namespace ltxbus::prometheus {
namespace {

TEST(PrometheusTest, EscapesLabelValues) {
  EXPECT_EQ(EscapeLabel("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(Labels({{"database", "x\"y"}, {"replica", "/r.db"}}),
            "database=\"x\\\"y\",replica=\"/r.db\"");
}

TEST(PrometheusTest, AFamilyLeavesOutUnknownValues) {
  std::string out;
  AppendFamily(out, "m_total", "counter", "Things", {{"a=\"1\"", 3}, {"a=\"2\"", std::nullopt}});
  EXPECT_EQ(out, "# HELP m_total Things\n# TYPE m_total counter\nm_total{a=\"1\"} 3\n");
}

}  // namespace
}  // namespace ltxbus::prometheus
