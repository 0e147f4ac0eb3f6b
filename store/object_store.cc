#include "store/object_store.h"

#include "store/file/file_store.h"
#include "store/nats/nats_store.h"
#include "store/s3/s3_store.h"
#include "store/store_url.h"
#include "store/time_format.h"

namespace ltxbus::store {

Result<ObjectInfo> ObjectStore::PutBytes(const std::string& key, std::string_view data,
                                         const PutOptions& options) {
  SpanSource source(AsBytes(data));
  return Put(key, source, options);
}

Result<std::string> ObjectStore::GetBytes(const std::string& key, const GetOptions& options) {
  StringSink sink;
  LTXBUS_ASSIGN_OR_RETURN(ObjectInfo info, Get(key, sink, options));
  (void)info;
  return std::move(sink.contents());
}

Status ValidatePrefix(std::string_view prefix) {
  if (prefix.empty()) return Status::OK();
  if (prefix.back() == '/') prefix.remove_suffix(1);
  if (prefix.empty()) return Status::InvalidArgument("list prefix '/' (want '' for everything)");
  // A partial last segment ("ltx/0/00000") is fine as long as it could begin
  // a valid key.
  return ValidateKey(prefix);
}

Status ValidateKey(std::string_view key) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("object key '{}' {}", key, why);
  };
  if (key.empty()) return bad("is empty");
  if (key.size() > 1024) return bad("is longer than 1024 bytes");
  if (key.front() == '/') return bad("starts with '/' (keys are relative to the store's root)");
  if (key.back() == '/') return bad("ends with '/'");
  for (char c : key) {
    const auto ch = static_cast<unsigned char>(c);
    if (ch < 0x20 || ch == 0x7f) return bad("contains a control character");
    if (c == '\\') return bad("contains '\\'");
  }
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    std::string_view seg = key.substr(start, end - start);
    if (seg.empty()) return bad("has an empty segment ('//')");
    if (seg.front() == '.') return bad("has a segment starting with '.' (reserved for the store)");
    start = end + 1;
  }
  return Status::OK();
}

Status ValidateMetadata(const std::map<std::string, std::string>& metadata) {
  for (const auto& [key, value] : metadata) {
    if (key.empty() || key.size() > 128) {
      return Status::InvalidArgument("metadata key '{}' must be 1 to 128 characters", key);
    }
    for (char c : key) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
        return Status::InvalidArgument("metadata key '{}' may hold only a-z, 0-9 and '-'", key);
      }
    }
    if (key.front() == '-' || key.back() == '-') {
      return Status::InvalidArgument("metadata key '{}' must not start or end with '-'", key);
    }
    if (value.size() > 1024) {
      return Status::InvalidArgument("metadata value of '{}' is longer than 1024 bytes", key);
    }
    for (char c : value) {
      const auto ch = static_cast<unsigned char>(c);
      if (ch < 0x20 || ch >= 0x7f) {
        return Status::InvalidArgument("metadata value of '{}' must be printable ASCII", key);
      }
    }
    if (!value.empty() && (value.front() == ' ' || value.back() == ' ')) {
      // HTTP trims header values, so the round trip would not be exact.
      return Status::InvalidArgument("metadata value of '{}' starts or ends with a space", key);
    }
  }
  return Status::OK();
}

Status ValidatePutOptions(const std::string& key, const PutOptions& options) {
  LTXBUS_RETURN_IF_ERROR(ValidateKey(key));
  LTXBUS_RETURN_IF_ERROR(ValidateMetadata(options.metadata));
  if (options.if_none_match && !options.if_match.empty()) {
    return Status::InvalidArgument("put {}: if_none_match and if_match together", key);
  }
  if (auto it = options.metadata.find(std::string(kTimestampMetadataKey));
      it != options.metadata.end()) {
    auto ts = ParseTimestamp(it->second);
    if (!ts.ok())
      return ts.status().WithContext(fmt::format("put {}: metadata {}", key, it->first));
  }
  return Status::OK();
}

Result<std::unique_ptr<ObjectStore>> Open(std::string_view url, const OpenOptions& options) {
  LTXBUS_ASSIGN_OR_RETURN(StoreUrl u, StoreUrl::Parse(url));
  if (u.scheme == "s3") return s3::OpenS3Store(u, options);
  if (u.scheme == "file") return file::OpenFileStore(u);
  if (u.scheme == "nats") return nats::OpenNatsStore(u);
  return Status::InvalidArgument(
      "object-store URL '{}': unknown scheme '{}' (want s3, file or nats)", u.redacted, u.scheme);
}

}  // namespace ltxbus::store
