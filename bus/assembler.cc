#include "bus/assembler.h"

#include <unistd.h>

#include <cerrno>
#include <utility>

namespace ltxbus::bus {
namespace {

// Reads a spill file from the start with pread, leaving its offset alone so
// several readers can coexist.
class SpillReader final : public SequentialFile {
 public:
  SpillReader(int fd, uint64_t size) : fd_(fd), size_(size) {}
  Result<size_t> Read(std::span<uint8_t> dst) override {
    size_t want = static_cast<size_t>(std::min<uint64_t>(dst.size(), size_ - pos_));
    size_t done = 0;
    while (done < want) {
      ssize_t n = ::pread(fd_, dst.data() + done, want - done, static_cast<off_t>(pos_ + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Status::IOError("reading a spooled frame failed");
      done += static_cast<size_t>(n);
    }
    pos_ += done;
    return done;
  }

 private:
  int fd_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

}  // namespace

Frame::Frame(ChunkHeaders last, uint64_t first_offset, uint64_t last_offset, int64_t bus_time_ms,
             uint64_t size, std::string memory, std::FILE* spill)
    : last_(std::move(last)),
      first_offset_(first_offset),
      last_offset_(last_offset),
      bus_time_ms_(bus_time_ms),
      size_(size),
      memory_(std::move(memory)),
      spill_(spill) {}

Frame::~Frame() {
  if (spill_ != nullptr) std::fclose(spill_);
}

Frame::Frame(Frame&& o) noexcept
    : last_(std::move(o.last_)),
      first_offset_(o.first_offset_),
      last_offset_(o.last_offset_),
      bus_time_ms_(o.bus_time_ms_),
      size_(o.size_),
      memory_(std::move(o.memory_)),
      spill_(std::exchange(o.spill_, nullptr)) {}

Frame& Frame::operator=(Frame&& o) noexcept {
  if (this != &o) {
    if (spill_ != nullptr) std::fclose(spill_);
    last_ = std::move(o.last_);
    first_offset_ = o.first_offset_;
    last_offset_ = o.last_offset_;
    bus_time_ms_ = o.bus_time_ms_;
    size_ = o.size_;
    memory_ = std::move(o.memory_);
    spill_ = std::exchange(o.spill_, nullptr);
  }
  return *this;
}

std::unique_ptr<SequentialFile> Frame::Open() const {
  if (spill_ != nullptr) return std::make_unique<SpillReader>(fileno(spill_), size_);
  return std::make_unique<SpanSource>(AsBytes(memory_));
}

Result<std::string> Frame::ReadAll() const {
  if (spill_ == nullptr) return memory_;
  std::string out(size_, '\0');
  auto reader = Open();
  LTXBUS_ASSIGN_OR_RETURN(size_t n,
                          reader->Read({reinterpret_cast<uint8_t*>(out.data()), out.size()}));
  if (n != size_) return Status::IOError("short read of a spooled frame");
  return out;
}

FrameAssembler::FrameAssembler(size_t memory_limit, DropFn on_drop)
    : memory_limit_(memory_limit), on_drop_(std::move(on_drop)) {}

FrameAssembler::~FrameAssembler() { Reset(); }

void FrameAssembler::Reset() {
  in_frame_ = false;
  next_index_ = 0;
  size_ = 0;
  memory_.clear();
  if (spill_ != nullptr) std::fclose(spill_);
  spill_ = nullptr;
}

void FrameAssembler::Drop(const std::string& why) {
  if (on_drop_) on_drop_(why);
}

Status FrameAssembler::Append(const std::string& payload) {
  size_ += payload.size();
  if (spill_ == nullptr && memory_.size() + payload.size() <= memory_limit_) {
    memory_ += payload;
    return Status::OK();
  }
  if (spill_ == nullptr) {
    spill_ = std::tmpfile();
    if (spill_ == nullptr) return Status::FromErrno("tmpfile for a large frame", errno);
    if (std::fwrite(memory_.data(), 1, memory_.size(), spill_) != memory_.size()) {
      return Status::FromErrno("spooling a large frame", errno);
    }
    memory_.clear();
    memory_.shrink_to_fit();
  }
  if (std::fwrite(payload.data(), 1, payload.size(), spill_) != payload.size() ||
      std::fflush(spill_) != 0) {
    return Status::FromErrno("spooling a large frame", errno);
  }
  return Status::OK();
}

Result<std::optional<Frame>> FrameAssembler::Add(Chunk chunk) {
  const ChunkHeaders& h = chunk.headers;
  auto same_frame = [&](const FrameId& a, const FrameId& b) {
    return a.database == b.database && a.min_txid == b.min_txid && a.max_txid == b.max_txid &&
           a.attempt == b.attempt;
  };
  if (h.index == 0) {
    if (in_frame_) {
      Drop(fmt::format("incomplete frame for TXID {} (attempt {}) abandoned at chunk {}",
                       ltx::FormatTXID(first_.frame.max_txid), first_.frame.attempt, next_index_));
      Reset();
    }
    in_frame_ = true;
    first_ = h;
    first_offset_ = chunk.offset;
  } else if (!in_frame_ || !same_frame(first_.frame, h.frame) || h.index != next_index_) {
    Drop(fmt::format("chunk {} of TXID {} (attempt {}) at offset {} belongs to no open frame",
                     h.index, ltx::FormatTXID(h.frame.max_txid), h.frame.attempt, chunk.offset));
    return std::optional<Frame>();
  }
  LTXBUS_RETURN_IF_ERROR(Append(chunk.payload));
  next_index_ = h.index + 1;
  if (!h.last) return std::optional<Frame>();
  if (h.trailer.frame_size != size_) {
    Drop(fmt::format("frame for TXID {} has {} bytes but says {}",
                     ltx::FormatTXID(h.frame.max_txid), size_, h.trailer.frame_size));
    Reset();
    return std::optional<Frame>();
  }
  DeliveryKey key{h.frame.max_txid, h.frame.attempt, h.frame.producer, h.frame.pre_apply};
  if (last_complete_ == key) {
    Drop(fmt::format("re-delivered frame for TXID {} dropped", ltx::FormatTXID(h.frame.max_txid)));
    Reset();
    return std::optional<Frame>();
  }
  last_complete_ = key;
  Frame f(h, first_offset_, chunk.offset, chunk.bus_time_ms, size_, std::move(memory_),
          std::exchange(spill_, nullptr));
  Reset();
  return std::optional<Frame>(std::move(f));
}

}  // namespace ltxbus::bus
