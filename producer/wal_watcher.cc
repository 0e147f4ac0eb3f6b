#include "producer/wal_watcher.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace ltxbus::producer {

WalWatcher::WalWatcher(const std::string& db_path, int stop_fd) : stop_fd_(stop_fd) {
  const std::filesystem::path wal(db_path + "-wal");
  wal_name_ = wal.filename().string();
  std::string dir = wal.parent_path().string();
  if (dir.empty()) dir = ".";
  inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) {
    spdlog::warn("{}: inotify unavailable ({}); polling at the monitor interval", db_path,
                 std::strerror(errno));
    return;
  }
  if (::inotify_add_watch(inotify_fd_, dir.c_str(), IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0) {
    spdlog::warn("{}: cannot watch {} ({}); polling at the monitor interval", db_path, dir,
                 std::strerror(errno));
    ::close(inotify_fd_);
    inotify_fd_ = -1;
  }
}

WalWatcher::~WalWatcher() {
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
}

bool WalWatcher::Drain() {
  bool wal_changed = false;
  alignas(struct inotify_event) char buf[16384];
  for (;;) {
    const ssize_t n = ::read(inotify_fd_, buf, sizeof buf);
    if (n <= 0) return wal_changed;  // EAGAIN: the queue is empty
    for (ssize_t off = 0; off < n;) {
      struct inotify_event ev;
      std::memcpy(&ev, buf + off, sizeof ev);
      // An overflow means events were lost: assume the WAL changed.
      if ((ev.mask & IN_Q_OVERFLOW) != 0) wal_changed = true;
      if (ev.len > 0 && std::strncmp(buf + off + sizeof ev, wal_name_.c_str(), ev.len) == 0) {
        wal_changed = true;
      }
      off += static_cast<ssize_t>(sizeof ev + ev.len);
    }
  }
}

void WalWatcher::Wait(std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  if (inotify_fd_ >= 0 && Drain()) return;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return;
    struct pollfd fds[2];
    nfds_t count = 0;
    if (inotify_fd_ >= 0) fds[count++] = {inotify_fd_, POLLIN, 0};
    if (stop_fd_ >= 0) fds[count++] = {stop_fd_, POLLIN, 0};
    const int rc = ::poll(fds, count, static_cast<int>(left.count()));
    if (rc < 0 && errno != EINTR) return;
    if (rc <= 0) continue;
    for (nfds_t i = 0; i < count; i++) {
      if (fds[i].fd == stop_fd_ && (fds[i].revents & POLLIN) != 0) return;
    }
    if (inotify_fd_ >= 0 && Drain()) return;
  }
}

}  // namespace ltxbus::producer
