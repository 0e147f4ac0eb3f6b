// The JetStream Object Store wire format (as nats.go writes it, since cnats
// 3.4.1 has no Object Store API): stream OBJ_<bucket>, chunks on
// $O.<bucket>.C.<nuid>, and per object one meta message (JSON) on
// $O.<bucket>.M.<base64url(name)>, rolled up so only the newest remains.
// Not a public header.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace ltxbus::store::nats {

struct ObjectMeta {
  std::string name;
  std::string bucket;
  std::string nuid;  // the chunks' subject token
  uint64_t size = 0;
  uint32_t chunks = 0;
  std::string digest;  // "SHA-256=<base64url of the digest>"
  bool deleted = false;
  uint32_t max_chunk_size = 0;
  // Object headers (nats.Header): name to values. Litestream reads
  // "Litestream-Timestamp" here.
  std::map<std::string, std::vector<std::string>> headers;
  // ltxbus's extension, ignored by other clients: the chunks' stream
  // sequences as runs (first sequence, count), so a ranged read starts at
  // the right chunk without reading the ones before it. Empty for objects
  // other clients wrote.
  std::vector<std::pair<uint64_t, uint64_t>> chunk_seqs;

  std::string Encode() const;
  static Result<ObjectMeta> Decode(std::string_view json);

  // The stream sequence of chunk `index`, if chunk_seqs covers it.
  std::optional<uint64_t> ChunkSeq(uint64_t index) const;
};

std::string StreamName(std::string_view bucket);
std::string MetaSubject(std::string_view bucket, std::string_view name);
std::string ChunkSubject(std::string_view bucket, std::string_view nuid);
// The name in a meta subject, or "" if the subject is not one.
std::string NameFromMetaSubject(std::string_view bucket, std::string_view subject);

// "litestream-timestamp" -> "Litestream-Timestamp" (Go's canonical MIME
// header form, which nats.go clients use as map keys).
std::string CanonicalHeaderName(std::string_view key);

// A bucket name as nats.go accepts it: [A-Za-z0-9_-]+.
bool ValidBucket(std::string_view bucket);

}  // namespace ltxbus::store::nats
