// Internal plumbing of the Kafka bus (not a public header): RAII ownership of
// librdkafka objects, the settings parsed from a kafka:// endpoint, client
// construction with ltxbus's fixed configuration, error mapping to Status, and
// the database → partition function.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "bus/bus.h"

namespace ltxbus::bus::kafka {

// One deleter for every librdkafka object type, so each is a unique_ptr.
struct RdDeleter {
  void operator()(rd_kafka_t* p) const { rd_kafka_destroy(p); }
  void operator()(rd_kafka_conf_t* p) const { rd_kafka_conf_destroy(p); }
  void operator()(rd_kafka_topic_t* p) const { rd_kafka_topic_destroy(p); }
  void operator()(rd_kafka_topic_partition_list_t* p) const {
    rd_kafka_topic_partition_list_destroy(p);
  }
  void operator()(rd_kafka_message_t* p) const { rd_kafka_message_destroy(p); }
  void operator()(rd_kafka_headers_t* p) const { rd_kafka_headers_destroy(p); }
  void operator()(rd_kafka_error_t* p) const { rd_kafka_error_destroy(p); }
  void operator()(rd_kafka_event_t* p) const { rd_kafka_event_destroy(p); }
  void operator()(rd_kafka_queue_t* p) const { rd_kafka_queue_destroy(p); }
  void operator()(rd_kafka_AdminOptions_t* p) const { rd_kafka_AdminOptions_destroy(p); }
  void operator()(rd_kafka_NewTopic_t* p) const { rd_kafka_NewTopic_destroy(p); }
  void operator()(const rd_kafka_metadata_t* p) const { rd_kafka_metadata_destroy(p); }
};
template <typename T>
using RdPtr = std::unique_ptr<T, RdDeleter>;

// Everything a kafka:// endpoint configures. Options (URL query parameters):
//   partitions=N               partitions of a topic we create (default 1)
//   replication=N              replication factor of a topic we create (default 1)
//   create=true|false          create the topic if missing (default true)
//   transactional-id-prefix=P  transactional.ids P + escaped database, and the same + ".1"
//                              (default "ltxbus-")
//   timeout-ms=N               bound on connecting, metadata and offset queries (default 10000)
//   transaction-timeout-ms=N   transaction.timeout.ms (default 60000): how long a crashed
//                              producer's open frame can hold back read_committed consumers
//   transaction-gap-ms=N       least time from the end of a publisher's Kafka transaction
//                              to the start of the next on the same transactional.id, or
//                              on either after a busy one (default 3; 0: none)
//   log-level=N                librdkafka's log_level, syslog numbering (default 6); its
//                              logs go to spdlog (errors and warnings as warn)
//   rdkafka.<property>=V       passed through to every librdkafka client (security etc.)
struct KafkaSettings {
  std::string servers;
  std::string topic;
  std::string url;
  int create_partitions = 1;
  int replication = 1;
  bool create = true;
  std::string txn_prefix = "ltxbus-";
  Millis timeout{10000};
  Millis transaction_timeout{60000};
  // The coordinator completes a transaction (writes its markers) after its
  // commit returned; a next transaction of the same transactional.id that
  // starts before that is refused (CONCURRENT_TRANSACTIONS) and retried by
  // librdkafka only 20 ms later. Waiting this long first costs less
  // (bench/RESULTS.md, issue 4); see NextTransactionAt in the publisher.
  Millis transaction_gap{3};
  int log_level = 6;
  std::vector<std::pair<std::string, std::string>> passthrough;

  static Result<KafkaSettings> FromEndpoint(const Endpoint& endpoint);
};

// A point in time every blocking call of one operation shares.
class Deadline {
 public:
  explicit Deadline(Millis budget) : end_(std::chrono::steady_clock::now() + budget) {}
  bool Expired() const { return std::chrono::steady_clock::now() >= end_; }
  // Milliseconds left, at least 0, as librdkafka's int timeouts want them.
  int RemainingMs() const;

 private:
  std::chrono::steady_clock::time_point end_;
};

// What a client's callbacks record. They run on the thread that polls (error
// and delivery callbacks), so the mutex is only there for safety against
// librdkafka versions that call them elsewhere.
struct ClientEvents {
  std::mutex mu;
  rd_kafka_resp_err_t last_error = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::string last_error_text;
  // Delivery reports of the producer's current frame (see publisher).
  uint64_t generation = 0;      // of the frame whose reports count
  int64_t in_flight = 0;        // produced, no delivery report yet
  int64_t in_flight_bytes = 0;  // their payload bytes
  int64_t max_offset = -1;      // highest offset delivered in this frame
  rd_kafka_resp_err_t delivery_error = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::string delivery_error_text;
};

// One librdkafka client handle and its callback state. The state lives on the
// heap so its address, given to librdkafka as the opaque, never moves.
class Client {
 public:
  Client() = default;
  Client(Client&&) noexcept = default;
  Client& operator=(Client&&) noexcept = default;
  ~Client();

  rd_kafka_t* get() const { return rk_.get(); }
  ClientEvents& events() const { return *events_; }
  // The failure of a wait that ran out: Unavailable if the client's last
  // reported error says the brokers cannot be reached, else Timeout.
  Status TimedOut(std::string_view what, Millis waited) const;

 private:
  friend Result<Client> NewClient(const KafkaSettings&, rd_kafka_type_t,
                                  const std::vector<std::pair<std::string, std::string>>&);
  std::unique_ptr<ClientEvents> events_;
  RdPtr<rd_kafka_t> rk_;  // declared last: destroyed before events_
  bool consumer_ = false;
};

// A producer or consumer on settings.servers with ltxbus's fixed options,
// settings.passthrough, then `extra` (later ones win).
Result<Client> NewClient(const KafkaSettings& settings, rd_kafka_type_t type,
                         const std::vector<std::pair<std::string, std::string>>& extra);

// Consumer options every reader of a partition uses: committed data only,
// offsets never stored in Kafka, memory bounded.
std::vector<std::pair<std::string, std::string>> ConsumerOptions(std::string_view group_id);

// A random hex string for unique group ids and client names.
std::string RandomSuffix();

// Maps a librdkafka error code to a Status with `what` as context.
Status KafkaStatus(rd_kafka_resp_err_t err, std::string_view what);
bool IsFencingError(rd_kafka_resp_err_t err);
bool IsUnreachableError(rd_kafka_resp_err_t err);

// Kafka's murmur2 (the Java client's), so a database's partition is the one
// any Kafka client would pick for key = database name.
uint32_t Murmur2(std::string_view key);
int32_t PartitionForDatabase(std::string_view database, int32_t partitions);

struct Watermarks {
  int64_t low = 0;
  int64_t high = 0;  // under read_committed: the last stable offset
};
Result<Watermarks> QueryWatermarks(const Client& client, const std::string& topic,
                                   int32_t partition, Millis timeout);

// The topic's partition count once every partition has a leader; 0 while it
// is still being created; nullopt if it does not exist. With keep_topic, the
// topic handle is kept there, so the client keeps the metadata it just read.
Result<std::optional<int32_t>> TopicPartitions(const Client& client, const KafkaSettings& settings,
                                               const Deadline& deadline,
                                               RdPtr<rd_kafka_topic_t>* keep_topic = nullptr);

// The value of header `name` on `msg`, or nullopt.
std::optional<std::string_view> HeaderValue(const rd_kafka_message_t* msg, std::string_view name);
std::map<std::string, std::string> AllHeaders(const rd_kafka_message_t* msg);

}  // namespace ltxbus::bus::kafka
