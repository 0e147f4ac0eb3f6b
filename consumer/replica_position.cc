#include "consumer/replica_position.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <sstream>
#include <vector>

#include "base/crc64.h"

namespace ltxbus::consumer {
namespace {

constexpr std::string_view kMagic = "ltxbus-follower-position 1";

// Page-1 ranges SQLite rewrites: [24, 28) and [92, 100).
constexpr size_t kTailRanges[2][2] = {{24, 28}, {92, 100}};

std::string Hex(std::span<const uint8_t> bytes) {
  std::string out;
  for (uint8_t b : bytes) out += fmt::format("{:02x}", b);
  return out;
}

std::string FormatOne(const ReplicaPosition& p) {
  return fmt::format("{} {:016x} {} {} {}", ltx::FormatTXID(p.txid), p.checksum, p.offset,
                     p.timestamp_ms, Hex(p.page1_tail));
}

template <typename T>
bool ParseInt(std::string_view s, T* out, int base = 10) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out, base);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

Result<ReplicaPosition> ParseOne(const std::vector<std::string>& f, int line) {
  auto bad = [&](std::string_view what) {
    return Status::Corruption("line {}: bad {} in a position record", line, what);
  };
  if (f.size() != 6) return bad("field count");
  ReplicaPosition p;
  auto txid = ltx::ParseTXID(f[1]);
  if (!txid.ok()) return bad("TXID");
  p.txid = *txid;
  if (f[2].size() != 16 || !ParseInt(f[2], &p.checksum, 16)) return bad("checksum");
  if (!ParseInt(f[3], &p.offset)) return bad("offset");
  if (!ParseInt(f[4], &p.timestamp_ms)) return bad("timestamp");
  if (f[5].size() != 2 * p.page1_tail.size()) return bad("page-1 bytes");
  for (size_t i = 0; i < p.page1_tail.size(); i++) {
    if (!ParseInt(std::string_view(f[5]).substr(2 * i, 2), &p.page1_tail[i], 16)) {
      return bad("page-1 bytes");
    }
  }
  return p;
}

}  // namespace

Page1Tail TakePage1Tail(std::span<const uint8_t> page1) {
  Page1Tail tail{};
  size_t k = 0;
  for (const auto& r : kTailRanges) {
    for (size_t i = r[0]; i < r[1]; i++) tail[k++] = page1[i];
  }
  return tail;
}

void PutPage1Tail(const Page1Tail& tail, std::span<uint8_t> page1) {
  size_t k = 0;
  for (const auto& r : kTailRanges) {
    for (size_t i = r[0]; i < r[1]; i++) page1[i] = tail[k++];
  }
}

std::string ReplicaPositionPath(const std::string& replica_path) {
  return replica_path + ".ltxbus-position";
}

namespace {

constexpr std::string_view kMagicV2 = "ltxbus-follower-position 2";
constexpr size_t kSlotSize = 4096;

std::string FormatRecord(const ReplicaPositionFile& r) {
  std::string out = "database " + r.database + "\n";
  out += "committed " + (r.committed ? FormatOne(*r.committed) : std::string("none")) + "\n";
  if (r.pending) out += "pending " + FormatOne(*r.pending) + "\n";
  return out;
}

// One slot: the record, its sequence and a CRC-64 of everything before the
// crc line, padded with newlines to kSlotSize.
Result<std::string> FormatSlot(const ReplicaPositionFile& r, uint64_t sequence) {
  std::string out = std::string(kMagicV2) + "\n";
  out += "# two slots of 4096 bytes: the intact one with the higher sequence counts\n";
  out += "# txid checksum offset timestamp-ms source-page1-bytes(24-27,92-99); docs/follower.md\n";
  out += fmt::format("sequence {}\n", sequence);
  out += FormatRecord(r);
  out += fmt::format("crc {:016x}\n", Crc64::Of(AsBytes(out)));
  if (out.size() > kSlotSize) {
    return Status::InvalidArgument("the position of database '{}' takes {} bytes, over {}",
                                   r.database, out.size(), kSlotSize);
  }
  out.resize(kSlotSize, '\n');
  return out;
}

struct ParsedRecord {
  ReplicaPositionFile file;
  uint64_t sequence = 0;
};

// The lines of one record (a version-1 file, or a version-2 slot without its
// crc line); line numbers count from `first_line`.
Result<ParsedRecord> ParseRecord(std::string_view text, int first_line) {
  std::istringstream in{std::string(text)};
  std::string line;
  int n = first_line - 1;
  ParsedRecord r;
  bool have_magic = false, have_db = false, have_committed = false, v2 = false,
       have_sequence = false;
  while (std::getline(in, line)) {
    n++;
    if (line.empty() || line[0] == '#') continue;
    if (!have_magic) {
      if (line != kMagic && line != kMagicV2) {
        return Status::Corruption("line {}: not an ltxbus follower position file", n);
      }
      v2 = line == kMagicV2;
      have_magic = true;
      continue;
    }
    std::vector<std::string> f;
    std::istringstream words(line);
    for (std::string w; words >> w;) f.push_back(w);
    if (f.empty()) continue;
    if (f[0] == "database" && !have_db && line.size() > 9) {
      r.file.database = line.substr(9);  // everything after "database ": names may hold spaces
      have_db = true;
    } else if (f[0] == "committed" && !have_committed) {
      have_committed = true;
      if (!(f.size() == 2 && f[1] == "none")) {
        LTXBUS_ASSIGN_OR_RETURN(r.file.committed, ParseOne(f, n));
      }
    } else if (f[0] == "pending" && !r.file.pending) {
      LTXBUS_ASSIGN_OR_RETURN(r.file.pending, ParseOne(f, n));
    } else if (f[0] == "sequence" && v2 && !have_sequence && f.size() == 2 &&
               ParseInt(f[1], &r.sequence)) {
      have_sequence = true;
    } else {
      return Status::Corruption("line {}: unexpected '{}' in a position file", n, f[0]);
    }
  }
  if (!have_magic || !have_db || !have_committed || (v2 && !have_sequence)) {
    return Status::Corruption("incomplete position file (needs the header, {}database, committed)",
                              v2 ? "sequence, " : "");
  }
  return r;
}

Result<ParsedRecord> ParseSlot(std::string_view slot, int first_line) {
  const size_t crc_at = slot.find("\ncrc ");
  if (crc_at == std::string_view::npos) return Status::Corruption("no crc line");
  const std::string_view body = slot.substr(0, crc_at + 1);
  const std::string_view hex = slot.substr(crc_at + 5, 16);
  uint64_t want = 0;
  if (hex.size() != 16 || !ParseInt(hex, &want, 16) || slot.substr(crc_at + 21, 1) != "\n") {
    return Status::Corruption("malformed crc line");
  }
  if (Crc64::Of(AsBytes(body)) != want) return Status::Corruption("crc mismatch (a torn write)");
  return ParseRecord(body, first_line);
}

}  // namespace

Result<std::string> FormatReplicaPositionFile(const ReplicaPositionFile& r) {
  LTXBUS_ASSIGN_OR_RETURN(std::string out, FormatSlot(r, 1));
  out.append(kSlotSize, '\n');
  return out;
}

Result<ReplicaPositionFile> ParseReplicaPositionFile(std::string_view text) {
  if (!text.starts_with(kMagicV2)) {
    LTXBUS_ASSIGN_OR_RETURN(ParsedRecord r, ParseRecord(text, 1));
    return r.file;
  }
  if (text.size() != 2 * kSlotSize) {
    return Status::Corruption("position file has {} bytes, not two slots of {}", text.size(),
                              kSlotSize);
  }
  std::optional<ParsedRecord> best;
  std::string why;
  for (size_t i = 0; i < 2; i++) {
    const std::string_view slot = text.substr(i * kSlotSize, kSlotSize);
    const int first_line = 1 + static_cast<int>(std::count(text.begin(), slot.begin(), '\n'));
    auto r = ParseSlot(slot, first_line);
    if (!r.ok()) {
      why += fmt::format("{}slot {}: {}", why.empty() ? "" : "; ", i, r.status().message());
    } else if (!best || r->sequence > best->sequence) {
      best = std::move(*r);
    }
  }
  if (!best) return Status::Corruption("no intact slot in the position file ({})", why);
  return best->file;
}

Result<ReplicaPositionFile> LoadReplicaPositionFile(Env* env, const std::string& path) {
  if (!env->FileExists(path)) return Status::NotFound("{}: no position file", path);
  LTXBUS_ASSIGN_OR_RETURN(std::string text, ReadFileToString(env, path));
  auto r = ParseReplicaPositionFile(text);
  if (!r.ok()) return r.status().WithContext(path);
  return r;
}

Status StoreReplicaPositionFile(Env* env, const std::string& path,
                                const ReplicaPositionFile& file) {
  LTXBUS_ASSIGN_OR_RETURN(std::string text, FormatReplicaPositionFile(file));
  return WriteFileAtomic(env, path, AsBytes(text));
}

ReplicaPositionStore::ReplicaPositionStore(Env* env, std::string path)
    : env_(env), path_(std::move(path)) {}

Status ReplicaPositionStore::Store(const ReplicaPositionFile& file) {
  if (!file_) {
    LTXBUS_RETURN_IF_ERROR(StoreReplicaPositionFile(env_, path_, file));
    LTXBUS_ASSIGN_OR_RETURN(file_, env_->OpenDataFile(path_, /*create=*/false));
    sequence_ = 1;
    newest_slot_ = 0;
    return Status::OK();
  }
  const int slot = 1 - newest_slot_;
  LTXBUS_ASSIGN_OR_RETURN(std::string text, FormatSlot(file, sequence_ + 1));
  Status s = file_->WriteAt(uint64_t{kSlotSize} * static_cast<uint64_t>(slot), AsBytes(text));
  if (s.ok()) s = file_->Sync();
  if (!s.ok()) {
    file_.reset();  // the next Store writes the whole file again
    return s.WithContext("storing the position in " + path_);
  }
  sequence_++;
  newest_slot_ = slot;
  return Status::OK();
}

}  // namespace ltxbus::consumer
