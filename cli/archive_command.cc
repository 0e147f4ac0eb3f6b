// `ltxbus archive`: keep point-in-time archives of databases' streams in
// object storage, in Litestream's layout, until SIGINT/SIGTERM
// (docs/archive.md).
//
//   ltxbus archive BUS-URL DB STORE-URL     one archive, Litestream's defaults
//   ltxbus archive -config FILE             the `archive:` list of a config
#include <signal.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>

#include "cli/commands.h"
#include "cli/signals.h"
#include "config/config.h"
#include "consumer/archiver.h"
#include "store/object_store.h"

namespace ltxbus::cli {
namespace {

struct ArchiveOptions {
  std::string config_path;
  std::string bus;
  std::string db;
  std::string store;
  std::string lease_wait = "0";
};

Result<std::vector<config::ArchiveConfig>> Archives(const ArchiveOptions& o) {
  if (!o.config_path.empty()) {
    if (!o.bus.empty()) {
      return Status::InvalidArgument("give either -config FILE or BUS-URL DB STORE-URL, not both");
    }
    LTXBUS_ASSIGN_OR_RETURN(config::Config c, config::Config::Load(o.config_path));
    if (c.archive.empty()) {
      return Status::InvalidArgument("{} has no 'archive' list (docs/archive.md)", o.config_path);
    }
    for (const auto& a : c.archive) {
      if (a.bus.empty()) {
        return Status::InvalidArgument(
            "archive of '{}' has no bus URL and there is no top-level 'bus'", a.name);
      }
    }
    return c.archive;
  }
  if (o.bus.empty() || o.db.empty() || o.store.empty()) {
    return Status::InvalidArgument(
        "usage: ltxbus archive BUS-URL DB STORE-URL | ltxbus archive -config FILE");
  }
  config::ArchiveConfig a;
  a.bus = o.bus;
  a.name = o.db;
  a.url = o.store;
  return std::vector<config::ArchiveConfig>{a};
}

// One archive, start to finish, on its own thread.
Status ArchiveOne(const config::ArchiveConfig& c, config::Millis lease_wait,
                  const std::atomic<bool>& stop) {
  LTXBUS_ASSIGN_OR_RETURN(bus::Endpoint endpoint, bus::Endpoint::Parse(c.bus));
  LTXBUS_ASSIGN_OR_RETURN(std::unique_ptr<bus::Bus> bus, bus::Bus::Connect(endpoint));
  LTXBUS_ASSIGN_OR_RETURN(std::unique_ptr<store::ObjectStore> store, store::Open(c.url));
  consumer::ArchiverOptions o;
  o.config = c;
  o.lease_wait = lease_wait;
  LTXBUS_ASSIGN_OR_RETURN(auto archiver, consumer::Archiver::Open(Env::Default(), *bus, *store, o));
  Status s = archiver->Run(stop);
  // What the archive cost in requests (S3 bills per request), for operators
  // and bench/archive_bench.
  const store::RequestCounts r = store->Requests();
  spdlog::info("archive of '{}' to {}: {} requests (PUT {}, GET {}, HEAD {}, LIST {}, DELETE {})",
               c.name, store->url(), r.total(), r.put, r.get, r.head, r.list, r.delete_);
  return s;
}

Status Archive(const ArchiveOptions& o) {
  LTXBUS_ASSIGN_OR_RETURN(std::vector<config::ArchiveConfig> archives, Archives(o));
  LTXBUS_ASSIGN_OR_RETURN(config::Millis lease_wait, config::ParseDuration(o.lease_wait));
  const sigset_t signals = BlockTerminationSignals();
  std::atomic<bool> stop{false};
  std::atomic<int> running{static_cast<int>(archives.size())};
  std::mutex mu;
  Status first_error;
  std::vector<std::thread> threads;
  for (const auto& a : archives) {
    threads.emplace_back([&, a] {
      Status s = ArchiveOne(a, lease_wait, stop);
      if (!s.ok()) {
        std::lock_guard lock(mu);
        if (first_error.ok()) first_error = s.WithContext(fmt::format("archive of '{}'", a.name));
        stop = true;  // one failed archive stops the command, so a supervisor notices
      }
      running--;
    });
  }
  while (running.load() > 0) {
    timespec timeout{0, 100 * 1000 * 1000};
    const int sig = sigtimedwait(&signals, nullptr, &timeout);
    if (sig > 0 && !stop.load()) {
      spdlog::info("signal {}: uploading what is pending, then exiting", sig);
      stop = true;
    }
  }
  for (auto& t : threads) t.join();
  return first_error;
}

}  // namespace

void AddArchiveCommand(CLI::App& app, CommandResult* result) {
  auto o = std::make_shared<ArchiveOptions>();
  CLI::App* cmd = app.add_subcommand(
      "archive", "Compact a database's stream into object storage (Litestream's layout)");
  cmd->add_option("--config", o->config_path, "YAML config file with an 'archive' list");
  cmd->add_option("bus", o->bus, "Bus URL, e.g. nats://127.0.0.1:4222/LTX");
  cmd->add_option("db", o->db, "The database's name on the bus");
  cmd->add_option(
      "store", o->store,
      "Archive URL: s3://BUCKET/PATH?endpoint=..., file:///DIR or nats://HOST:PORT/BUCKET");
  cmd->add_option("--lease-wait", o->lease_wait,
                  "How long to wait while another archiver holds the archive (default 0: exit)");
  cmd->callback([o, result] { result->status = Archive(*o); });
}

}  // namespace ltxbus::cli
