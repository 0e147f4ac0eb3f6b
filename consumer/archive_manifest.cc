#include "consumer/archive_manifest.h"

#include <nlohmann/json.hpp>

namespace ltxbus::consumer {
namespace {

using nlohmann::json;

constexpr int kVersion = 1;

std::string Hex16(uint64_t v) { return fmt::format("{:016x}", v); }

Result<uint64_t> ParseHex16(const json& j, const char* what) {
  if (!j.is_string()) return Status::Corruption("manifest: {} is not a string", what);
  auto v = ltx::ParseTXID(j.get<std::string>());
  if (!v.ok()) return Status::Corruption("manifest: bad {}: {}", what, v.status().message());
  return *v;
}

}  // namespace

ltx::TXID Manifest::last_txid() const {
  ltx::TXID t = 0;
  for (const ArchiveFile& f : files) t = std::max(t, f.max_txid);
  return t;
}

ltx::Checksum Manifest::last_checksum() const {
  const ltx::TXID t = last_txid();
  for (const ArchiveFile& f : files) {
    if (f.max_txid == t && f.post_apply_checksum != 0) return f.post_apply_checksum;
  }
  return 0;
}

std::string Manifest::Encode() const {
  json j;
  j["version"] = kVersion;
  j["database"] = database;
  j["owner"] = owner;
  j["lease_expires_ms"] = lease_expires_ms;
  j["position"] = position;
  json compacted = json::object();
  for (const auto& [level, ms] : compacted_ms) compacted[std::to_string(level)] = ms;
  j["compacted_ms"] = compacted;
  // One compact array per file: [level, min, max, timestamp_ms, size, post-apply].
  json list = json::array();
  for (const ArchiveFile& f : files) {
    list.push_back(json::array({f.level, Hex16(f.min_txid), Hex16(f.max_txid), f.timestamp_ms,
                                f.size, Hex16(f.post_apply_checksum)}));
  }
  j["files"] = list;
  return j.dump();
}

Result<Manifest> Manifest::Decode(std::string_view text, const ArchiveLayout& layout) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption("manifest is not JSON");
  try {
    if (j.value("version", 0) != kVersion) {
      return Status::Corruption("manifest version {} (this ltxbus reads {})", j.value("version", 0),
                                kVersion);
    }
    Manifest m;
    m.database = j.value("database", "");
    m.owner = j.value("owner", "");
    m.lease_expires_ms = j.value("lease_expires_ms", int64_t{0});
    m.position = j.value("position", "");
    const json compacted = j.value("compacted_ms", json::object());
    for (const auto& [level, ms] : compacted.items()) {
      m.compacted_ms[std::stoi(level)] = ms.get<int64_t>();
    }
    for (const json& e : j.at("files")) {
      if (!e.is_array() || e.size() != 6) return Status::Corruption("manifest: bad file entry");
      ArchiveFile f;
      f.level = e[0].get<int>();
      if (f.level < 0 || f.level > kMaxLevel) {
        return Status::Corruption("manifest: bad level {}", f.level);
      }
      LTXBUS_ASSIGN_OR_RETURN(f.min_txid, ParseHex16(e[1], "min TXID"));
      LTXBUS_ASSIGN_OR_RETURN(f.max_txid, ParseHex16(e[2], "max TXID"));
      if (f.min_txid == 0 || f.max_txid < f.min_txid) {
        return Status::Corruption("manifest: bad TXID range {}-{}", Hex16(f.min_txid),
                                  Hex16(f.max_txid));
      }
      f.timestamp_ms = e[3].get<int64_t>();
      f.size = e[4].get<uint64_t>();
      LTXBUS_ASSIGN_OR_RETURN(f.post_apply_checksum, ParseHex16(e[5], "checksum"));
      f.key = layout.Key(f.level, f.min_txid, f.max_txid);
      m.files.push_back(std::move(f));
    }
    SortArchiveFiles(&m.files);
    return m;
  } catch (const std::exception& e) {
    return Status::Corruption("manifest: {}", e.what());
  }
}

Result<std::optional<StoredManifest>> LoadManifest(store::ObjectStore& store,
                                                   const ArchiveLayout& layout) {
  StringSink sink;
  auto info = store.Get(kManifestKey, sink);
  if (!info.ok()) {
    if (info.status().code() == Status::Code::kNotFound) {
      return std::optional<StoredManifest>();
    }
    return info.status();
  }
  auto m = Manifest::Decode(sink.contents(), layout);
  if (!m.ok()) return m.status().WithContext(store.url() + "/" + kManifestKey);
  return std::optional<StoredManifest>(StoredManifest{std::move(*m), info->etag});
}

Result<std::string> StoreManifest(store::ObjectStore& store, const Manifest& manifest,
                                  const std::string& if_match) {
  store::PutOptions o;
  o.if_none_match = if_match.empty();
  o.if_match = if_match;
  LTXBUS_ASSIGN_OR_RETURN(store::ObjectInfo info,
                          store.PutBytes(kManifestKey, manifest.Encode(), o));
  return info.etag;
}

Result<std::vector<ArchiveFile>> ArchiveFiles(store::ObjectStore& store,
                                              const ArchiveLayout& layout, bool need_timestamps,
                                              bool* from_manifest) {
  LTXBUS_ASSIGN_OR_RETURN(std::optional<StoredManifest> m, LoadManifest(store, layout));
  if (from_manifest != nullptr) *from_manifest = m.has_value();
  if (!m) return ListArchive(store, layout, need_timestamps);
  LTXBUS_ASSIGN_OR_RETURN(std::vector<ArchiveFile> tail,
                          UnnamedL0Tail(store, layout, m->manifest.last_txid(), need_timestamps));
  std::vector<ArchiveFile> files = std::move(m->manifest.files);
  files.insert(files.end(), tail.begin(), tail.end());
  SortArchiveFiles(&files);
  return files;
}

Result<std::vector<ArchiveFile>> UnnamedL0Tail(store::ObjectStore& store,
                                               const ArchiveLayout& layout, ltx::TXID after_txid,
                                               bool timestamps) {
  if (after_txid == 0) return std::vector<ArchiveFile>();  // a new archive starts with level 9
  LTXBUS_ASSIGN_OR_RETURN(std::vector<ArchiveFile> listed,
                          ListLevel(store, layout, 0, /*timestamps=*/false, after_txid));
  // The chain from after_txid + 1: at each step the file that starts there
  // and reaches furthest (two archivers' overlapping files, after a lease
  // takeover, hold the same transactions). A gap ends it: what follows is
  // left by an older run and no restore may use it.
  std::vector<ArchiveFile> tail;
  ltx::TXID cur = after_txid;
  for (;;) {
    const ArchiveFile* best = nullptr;
    for (const ArchiveFile& f : listed) {
      if (f.min_txid == cur + 1 && (best == nullptr || f.max_txid > best->max_txid)) best = &f;
    }
    if (best == nullptr) break;
    tail.push_back(*best);
    cur = best->max_txid;
  }
  if (timestamps) {
    for (ArchiveFile& f : tail) LTXBUS_RETURN_IF_ERROR(ReadCreatedAt(store, &f));
  }
  return tail;
}

}  // namespace ltxbus::consumer
