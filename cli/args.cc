#include "cli/args.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

namespace ltxbus::cli {

std::vector<std::string> NormalizeArgs(int argc, char** argv) {
  std::vector<std::string> out;
  bool past_double_dash = false;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--") past_double_dash = true;
    if (!past_double_dash && a.size() > 2 && a[0] == '-' && a[1] != '-' &&
        std::isalpha(static_cast<unsigned char>(a[1]))) {
      a = "-" + a;
    }
    out.push_back(std::move(a));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

Result<std::unique_ptr<MetricsServer>> ServeMetrics(const std::string& addr,
                                                    MetricsServer::RenderFn render) {
  if (addr.empty()) return std::unique_ptr<MetricsServer>();
  LTXBUS_ASSIGN_OR_RETURN(std::unique_ptr<MetricsServer> server,
                          MetricsServer::Start(addr, std::move(render)));
  spdlog::info("metrics on http://{}/metrics", server->address());
  return server;
}

}  // namespace ltxbus::cli
