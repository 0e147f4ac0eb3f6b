#include "store/nats/nats_object_meta.h"

#include <nlohmann/json.hpp>

#include "store/digest.h"

namespace ltxbus::store::nats {

using nlohmann::json;

std::string ObjectMeta::Encode() const {
  json j;
  j["name"] = name;
  if (!headers.empty()) j["headers"] = headers;
  if (max_chunk_size > 0) j["options"] = {{"max_chunk_size", max_chunk_size}};
  j["bucket"] = bucket;
  j["nuid"] = nuid;
  j["size"] = size;
  // nats.go stores the zero time; readers take the message's timestamp.
  j["mtime"] = "0001-01-01T00:00:00Z";
  j["chunks"] = chunks;
  if (!digest.empty()) j["digest"] = digest;
  if (deleted) j["deleted"] = true;
  if (!chunk_seqs.empty()) j["ltxbus_chunk_seqs"] = chunk_seqs;
  return j.dump();
}

Result<ObjectMeta> ObjectMeta::Decode(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::Corruption("object meta is not a JSON object: '{}'", text.substr(0, 200));
  }
  ObjectMeta m;
  try {
    m.name = j.value("name", "");
    m.bucket = j.value("bucket", "");
    m.nuid = j.value("nuid", "");
    m.size = j.value("size", uint64_t{0});
    m.chunks = j.value("chunks", uint32_t{0});
    m.digest = j.value("digest", "");
    m.deleted = j.value("deleted", false);
    if (auto it = j.find("options"); it != j.end() && it->is_object()) {
      m.max_chunk_size = it->value("max_chunk_size", uint32_t{0});
    }
    if (auto it = j.find("headers"); it != j.end() && it->is_object()) {
      for (const auto& [k, v] : it->items()) {
        if (v.is_array()) {
          m.headers[k] = v.get<std::vector<std::string>>();
        } else if (v.is_string()) {
          m.headers[k] = {v.get<std::string>()};
        }
      }
    }
    if (auto it = j.find("ltxbus_chunk_seqs"); it != j.end() && it->is_array()) {
      m.chunk_seqs = it->get<std::vector<std::pair<uint64_t, uint64_t>>>();
    }
  } catch (const json::exception& e) {
    return Status::Corruption("object meta has a field of the wrong type ({}): '{}'", e.what(),
                              text.substr(0, 200));
  }
  if (m.name.empty()) return Status::Corruption("object meta without a name: '{}'", text);
  return m;
}

std::optional<uint64_t> ObjectMeta::ChunkSeq(uint64_t index) const {
  for (const auto& [first, count] : chunk_seqs) {
    if (index < count) return first + index;
    index -= count;
  }
  return std::nullopt;
}

std::string StreamName(std::string_view bucket) { return "OBJ_" + std::string(bucket); }

std::string MetaSubject(std::string_view bucket, std::string_view name) {
  return fmt::format("$O.{}.M.{}", bucket, Base64(AsBytes(name), /*url=*/true));
}

std::string ChunkSubject(std::string_view bucket, std::string_view nuid) {
  return fmt::format("$O.{}.C.{}", bucket, nuid);
}

std::string NameFromMetaSubject(std::string_view bucket, std::string_view subject) {
  const std::string prefix = fmt::format("$O.{}.M.", bucket);
  if (!subject.starts_with(prefix)) return "";
  std::string name;
  if (!Base64Decode(subject.substr(prefix.size()), name)) return "";
  return name;
}

std::string CanonicalHeaderName(std::string_view key) {
  std::string out(key);
  bool upper = true;
  for (char& c : out) {
    if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    upper = c == '-';
  }
  return out;
}

bool ValidBucket(std::string_view bucket) {
  if (bucket.empty()) return false;
  for (char c : bucket) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-')) {
      return false;
    }
  }
  return true;
}

}  // namespace ltxbus::store::nats
