#include "bus/bus.h"

#include "bus/kafka/kafka_bus.h"
#include "bus/nats/nats_bus.h"

namespace ltxbus::bus {

Result<std::unique_ptr<Bus>> Bus::Connect(const Endpoint& endpoint) {
  switch (endpoint.kind) {
    case Endpoint::Kind::kNats: return ConnectNats(endpoint);
    case Endpoint::Kind::kKafka: return ConnectKafka(endpoint);
  }
  return Status::InvalidArgument("unknown bus kind");
}

}  // namespace ltxbus::bus
