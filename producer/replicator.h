// Runs the producer for every database of a config: one thread per database
// polls its WAL, publishes frames and runs checkpoints, and recovers from
// errors on its own (bus outages are retried with backoff; a replaced
// database file is reopened; a fenced producer exits or waits, by config).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/env.h"
#include "config/config.h"
#include "producer/capture.h"

namespace ltxbus::producer {

// What a producer process reports about one database (`/metrics`).
struct DatabaseReport {
  std::string database;  // its name on the bus
  std::string path;
  std::string bus_url;  // credentials removed
  // Since the process started, across reopens of the database: the counters
  // summed, the newest TXID and publish time kept, `wal_frames` as last seen.
  CaptureStats stats;
  bool behind = false;  // a backlog is being published
  // Unix ms when the publish under way began; 0 when none is. A bus that
  // stopped answering shows here long before the publish times out.
  int64_t publish_started_ms = 0;
  // False while the database cannot be published: the bus is unreachable or
  // refused a batch, another producer fenced this one, or the database
  // cannot be opened; `error` says why.
  bool publishing = false;
  std::string error;
};

class Replicator {
 public:
  // Connects and opens every database (the first sync: each database is
  // either continued from the bus or snapshotted) before returning.
  static Result<std::unique_ptr<Replicator>> Start(Env* env, const config::Config& config);
  ~Replicator();
  Replicator(const Replicator&) = delete;
  Replicator& operator=(const Replicator&) = delete;

  // Asks every database thread to publish what is committed and stop.
  void Stop();
  // Waits until every thread has stopped; the first fatal error, if any.
  Status Wait();
  // True once a thread stopped with a fatal error (e.g. fenced, on-fenced=exit).
  bool failed() const { return failed_.load(); }
  // A consistent copy of every database's report, in config order; safe to
  // call from any thread.
  std::vector<DatabaseReport> Reports() const;

 private:
  Replicator() = default;
  void Run(size_t index);
  void UpdateReport(size_t index, const Status& problem);

  struct Database;
  Env* env_ = nullptr;
  config::Config config_;
  std::vector<std::unique_ptr<Database>> dbs_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  bool stopping_ = false;
  // An eventfd that becomes readable on Stop(): it ends every thread's wait.
  int stop_fd_ = -1;
  std::atomic<bool> failed_{false};
  Status first_error_;
};

// "host/pid/start-ms": who published a frame.
std::string ProducerIdentity(Env* env);

}  // namespace ltxbus::producer
