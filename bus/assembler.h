// Turns a database's chunk messages back into whole frames, in bus order.
//
// Rules (docs/message-format.md): a frame starts with chunk 0 and ends with
// the chunk marked last; chunks must follow in index order and share the
// frame's TXIDs and attempt. A frame left incomplete (its producer died) is
// dropped when the next frame starts. A chunk that fits no frame is dropped.
// A complete frame identical to the previous one in last TXID, attempt,
// producer and pre-apply checksum is a re-delivery and dropped (Kafka frames
// carry no attempt, so a stray frame N followed by the real frame N differs
// only in the producer or the checksum it continues). Every drop is reported through `on_drop` so
// consumers can log it.
//
// Frame bytes are spooled: in memory up to `memory_limit`, then in an
// anonymous temporary file, so memory is bounded for any frame size.
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/env.h"
#include "bus/bus.h"

namespace ltxbus::bus {

// A whole frame: identity, trailer, and its LTX bytes.
class Frame {
 public:
  Frame(ChunkHeaders last, uint64_t first_offset, uint64_t last_offset, int64_t bus_time_ms,
        uint64_t size, std::string memory, std::FILE* spill);
  ~Frame();
  Frame(Frame&&) noexcept;
  Frame& operator=(Frame&&) noexcept;

  const FrameId& id() const { return last_.frame; }
  const FrameTrailer& trailer() const { return last_.trailer; }
  uint64_t first_offset() const { return first_offset_; }
  uint64_t last_offset() const { return last_offset_; }
  int64_t bus_time_ms() const { return bus_time_ms_; }
  uint64_t size() const { return size_; }
  // A reader over the LTX bytes; may be called more than once.
  std::unique_ptr<SequentialFile> Open() const;
  // The whole file in memory (tests and small frames).
  Result<std::string> ReadAll() const;

 private:
  ChunkHeaders last_;
  uint64_t first_offset_, last_offset_;
  int64_t bus_time_ms_;
  uint64_t size_;
  std::string memory_;
  std::FILE* spill_;  // owned; nullptr when the frame fits in memory_
};

class FrameAssembler {
 public:
  using DropFn = std::function<void(const std::string& why)>;
  explicit FrameAssembler(size_t memory_limit = 8 << 20, DropFn on_drop = {});
  ~FrameAssembler();

  // Feeds the next chunk; returns a frame when `chunk` completed one.
  Result<std::optional<Frame>> Add(Chunk chunk);

 private:
  Status Append(const std::string& payload);
  void Reset();
  void Drop(const std::string& why);

  size_t memory_limit_;
  DropFn on_drop_;
  bool in_frame_ = false;
  ChunkHeaders first_;
  uint32_t next_index_ = 0;
  uint64_t first_offset_ = 0;
  uint64_t size_ = 0;
  std::string memory_;
  std::FILE* spill_ = nullptr;
  // What makes a complete frame a re-delivery of the previous one.
  struct DeliveryKey {
    ltx::TXID max_txid = 0;
    std::string attempt;
    std::string producer;
    ltx::Checksum pre_apply = 0;
    bool operator==(const DeliveryKey&) const = default;
  };
  std::optional<DeliveryKey> last_complete_;
};

}  // namespace ltxbus::bus
