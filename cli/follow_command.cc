// `ltxbus follow`: keep live read replicas of databases' streams until
// SIGINT/SIGTERM (docs/follower.md).
//
//   ltxbus follow URL DB -o REPLICA      one replica, short form
//   ltxbus follow -config FILE           the `follow:` list of a config
//
// With -archive STORE-URL (or a `follow:` entry's `archive`), an empty replica
// or one the stream no longer continues is bootstrapped from that archive
// (consumer/follower_archive.h).
//
// With -metrics-addr (or the config's `addr`), Prometheus metrics per replica
// are served on http://ADDR/metrics (base/metrics_server.h).
#include <signal.h>
#include <spdlog/spdlog.h>

#include <memory>

#include "base/metrics_server.h"
#include "cli/commands.h"
#include "cli/config_args.h"
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
  int max_batch = 0;         // 0: the config's or the default
  std::string metrics_addr;  // empty: the config's `addr`, else no endpoint
  std::string archive;       // empty: the config's `archive` per entry, else none
};

struct FollowSetup {
  std::vector<config::FollowConfig> replicas;
  std::string metrics_addr;
};

Result<FollowSetup> Setup(const FollowOptions& o) {
  LTXBUS_ASSIGN_OR_RETURN(config::Config c,
                          FollowConfigFrom("follow", o.config_path, o.url, o.db, o.replica));
  for (auto& f : c.follow) {
    if (o.max_batch > 0) f.max_batch = o.max_batch;
    if (!o.archive.empty()) f.archive = o.archive;
  }
  return FollowSetup{c.follow, o.metrics_addr.empty() ? c.metrics_addr : o.metrics_addr};
}

Status Follow(const FollowOptions& o) {
  LTXBUS_ASSIGN_OR_RETURN(FollowSetup setup, Setup(o));
  const sigset_t signals = BlockTerminationSignals();
  LTXBUS_ASSIGN_OR_RETURN(auto group,
                          consumer::FollowerGroup::Start(Env::Default(), setup.replicas));
  // The group is created before the server and destroyed after it: it
  // outlives every scrape.
  consumer::FollowerGroup* g = group.get();
  auto metrics = ServeMetrics(setup.metrics_addr, [g] {
    return consumer::RenderFollowerMetrics(g->Reports(), consumer::WallClockMs());
  });
  if (!metrics.ok()) {
    group->Stop();
    (void)group->Wait();
    return metrics.status();
  }
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
  Status s = group->Wait();
  metrics->reset();
  return s;
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
                  "Source transactions per replica commit when catching up (default 256)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--archive", o->archive,
                  "An archive of the database (ltxbus archive's URL: s3://, file://, nats://) to "
                  "bootstrap the replica from when it is empty or the stream no longer holds what "
                  "it needs (default: the config's 'archive')");
  cmd->add_option("--metrics-addr", o->metrics_addr,
                  "Serve Prometheus metrics on http://ADDR/metrics, e.g. 127.0.0.1:9090 "
                  "(default: the config's 'addr'; none without it)");
  cmd->callback([o, result] { result->status = Follow(*o); });
}

}  // namespace ltxbus::cli
