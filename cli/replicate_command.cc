// `ltxbus replicate`: run the producer for the databases of a config (or one
// database given on the command line) until SIGINT/SIGTERM, or until the
// program started with -exec exits.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <optional>

#include "base/process.h"
#include "cli/commands.h"
#include "cli/config_args.h"
#include "cli/signals.h"
#include "config/config.h"
#include "producer/replicator.h"
#include "producer/replicator_metrics.h"

namespace ltxbus::cli {
namespace {

using namespace std::chrono_literals;

struct ReplicateOptions {
  std::string config_path;
  std::string db;
  std::string url;
  std::string exec;
  std::string metrics_addr;  // empty: the config's `addr`, else no endpoint
};

Result<config::Config> LoadConfig(const ReplicateOptions& o) {
  if (!o.config_path.empty()) {
    if (!o.db.empty()) {
      return Status::InvalidArgument("give either -config FILE or DB URL, not both");
    }
    return config::Config::Load(o.config_path);
  }
  if (o.db.empty() || o.url.empty()) {
    return Status::InvalidArgument(
        "usage: ltxbus replicate -config FILE | ltxbus replicate DB URL");
  }
  return ShortFormConfig(o.db, o.url);
}

Result<int> Replicate(const ReplicateOptions& o) {
  LTXBUS_ASSIGN_OR_RETURN(config::Config cfg, LoadConfig(o));
  if (!o.exec.empty()) cfg.exec = o.exec;
  if (cfg.dbs.empty()) {
    return Status::InvalidArgument("{}: no databases to replicate (the config has no 'dbs:')",
                                   o.config_path);
  }
  const sigset_t signals = BlockTerminationSignals();
  LTXBUS_ASSIGN_OR_RETURN(auto replicator, producer::Replicator::Start(Env::Default(), cfg));
  spdlog::info("initial sync done for {} database(s)", cfg.dbs.size());
  // The replicator is created before the server and destroyed after it: it
  // outlives every scrape.
  producer::Replicator* r = replicator.get();
  LTXBUS_ASSIGN_OR_RETURN(
      auto metrics, ServeMetrics(o.metrics_addr.empty() ? cfg.metrics_addr : o.metrics_addr, [r] {
        return producer::RenderProducerMetrics(r->Reports(), Env::Default()->NowUnixMillis());
      }));

  std::optional<Process> child;
  if (!cfg.exec.empty()) {
    ProcessOptions po;
    po.inherit_stdin = true;
    LTXBUS_ASSIGN_OR_RETURN(Process p, Process::Spawn({"/bin/sh", "-c", cfg.exec}, po));
    spdlog::info("started -exec command (pid {}): {}", p.pid(), cfg.exec);
    child.emplace(std::move(p));
  }

  int exit_code = 0;
  for (;;) {
    timespec timeout{0, 100 * 1000 * 1000};
    int sig = sigtimedwait(&signals, nullptr, &timeout);
    if (sig > 0) {
      if (child && child->running()) {
        // The app decides when to exit; we keep replicating until it does.
        spdlog::info("forwarding signal {} to the -exec command", sig);
        (void)child->Signal(sig);
      } else {
        spdlog::info("signal {}: publishing what is committed, then exiting", sig);
        break;
      }
    }
    if (child) {
      auto done = child->Wait(0ms);
      if (done.ok()) {
        exit_code = *done;
        spdlog::info("-exec command exited with {}", exit_code);
        break;
      }
    }
    if (replicator->failed()) {
      if (child && child->running()) (void)child->Stop(30s);
      break;
    }
  }
  replicator->Stop();
  Status s = replicator->Wait();
  if (!s.ok()) return s;
  return exit_code;
}

}  // namespace

void AddReplicateCommand(CLI::App& app, CommandResult* result) {
  auto o = std::make_shared<ReplicateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "replicate", "Publish every committed transaction of WAL-mode databases to Kafka or NATS");
  cmd->add_option("--config", o->config_path, "YAML config file (see docs/config.md)");
  cmd->add_option("db", o->db, "Database file (short form, with URL)");
  cmd->add_option("url", o->url,
                  "Bus URL, e.g. nats://127.0.0.1:4222/LTX or kafka://host:9092/topic");
  cmd->add_option("--exec", o->exec,
                  "Start this command after the initial sync, forward signals to it, and exit "
                  "with its exit code");
  cmd->add_option("--metrics-addr", o->metrics_addr,
                  "Serve Prometheus metrics on http://ADDR/metrics, e.g. 127.0.0.1:9090 "
                  "(default: the config's 'addr'; none without it)");
  cmd->callback([o, result] {
    auto code = Replicate(*o);
    if (!code.ok()) {
      result->status = code.status();
    } else {
      result->exit_code = *code;
    }
  });
}

}  // namespace ltxbus::cli
