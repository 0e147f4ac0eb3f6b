// How every bus's FrameWriter cuts a frame into chunk messages
// (docs/message-format.md): at most `chunk_size` payload bytes each, numbered
// from 0, and a full chunk is handed on only once more bytes follow, so the
// last chunk — the one that carries the trailer — is never empty unless the
// whole frame is. Also the one check of the trailer against what was
// appended. Memory: one chunk.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "base/status.h"
#include "bus/message.h"

namespace ltxbus::bus {

class FrameChunker {
 public:
  // `emit` publishes one chunk that is not the last. It may take the payload
  // (move from it); the chunker starts the next chunk on an empty buffer.
  using EmitFn = std::function<Status(const ChunkHeaders& headers, std::string& payload)>;

  FrameChunker(FrameId frame, size_t chunk_size);

  // Buffers `data`, calling `emit` for every chunk that fills and is followed
  // by more bytes. A failed `emit` is returned as it is.
  Status Append(std::span<const uint8_t> data, const EmitFn& emit);

  // InvalidArgument unless `trailer.frame_size` is the number of bytes
  // appended: consumers would drop such a frame, so it is a bug to refuse
  // here, where it is made.
  Status CheckTrailer(const FrameTrailer& trailer) const;
  // The last chunk's headers (marked last, with `trailer`); its payload is
  // rest().
  ChunkHeaders LastHeaders(const FrameTrailer& trailer) const;
  std::string& rest() { return buffer_; }

  // The frame's identity as the chunks carry it; a publisher may change the
  // attempt before chunk 0 is stored.
  FrameId& frame() { return frame_; }
  const FrameId& frame() const { return frame_; }
  uint64_t bytes() const { return bytes_; }
  uint32_t next_index() const { return next_index_; }
  size_t chunk_size() const { return chunk_size_; }

  // Frees the buffer (the frame is finished).
  void Release();

 private:
  FrameId frame_;
  size_t chunk_size_;
  std::string buffer_;
  uint32_t next_index_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace ltxbus::bus
