#include "store/s3/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <memory>

namespace ltxbus::store::s3 {
namespace {

// A non-2xx body is an error document; more than this is not worth keeping.
constexpr size_t kMaxErrorBody = 1 << 20;
// A response read into memory (listings, multipart replies).
constexpr size_t kMaxMemoryBody = 64 << 20;

// curl_global_init is not thread-safe and must run once before any handle;
// a function-local static makes that so. Never cleaned up (handles may
// outlive any object we could tie it to).
CURLcode InitCurl() {
  static const CURLcode kInit = curl_global_init(CURL_GLOBAL_DEFAULT);
  return kInit;
}

struct Transfer {
  HttpResponse* response = nullptr;
  const BodySink* sink = nullptr;
  Status sink_status;
  std::span<const uint8_t> upload;
  size_t uploaded = 0;
  bool too_big = false;
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    // A new response (after 100 Continue or a redirect): start over.
    t->response->headers.clear();
    size_t sp = line.find(' ');
    long status = 0;
    if (sp != std::string_view::npos) {
      std::from_chars(line.data() + sp + 1, line.data() + line.size(), status);
    }
    t->response->status = status;
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  t->response->headers.emplace_back(std::move(name), std::string(value));
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  const long status = t->response->status;
  if (t->sink != nullptr && status >= 200 && status < 300) {
    t->sink_status = (*t->sink)({reinterpret_cast<const uint8_t*>(data), len});
    return t->sink_status.ok() ? len : 0;  // 0 aborts with CURLE_WRITE_ERROR
  }
  const size_t cap = t->sink != nullptr ? kMaxErrorBody : kMaxMemoryBody;
  if (t->response->body.size() + len > cap) {
    t->too_big = true;
    return 0;
  }
  t->response->body.append(data, len);
  return len;
}

size_t OnRead(char* buffer, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = std::min(size * n, t->upload.size() - t->uploaded);
  std::memcpy(buffer, t->upload.data() + t->uploaded, len);
  t->uploaded += len;
  return len;
}

// curl rewinds the body when it must resend it (a redirect, a reused
// connection that turned out closed).
int OnSeek(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<uint64_t>(offset) > t->upload.size()) {
    return CURL_SEEKFUNC_FAIL;
  }
  t->uploaded = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

using CurlList = std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)>;

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
    if (it->first == name) return it->second;
  }
  return "";
}

HttpClient::HttpClient(HttpTimeouts timeouts) : timeouts_(timeouts) {}

HttpClient::~HttpClient() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* HttpClient::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      return h;
    }
  }
  if (InitCurl() != CURLE_OK) return nullptr;
  return curl_easy_init();
}

void HttpClient::Release(void* handle) {
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(handle);
}

Status HttpClient::Perform(const HttpRequest& request, HttpResponse& response,
                           const BodySink* sink) {
  response = HttpResponse();
  CURL* c = static_cast<CURL*>(Acquire());
  if (c == nullptr) return Status::Internal("cannot initialise libcurl");
  // Back to the pool whatever happens: curl_easy_reset keeps the connection.
  std::unique_ptr<CURL, std::function<void(CURL*)>> owner(c, [this](CURL* h) { Release(h); });
  curl_easy_reset(c);

  Transfer t;
  t.response = &response;
  t.sink = sink;
  t.upload = request.body;

  CurlList headers(nullptr, &curl_slist_free_all);
  auto add = [&](const std::string& line) {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (next != nullptr) {
      (void)headers.release();
      headers.reset(next);
    }
  };
  for (const auto& [k, v] : request.headers) add(k + ": " + v);
  add("Expect:");  // no 100-continue round trip
  if (request.method == "PUT" || request.method == "POST") {
    bool has_type = std::any_of(request.headers.begin(), request.headers.end(), [](const auto& h) {
      return h.first == "Content-Type" || h.first == "content-type";
    });
    // curl would label a POST form-encoded, and some servers then parse it.
    if (!has_type) add("Content-Type: application/octet-stream");
  }

  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);  // keys with "./" must be sent as signed
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeouts_.connect.count()));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(timeouts_.low_speed_bytes));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(timeouts_.low_speed_time.count()));
  if (request.small) {
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeouts_.small_request.count()));
  }
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);

  const auto body_size = static_cast<curl_off_t>(request.body.size());
  if (request.method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT" || request.method == "POST") {
    curl_easy_setopt(c, CURLOPT_READFUNCTION, &OnRead);
    curl_easy_setopt(c, CURLOPT_READDATA, &t);
    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, &OnSeek);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, &t);
    if (request.method == "PUT") {
      curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, body_size);
    } else {
      curl_easy_setopt(c, CURLOPT_POST, 1L);
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, body_size);
    }
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  const CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK) return Status::OK();
  if (rc == CURLE_WRITE_ERROR && !t.sink_status.ok()) return t.sink_status;
  const std::string what = fmt::format("{} {}", request.method, request.url);
  if (rc == CURLE_WRITE_ERROR && t.too_big) {
    return Status::IOError("{}: response body larger than {} bytes", what,
                           sink != nullptr ? kMaxErrorBody : kMaxMemoryBody);
  }
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return Status::Timeout("{}: {}", what, curl_easy_strerror(rc));
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return Status::InvalidArgument("{}: {}", what, curl_easy_strerror(rc));
    case CURLE_OUT_OF_MEMORY:
      return Status::Internal("{}: {}", what, curl_easy_strerror(rc));
    default:
      // Refused, reset, DNS, TLS, a body cut short: the server may be back
      // on the next try.
      return Status::Unavailable("{}: {}", what, curl_easy_strerror(rc));
  }
}

}  // namespace ltxbus::store::s3
