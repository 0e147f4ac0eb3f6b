// Wakes the producer as soon as the app writes its -wal, so a commit is
// published within about a millisecond instead of at the next monitor tick.
//
// Linux inotify on the database's directory (not on the -wal itself, which
// SQLite may delete and create again), filtered to the -wal's name. The
// monitor interval stays the upper bound of every wait: a missed event (an
// inotify queue overflow, a file system without inotify) only costs latency,
// never a transaction, because every wake-up polls the wal-index, which is
// the truth about what is committed.
#pragma once

#include <chrono>
#include <string>

namespace ltxbus::producer {

class WalWatcher {
 public:
  // Watches `db_path`'s -wal. `stop_fd` (or -1) ends every Wait once it is
  // readable. Never fails: without inotify, Wait just sleeps.
  WalWatcher(const std::string& db_path, int stop_fd);
  ~WalWatcher();
  WalWatcher(const WalWatcher&) = delete;
  WalWatcher& operator=(const WalWatcher&) = delete;

  // Returns when the -wal was written since the previous call, when
  // `stop_fd` is readable, or after `timeout`, whichever comes first.
  void Wait(std::chrono::milliseconds timeout);
  // Whether changes are noticed (false: Wait only times out).
  bool watching() const { return inotify_fd_ >= 0; }

 private:
  // Reads every queued event; true if one was about the -wal.
  bool Drain();

  std::string wal_name_;
  int inotify_fd_ = -1;
  int stop_fd_ = -1;
};

}  // namespace ltxbus::producer
