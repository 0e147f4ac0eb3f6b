#include "bus/chunker.h"

#include <algorithm>
#include <utility>

namespace ltxbus::bus {

FrameChunker::FrameChunker(FrameId frame, size_t chunk_size)
    : frame_(std::move(frame)), chunk_size_(std::max<size_t>(chunk_size, 1)) {}

Status FrameChunker::Append(std::span<const uint8_t> data, const EmitFn& emit) {
  while (!data.empty()) {
    if (buffer_.size() == chunk_size_) {
      ChunkHeaders h;
      h.frame = frame_;
      h.index = next_index_;
      LTXBUS_RETURN_IF_ERROR(emit(h, buffer_));
      next_index_++;
      buffer_.clear();
    }
    // Reserved only once bytes arrive, and again after an emit that took the
    // buffer, so an idle writer holds nothing.
    if (buffer_.capacity() < chunk_size_) buffer_.reserve(chunk_size_);
    const size_t n = std::min(chunk_size_ - buffer_.size(), data.size());
    buffer_.append(reinterpret_cast<const char*>(data.data()), n);
    data = data.subspan(n);
    bytes_ += n;
  }
  return Status::OK();
}

Status FrameChunker::CheckTrailer(const FrameTrailer& trailer) const {
  if (trailer.frame_size == bytes_) return Status::OK();
  return Status::InvalidArgument(
      "database {}: the frame for TXID {} was committed with frame_size {} but {} bytes were "
      "appended",
      frame_.database, ltx::FormatTXID(frame_.max_txid), trailer.frame_size, bytes_);
}

ChunkHeaders FrameChunker::LastHeaders(const FrameTrailer& trailer) const {
  ChunkHeaders h;
  h.frame = frame_;
  h.index = next_index_;
  h.last = true;
  h.trailer = trailer;
  return h;
}

void FrameChunker::Release() { std::string().swap(buffer_); }

}  // namespace ltxbus::bus
