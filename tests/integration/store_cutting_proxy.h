// A TCP proxy on 127.0.0.1 for the object-store tests: it forwards every
// connection to an upstream port, and once armed it cuts the connection that
// carries the next N bytes from the server to the client, mid-stream (a
// dropped connection during a download, or a lost answer to a write).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/status.h"

namespace ltxbus::store::testing {

class CuttingProxy {
 public:
  static Result<std::unique_ptr<CuttingProxy>> Start(int upstream_port);
  ~CuttingProxy();
  CuttingProxy(const CuttingProxy&) = delete;
  CuttingProxy& operator=(const CuttingProxy&) = delete;

  int port() const { return port_; }
  // The connection that forwards the next `bytes` server-to-client bytes
  // (on any connection) is closed right after them (0: before forwarding
  // anything more). Once; arm again for another cut.
  void CutAfter(uint64_t bytes);
  // How many connections were cut so far.
  int cuts() const { return cuts_.load(); }

 private:
  CuttingProxy(int listen_fd, int port, int upstream_port)
      : listen_fd_(listen_fd), port_(port), upstream_port_(upstream_port) {}
  void AcceptLoop();
  void Relay(int client, int server);

  int listen_fd_;
  int port_;
  int upstream_port_;
  std::atomic<bool> stop_{false};
  std::atomic<int> cuts_{0};
  std::mutex mu_;
  bool armed_ = false;
  uint64_t budget_ = 0;  // bytes still to forward before the cut, when armed
  std::thread acceptor_;
  std::vector<std::thread> relays_;
};

}  // namespace ltxbus::store::testing
