#include "base/prometheus.h"

#include <fmt/format.h>

namespace ltxbus::prometheus {

std::string EscapeLabel(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Labels(const std::vector<std::pair<std::string_view, std::string_view>>& labels) {
  std::string out;
  for (const auto& [name, value] : labels) {
    if (!out.empty()) out += ',';
    out += fmt::format("{}=\"{}\"", name, EscapeLabel(value));
  }
  return out;
}

void AppendFamily(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help,
                  const std::vector<std::pair<std::string, std::optional<double>>>& samples) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  for (const auto& [labels, value] : samples) {
    if (value) out += fmt::format("{}{{{}}} {}\n", name, labels, *value);
  }
}

}  // namespace ltxbus::prometheus
