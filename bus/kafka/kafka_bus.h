// The Kafka bus (docs/message-format.md, "Kafka"): one topic; all frames of a
// database on one partition, chosen by Kafka's murmur2 of the database name
// (what a Java producer keyed by the name would pick); each frame one Kafka
// transaction, by one of two producers that take turns, with transactional.ids
// derived from the database, so read_committed consumers see whole frames only
// and a newer publisher fences the older one. Offsets are partition offsets; they are
// sparse, since transaction markers and aborted frames occupy offsets too.
//
// URL: kafka://host:port[,host:port]/TOPIC[?option=value&...]; the options
// are listed with KafkaSettings in bus/kafka/kafka_client.h (partitions,
// replication, create, transactional-id-prefix, timeout-ms,
// transaction-timeout-ms, transaction-gap-ms, log-level, rdkafka.<property>).
//
// The partition count is read once, at Connect: adding partitions to the
// topic later moves databases to other partitions and must not be done while
// ltxbus uses it.
#pragma once

#include <memory>

#include "base/status.h"
#include "bus/bus.h"

namespace ltxbus::bus {

// Connects to the brokers (every wait bounded by option timeout-ms), creates
// the topic if it is missing (CreateTopics with the `partitions` and
// `replication` options) and reads its partition count. An unreachable
// cluster is Unavailable or Timeout; a topic that cannot be created is an
// error naming the broker's reason.
Result<std::unique_ptr<Bus>> ConnectKafka(const Endpoint& endpoint);

}  // namespace ltxbus::bus
