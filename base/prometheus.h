// The Prometheus text exposition format (0.0.4), written once for every
// /metrics endpoint: a family is its HELP and TYPE lines, then one sample per
// labelled subject.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ltxbus::prometheus {

// A label value with backslash, double quote and newline escaped.
std::string EscapeLabel(std::string_view value);

// `name="value",...` for the inside of a sample's braces, values escaped.
std::string Labels(const std::vector<std::pair<std::string_view, std::string_view>>& labels);

// Appends one family to `out`. Each sample is (labels as Labels() returns
// them, value); a sample without a value (not known yet) is left out rather
// than reported as 0.
void AppendFamily(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help,
                  const std::vector<std::pair<std::string, std::optional<double>>>& samples);

// One metric family over subjects of type S (a database, a replica):
// `value` gives a subject's sample, or nullopt when not known yet.
template <typename S>
struct Family {
  const char* name;
  const char* type;  // "gauge" or "counter"
  const char* help;
  std::function<std::optional<double>(const S&)> value;
};

inline std::optional<double> Value(uint64_t v) { return static_cast<double>(v); }

// Every family in order, one sample per subject; labels[i] (as Labels()
// returns them) labels subjects[i].
template <typename S>
std::string Render(const std::vector<Family<S>>& families, const std::vector<S>& subjects,
                   const std::vector<std::string>& labels) {
  std::string out;
  for (const Family<S>& f : families) {
    std::vector<std::pair<std::string, std::optional<double>>> samples;
    for (size_t i = 0; i < subjects.size(); i++)
      samples.emplace_back(labels[i], f.value(subjects[i]));
    AppendFamily(out, f.name, f.type, f.help, samples);
  }
  return out;
}

}  // namespace ltxbus::prometheus
