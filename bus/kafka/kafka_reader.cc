// Reading a database's partition: the Subscriber, and the walk back from the
// end that finds a restarted publisher's newest complete frame.
#include <algorithm>

#include "bus/kafka/kafka_internal.h"

namespace ltxbus::bus::kafka {
namespace {

// Offsets the walk back reads first; each further step reads more, so a
// database that publishes rarely on a busy shared partition costs
// O(log distance) assignments.
constexpr int64_t kFirstWindow = 64;
constexpr int64_t kMaxWindow = int64_t{1} << 20;

Status Assign(const Client& client, const std::string& topic, int32_t partition, int64_t offset) {
  RdPtr<rd_kafka_topic_partition_list_t> list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset = offset;
  rd_kafka_resp_err_t err = rd_kafka_assign(client.get(), list.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return KafkaStatus(err, fmt::format("assigning {}[{}] at offset {}", topic, partition, offset));
  }
  return Status::OK();
}

// Classifies a consumer error event: OK means librdkafka recovers by itself
// (a broker went away, a leader moved) and the caller keeps polling.
Status ConsumeError(const Client& client, const rd_kafka_message_t* msg, std::string_view what) {
  char fatal[512];
  if (rd_kafka_resp_err_t code = rd_kafka_fatal_error(client.get(), fatal, sizeof fatal);
      code != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Internal("{}: fatal Kafka consumer error: {}", what, fatal);
  }
  switch (msg->err) {
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
      return Status::NotFound(
          "{}: the start offset is not on the broker (removed by retention, or past the end): {}",
          what, rd_kafka_message_errstr(msg));
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
      return KafkaStatus(msg->err, what);
    default:
      return Status::OK();
  }
}

Result<Client> NewReader(const KafkaSettings& settings, const DatabaseLocation& where,
                         std::string_view role, bool partition_eof) {
  // Group ids are unique per reader: it is never joined (assign() only) and
  // never gets offsets committed, but librdkafka insists on one.
  const std::string name =
      fmt::format("ltxbus-{}-{}-{}", role, EscapeDatabaseName(where.database), RandomSuffix());
  auto options = ConsumerOptions(name);
  options.emplace_back("client.id", name);
  options.emplace_back("enable.partition.eof", partition_eof ? "true" : "false");
  if (partition_eof) {
    // A walk back reads history only: at the end of the data the broker
    // should answer at once (EOF), not hold the fetch open for new messages.
    options.emplace_back("fetch.wait.max.ms", "10");
  }
  return NewClient(settings, RD_KAFKA_CONSUMER, options);
}

class KafkaSubscriber final : public Subscriber {
 public:
  KafkaSubscriber(Client client, const KafkaSettings& settings, DatabaseLocation where)
      : client_(std::move(client)),
        topic_(settings.topic),
        timeout_(settings.timeout),
        where_(std::move(where)) {}

  Result<std::optional<Chunk>> Next(Millis timeout) override {
    const Deadline deadline(timeout);
    do {
      RdPtr<rd_kafka_message_t> msg(rd_kafka_consumer_poll(
          client_.get(), std::min(deadline.RemainingMs(), kStalledFetchCheckMs)));
      if (msg == nullptr) {
        WakeAStalledFetcher(deadline);
        continue;
      }
      if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        LTXBUS_RETURN_IF_ERROR(ConsumeError(client_, msg.get(), Describe()));
        continue;
      }
      // A shared partition carries other databases' frames (and perhaps
      // foreign messages without our headers): not ours, skip.
      if (HeaderValue(msg.get(), kHeaderDatabase) != where_.database) continue;
      auto headers = ChunkHeaders::Decode(AllHeaders(msg.get()));
      if (!headers.ok()) {
        return headers.status().WithContext(
            fmt::format("{}, message at offset {}", Describe(), msg->offset));
      }
      received_since_wake_ = true;
      Chunk chunk;
      chunk.headers = std::move(headers).value();
      if (msg->payload != nullptr)
        chunk.payload.assign(static_cast<const char*>(msg->payload), msg->len);
      chunk.offset = static_cast<uint64_t>(msg->offset);
      chunk.bus_time_ms = rd_kafka_message_timestamp(msg.get(), nullptr);
      return std::optional<Chunk>(std::move(chunk));
    } while (!deadline.Expired());
    return std::optional<Chunk>();
  }

  // librdkafka 2.0.2 stops fetching while a reader's prefetch queue is full
  // (queued.max.messages.kbytes) and looks at it again only when its broker
  // thread wakes, up to a second later, even when the reader has long
  // emptied the queue: every catching-up reader (slower than the broker)
  // stalled for most of a second per 8 MiB (consumer_bench: 256-page
  // transactions at 23 MB/s). Fixed upstream in 2.1 (fetch.queue.backoff.ms).
  // Any request for that broker wakes the thread, so when nothing arrived
  // although the partition holds more than was read, ask for its offsets
  // (the request wakes it even if the answer comes after the short wait).
  // Once per dry spell: the partition also holds more while a transaction
  // is still open, which no wake-up makes readable.
  void WakeAStalledFetcher(const Deadline& deadline) {
    if (!received_since_wake_) return;
    int64_t low = 0, high = 0;
    if (rd_kafka_get_watermark_offsets(client_.get(), topic_.c_str(), where_.partition, &low,
                                       &high) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return;
    }
    RdPtr<rd_kafka_topic_partition_list_t> list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_t* tp =
        rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), where_.partition);
    if (rd_kafka_position(client_.get(), list.get()) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        tp->offset < 0) {
      return;
    }
    // One offset past the last message is the last transaction's commit
    // marker: a reader that has everything is exactly that far behind.
    if (high <= tp->offset + 1) return;
    received_since_wake_ = false;
    (void)QueryWatermarks(client_, topic_, where_.partition,
                          Millis(std::clamp(deadline.RemainingMs(), 1, kStalledFetchCheckMs)));
  }

  Result<uint64_t> HeadOffset() override {
    LTXBUS_ASSIGN_OR_RETURN(Watermarks w,
                            QueryWatermarks(client_, topic_, where_.partition, timeout_));
    return static_cast<uint64_t>(w.high);
  }

 private:
  std::string Describe() const {
    return fmt::format("reading database '{}' from {}[{}]", where_.database, topic_,
                       where_.partition);
  }

  static constexpr int kStalledFetchCheckMs = 20;
  Client client_;
  std::string topic_;
  Millis timeout_;
  DatabaseLocation where_;
  bool received_since_wake_ = true;
};

// Where a Subscriber starts, as a librdkafka offset (logical or absolute).
Result<int64_t> StartOffset(const Client& client, const KafkaSettings& settings,
                            const DatabaseLocation& where, const StartPosition& start) {
  switch (start.kind) {
    case StartPosition::Kind::kBeginning: {
      // The first stored offset, asked for here: librdkafka 2.0.2 resolves a
      // logical OFFSET_BEGINNING with a query it sends only ~500 ms later,
      // a delay every reader from the beginning paid (consumer_bench).
      LTXBUS_ASSIGN_OR_RETURN(
          Watermarks w, QueryWatermarks(client, settings.topic, where.partition, settings.timeout));
      return w.low;
    }
    case StartPosition::Kind::kEnd:
      return int64_t{RD_KAFKA_OFFSET_END};
    case StartPosition::Kind::kOffset:
      if (start.offset > static_cast<uint64_t>(INT64_MAX)) {
        return Status::InvalidArgument("start offset {} is out of range", start.offset);
      }
      return static_cast<int64_t>(start.offset);
    case StartPosition::Kind::kTime:
      break;
  }
  // The end is read first: a frame stored between the two queries is then
  // delivered rather than skipped when no message is as new as the time.
  LTXBUS_ASSIGN_OR_RETURN(
      Watermarks w, QueryWatermarks(client, settings.topic, where.partition, settings.timeout));
  RdPtr<rd_kafka_topic_partition_list_t> list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_t* tp =
      rd_kafka_topic_partition_list_add(list.get(), settings.topic.c_str(), where.partition);
  tp->offset = start.time_ms;
  const std::string what = fmt::format("finding the first offset of {}[{}] at or after time {}",
                                       settings.topic, where.partition, start.time_ms);
  rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(client.get(), list.get(),
                                                       static_cast<int>(settings.timeout.count()));
  if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) return client.TimedOut(what, settings.timeout);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) err = tp->err;
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return KafkaStatus(err, what);
  // -1: every stored message is older than the time.
  return tp->offset < 0 ? w.high : tp->offset;
}

}  // namespace

Result<std::unique_ptr<Subscriber>> NewSubscriber(const KafkaSettings& settings,
                                                  const DatabaseLocation& where,
                                                  const StartPosition& start) {
  LTXBUS_ASSIGN_OR_RETURN(Client client, NewReader(settings, where, "sub", false));
  LTXBUS_ASSIGN_OR_RETURN(int64_t offset, StartOffset(client, settings, where, start));
  LTXBUS_RETURN_IF_ERROR(Assign(client, settings.topic, where.partition, offset));
  return std::unique_ptr<Subscriber>(
      std::make_unique<KafkaSubscriber>(std::move(client), settings, where));
}

Result<std::optional<LastFrame>> ReadLastFrame(const KafkaSettings& settings,
                                               const DatabaseLocation& where) {
  LTXBUS_ASSIGN_OR_RETURN(Client client, NewReader(settings, where, "last", true));
  LTXBUS_ASSIGN_OR_RETURN(
      Watermarks w, QueryWatermarks(client, settings.topic, where.partition, settings.timeout));
  const std::string what = fmt::format("reading the last frame of database '{}' from {}[{}]",
                                       where.database, settings.topic, where.partition);
  // Read windows [start, end) from the end backwards. Offsets are sparse:
  // transaction markers and aborted frames occupy offsets but are never
  // delivered, so a window ends at the first message at or past `end`, or at
  // the end of the committed data (partition EOF).
  int64_t end = w.high;
  int64_t window = kFirstWindow;
  while (end > w.low) {
    const int64_t start = std::max(w.low, end - window);
    LTXBUS_RETURN_IF_ERROR(Assign(client, settings.topic, where.partition, start));
    std::optional<LastFrame> newest;
    for (Deadline step(settings.timeout);;) {
      RdPtr<rd_kafka_message_t> msg(rd_kafka_consumer_poll(client.get(), step.RemainingMs()));
      if (msg == nullptr) {
        if (step.Expired()) return client.TimedOut(what, settings.timeout);
        continue;
      }
      step = Deadline(settings.timeout);
      if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) break;
      if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        LTXBUS_RETURN_IF_ERROR(ConsumeError(client, msg.get(), what));
        continue;
      }
      if (msg->offset < start) continue;  // fetched before the re-assignment
      if (msg->offset >= end) break;
      if (HeaderValue(msg.get(), kHeaderDatabase) != where.database ||
          HeaderValue(msg.get(), kHeaderLast) != "1") {
        continue;
      }
      auto headers = ChunkHeaders::Decode(AllHeaders(msg.get()));
      if (!headers.ok()) {
        return headers.status().WithContext(fmt::format("{}, offset {}", what, msg->offset));
      }
      newest = LastFrame{headers->frame, headers->trailer, static_cast<uint64_t>(msg->offset)};
    }
    if (newest) return newest;
    end = start;
    window = std::min(window * 4, kMaxWindow);
  }
  return std::optional<LastFrame>();
}

}  // namespace ltxbus::bus::kafka
