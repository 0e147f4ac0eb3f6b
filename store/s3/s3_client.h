// The S3 request layer under S3Store: addressing (path-style or virtual
// host), signing each attempt, bounded retries with jittered exponential
// backoff, and turning S3 error documents into Status. Not a public header.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "store/object_store.h"
#include "store/request_counter.h"
#include "store/s3/http_client.h"
#include "store/s3/s3_xml.h"
#include "store/s3/sigv4.h"

namespace ltxbus::store::s3 {

struct S3Config {
  std::string bucket;
  std::string root;      // key prefix of the store: "" or "path/"
  std::string endpoint;  // scheme://host[:port], no trailing '/'
  std::string region = "us-east-1";
  bool path_style = true;
  uint64_t part_size = uint64_t{8} << 20;
  int max_attempts = 8;  // tries per request, the first included
  int max_keys = 1000;   // ListObjectsV2 page size
  Credentials credentials;
  HttpTimeouts timeouts;
};

// One request: `key` is the full key in the bucket ("" for the bucket
// itself); query values and headers unencoded.
struct S3Call {
  std::string method;
  std::string key;
  HeaderList query;
  HeaderList headers;
  std::span<const uint8_t> body;
  bool small = true;  // no large body either way: bounded by a total timeout
};

// x-amz-meta-* headers for the options' metadata, plus If-None-Match /
// If-Match when `conditions`.
HeaderList PutHeaders(const PutOptions& options, bool conditions);

// Appends from `source` to `buf` until it holds `limit` bytes or the source
// ends; returns how many bytes were appended.
Result<size_t> ReadUpTo(SequentialFile& source, size_t limit, std::vector<uint8_t>& buf);

// The ETag S3 gives an object uploaded in one PUT: quoted hex MD5 of the
// body; and one uploaded in parts: quoted hex MD5 of the parts' binary MD5s,
// "-" and the part count.
std::string SinglePutEtag(std::span<const uint8_t> body);
std::string MultipartEtag(const std::vector<Md5Digest>& part_md5s);

class S3Client {
 public:
  explicit S3Client(S3Config config);

  const S3Config& config() const { return config_; }

  // The request for `call`, addressed and signed for the given time.
  HttpRequest Prepare(const S3Call& call, int64_t unix_seconds) const;
  // One attempt, signed now. Transport failures as HttpClient::Perform.
  Status SendOnce(const S3Call& call, HttpResponse& response, const BodySink* sink = nullptr);
  // Attempts until the answer is not worth retrying (or attempts run out);
  // any HTTP status comes back as OK with the response, a transport failure
  // of the last attempt as its Status. `attempts` says how many were made:
  // more than one means an earlier one may have taken effect.
  Status Send(const S3Call& call, HttpResponse& response, int* attempts = nullptr);

  // Whether a response (5xx, 429, S3's RequestTimeout) may succeed if sent again.
  static bool Retryable(const HttpResponse& response);
  // Sleeps before attempt `attempt` + 1 (1-based), exponentially longer.
  void Backoff(int attempt) const;
  // A non-2xx response as a Status: "s3://bucket/key: PUT: 403 AccessDenied:
  // message (request id ...)". 404 is NotFound, 412 and 409 are Conflict,
  // 5xx and 429 are Unavailable, 400/401/403 InvalidArgument.
  Status ErrorStatus(const S3Call& call, const HttpResponse& response) const;
  // "s3://bucket/key" for messages.
  std::string Describe(const S3Call& call) const;
  // Every HTTP request sent, by kind.
  RequestCounts Requests() const { return counter_.Snapshot(); }

 private:
  S3Config config_;
  // moto (through werkzeug) percent-decodes the sub-delimiters
  // !$'()*,/:;?@ in a query string before it checks the signature, so it
  // computes "prefix=db/" where SigV4 (and AWS) want "prefix=db%2F". When a
  // request whose query holds one of them is refused with
  // SignatureDoesNotMatch, it is sent once more with those characters left
  // unencoded (in the URL and the signature alike); if that works, the
  // store keeps doing so. AWS itself never takes this path.
  std::atomic<bool> raw_sub_delims_{false};
  std::string scheme_;         // "http" or "https"
  std::string host_;           // endpoint host[:port]
  std::string endpoint_path_;  // a path prefix of the endpoint, if any
  HttpClient http_;
  RequestCounter counter_;
};

}  // namespace ltxbus::store::s3
