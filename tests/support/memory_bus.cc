#include "tests/support/memory_bus.h"

#include <algorithm>
#include <thread>

#include "bus/assembler.h"

namespace ltxbus::testing {
namespace {

// The newest complete frame in `log`; every frame lands whole, so that is the
// last chunk marked last.
std::optional<bus::LastFrame> NewestFrame(const std::vector<bus::Chunk>& log) {
  for (auto it = log.rbegin(); it != log.rend(); ++it) {
    if (it->headers.last) return bus::LastFrame{it->headers.frame, it->headers.trailer, it->offset};
  }
  return std::nullopt;
}

class MemoryFrameWriter final : public bus::FrameWriter {
 public:
  MemoryFrameWriter(std::shared_ptr<MemoryBus::Shared> shared, bus::FrameId id, int generation,
                    size_t chunk_size)
      : shared_(std::move(shared)),
        id_(std::move(id)),
        generation_(generation),
        chunk_size_(chunk_size) {}
  Status Append(std::span<const uint8_t> data) override {
    buf_.append(reinterpret_cast<const char*>(data.data()), data.size());
    while (buf_.size() > chunk_size_) {
      chunks_.push_back(buf_.substr(0, chunk_size_));
      buf_.erase(0, chunk_size_);
    }
    return Status::OK();
  }
  Result<uint64_t> Commit(const bus::FrameTrailer& trailer) override {
    chunks_.push_back(buf_);
    std::lock_guard lock(shared_->mu);
    if (shared_->down) return Status::Unavailable("memory bus is down");
    if (shared_->generation[id_.database] != generation_) {
      return Status::Conflict("database {}: fenced by a newer publisher", id_.database);
    }
    auto& log = shared_->logs[id_.database];
    uint64_t size = 0;
    for (const auto& c : chunks_) size += c.size();
    if (size != trailer.frame_size) {
      return Status::Internal("frame has {} bytes but the trailer says {}", size,
                              trailer.frame_size);
    }
    const std::string attempt = std::to_string(log.size());
    for (size_t i = 0; i < chunks_.size(); i++) {
      bus::Chunk c;
      c.headers.frame = id_;
      c.headers.frame.attempt = attempt;
      c.headers.index = static_cast<uint32_t>(i);
      c.headers.last = i + 1 == chunks_.size();
      if (c.headers.last) c.headers.trailer = trailer;
      c.payload = chunks_[i];
      c.offset = log.size();
      log.push_back(std::move(c));
    }
    return log.size() - 1;
  }
  void Abort() override { chunks_.clear(); }

 private:
  std::shared_ptr<MemoryBus::Shared> shared_;
  bus::FrameId id_;
  int generation_;
  size_t chunk_size_;
  std::string buf_;
  std::vector<std::string> chunks_;
};

class MemoryPublisher final : public bus::Publisher {
 public:
  MemoryPublisher(std::shared_ptr<MemoryBus::Shared> shared, std::string database,
                  bus::PublisherOptions options)
      : shared_(std::move(shared)), database_(std::move(database)), options_(std::move(options)) {}
  Result<std::optional<bus::LastFrame>> Open() override {
    std::lock_guard lock(shared_->mu);
    if (shared_->down) return Status::Unavailable("memory bus is down");
    generation_ = ++shared_->generation[database_];
    return NewestFrame(shared_->logs[database_]);
  }
  Result<std::unique_ptr<bus::FrameWriter>> BeginFrame(const bus::FrameId& id) override {
    return std::unique_ptr<bus::FrameWriter>(
        std::make_unique<MemoryFrameWriter>(shared_, id, generation_, options_.chunk_size));
  }
  // Frames are stored as they are committed, so a batch is only a bracket.
  Status BeginBatch() override { return Status::OK(); }
  Result<uint64_t> EndBatch() override {
    bus::Millis delay;
    {
      std::lock_guard lock(shared_->mu);
      delay = shared_->ack_delay;
    }
    std::this_thread::sleep_for(delay);
    std::lock_guard lock(shared_->mu);
    last_end_ = std::chrono::steady_clock::now();
    if (shared_->down) return Status::Unavailable("memory bus is down");
    const auto& log = shared_->logs[database_];
    return log.empty() ? 0 : log.size() - 1;
  }
  std::chrono::steady_clock::time_point NextBatchAt() const override {
    std::lock_guard lock(shared_->mu);
    return last_end_ + shared_->batch_gap;
  }

 private:
  std::shared_ptr<MemoryBus::Shared> shared_;
  std::string database_;
  bus::PublisherOptions options_;
  int generation_ = 0;
  std::chrono::steady_clock::time_point last_end_{};
};

class MemorySubscriber final : public bus::Subscriber {
 public:
  MemorySubscriber(std::shared_ptr<MemoryBus::Shared> shared, std::string database, uint64_t next)
      : shared_(std::move(shared)), database_(std::move(database)), next_(next) {}
  Result<std::optional<bus::Chunk>> Next(bus::Millis) override {
    std::lock_guard lock(shared_->mu);
    const auto& log = shared_->logs[database_];
    if (next_ >= log.size()) return std::optional<bus::Chunk>();
    return std::optional(log[next_++]);
  }
  Result<uint64_t> HeadOffset() override {
    std::lock_guard lock(shared_->mu);
    return shared_->logs[database_].size();
  }

 private:
  std::shared_ptr<MemoryBus::Shared> shared_;
  std::string database_;
  uint64_t next_;
};

}  // namespace

Result<std::unique_ptr<bus::Publisher>> MemoryBus::NewPublisher(
    const std::string& database, const bus::PublisherOptions& options) {
  return std::unique_ptr<bus::Publisher>(
      std::make_unique<MemoryPublisher>(shared_, database, options));
}

Result<std::unique_ptr<bus::Subscriber>> MemoryBus::Subscribe(const std::string& database,
                                                              const bus::StartPosition& start) {
  uint64_t next = 0;
  if (start.kind == bus::StartPosition::Kind::kOffset) next = start.offset;
  if (start.kind == bus::StartPosition::Kind::kEnd) next = Log(database).size();
  return std::unique_ptr<bus::Subscriber>(
      std::make_unique<MemorySubscriber>(shared_, database, next));
}

Result<std::optional<bus::LastFrame>> MemoryBus::ReadLastFrame(const std::string& database) {
  std::lock_guard lock(shared_->mu);
  auto it = shared_->logs.find(database);
  if (it == shared_->logs.end()) return std::optional<bus::LastFrame>();
  return NewestFrame(it->second);
}

std::vector<bus::Chunk> MemoryBus::Log(const std::string& database) const {
  std::lock_guard lock(shared_->mu);
  auto it = shared_->logs.find(database);
  return it == shared_->logs.end() ? std::vector<bus::Chunk>() : it->second;
}

void MemoryBus::SetAckDelay(bus::Millis delay) {
  std::lock_guard lock(shared_->mu);
  shared_->ack_delay = delay;
}

void MemoryBus::SetBatchGap(bus::Millis gap) {
  std::lock_guard lock(shared_->mu);
  shared_->batch_gap = gap;
}

void MemoryBus::SetDown(bool down) {
  std::lock_guard lock(shared_->mu);
  shared_->down = down;
}

}  // namespace ltxbus::testing
