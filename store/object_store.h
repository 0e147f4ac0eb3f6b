// Object stores: the archive's storage, behind one small interface with one
// implementation per backend (docs/object-stores.md):
//
//   s3://BUCKET[/PATH][?endpoint=http://127.0.0.1:9000&region=us-east-1&...]   store/s3/
//   file:///DIR  (or a plain path)                                           store/file/
//   nats://[user:pass@]HOST:PORT[,HOST:PORT]/BUCKET[/PATH][?...]              store/nats/
//
// A store is rooted: keys are relative to the URL's PATH (S3 key prefix,
// directory, or object-name prefix), so an archive does not care where it lives.
//
// Keys are '/'-separated relative paths: 1 to 1024 bytes of printable UTF-8
// or ASCII, no empty, "." or ".." segment, no segment starting with '.'
// (backends keep their temporary and lock files under such names), no
// leading or trailing '/'. Every backend checks this the same way, so an
// archive that works on one works on all.
//
// Metadata keys are lower-case [a-z0-9-]; values are printable ASCII. They
// travel as S3 user metadata (x-amz-meta-<key>), as NATS object headers
// (canonical MIME case, e.g. Litestream-Timestamp), and as file extended
// attributes. kTimestampMetadataKey is also the file's mtime, which is where
// Litestream's file backend looks for it.
//
// Every implementation is safe for concurrent use from several threads, and
// every call returns within bounded time (timeouts on connects, stalled
// transfers and locks; retries are bounded).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/env.h"
#include "base/status.h"

namespace ltxbus::store {

// The creation time Litestream v0.5.1+ reads for timestamp restores, as Go's
// RFC3339Nano in UTC (see FormatTimestamp in store/time_format.h).
inline constexpr std::string_view kTimestampMetadataKey = "litestream-timestamp";

struct ObjectInfo {
  std::string key;  // relative to the store's root
  uint64_t size = 0;
  // Opaque and backend-specific (S3: the quoted ETag; file: inode, change
  // time and size; NATS: the stream sequence of the object's meta message).
  // It changes whenever the object is written; compare only for equality or
  // pass it back as PutOptions::if_match / GetOptions::if_match.
  std::string etag;
  // When the store last wrote the object, by the server's clock (file: the
  // mtime, which is the timestamp metadata when one was given). Put() may
  // return the client's clock instead.
  int64_t last_modified_ms = 0;
  // User metadata. Stat() and Get() fill it; List() leaves it empty (S3's
  // listing does not return it).
  std::map<std::string, std::string> metadata;
};

struct PutOptions {
  // Create only: fails with Conflict if the key exists.
  bool if_none_match = false;
  // Compare-and-swap: fails with Conflict unless the key exists with this
  // etag. Not together with if_none_match.
  std::string if_match;
  std::map<std::string, std::string> metadata;
};

struct GetOptions {
  uint64_t offset = 0;
  // Bytes from offset; nullopt reads to the end. A range past the end is
  // clipped; an offset beyond the size is InvalidArgument.
  std::optional<uint64_t> length;
  // Fails with Conflict unless the object's etag is this (to continue a read
  // of the same version).
  std::string if_match;
};

struct ListOptions {
  // Only keys that sort after this one (relative to the root, like prefix).
  std::string start_after;
};

// Requests a store has sent to its backend, for cost accounting (S3 bills
// per request, LIST dearest). S3: HTTP requests, retries and multipart parts
// included; NATS: JetStream requests and publishes (one per chunk); file:
// file operations.
struct RequestCounts {
  uint64_t put = 0;      // writes: PUT, multipart steps, publishes
  uint64_t get = 0;      // object reads: GET, chunk reads
  uint64_t head = 0;     // metadata reads: HEAD, meta reads
  uint64_t list = 0;     // listings: ListObjectsV2 pages, stream infos
  uint64_t delete_ = 0;  // deletions: DELETE, DeleteObjects, purges
  uint64_t total() const { return put + get + head + list + delete_; }
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // "s3", "file" or "nats": archives lay their keys out per backend.
  virtual std::string_view kind() const = 0;
  // The store's URL for messages, without credentials.
  virtual const std::string& url() const = 0;

  // Writes the whole object from `source` (read to its end, never held in
  // memory whole: large objects go up in parts), atomically: readers see the
  // old object or the new one, never a mix. Returns the new object's info.
  virtual Result<ObjectInfo> Put(const std::string& key, SequentialFile& source,
                                 const PutOptions& options = {}) = 0;
  // Streams the object (or the range in `options`) into `sink`, which sees
  // each byte once even when the transfer is resumed after a failure; all
  // pieces come from one version of the object. Returns the info of the
  // whole object. NotFound if it does not exist. On failure `sink` may have
  // received part of the data.
  virtual Result<ObjectInfo> Get(const std::string& key, WritableFile& sink,
                                 const GetOptions& options = {}) = 0;
  // The object's info including metadata; NotFound if it does not exist.
  virtual Result<ObjectInfo> Stat(const std::string& key) = 0;
  // Every object whose key starts with `prefix`, sorted by key (byte order),
  // without metadata. Backends page through large listings themselves.
  virtual Result<std::vector<ObjectInfo>> List(const std::string& prefix,
                                               const ListOptions& options = {}) = 0;
  // Deletes the keys (in batches where the backend can); keys that do not
  // exist are not an error.
  virtual Status Delete(const std::vector<std::string>& keys) = 0;

  // Requests sent since the store was opened.
  virtual RequestCounts Requests() const = 0;

  // Conveniences over Put and Get for small objects.
  Result<ObjectInfo> PutBytes(const std::string& key, std::string_view data,
                              const PutOptions& options = {});
  Result<std::string> GetBytes(const std::string& key, const GetOptions& options = {});
};

// Settings that do not belong in a URL. Empty fields fall back to the URL's
// query, then to the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN, AWS_REGION).
struct OpenOptions {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
};

// Opens the store named by `url` (see the top of this file; each backend's
// header lists its options). Connects where the backend has a server (NATS);
// S3 sends nothing until the first call.
Result<std::unique_ptr<ObjectStore>> Open(std::string_view url, const OpenOptions& options = {});

// The key rules above; InvalidArgument says what is wrong.
Status ValidateKey(std::string_view key);
// A List() prefix: "" or a key prefix (may end in '/').
Status ValidatePrefix(std::string_view prefix);
Status ValidateMetadata(const std::map<std::string, std::string>& metadata);
Status ValidatePutOptions(const std::string& key, const PutOptions& options);

}  // namespace ltxbus::store
