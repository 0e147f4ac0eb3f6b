// The S3-compatible object store (AWS, MinIO, R2, Tigris, versitygw, moto):
// our own SigV4 signing, libcurl, pugixml.
//
// URL: s3://BUCKET[/PATH][?option=value&...]
//   endpoint          http(s)://host[:port] of an S3-compatible server; default
//                     AWS (https://s3.REGION.amazonaws.com), or $AWS_ENDPOINT_URL_S3
//   region            signing region; default $AWS_REGION, $AWS_DEFAULT_REGION,
//                     else us-east-1 (R2 and Tigris want "auto")
//   force-path-style  http://host/BUCKET/key instead of http://BUCKET.host/key;
//                     default true when an endpoint is given (as Litestream),
//                     false for AWS. "forcePathStyle" is accepted too.
//   part-size         multipart part size in bytes, 5 MiB to 5 GiB; default
//                     8 MiB. Objects up to this size go up in one PUT.
//   max-attempts      tries per request (first included); default 8
//   max-keys          listing page size, 1 to 1000; default 1000
//   access-key-id, secret-access-key   credentials (prefer OpenOptions or
//                     the AWS_* environment: URLs end up in logs)
//
// Payloads are signed (x-amz-content-sha256 is the body's SHA-256, never
// UNSIGNED-PAYLOAD): every body is in memory anyway (a single PUT or one
// part), hashing costs far less than the network, the server then rejects
// a body damaged in transit, and R2 and B2 require signed payloads.
//
// Puts of up to part-size bytes are one PUT; larger ones are multipart
// uploads (one part in memory at a time; aborted on failure). Conditions go
// on the PUT or on CompleteMultipartUpload; for multipart, a HEAD before
// starting fails fast, but the final check is the server's (moto ignores
// If-Match on CompleteMultipartUpload).
//
// Every request is retried on connection failures, timeouts, 5xx, 429 and
// RequestTimeout, with jittered exponential backoff (100 ms doubling to 5 s)
// up to max-attempts. A conditional write retried after an attempt whose
// outcome is unknown, and refused now, is checked with a HEAD: if the
// object's ETag is the one our body produces, the write was ours.
// Downloads resume from the byte reached with a ranged GET pinned to the
// first response's ETag (If-Match), so a resumed read never mixes versions.
#pragma once

#include <memory>

#include "store/object_store.h"
#include "store/s3/s3_client.h"
#include "store/store_url.h"

namespace ltxbus::store::s3 {

Result<S3Config> S3ConfigFromUrl(const StoreUrl& url, const OpenOptions& options);

class S3Store final : public ObjectStore {
 public:
  S3Store(S3Config config, std::string url);

  std::string_view kind() const override { return "s3"; }
  const std::string& url() const override { return url_; }
  Result<ObjectInfo> Put(const std::string& key, SequentialFile& source,
                         const PutOptions& options) override;
  Result<ObjectInfo> Get(const std::string& key, WritableFile& sink,
                         const GetOptions& options) override;
  Result<ObjectInfo> Stat(const std::string& key) override;
  Result<std::vector<ObjectInfo>> List(const std::string& prefix,
                                       const ListOptions& options) override;
  Status Delete(const std::vector<std::string>& keys) override;
  RequestCounts Requests() const override { return client_.Requests(); }

  // Creates the bucket; one that exists and is ours is fine.
  Status CreateBucket();

 private:
  std::string Full(const std::string& key) const { return client_.config().root + key; }
  Result<ObjectInfo> PutSingle(const std::string& key, std::span<const uint8_t> body,
                               const PutOptions& options);
  Result<ObjectInfo> PutMultipart(const std::string& key, std::vector<uint8_t>& first,
                                  SequentialFile& source, const PutOptions& options);
  // After a conditional write was refused on a retry: was the earlier
  // attempt ours? True if the object now has `expected_etag`.
  bool LandedAnyway(const std::string& key, const std::string& expected_etag);
  Status DeleteBatch(const std::vector<std::string>& full_keys);
  ObjectInfo InfoFromHeaders(const std::string& key, const HttpResponse& response) const;

  S3Client client_;
  std::string url_;
};

Result<std::unique_ptr<ObjectStore>> OpenS3Store(const StoreUrl& url, const OpenOptions& options);

}  // namespace ltxbus::store::s3
