// The producer's Prometheus metrics for `ltxbus replicate`'s `/metrics`
// endpoint (docs/wal-capture.md, "Metrics").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "producer/replicator.h"

namespace ltxbus::producer {

// Text exposition format 0.0.4, one sample per database labelled
// {database="...", path="..."}. Values not known yet (no frame published
// since the process started) are left out rather than reported as 0.
// `now_ms` (Unix ms) dates the publish under way.
std::string RenderProducerMetrics(const std::vector<DatabaseReport>& reports, int64_t now_ms);

}  // namespace ltxbus::producer
