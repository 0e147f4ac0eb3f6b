// Wakes the producer as soon as the app writes its -wal, so a commit is
// published within about a millisecond instead of at the next monitor tick.
//
// Linux inotify, two watches: the -wal itself for writes, and the database's
// directory only for the -wal appearing (SQLite deletes it when the last
// connection closes and creates it again; a restore may rename one in). The
// directory watch does not ask for writes: with it, every write to any file
// beside the database (a follower's replica, the app's logs) would queue an
// event and wake the producer, a cost paid by the writer too. The monitor
// interval stays the upper bound of every wait: a missed event (an inotify
// queue overflow, a file system without inotify) only costs latency, never a
// transaction, because every wake-up polls the wal-index, which is the truth
// about what is committed.
#pragma once

#include <chrono>
#include <string>

namespace ltxbus::producer {

class WalWatcher {
 public:
  enum class Wake { kWalChanged, kStopped, kTimedOut };

  // Watches `db_path`'s -wal. `stop_fd` (or -1) ends every Wait once it is
  // readable. Never fails: without inotify, Wait just sleeps.
  WalWatcher(const std::string& db_path, int stop_fd);
  ~WalWatcher();
  WalWatcher(const WalWatcher&) = delete;
  WalWatcher& operator=(const WalWatcher&) = delete;

  // Returns when the -wal was written or created since the previous call
  // (kWalChanged; also after a lost event), when `stop_fd` is readable
  // (kStopped), or after `timeout` (kTimedOut), whichever comes first.
  Wake Wait(std::chrono::milliseconds timeout);
  // Whether changes are noticed (false: Wait only times out).
  bool watching() const { return inotify_fd_ >= 0; }

 private:
  // Reads every queued event; true if one was about the -wal.
  bool Drain();
  // (Re)points the file watch at whatever inode the -wal names now.
  void WatchWal();

  std::string wal_path_;
  std::string wal_name_;
  int inotify_fd_ = -1;
  int dir_watch_ = -1;
  int stop_fd_ = -1;
};

}  // namespace ltxbus::producer
