// The S3 XML documents the store reads and writes (pugixml underneath).
// Not a public header.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace ltxbus::store::s3 {

// <Error><Code/><Message/><RequestId/></Error>; nullopt if `body` is not one.
struct S3Error {
  std::string code;
  std::string message;
  std::string request_id;
};
std::optional<S3Error> ParseError(std::string_view body);

struct ListedObject {
  std::string key;  // full key, bucket-relative
  uint64_t size = 0;
  std::string etag;
  int64_t last_modified_ms = 0;
};
struct ListPage {
  std::vector<ListedObject> objects;
  bool truncated = false;
  std::string next_token;
};
// A ListObjectsV2 result (ListBucketResult).
Result<ListPage> ParseListObjectsV2(std::string_view body);

// InitiateMultipartUploadResult's UploadId.
Result<std::string> ParseUploadId(std::string_view body);

struct CompletedPart {
  int number = 0;
  std::string etag;  // as the server returned it, quotes included
};
std::string CompleteMultipartBody(const std::vector<CompletedPart>& parts);
// CompleteMultipartUploadResult's ETag; an <Error> document (S3 may send one
// with status 200) is returned as `error`.
struct CompleteResult {
  std::string etag;
  std::optional<S3Error> error;
};
Result<CompleteResult> ParseCompleteMultipart(std::string_view body);

// A quiet DeleteObjects request for up to 1000 keys.
std::string DeleteObjectsBody(const std::vector<std::string>& keys);
// The per-key failures of a DeleteObjects result.
struct DeleteFailure {
  std::string key;
  S3Error error;
};
Result<std::vector<DeleteFailure>> ParseDeleteResult(std::string_view body);

}  // namespace ltxbus::store::s3
