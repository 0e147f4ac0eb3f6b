// What a follower process reports about each replica, and its Prometheus
// rendering for the `/metrics` endpoint (docs/follower.md, "Metrics").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "consumer/follower.h"

namespace ltxbus::consumer {

struct ReplicaReport {
  std::string database;  // its name on the bus
  std::string replica;   // the replica's path
  std::string bus_url;   // credentials removed
  FollowerStats stats;   // with the head as last read
  bool stopped = false;  // stopped following with `error`
  std::string error;
};

// Prometheus text exposition format 0.0.4, one sample per replica labelled
// {database="...", replica="..."}. Values not known yet (the head before its
// first read) are left out rather than reported as 0.
std::string RenderFollowerMetrics(const std::vector<ReplicaReport>& reports, int64_t now_ms);

}  // namespace ltxbus::consumer
