#include "bench/counting_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <functional>
#include <string>

namespace ltxbus::bench {
namespace {

// How often a blocked poll looks at the stop flag.
constexpr int kWakeMs = 100;

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Follows the client's side of one HTTP/1.1 connection: request heads, then
// bodies by Content-Length or chunked transfer coding, and reports each
// request line. Bytes are only looked at, never changed.
class RequestScanner {
 public:
  using OnRequest = std::function<void(std::string_view method, std::string_view target)>;
  explicit RequestScanner(OnRequest on_request) : on_request_(std::move(on_request)) {}

  void Feed(std::string_view d) {
    while (!d.empty()) {
      if (state_ == State::kBody || state_ == State::kChunkData) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(left_, d.size()));
        d.remove_prefix(n);
        left_ -= n;
        if (left_ == 0) state_ = state_ == State::kBody ? State::kHead : State::kChunkSize;
        continue;
      }
      // The head ends with an empty line; a chunk size or trailer line with CRLF.
      const std::string_view end = state_ == State::kHead ? "\r\n\r\n" : "\r\n";
      const size_t had = text_.size();
      text_.append(d);
      const size_t at = text_.find(end, had >= end.size() ? had - end.size() + 1 : 0);
      if (at == std::string::npos) return;
      d.remove_prefix(at + end.size() - had);
      text_.resize(at);
      Complete(text_);
      text_.clear();
    }
  }

 private:
  enum class State { kHead, kBody, kChunkSize, kChunkData, kTrailer };

  void Complete(std::string_view text) {
    if (state_ == State::kChunkSize) {
      left_ = std::strtoull(std::string(text).c_str(), nullptr, 16);
      state_ = left_ == 0 ? State::kTrailer : State::kChunkData;
      left_ += 2;  // the CRLF after the chunk's data
      if (state_ == State::kTrailer) left_ = 0;
      return;
    }
    if (state_ == State::kTrailer) {
      if (text.empty()) state_ = State::kHead;
      return;
    }
    // A request head: "METHOD TARGET HTTP/1.1", then header lines.
    const size_t line_end = std::min(text.find("\r\n"), text.size());
    const std::string_view line = text.substr(0, line_end);
    const size_t sp1 = line.find(' ');
    const size_t sp2 = line.find(' ', sp1 + 1);
    if (sp1 == std::string_view::npos) return;
    on_request_(line.substr(0, sp1), line.substr(sp1 + 1, sp2 - sp1 - 1));
    uint64_t length = 0;
    bool chunked = false;
    for (size_t pos = line_end; pos < text.size();) {
      const size_t next = std::min(text.find("\r\n", pos + 2), text.size());
      const std::string_view header = text.substr(pos + 2, next - pos - 2);
      pos = next;
      const size_t colon = header.find(':');
      if (colon == std::string_view::npos) continue;
      std::string_view value = header.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      if (IEquals(header.substr(0, colon), "content-length")) {
        length = std::strtoull(std::string(value).c_str(), nullptr, 10);
      } else if (IEquals(header.substr(0, colon), "transfer-encoding")) {
        chunked = value.find("chunked") != std::string_view::npos;
      }
    }
    if (chunked) {
      state_ = State::kChunkSize;
    } else if (length > 0) {
      state_ = State::kBody;
      left_ = length;
    }
  }

  OnRequest on_request_;
  State state_ = State::kHead;
  std::string text_;   // the head or line being read
  uint64_t left_ = 0;  // body bytes still to pass
};

sockaddr_in LoopbackAddress(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t w = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data.remove_prefix(static_cast<size_t>(w));
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<CountingProxy>> CountingProxy::Start(int upstream_port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("counting proxy: socket", errno);
  sockaddr_in a = LoopbackAddress(0);
  socklen_t len = sizeof(a);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(fd, 128) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::FromErrno("counting proxy: bind", err);
  }
  std::unique_ptr<CountingProxy> p(new CountingProxy(fd, ntohs(a.sin_port), upstream_port));
  p->acceptor_ = std::thread([raw = p.get()] { raw->AcceptLoop(); });
  return p;
}

CountingProxy::~CountingProxy() {
  stop_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  ::close(listen_fd_);
  for (auto& t : connections_) t.join();  // the acceptor, their only writer, has stopped
}

store::RequestCounts CountingProxy::counts() const {
  std::lock_guard lock(mu_);
  return counts_;
}

void CountingProxy::Count(std::string_view method, std::string_view target) {
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
  // Path-style: "/bucket" or "/bucket/" is the bucket itself, "/bucket/key" an object.
  const size_t slash = path.find('/', 1);
  const bool bucket = slash == std::string_view::npos || slash + 1 == path.size();
  std::lock_guard lock(mu_);
  if (method == "HEAD") {
    counts_.head++;
  } else if (method == "DELETE" || (method == "POST" && query.find("delete") == 0)) {
    counts_.delete_++;
  } else if (method == "GET") {
    (bucket ? counts_.list : counts_.get)++;
  } else {
    counts_.put++;  // PUT, and the multipart POSTs
  }
}

void CountingProxy::AcceptLoop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, kWakeMs) <= 0) continue;
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_in up = LoopbackAddress(upstream_port_);
    if (server < 0 || ::connect(server, reinterpret_cast<const sockaddr*>(&up), sizeof(up)) != 0) {
      ::close(client);
      if (server >= 0) ::close(server);
      continue;
    }
    for (int fd : {client, server}) {
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    connections_.emplace_back([this, client, server] { Serve(client, server); });
  }
}

void CountingProxy::Serve(int client, int server) {
  RequestScanner scanner(
      [this](std::string_view method, std::string_view target) { Count(method, target); });
  std::string buf(256 * 1024, '\0');
  for (bool open = true; open && !stop_;) {
    pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    if (::poll(p, 2, kWakeMs) <= 0) continue;
    for (int i = 0; i < 2 && open; i++) {
      if ((p[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t n = ::recv(p[i].fd, buf.data(), buf.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        open = false;
        break;
      }
      const std::string_view data(buf.data(), static_cast<size_t>(n));
      if (i == 0) scanner.Feed(data);
      open = WriteAll(i == 0 ? server : client, data);
    }
  }
  ::close(client);
  ::close(server);
}

}  // namespace ltxbus::bench
