#include "bus/message.h"

#include <charconv>
#include <vector>

namespace ltxbus::bus {
namespace {

Result<uint64_t> ParseUint(std::string_view name, std::string_view text, int base) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v, base);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty()) {
    return Status::Corruption("header {}: '{}' is not a number", name, text);
  }
  return v;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    size_t i = s.find(sep);
    out.push_back(s.substr(0, i));
    if (i == std::string_view::npos) return out;
    s.remove_prefix(i + 1);
  }
}

}  // namespace

std::string WalPosition::Format() const {
  return fmt::format("{:08x}:{:08x}:{}:{:08x}:{:08x}", salt1, salt2, next_frame, checksum1,
                     checksum2);
}

Result<WalPosition> WalPosition::Parse(std::string_view text) {
  auto parts = Split(text, ':');
  if (parts.size() != 5)
    return Status::Corruption("WAL position '{}' has {} fields, want 5", text, parts.size());
  WalPosition w;
  LTXBUS_ASSIGN_OR_RETURN(uint64_t s1, ParseUint(kHeaderWal, parts[0], 16));
  LTXBUS_ASSIGN_OR_RETURN(uint64_t s2, ParseUint(kHeaderWal, parts[1], 16));
  LTXBUS_ASSIGN_OR_RETURN(w.next_frame, ParseUint(kHeaderWal, parts[2], 10));
  LTXBUS_ASSIGN_OR_RETURN(uint64_t c1, ParseUint(kHeaderWal, parts[3], 16));
  LTXBUS_ASSIGN_OR_RETURN(uint64_t c2, ParseUint(kHeaderWal, parts[4], 16));
  if (s1 > UINT32_MAX || s2 > UINT32_MAX || c1 > UINT32_MAX || c2 > UINT32_MAX) {
    return Status::Corruption("WAL position '{}' has a field wider than 32 bits", text);
  }
  w.salt1 = static_cast<uint32_t>(s1);
  w.salt2 = static_cast<uint32_t>(s2);
  w.checksum1 = static_cast<uint32_t>(c1);
  w.checksum2 = static_cast<uint32_t>(c2);
  return w;
}

std::map<std::string, std::string> ChunkHeaders::Encode() const {
  std::map<std::string, std::string> h;
  h[std::string(kHeaderDatabase)] = frame.database;
  h[std::string(kHeaderMinTxid)] = ltx::FormatTXID(frame.min_txid);
  h[std::string(kHeaderMaxTxid)] = ltx::FormatTXID(frame.max_txid);
  h[std::string(kHeaderChunk)] = std::to_string(index);
  h[std::string(kHeaderAttempt)] = frame.attempt;
  h[std::string(kHeaderProducer)] = frame.producer;
  h[std::string(kHeaderTimestamp)] = std::to_string(frame.timestamp_ms);
  h[std::string(kHeaderPreApply)] = fmt::format("{:016x}", frame.pre_apply);
  if (last) {
    h[std::string(kHeaderLast)] = "1";
    h[std::string(kHeaderFrameSize)] = std::to_string(trailer.frame_size);
    h[std::string(kHeaderPostApply)] = fmt::format("{:016x}", trailer.post_apply);
    if (trailer.wal) h[std::string(kHeaderWal)] = trailer.wal->Format();
  }
  return h;
}

Result<ChunkHeaders> ChunkHeaders::Decode(const std::map<std::string, std::string>& headers) {
  return Decode([&](const std::string& name) -> std::optional<std::string_view> {
    auto it = headers.find(name);
    if (it == headers.end()) return std::nullopt;
    return std::string_view(it->second);
  });
}

Result<ChunkHeaders> ChunkHeaders::Decode(const Lookup& header) {
  auto find = [&](std::string_view name) { return header(std::string(name)); };
  auto get = [&](std::string_view name) -> Result<std::string_view> {
    std::optional<std::string_view> v = find(name);
    if (!v) return Status::Corruption("message has no {} header", name);
    return *v;
  };
  ChunkHeaders c;
  LTXBUS_ASSIGN_OR_RETURN(std::string_view db, get(kHeaderDatabase));
  c.frame.database = std::string(db);
  LTXBUS_ASSIGN_OR_RETURN(std::string_view v, get(kHeaderMinTxid));
  LTXBUS_ASSIGN_OR_RETURN(c.frame.min_txid, ltx::ParseTXID(v));
  LTXBUS_ASSIGN_OR_RETURN(v, get(kHeaderMaxTxid));
  LTXBUS_ASSIGN_OR_RETURN(c.frame.max_txid, ltx::ParseTXID(v));
  if (c.frame.min_txid == 0 || c.frame.max_txid < c.frame.min_txid) {
    return Status::Corruption("message has TXID range {}-{}", c.frame.min_txid, c.frame.max_txid);
  }
  LTXBUS_ASSIGN_OR_RETURN(v, get(kHeaderChunk));
  LTXBUS_ASSIGN_OR_RETURN(uint64_t index, ParseUint(kHeaderChunk, v, 10));
  if (index > UINT32_MAX) return Status::Corruption("chunk index {} too large", index);
  c.index = static_cast<uint32_t>(index);
  LTXBUS_ASSIGN_OR_RETURN(v, get(kHeaderAttempt));
  c.frame.attempt = std::string(v);
  LTXBUS_ASSIGN_OR_RETURN(v, get(kHeaderProducer));
  c.frame.producer = std::string(v);
  LTXBUS_ASSIGN_OR_RETURN(v, get(kHeaderTimestamp));
  int64_t ts = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), ts);
  if (ec != std::errc() || p != v.data() + v.size()) {
    return Status::Corruption("header {}: '{}' is not a number", kHeaderTimestamp, v);
  }
  c.frame.timestamp_ms = ts;
  LTXBUS_ASSIGN_OR_RETURN(v, get(kHeaderPreApply));
  LTXBUS_ASSIGN_OR_RETURN(c.frame.pre_apply, ParseUint(kHeaderPreApply, v, 16));
  const std::optional<std::string_view> last = find(kHeaderLast);
  c.last = last == "1";
  if (c.last) {
    LTXBUS_ASSIGN_OR_RETURN(v, get(kHeaderFrameSize));
    LTXBUS_ASSIGN_OR_RETURN(c.trailer.frame_size, ParseUint(kHeaderFrameSize, v, 10));
    LTXBUS_ASSIGN_OR_RETURN(v, get(kHeaderPostApply));
    LTXBUS_ASSIGN_OR_RETURN(c.trailer.post_apply, ParseUint(kHeaderPostApply, v, 16));
    if (const std::optional<std::string_view> wal = find(kHeaderWal)) {
      LTXBUS_ASSIGN_OR_RETURN(c.trailer.wal, WalPosition::Parse(*wal));
    }
  }
  return c;
}

std::string EscapeDatabaseName(std::string_view name) {
  std::string out;
  for (char c : name) {
    const auto ch = static_cast<unsigned char>(c);
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
        ch == '_' || ch == '-') {
      out.push_back(static_cast<char>(ch));
    } else {
      out += fmt::format("%{:02X}", ch);
    }
  }
  return out;
}

}  // namespace ltxbus::bus
