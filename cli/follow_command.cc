// `ltxbus follow`: keep live read replicas of databases' streams until
// SIGINT/SIGTERM (docs/follower.md).
//
//   ltxbus follow URL DB -o REPLICA      one replica, short form
//   ltxbus follow -config FILE           the `follow:` list of a config
#include <signal.h>
#include <spdlog/spdlog.h>

#include <memory>

#include "cli/commands.h"
#include "cli/signals.h"
#include "config/config.h"
#include "consumer/follower_group.h"

namespace ltxbus::cli {
namespace {

struct FollowOptions {
  std::string config_path;
  std::string url;
  std::string db;
  std::string replica;
  int max_batch = 0;  // 0: the config's or the default
};

Result<std::vector<config::FollowConfig>> Replicas(const FollowOptions& o) {
  if (!o.config_path.empty()) {
    if (!o.url.empty() || !o.replica.empty()) {
      return Status::InvalidArgument("give either -config FILE or URL DB -o REPLICA, not both");
    }
    LTXBUS_ASSIGN_OR_RETURN(config::Config c, config::Config::Load(o.config_path));
    if (c.follow.empty()) {
      return Status::InvalidArgument("{} has no 'follow' list (docs/config.md)", o.config_path);
    }
    if (o.max_batch > 0) {
      for (auto& f : c.follow) f.max_batch = o.max_batch;
    }
    return c.follow;
  }
  if (o.url.empty() || o.db.empty() || o.replica.empty()) {
    return Status::InvalidArgument(
        "usage: ltxbus follow URL DB -o REPLICA | ltxbus follow -config FILE");
  }
  config::FollowConfig f;
  f.name = o.db;
  f.bus = o.url;
  f.replica = o.replica;
  if (o.max_batch > 0) f.max_batch = o.max_batch;
  return std::vector<config::FollowConfig>{f};
}

Status Follow(const FollowOptions& o) {
  LTXBUS_ASSIGN_OR_RETURN(std::vector<config::FollowConfig> replicas, Replicas(o));
  const sigset_t signals = BlockTerminationSignals();
  LTXBUS_ASSIGN_OR_RETURN(auto group, consumer::FollowerGroup::Start(Env::Default(), replicas));
  for (;;) {
    timespec timeout{0, 100 * 1000 * 1000};
    int sig = sigtimedwait(&signals, nullptr, &timeout);
    if (sig > 0) {
      spdlog::info("signal {}: finishing the current transaction, then exiting", sig);
      break;
    }
    if (group->failed()) break;
  }
  group->Stop();
  return group->Wait();
}

}  // namespace

void AddFollowCommand(CLI::App& app, CommandResult* result) {
  auto o = std::make_shared<FollowOptions>();
  CLI::App* cmd = app.add_subcommand(
      "follow", "Keep a live read replica of a database's stream (readers use stock SQLite)");
  cmd->add_option("--config", o->config_path, "YAML config file with a 'follow' list");
  cmd->add_option("url", o->url, "Bus URL, e.g. nats://127.0.0.1:4222/LTX or kafka://host:9092/t");
  cmd->add_option("db", o->db, "The database's name on the bus (by default its file name)");
  cmd->add_option("-o,--replica", o->replica, "The replica to create or keep following");
  cmd->add_option("--max-batch", o->max_batch,
                  "Source transactions per replica commit when catching up (default 64)")
      ->check(CLI::Range(1, 100000));
  cmd->callback([o, result] { result->status = Follow(*o); });
}

}  // namespace ltxbus::cli
