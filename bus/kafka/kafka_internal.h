// Internal: the parts ConnectKafka (kafka_bus.cc) assembles into a Bus.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bus/bus.h"
#include "bus/kafka/kafka_client.h"

namespace ltxbus::bus::kafka {

// Where one database's frames live.
struct DatabaseLocation {
  std::string database;
  int32_t partition = 0;
};

// The transactional.ids of the database's publisher, in the order its
// transactions use them: settings.txn_prefix + the escaped name, then the
// same + ".1". A publisher fences older ones on both (init_transactions).
std::vector<std::string> TransactionalIds(const KafkaSettings& settings, std::string_view database);

Result<std::unique_ptr<Publisher>> NewPublisher(const KafkaSettings& settings,
                                                const DatabaseLocation& where,
                                                const PublisherOptions& options);

Result<std::unique_ptr<Subscriber>> NewSubscriber(const KafkaSettings& settings,
                                                  const DatabaseLocation& where,
                                                  const StartPosition& start);

// The newest complete frame of the database: walks back from the end of its
// partition with a read_committed consumer (aborted frames and transaction
// markers are skipped). Each wait for the next message is bounded by
// settings.timeout.
Result<std::optional<LastFrame>> ReadLastFrame(const KafkaSettings& settings,
                                               const DatabaseLocation& where);

}  // namespace ltxbus::bus::kafka
