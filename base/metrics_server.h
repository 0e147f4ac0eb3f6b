// A tiny HTTP/1.1 server for Prometheus scrapes: GET /metrics answers with
// the text `render` returns; anything else gets 404 (or 405). One thread,
// one client at a time, `Connection: close`: a scrape every few seconds needs
// no more. Bounded: a client gets 2 s to send its request and 2 s to take the
// answer, and requests over 8 KiB are refused, so a stuck or hostile client
// delays scrapes by seconds at most and never blocks following.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "base/status.h"

namespace ltxbus {

class MetricsServer {
 public:
  using RenderFn = std::function<std::string()>;
  // Listens on `addr`: "host:port", ":port" (every interface) or
  // "[v6addr]:port"; port 0 picks a free one. InvalidArgument for a
  // malformed address, IOError if it cannot listen.
  static Result<std::unique_ptr<MetricsServer>> Start(const std::string& addr, RenderFn render);
  // Stops accepting, finishes the client being served, joins the thread.
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The address actually bound, "host:port" (the port resolved when 0 was asked).
  const std::string& address() const { return address_; }
  int port() const { return port_; }

 private:
  MetricsServer() = default;
  void Run();
  void Serve(int client);

  RenderFn render_;
  int listen_fd_ = -1;
  int wake_read_ = -1;  // the thread polls it; the destructor writes to wake it
  int wake_write_ = -1;
  std::string address_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace ltxbus
