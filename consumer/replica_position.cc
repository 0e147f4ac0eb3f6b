#include "consumer/replica_position.h"

#include <charconv>
#include <sstream>
#include <vector>

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

std::string FormatReplicaPositionFile(const ReplicaPositionFile& r) {
  std::string out = std::string(kMagic) + "\n";
  out += "# txid checksum offset timestamp-ms source-page1-bytes(24-27,92-99); docs/follower.md\n";
  out += "database " + r.database + "\n";
  out += "committed " + (r.committed ? FormatOne(*r.committed) : std::string("none")) + "\n";
  if (r.pending) out += "pending " + FormatOne(*r.pending) + "\n";
  return out;
}

Result<ReplicaPositionFile> ParseReplicaPositionFile(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string line;
  int n = 0;
  ReplicaPositionFile r;
  bool have_magic = false, have_db = false, have_committed = false;
  while (std::getline(in, line)) {
    n++;
    if (line.empty() || line[0] == '#') continue;
    if (!have_magic) {
      if (line != kMagic) {
        return Status::Corruption("line {}: not an ltxbus follower position file", n);
      }
      have_magic = true;
      continue;
    }
    std::vector<std::string> f;
    std::istringstream words(line);
    for (std::string w; words >> w;) f.push_back(w);
    if (f.empty()) continue;
    if (f[0] == "database" && !have_db && line.size() > 9) {
      r.database = line.substr(9);  // everything after "database ": names may hold spaces
      have_db = true;
    } else if (f[0] == "committed" && !have_committed) {
      have_committed = true;
      if (!(f.size() == 2 && f[1] == "none")) {
        LTXBUS_ASSIGN_OR_RETURN(r.committed, ParseOne(f, n));
      }
    } else if (f[0] == "pending" && !r.pending) {
      LTXBUS_ASSIGN_OR_RETURN(r.pending, ParseOne(f, n));
    } else {
      return Status::Corruption("line {}: unexpected '{}' in a position file", n, f[0]);
    }
  }
  if (!have_magic || !have_db || !have_committed) {
    return Status::Corruption("incomplete position file (needs the header, database, committed)");
  }
  return r;
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
  return WriteFileAtomic(env, path, AsBytes(FormatReplicaPositionFile(file)));
}

}  // namespace ltxbus::consumer
