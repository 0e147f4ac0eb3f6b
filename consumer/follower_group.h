// Runs one Follower per configured replica, each on its own thread and bus
// connection, independent of the others: many replicas of one stream, or
// replicas of many databases, in one process (`ltxbus follow`).
//
// Bus and I/O errors are retried with backoff. A replica that must not be
// written any more (another process wrote it: Conflict; it cannot follow its
// stream as configured: InvalidArgument; it diverged: Corruption) stops with
// an error and the others go on.
//
// For lag, a monitor thread reads each database's head of stream once a
// second (follower_lag.h) on a bus connection of its own, so a slow read never
// delays applying; Reports() merges it with each follower's stats.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/env.h"
#include "config/config.h"
#include "consumer/follower.h"
#include "consumer/follower_metrics.h"

namespace ltxbus::consumer {

struct FollowerGroupOptions {
  // How often the head of each stream is read, for lag.
  std::chrono::milliseconds head_interval{1000};
};

class FollowerGroup {
 public:
  // Connects and opens every replica before returning; a replica that is
  // refused (not WAL, not ours, written by someone else) fails the start.
  static Result<std::unique_ptr<FollowerGroup>> Start(
      Env* env, const std::vector<config::FollowConfig>& replicas,
      const FollowerGroupOptions& options = {});
  ~FollowerGroup();
  FollowerGroup(const FollowerGroup&) = delete;
  FollowerGroup& operator=(const FollowerGroup&) = delete;

  // Asks every follower to finish its batch and stop.
  void Stop();
  // Waits for every thread; the first replica's fatal error, if any.
  Status Wait();
  // True once every replica has stopped with a fatal error.
  bool failed() const { return failed_.load(); }
  // Every replica's position, counters and head, as of now (thread-safe).
  std::vector<ReplicaReport> Reports() const;

 private:
  FollowerGroup() = default;
  void Run(size_t index);
  void MonitorHeads();

  struct Entry;
  std::vector<std::unique_ptr<Entry>> replicas_;
  std::vector<std::thread> threads_;
  std::thread monitor_;
  FollowerGroupOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  size_t failures_ = 0;
  std::atomic<bool> failed_{false};
  Status first_error_;
};

}  // namespace ltxbus::consumer
