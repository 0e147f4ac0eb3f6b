#include "producer/wal_watcher.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace ltxbus::producer {

WalWatcher::WalWatcher(const std::string& db_path, int stop_fd)
    : wal_path_(db_path + "-wal"), stop_fd_(stop_fd) {
  const std::filesystem::path wal(wal_path_);
  wal_name_ = wal.filename().string();
  std::string dir = wal.parent_path().string();
  if (dir.empty()) dir = ".";
  inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) {
    spdlog::warn("{}: inotify unavailable ({}); polling at the monitor interval", db_path,
                 std::strerror(errno));
    return;
  }
  // The directory first: a -wal created between the two calls is then seen.
  dir_watch_ = ::inotify_add_watch(inotify_fd_, dir.c_str(), IN_CREATE | IN_MOVED_TO);
  if (dir_watch_ < 0) {
    spdlog::warn("{}: cannot watch {} ({}); polling at the monitor interval", db_path, dir,
                 std::strerror(errno));
    ::close(inotify_fd_);
    inotify_fd_ = -1;
    return;
  }
  WatchWal();
}

WalWatcher::~WalWatcher() {
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
}

void WalWatcher::WatchWal() {
  // ENOENT is normal (no -wal yet): the directory watch reports its creation.
  (void)::inotify_add_watch(inotify_fd_, wal_path_.c_str(), IN_MODIFY);
}

bool WalWatcher::Drain() {
  bool wal_changed = false;
  bool wal_appeared = false;
  alignas(struct inotify_event) char buf[16384];
  for (;;) {
    const ssize_t n = ::read(inotify_fd_, buf, sizeof buf);
    if (n <= 0) break;  // EAGAIN: the queue is empty
    for (ssize_t off = 0; off < n;) {
      struct inotify_event ev;
      std::memcpy(&ev, buf + off, sizeof ev);
      if ((ev.mask & IN_Q_OVERFLOW) != 0) {
        // Events were lost, the -wal's creation perhaps among them.
        wal_changed = wal_appeared = true;
      } else if (ev.wd == dir_watch_) {
        if (ev.len > 0 && std::strncmp(buf + off + sizeof ev, wal_name_.c_str(), ev.len) == 0) {
          wal_changed = wal_appeared = true;
        }
      } else if ((ev.mask & IN_IGNORED) != 0) {
        // The kernel dropped a watch: its -wal was deleted; the directory
        // watch reports the next one.
      } else {
        // A write to the -wal, or to a -wal since replaced: either way a
        // reason to look.
        wal_changed = true;
      }
      off += static_cast<ssize_t>(sizeof ev + ev.len);
    }
  }
  if (wal_appeared) WatchWal();
  return wal_changed;
}

WalWatcher::Wake WalWatcher::Wait(std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  if (inotify_fd_ >= 0 && Drain()) return Wake::kWalChanged;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return Wake::kTimedOut;
    struct pollfd fds[2];
    nfds_t count = 0;
    if (inotify_fd_ >= 0) fds[count++] = {inotify_fd_, POLLIN, 0};
    if (stop_fd_ >= 0) fds[count++] = {stop_fd_, POLLIN, 0};
    const int rc = ::poll(fds, count, static_cast<int>(left.count()));
    if (rc < 0 && errno != EINTR) return Wake::kTimedOut;
    if (rc <= 0) continue;
    for (nfds_t i = 0; i < count; i++) {
      if (fds[i].fd == stop_fd_ && (fds[i].revents & POLLIN) != 0) return Wake::kStopped;
    }
    if (inotify_fd_ >= 0 && Drain()) return Wake::kWalChanged;
  }
}

}  // namespace ltxbus::producer
