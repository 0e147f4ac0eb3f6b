// How commands turn their arguments into a configuration, so that a short
// form means the same thing everywhere: `DB URL` for the commands that act on
// replicated databases (`replicate`, `sync`), `URL DB -o REPLICA` for those
// that act on replicas (`follow`, `status`).
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

// The configuration whose `follow:` list a replica command acts on: the one
// in `config_path`, which must have such a list, or the single replica the
// short form `URL DB -o REPLICA` names, every other setting at its default.
inline Result<config::Config> FollowConfigFrom(std::string_view command,
                                               const std::string& config_path,
                                               const std::string& url, const std::string& db,
                                               const std::string& replica) {
  if (!config_path.empty()) {
    if (!url.empty() || !replica.empty()) {
      return Status::InvalidArgument("give either -config FILE or URL DB -o REPLICA, not both");
    }
    LTXBUS_ASSIGN_OR_RETURN(config::Config c, config::Config::Load(config_path));
    if (c.follow.empty()) {
      return Status::InvalidArgument("{} has no 'follow' list (docs/config.md)", config_path);
    }
    return c;
  }
  if (url.empty() || db.empty() || replica.empty()) {
    return Status::InvalidArgument("usage: ltxbus {0} URL DB -o REPLICA | ltxbus {0} -config FILE",
                                   command);
  }
  config::Config c;
  config::FollowConfig f;
  f.name = db;
  f.bus = url;
  f.replica = replica;
  c.follow.push_back(std::move(f));
  return c;
}

}  // namespace ltxbus::cli
