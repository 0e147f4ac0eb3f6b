// Command-line conventions shared by every ltxbus command.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/metrics_server.h"
#include "base/status.h"

namespace ltxbus::cli {

inline constexpr std::string_view kVersion = "0.1.0";

// What a command reports back to main(): a Status (printed, exit 1) or an
// explicit exit code for commands whose "no" is not an error.
struct CommandResult {
  Status status;
  int exit_code = 0;
};

// Litestream users type Go-style flags (-config, -json); CLI11 wants
// --config. Rewrites "-word" to "--word" (not "-o", not negative numbers) and
// returns the arguments in the reversed order CLI11's parse() expects.
std::vector<std::string> NormalizeArgs(int argc, char** argv);

// Serves `render` on http://ADDR/metrics and logs where; no server (nullptr)
// when `addr` is empty. A command's -metrics-addr beats its config's `addr`.
Result<std::unique_ptr<MetricsServer>> ServeMetrics(const std::string& addr,
                                                    MetricsServer::RenderFn render);

}  // namespace ltxbus::cli
