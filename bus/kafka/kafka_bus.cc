#include "bus/kafka/kafka_bus.h"

#include <thread>

#include "bus/kafka/kafka_internal.h"

namespace ltxbus::bus {
namespace kafka {
namespace {

Status CreateTopic(const Client& client, const KafkaSettings& settings, const Deadline& deadline) {
  const std::string what =
      fmt::format("creating topic '{}' ({} partitions, replication {}) on {}", settings.topic,
                  settings.create_partitions, settings.replication, settings.servers);
  char errstr[512];
  RdPtr<rd_kafka_NewTopic_t> topic(
      rd_kafka_NewTopic_new(settings.topic.c_str(), settings.create_partitions,
                            settings.replication, errstr, sizeof errstr));
  if (topic == nullptr) return Status::InvalidArgument("{}: {}", what, errstr);
  RdPtr<rd_kafka_AdminOptions_t> options(
      rd_kafka_AdminOptions_new(client.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS));
  const int budget = std::max(deadline.RemainingMs(), 1);
  if (rd_kafka_AdminOptions_set_request_timeout(options.get(), budget, errstr, sizeof errstr) ||
      rd_kafka_AdminOptions_set_operation_timeout(options.get(), budget, errstr, sizeof errstr)) {
    return Status::InvalidArgument("{}: {}", what, errstr);
  }
  RdPtr<rd_kafka_queue_t> queue(rd_kafka_queue_new(client.get()));
  rd_kafka_NewTopic_t* topics[] = {topic.get()};
  rd_kafka_CreateTopics(client.get(), topics, 1, options.get(), queue.get());
  // The request has its own timeout; the slack only covers its delivery.
  RdPtr<rd_kafka_event_t> event(rd_kafka_queue_poll(queue.get(), budget + 1000));
  if (event == nullptr) return client.TimedOut(what, settings.timeout);
  if (rd_kafka_resp_err_t err = rd_kafka_event_error(event.get());
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) return client.TimedOut(what, settings.timeout);
    return KafkaStatus(err, fmt::format("{} ({})", what, rd_kafka_event_error_string(event.get())));
  }
  size_t count = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event.get()), &count);
  for (size_t i = 0; i < count; i++) {
    rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      continue;  // someone else creating it at the same time is fine
    }
    const char* reason = rd_kafka_topic_result_error_string(results[i]);
    return KafkaStatus(err, fmt::format("{} failed ({})", what,
                                        reason != nullptr ? reason : rd_kafka_err2str(err)));
  }
  return Status::OK();
}

class KafkaBus final : public Bus {
 public:
  KafkaBus(KafkaSettings settings, int32_t partitions)
      : settings_(std::move(settings)), partitions_(partitions) {}

  Result<std::unique_ptr<Publisher>> NewPublisher(const std::string& database,
                                                  const PublisherOptions& options) override {
    LTXBUS_ASSIGN_OR_RETURN(DatabaseLocation where, Locate(database));
    return kafka::NewPublisher(settings_, where, options);
  }

  Result<std::unique_ptr<Subscriber>> Subscribe(const std::string& database,
                                                const StartPosition& start) override {
    LTXBUS_ASSIGN_OR_RETURN(DatabaseLocation where, Locate(database));
    return kafka::NewSubscriber(settings_, where, start);
  }

  Result<std::optional<LastFrame>> ReadLastFrame(const std::string& database) override {
    LTXBUS_ASSIGN_OR_RETURN(DatabaseLocation where, Locate(database));
    return kafka::ReadLastFrame(settings_, where);
  }

 private:
  Result<DatabaseLocation> Locate(const std::string& database) const {
    if (database.empty()) return Status::InvalidArgument("empty database name");
    return DatabaseLocation{database, PartitionForDatabase(database, partitions_)};
  }

  KafkaSettings settings_;
  int32_t partitions_;
};

}  // namespace
}  // namespace kafka

Result<std::unique_ptr<Bus>> ConnectKafka(const Endpoint& endpoint) {
  using kafka::Client;
  LTXBUS_ASSIGN_OR_RETURN(kafka::KafkaSettings settings,
                          kafka::KafkaSettings::FromEndpoint(endpoint));
  LTXBUS_ASSIGN_OR_RETURN(
      Client client, kafka::NewClient(settings, RD_KAFKA_PRODUCER,
                                      {{"client.id", "ltxbus-connect-" + kafka::RandomSuffix()}}));
  const kafka::Deadline deadline(settings.timeout);
  bool create_sent = false;
  for (;;) {
    LTXBUS_ASSIGN_OR_RETURN(std::optional<int32_t> partitions,
                            kafka::TopicPartitions(client, settings, deadline));
    if (partitions && *partitions > 0) {
      return std::unique_ptr<Bus>(std::make_unique<kafka::KafkaBus>(settings, *partitions));
    }
    if (!partitions && !create_sent) {
      if (!settings.create) {
        return Status::NotFound("Kafka topic '{}' does not exist on {} and create=false",
                                settings.topic, settings.servers);
      }
      LTXBUS_RETURN_IF_ERROR(kafka::CreateTopic(client, settings, deadline));
      create_sent = true;
    }
    if (deadline.Expired()) {
      return client.TimedOut(
          fmt::format("waiting for topic '{}' to have partition leaders", settings.topic),
          settings.timeout);
    }
    std::this_thread::sleep_for(Millis(50));
  }
}

}  // namespace ltxbus::bus
