// The ltxbus message format, shared by every bus (docs/message-format.md is
// its description). A frame — one LTX file, normally one SQLite transaction —
// travels as one or more chunk messages on the database's subject or
// partition; concatenating the payloads of chunks 0..last gives the LTX file.
// Every chunk carries headers that identify its frame; the last chunk also
// carries what is known only once the frame is written (sizes, post-apply
// checksum, the WAL position after it).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "ltx/ltx.h"

namespace ltxbus::bus {

// Header names, as they appear on NATS and Kafka messages.
inline constexpr std::string_view kHeaderDatabase = "Ltx-Db";
inline constexpr std::string_view kHeaderMinTxid = "Ltx-Min-Txid";
inline constexpr std::string_view kHeaderMaxTxid = "Ltx-Txid";
inline constexpr std::string_view kHeaderChunk = "Ltx-Chunk";
inline constexpr std::string_view kHeaderLast = "Ltx-Last";
inline constexpr std::string_view kHeaderAttempt = "Ltx-Attempt";
inline constexpr std::string_view kHeaderProducer = "Ltx-Producer";
inline constexpr std::string_view kHeaderTimestamp = "Ltx-Timestamp";
inline constexpr std::string_view kHeaderPreApply = "Ltx-Pre-Checksum";
inline constexpr std::string_view kHeaderPostApply = "Ltx-Post-Checksum";
inline constexpr std::string_view kHeaderFrameSize = "Ltx-Frame-Size";
inline constexpr std::string_view kHeaderWal = "Ltx-Wal";

// Where the producer stood in the source WAL after a frame: enough to resume
// tailing without local state (the salts, the next frame index, and the
// running WAL checksum after the frame before it).
struct WalPosition {
  uint32_t salt1 = 0;
  uint32_t salt2 = 0;
  uint64_t next_frame = 0;  // 1-based index of the first frame not yet published
  uint32_t checksum1 = 0;
  uint32_t checksum2 = 0;
  bool operator==(const WalPosition&) const = default;
  std::string Format() const;  // "salt1:salt2:next_frame:ck1:ck2", hex salts/checksums
  static Result<WalPosition> Parse(std::string_view text);
};

// What identifies a frame; on every chunk.
struct FrameId {
  std::string database;
  ltx::TXID min_txid = 0;
  ltx::TXID max_txid = 0;
  // Distinguishes two publishing attempts of the same TXID (a producer that
  // crashed mid-frame and started over), so their chunks never mix.
  std::string attempt;
  std::string producer;      // who published it: "host/pid/start-ms"
  int64_t timestamp_ms = 0;  // the LTX header's timestamp (commit time)
  ltx::Checksum pre_apply = 0;
  bool operator==(const FrameId&) const = default;
};

// Known once the frame is complete; on the last chunk.
struct FrameTrailer {
  uint64_t frame_size = 0;
  ltx::Checksum post_apply = 0;
  std::optional<WalPosition> wal;
};

// One message as a bus carries it.
struct ChunkHeaders {
  FrameId frame;
  uint32_t index = 0;
  bool last = false;
  FrameTrailer trailer;  // meaningful when last

  // Header name → value, in a stable order.
  std::map<std::string, std::string> Encode() const;
  // A header's value by name, or nullopt when the message has none. The
  // value must stay valid until Decode returns.
  using Lookup = std::function<std::optional<std::string_view>(const std::string& name)>;
  // Parses and validates; a missing or malformed header is a Corruption error
  // naming it. The lookup form lets a bus client hand over its own header
  // storage without copying every header first.
  static Result<ChunkHeaders> Decode(const Lookup& header);
  static Result<ChunkHeaders> Decode(const std::map<std::string, std::string>& headers);
};

// A subject- and key-safe form of a database name: [A-Za-z0-9_-] are kept and
// every other byte becomes "%XX" (NATS subjects forbid '.', '*', '>' and
// spaces). Injective, so two databases never share a subject.
std::string EscapeDatabaseName(std::string_view name);

}  // namespace ltxbus::bus
