#include "tests/integration/store_cutting_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace ltxbus::store::testing {
namespace {

// Every poll wakes up this often to notice a stop.
constexpr int kPollMs = 100;

sockaddr_in Loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

bool SendAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<CuttingProxy>> CuttingProxy::Start(int upstream_port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("proxy socket", errno);
  sockaddr_in a = Loopback(0);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(fd, 64) != 0) {
    int err = errno;
    ::close(fd);
    return Status::FromErrno("proxy bind/listen", err);
  }
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  std::unique_ptr<CuttingProxy> p(new CuttingProxy(fd, ntohs(a.sin_port), upstream_port));
  p->acceptor_ = std::thread([raw = p.get()] { raw->AcceptLoop(); });
  return p;
}

CuttingProxy::~CuttingProxy() {
  stop_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::thread> relays;
  {
    std::lock_guard<std::mutex> lock(mu_);
    relays.swap(relays_);
  }
  for (auto& t : relays) t.join();
}

void CuttingProxy::CutAfter(uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  armed_ = true;
  budget_ = bytes;
}

void CuttingProxy::AcceptLoop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, kPollMs) <= 0) continue;
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in up = Loopback(upstream_port_);
    if (server < 0 || ::connect(server, reinterpret_cast<sockaddr*>(&up), sizeof(up)) != 0) {
      ::close(client);
      if (server >= 0) ::close(server);
      continue;
    }
    int one = 1;
    ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ::setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::lock_guard<std::mutex> lock(mu_);
    relays_.emplace_back([this, client, server] { Relay(client, server); });
  }
}

void CuttingProxy::Relay(int client, int server) {
  char buf[64 * 1024];
  bool open = true;
  while (open && !stop_) {
    pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    if (::poll(p, 2, kPollMs) <= 0) continue;
    for (int i = 0; i < 2 && open; i++) {
      if ((p[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const int from = i == 0 ? client : server;
      const int to = i == 0 ? server : client;
      ssize_t n = ::recv(from, buf, sizeof(buf), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        open = false;
        break;
      }
      auto len = static_cast<size_t>(n);
      bool cut = false;
      if (to == client) {
        std::lock_guard<std::mutex> lock(mu_);
        if (armed_) {
          if (len >= budget_) {
            len = static_cast<size_t>(budget_);
            cut = true;
            armed_ = false;
          } else {
            budget_ -= len;
          }
        }
      }
      if (len > 0 && !SendAll(to, buf, len)) open = false;
      if (cut) {
        cuts_++;
        open = false;
      }
    }
  }
  ::close(client);
  ::close(server);
}

}  // namespace ltxbus::store::testing
