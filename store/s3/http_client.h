// A small HTTP/1.1 client on libcurl for the S3 store: one request per call,
// request bodies from memory, response bodies streamed to a callback, and
// connections kept alive in a pool of curl handles. No retries here (the S3
// layer decides what to retry, since it must re-sign). Not a public header.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "store/s3/sigv4.h"

namespace ltxbus::store::s3 {

struct HttpTimeouts {
  std::chrono::milliseconds connect{10000};
  // A transfer slower than low_speed_bytes per second for low_speed_time is
  // abandoned: a stalled connection fails instead of hanging.
  int64_t low_speed_bytes = 1024;
  std::chrono::seconds low_speed_time{30};
  // Hard bound on a request that moves no body (HEAD, DELETE, small POSTs).
  std::chrono::milliseconds small_request{60000};
};

struct HttpRequest {
  std::string method;
  std::string url;     // already encoded, sent as is (CURLOPT_PATH_AS_IS)
  HeaderList headers;  // sent as given; must include Host
  std::span<const uint8_t> body;
  bool small = true;  // bounded by HttpTimeouts::small_request
};

struct HttpResponse {
  long status = 0;
  HeaderList headers;  // names lower-cased
  std::string body;    // the body unless a sink took a 2xx body
  // The value of the last header named `name` (lower-case), or "".
  std::string Header(std::string_view name) const;
};

// Receives a 2xx body piece by piece; a non-OK Status aborts the transfer and
// is returned by Perform as is.
using BodySink = std::function<Status(std::span<const uint8_t>)>;

class HttpClient {
 public:
  explicit HttpClient(HttpTimeouts timeouts);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends the request and reads the response into `response`. A transport
  // failure (refused, reset, timed out) is Unavailable or Timeout, and
  // `response` then holds whatever arrived before it (the headers of a body
  // cut short, say); any HTTP status is OK here. With a sink, a 2xx body goes
  // to it and a non-2xx body (an error document, bounded) into
  // HttpResponse::body.
  Status Perform(const HttpRequest& request, HttpResponse& response,
                 const BodySink* sink = nullptr);

 private:
  void* Acquire();
  void Release(void* handle);

  HttpTimeouts timeouts_;
  std::mutex mu_;
  std::vector<void*> idle_;  // CURL* handles with live connections
};

}  // namespace ltxbus::store::s3
