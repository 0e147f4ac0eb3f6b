// Runs a replica's PASSIVE checkpoints on a thread and a connection of its
// own, so that copying the WAL back into the database file (and that file's
// fsync) overlaps the next transactions' apply instead of delaying them:
// SQLite lets one checkpointer run beside one writer and any readers. A
// follower catching up spends about a fifth of its time in checkpoints when
// it runs them itself.
//
// Thread-safe: Request and Pause may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/status.h"
#include "sqlite/database.h"

namespace ltxbus::consumer {

class ReplicaCheckpointer {
 public:
  // `path` is a WAL-mode replica. The connection is opened here.
  static Result<std::unique_ptr<ReplicaCheckpointer>> Start(const std::string& path);
  // Lets a running checkpoint finish, then stops the thread.
  ~ReplicaCheckpointer();
  ReplicaCheckpointer(const ReplicaCheckpointer&) = delete;
  ReplicaCheckpointer& operator=(const ReplicaCheckpointer&) = delete;

  // Asks for a PASSIVE checkpoint and returns at once. Requests made while
  // one runs are served by a single further run. A failure is logged.
  void Request();
  // No checkpoint runs on the thread while the returned lock is held (taking
  // it waits for a running one to finish): for a TRUNCATE checkpoint on
  // another connection, which would otherwise find the checkpoint lock taken.
  [[nodiscard]] std::unique_lock<std::mutex> Pause();
  // Checkpoints completed (copied back everything the WAL held), for tests.
  uint64_t completed() const;

 private:
  ReplicaCheckpointer(std::string path, sqlite::Database db);
  void Run();

  const std::string path_;
  sqlite::Database db_;       // used by the thread only
  std::mutex checkpoint_mu_;  // held by the thread while it checkpoints, and by Pause
  mutable std::mutex mu_;     // guards the fields below
  std::condition_variable cv_;
  bool requested_ = false;
  bool stopping_ = false;
  uint64_t completed_ = 0;
  std::thread thread_;  // last: starts once the members it uses exist
};

}  // namespace ltxbus::consumer
