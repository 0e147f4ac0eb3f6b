#include "base/metrics_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string_view>

namespace ltxbus {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kClientTimeout = std::chrono::seconds(2);
constexpr size_t kMaxRequest = 8192;

// Waits until `fd` is ready for `events` or `deadline` passes.
bool WaitFor(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

// Sends all of `data` before `deadline`; false if the client went away or stalled.
bool SendAll(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    if (!WaitFor(fd, POLLOUT, deadline)) return false;
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string Response(std::string_view status, std::string_view content_type,
                     const std::string& body, bool head) {
  std::string r = fmt::format(
      "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", status,
      content_type, body.size());
  if (!head) r += body;
  return r;
}

struct HostPort {
  std::string host;  // empty: every interface
  std::string port;
};

Result<HostPort> SplitAddress(const std::string& addr) {
  const size_t colon = addr.rfind(':');
  if (colon == std::string::npos || colon + 1 == addr.size()) {
    return Status::InvalidArgument("metrics address '{}' is not host:port (e.g. 127.0.0.1:9090)",
                                   addr);
  }
  HostPort hp{addr.substr(0, colon), addr.substr(colon + 1)};
  if (hp.host.size() >= 2 && hp.host.front() == '[' && hp.host.back() == ']') {
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  }
  for (char c : hp.port) {
    if (c < '0' || c > '9') {
      return Status::InvalidArgument("metrics address '{}': port '{}' is not a number", addr,
                                     hp.port);
    }
  }
  return hp;
}

}  // namespace

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& addr,
                                                            RenderFn render) {
  LTXBUS_ASSIGN_OR_RETURN(HostPort hp, SplitAddress(addr));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const int gai =
      ::getaddrinfo(hp.host.empty() ? nullptr : hp.host.c_str(), hp.port.c_str(), &hints, &res);
  if (gai != 0) {
    return Status::InvalidArgument("metrics address '{}': {}", addr, ::gai_strerror(gai));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(res, ::freeaddrinfo);
  std::unique_ptr<MetricsServer> s(new MetricsServer());
  s->render_ = std::move(render);
  std::string why = "no address";
  for (addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, 16) != 0) {
      why = std::strerror(errno);
      ::close(fd);
      continue;
    }
    s->listen_fd_ = fd;
    break;
  }
  if (s->listen_fd_ < 0) {
    return Status::IOError("cannot listen for /metrics on {}: {}", addr, why);
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(s->listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  char host[NI_MAXHOST] = {}, port[NI_MAXSERV] = {};
  ::getnameinfo(reinterpret_cast<sockaddr*>(&bound), len, host, sizeof(host), port, sizeof(port),
                NI_NUMERICHOST | NI_NUMERICSERV);
  s->port_ = std::atoi(port);
  s->address_ = bound.ss_family == AF_INET6 ? fmt::format("[{}]:{}", host, port)
                                            : fmt::format("{}:{}", host, port);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return Status::IOError("metrics server: pipe: {}", std::strerror(errno));
  }
  s->wake_read_ = pipe_fds[0];
  s->wake_write_ = pipe_fds[1];
  s->thread_ = std::thread([raw = s.get()] { raw->Run(); });
  return s;
}

MetricsServer::~MetricsServer() {
  if (thread_.joinable()) {
    const char byte = 1;
    while (::write(wake_write_, &byte, 1) < 0 && errno == EINTR) {
    }
    thread_.join();
  }
  for (int fd : {listen_fd_, wake_read_, wake_write_}) {
    if (fd >= 0) ::close(fd);
  }
}

void MetricsServer::Run() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_read_, POLLIN, 0}};
    const int n = ::poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("metrics server: poll: {}; /metrics is no longer served", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (client < 0) continue;  // the client gave up, or out of descriptors: try again
    Serve(client);
    ::close(client);
  }
}

void MetricsServer::Serve(int client) {
  const auto deadline = Clock::now() + kClientTimeout;
  std::string request;
  char buf[1024];
  while (request.find("\r\n\r\n") == std::string::npos &&
         request.find("\n\n") == std::string::npos) {
    if (request.size() > kMaxRequest || !WaitFor(client, POLLIN, deadline)) return;
    const ssize_t n = ::recv(client, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return;
    request.append(buf, static_cast<size_t>(n));
  }
  // "GET /metrics HTTP/1.1": the method, the target (a query is ignored).
  const std::string_view line(request.data(), request.find_first_of("\r\n"));
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  const std::string_view method = line.substr(0, sp1);
  std::string_view target =
      sp1 == std::string_view::npos ? std::string_view() : line.substr(sp1 + 1, sp2 - sp1 - 1);
  target = target.substr(0, target.find('?'));
  const auto send_deadline = Clock::now() + kClientTimeout;
  const bool head = method == "HEAD";
  if (method != "GET" && !head) {
    SendAll(client, Response("405 Method Not Allowed", "text/plain", "GET /metrics\n", false),
            send_deadline);
  } else if (target != "/metrics") {
    SendAll(client, Response("404 Not Found", "text/plain", "ltxbus serves /metrics only\n", head),
            send_deadline);
  } else {
    SendAll(client, Response("200 OK", "text/plain; version=0.0.4; charset=utf-8", render_(), head),
            send_deadline);
  }
}

}  // namespace ltxbus
