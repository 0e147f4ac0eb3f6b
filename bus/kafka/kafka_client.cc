#include "bus/kafka/kafka_client.h"

#include <algorithm>
#include <charconv>
#include <random>

#include <spdlog/spdlog.h>

namespace ltxbus::bus::kafka {
namespace {

Result<int64_t> ParseOption(const std::string& name, const std::string& text, int64_t min,
                            int64_t max) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty() || v < min || v > max) {
    return Status::InvalidArgument("Kafka option {}='{}' must be a number in [{}, {}]", name, text,
                                   min, max);
  }
  return v;
}

// librdkafka's logs go to the application's log (spdlog), so the program —
// or a test that keeps logs only for failures — decides what is shown.
// Errors also reach callers as a Status, so they are logged as warnings, and
// librdkafka's notices (an idle connection closed, say) only as debug.
void LogToSpdlog(const rd_kafka_t* rk, int level, const char* facility, const char* text) {
  const spdlog::level::level_enum mapped = level <= 4   ? spdlog::level::warn
                                           : level <= 6 ? spdlog::level::debug
                                                        : spdlog::level::trace;
  spdlog::log(mapped, "librdkafka {} {}: {}", rd_kafka_name(rk), facility, text);
}

// Remembers the newest client-level error so a timeout can say why.
void OnError(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
  auto* events = static_cast<ClientEvents*>(opaque);
  std::lock_guard lock(events->mu);
  events->last_error = static_cast<rd_kafka_resp_err_t>(err);
  events->last_error_text = reason != nullptr ? reason : rd_kafka_err2str(events->last_error);
}

// Counts delivery reports of the current frame; reports of an earlier frame
// (purged by an abort) carry an older generation and are ignored.
void OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* msg, void* opaque) {
  auto* events = static_cast<ClientEvents*>(opaque);
  const auto generation = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(msg->_private));
  std::lock_guard lock(events->mu);
  if (generation != events->generation) return;
  events->in_flight--;
  events->in_flight_bytes -= static_cast<int64_t>(msg->len);
  if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (events->delivery_error == RD_KAFKA_RESP_ERR_NO_ERROR) {
      events->delivery_error = msg->err;
      // Not rd_kafka_message_errstr(): for a produced message it returns the
      // payload, which is not NUL-terminated (ASan caught the overread).
      events->delivery_error_text = rd_kafka_err2str(msg->err);
    }
  } else if (msg->offset > events->max_offset) {
    events->max_offset = msg->offset;
  }
}

}  // namespace

Result<KafkaSettings> KafkaSettings::FromEndpoint(const Endpoint& endpoint) {
  if (endpoint.kind != Endpoint::Kind::kKafka) {
    return Status::InvalidArgument("'{}' is not a kafka:// endpoint", endpoint.url);
  }
  KafkaSettings s;
  s.servers = endpoint.servers;
  s.topic = endpoint.name;
  s.url = endpoint.url;
  for (const auto& [key, value] : endpoint.options) {
    if (key == "partitions") {
      LTXBUS_ASSIGN_OR_RETURN(int64_t v, ParseOption(key, value, 1, 100000));
      s.create_partitions = static_cast<int>(v);
    } else if (key == "replication") {
      LTXBUS_ASSIGN_OR_RETURN(int64_t v, ParseOption(key, value, 1, 100));
      s.replication = static_cast<int>(v);
    } else if (key == "create") {
      // Spelled as for nats:// URLs.
      if (value != "true" && value != "false") {
        return Status::InvalidArgument("Kafka option create='{}' must be true or false", value);
      }
      s.create = value == "true";
    } else if (key == "transactional-id-prefix") {
      s.txn_prefix = value;
    } else if (key == "timeout-ms") {
      LTXBUS_ASSIGN_OR_RETURN(int64_t v, ParseOption(key, value, 100, 3600000));
      s.timeout = Millis(v);
    } else if (key == "transaction-timeout-ms") {
      LTXBUS_ASSIGN_OR_RETURN(int64_t v, ParseOption(key, value, 1000, 900000));
      s.transaction_timeout = Millis(v);
    } else if (key == "transaction-gap-ms") {
      LTXBUS_ASSIGN_OR_RETURN(int64_t v, ParseOption(key, value, 0, 1000));
      s.transaction_gap = Millis(v);
    } else if (key == "log-level") {
      LTXBUS_ASSIGN_OR_RETURN(int64_t v, ParseOption(key, value, 0, 7));
      s.log_level = static_cast<int>(v);
    } else if (key.starts_with("rdkafka.") && key.size() > 8) {
      s.passthrough.emplace_back(key.substr(8), value);
    } else {
      // A typo in a URL should not silently change behaviour.
      return Status::InvalidArgument(
          "unknown Kafka option '{}' in {} (known: partitions, replication, create, "
          "transactional-id-prefix, timeout-ms, transaction-timeout-ms, transaction-gap-ms, "
          "log-level, rdkafka.*)",
          key, endpoint.url);
    }
  }
  return s;
}

int Deadline::RemainingMs() const {
  auto left = std::chrono::duration_cast<Millis>(end_ - std::chrono::steady_clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left, INT32_MAX));
}

Client::~Client() {
  // Consumers here never join a group or commit, so closing one has nothing
  // to do but could block on an unreachable coordinator.
  if (rk_ != nullptr && consumer_) {
    rd_kafka_destroy_flags(rk_.release(), RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  }
}

Status Client::TimedOut(std::string_view what, Millis waited) const {
  // A producer's error callbacks wait in its main queue; serve them so the
  // message can say why (a consumer serves them in rd_kafka_consumer_poll).
  if (!consumer_) rd_kafka_poll(rk_.get(), 0);
  std::lock_guard lock(events_->mu);
  std::string why = events_->last_error == RD_KAFKA_RESP_ERR_NO_ERROR
                        ? std::string("no error reported")
                        : events_->last_error_text;
  if (IsUnreachableError(events_->last_error)) {
    return Status::Unavailable("{}: Kafka did not answer within {} ms ({})", what, waited.count(),
                               why);
  }
  return Status::Timeout("{}: no answer from Kafka within {} ms ({})", what, waited.count(), why);
}

Result<Client> NewClient(const KafkaSettings& settings, rd_kafka_type_t type,
                         const std::vector<std::pair<std::string, std::string>>& extra) {
  Client client;
  client.events_ = std::make_unique<ClientEvents>();
  client.consumer_ = type == RD_KAFKA_CONSUMER;
  RdPtr<rd_kafka_conf_t> conf(rd_kafka_conf_new());
  const auto setup_ms = std::clamp<int64_t>(settings.timeout.count(), 1000, 30000);
  std::vector<std::pair<std::string, std::string>> props = {
      {"bootstrap.servers", settings.servers},
      {"log_level", std::to_string(settings.log_level)},
      {"socket.connection.setup.timeout.ms", std::to_string(setup_ms)},
      // Topics are created explicitly with the configured partition count,
      // never by a metadata request with the broker's defaults.
      {"allow.auto.create.topics", "false"},
      // After a broker restart, reconnect within a second rather than
      // librdkafka's 10 s backoff ceiling: an open transaction waits for the
      // broker, and in one CI run its 30 s acknowledgement timeout ran out
      // 8 s after the broker was back, with the client still backing off.
      {"reconnect.backoff.max.ms", "1000"},
  };
  props.insert(props.end(), settings.passthrough.begin(), settings.passthrough.end());
  props.insert(props.end(), extra.begin(), extra.end());
  char errstr[512];
  for (const auto& [key, value] : props) {
    if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
      return Status::InvalidArgument("Kafka client setting {}='{}': {}", key, value, errstr);
    }
  }
  rd_kafka_conf_set_opaque(conf.get(), client.events_.get());
  rd_kafka_conf_set_log_cb(conf.get(), LogToSpdlog);
  rd_kafka_conf_set_error_cb(conf.get(), OnError);
  if (type == RD_KAFKA_PRODUCER) rd_kafka_conf_set_dr_msg_cb(conf.get(), OnDelivery);
  // rd_kafka_new takes the conf only when it succeeds.
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), errstr, sizeof errstr);
  if (rk == nullptr) {
    return Status::InvalidArgument("creating a Kafka client for {}: {}", settings.url, errstr);
  }
  (void)conf.release();
  client.rk_.reset(rk);
  if (client.consumer_) {
    // Error callbacks are served by rd_kafka_consumer_poll() from now on.
    rd_kafka_poll_set_consumer(rk);
  }
  return client;
}

std::vector<std::pair<std::string, std::string>> ConsumerOptions(std::string_view group_id) {
  return {
      // librdkafka 2.0.2 refuses assign() without a group; it is never joined.
      {"group.id", std::string(group_id)},
      // Frames are Kafka transactions: only committed ones are delivered.
      {"isolation.level", "read_committed"},
      // Positions belong to the consumer of the bus, not to Kafka.
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      // An offset that no longer exists (retention) is an error the caller
      // must see, never a silent jump.
      {"auto.offset.reset", "error"},
      // Prefetch at most a few chunks' worth of data per consumer.
      {"queued.max.messages.kbytes", "8192"},
      {"fetch.max.bytes", "4194304"},
  };
}

std::string RandomSuffix() {
  std::random_device rd;
  return fmt::format("{:08x}{:08x}", rd(), rd());
}

bool IsFencingError(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR__FENCED || err == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
         err == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

bool IsUnreachableError(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__DESTROY:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
      return true;
    default:
      return false;
  }
}

Status KafkaStatus(rd_kafka_resp_err_t err, std::string_view what) {
  const char* text = rd_kafka_err2str(err);
  if (IsFencingError(err)) return Status::Conflict("{}: {}", what, text);
  if (IsUnreachableError(err)) return Status::Unavailable("{}: {}", what, text);
  switch (err) {
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
      return Status::Timeout("{}: {}", what, text);
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
      return Status::NotFound("{}: {}", what, text);
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_INVALID_TRANSACTION_TIMEOUT:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
      return Status::InvalidArgument("{}: {}", what, text);
    case RD_KAFKA_RESP_ERR__BAD_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
      return Status::Corruption("{}: {}", what, text);
    default:
      // Other broker and client errors are transient as far as we can tell.
      return Status::Unavailable("{}: {}", what, text);
  }
}

uint32_t Murmur2(std::string_view key) {
  // org.apache.kafka.common.utils.Utils.murmur2, on unsigned arithmetic.
  constexpr uint32_t kSeed = 0x9747b28c;
  constexpr uint32_t kM = 0x5bd1e995;
  constexpr int kR = 24;
  const auto* data = reinterpret_cast<const uint8_t*>(key.data());
  const size_t length = key.size();
  uint32_t h = kSeed ^ static_cast<uint32_t>(length);
  const size_t whole = length / 4;
  for (size_t i = 0; i < whole; i++) {
    const uint8_t* p = data + i * 4;
    uint32_t k =
        uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
    k *= kM;
    k ^= k >> kR;
    k *= kM;
    h *= kM;
    h ^= k;
  }
  const uint8_t* tail = data + (length & ~size_t{3});
  switch (length % 4) {
    case 3:
      h ^= uint32_t{tail[2]} << 16;
      [[fallthrough]];
    case 2:
      h ^= uint32_t{tail[1]} << 8;
      [[fallthrough]];
    case 1:
      h ^= uint32_t{tail[0]};
      h *= kM;
      break;
    default:
      break;
  }
  h ^= h >> 13;
  h *= kM;
  h ^= h >> 15;
  return h;
}

int32_t PartitionForDatabase(std::string_view database, int32_t partitions) {
  return static_cast<int32_t>((Murmur2(database) & 0x7fffffffu) %
                              static_cast<uint32_t>(partitions));
}

Result<Watermarks> QueryWatermarks(const Client& client, const std::string& topic,
                                   int32_t partition, Millis timeout) {
  Watermarks w;
  rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
      client.get(), topic.c_str(), partition, &w.low, &w.high, static_cast<int>(timeout.count()));
  const std::string what = fmt::format("reading the offsets of {}[{}]", topic, partition);
  if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) return client.TimedOut(what, timeout);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return KafkaStatus(err, what);
  return w;
}

Result<std::optional<int32_t>> TopicPartitions(const Client& client, const KafkaSettings& settings,
                                               const Deadline& deadline,
                                               RdPtr<rd_kafka_topic_t>* keep_topic) {
  const std::string what =
      fmt::format("reading metadata of topic '{}' from {}", settings.topic, settings.servers);
  RdPtr<rd_kafka_topic_t> rkt(rd_kafka_topic_new(client.get(), settings.topic.c_str(), nullptr));
  if (rkt == nullptr) return KafkaStatus(rd_kafka_last_error(), what);
  const rd_kafka_metadata_t* raw = nullptr;
  rd_kafka_resp_err_t err =
      rd_kafka_metadata(client.get(), 0, rkt.get(), &raw, std::max(deadline.RemainingMs(), 1));
  RdPtr<const rd_kafka_metadata_t> md(raw);
  if (keep_topic != nullptr) *keep_topic = std::move(rkt);
  if (err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT) {
    return client.TimedOut(what, settings.timeout);
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return KafkaStatus(err, what);
  for (int i = 0; i < md->topic_cnt; i++) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (settings.topic != t.topic) continue;
    if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) return std::optional<int32_t>();
    if (t.err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) return std::optional<int32_t>(0);
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) return KafkaStatus(t.err, what);
    for (int p = 0; p < t.partition_cnt; p++) {
      if (t.partitions[p].leader < 0) return std::optional<int32_t>(0);
    }
    return std::optional<int32_t>(t.partition_cnt);
  }
  return std::optional<int32_t>();
}

std::optional<std::string_view> HeaderValue(const rd_kafka_message_t* msg, std::string_view name) {
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(msg, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  const std::string key(name);
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_header_get_last(headers, key.c_str(), &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::nullopt;
  }
  if (value == nullptr) return std::string_view();
  return std::string_view(static_cast<const char*>(value), size);
}

std::map<std::string, std::string> AllHeaders(const rd_kafka_message_t* msg) {
  std::map<std::string, std::string> out;
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(msg, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return out;
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  for (size_t i = 0;
       rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
       i++) {
    out[name] =
        value == nullptr ? std::string() : std::string(static_cast<const char*>(value), size);
  }
  return out;
}

}  // namespace ltxbus::bus::kafka
