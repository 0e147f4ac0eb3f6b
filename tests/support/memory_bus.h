// An in-process Bus for unit tests: one ordered log per database, publishes
// that land whole at Commit (like a Kafka transaction), and fencing by
// generation (a newer Publisher's Open() fences older ones). Integration
// tests use the real servers; this only complements them.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "bus/bus.h"

namespace ltxbus::testing {

class MemoryBus final : public bus::Bus {
 public:
  Result<std::unique_ptr<bus::Publisher>> NewPublisher(
      const std::string& database, const bus::PublisherOptions& options) override;
  Result<std::unique_ptr<bus::Subscriber>> Subscribe(const std::string& database,
                                                     const bus::StartPosition& start) override;
  Result<std::optional<bus::LastFrame>> ReadLastFrame(const std::string& database) override;

  // Every chunk of a database, in order.
  std::vector<bus::Chunk> Log(const std::string& database) const;
  // Makes publishes fail with Unavailable while set (a broker outage).
  void SetDown(bool down);
  // Makes EndBatch() take this long (a slow or stalling broker).
  void SetAckDelay(bus::Millis delay);
  // Makes each publisher's NextBatchAt() this long after its last EndBatch()
  // (Kafka's transaction-gap-ms).
  void SetBatchGap(bus::Millis gap);

  struct Shared {
    mutable std::mutex mu;
    std::map<std::string, std::vector<bus::Chunk>> logs;
    std::map<std::string, int> generation;
    bool down = false;
    bus::Millis ack_delay{0};
    bus::Millis batch_gap{0};
  };

 private:
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
};

}  // namespace ltxbus::testing
