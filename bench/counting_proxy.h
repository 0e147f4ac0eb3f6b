// An HTTP/1.1 proxy on 127.0.0.1 for bench/archive_bench: it forwards every
// connection to an S3 server's port unchanged (SigV4 signs the Host header,
// which the client already set to the proxy's address) and counts the
// requests it sees by S3 operation type, so ltxbus and Litestream are counted
// the same way, on the wire, retries included.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/status.h"
#include "store/object_store.h"

namespace ltxbus::bench {

class CountingProxy {
 public:
  static Result<std::unique_ptr<CountingProxy>> Start(int upstream_port);
  ~CountingProxy();
  CountingProxy(const CountingProxy&) = delete;
  CountingProxy& operator=(const CountingProxy&) = delete;

  int port() const { return port_; }
  // Requests seen so far: PUT (and multipart POSTs), GET of an object, HEAD,
  // LIST (a GET on the bucket: ListObjects, ListMultipartUploads) and DELETE
  // (DELETE and the DeleteObjects POST).
  store::RequestCounts counts() const;

 private:
  CountingProxy(int listen_fd, int port, int upstream_port)
      : listen_fd_(listen_fd), port_(port), upstream_port_(upstream_port) {}
  void AcceptLoop();
  void Serve(int client, int server);
  void Count(std::string_view method, std::string_view target);

  int listen_fd_;
  int port_;
  int upstream_port_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  store::RequestCounts counts_;
  std::thread acceptor_;
  std::vector<std::thread> connections_;
};

}  // namespace ltxbus::bench
