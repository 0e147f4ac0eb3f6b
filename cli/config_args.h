// How commands that act on replicated databases (`replicate`, `sync`) turn
// their arguments into a configuration, so that `DB URL` means the same
// database name and bus everywhere.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "config/config.h"

namespace ltxbus::cli {

// What the short form `DB URL` stands for: a config with bus URL and the one
// database at path DB, named after its file, every other setting at its
// default — exactly what `-config` with that single entry gives.
inline Result<config::Config> ShortFormConfig(const std::string& db, const std::string& url) {
  // YAML single quotes: a quote inside is doubled.
  auto quote = [](std::string_view s) {
    std::string out = "'";
    for (char c : s) {
      out += c;
      if (c == '\'') out += '\'';
    }
    return out + "'";
  };
  return config::Config::Parse(fmt::format("bus: {}\ndbs:\n  - path: {}\n", quote(url), quote(db)));
}

}  // namespace ltxbus::cli
