// The Kafka Publisher: two transactional producers per database, taking turns;
// each frame is one Kafka transaction of chunk messages on the database's
// partition, or, in a batch, many frames share one Kafka transaction.
#include <algorithm>
#include <chrono>
#include <thread>

#include "bus/chunker.h"
#include "bus/kafka/kafka_internal.h"

namespace ltxbus::bus::kafka {
namespace {

// The largest chunk payload: the client's message.max.bytes (1000000 by
// default) must hold the payload plus key and headers, and the broker's
// default limit (1 MiB + 12) must hold the record batch.
constexpr size_t kMaxChunkSize = 900 * 1024;
// Chunk bytes produced but not yet acknowledged, in chunks. Bounds memory to
// about (window + 1) × chunk size, whatever the frame size, while keeping
// several produce requests on the wire; small frames of a batch fill it with
// many messages, which librdkafka sends in few requests.
constexpr int64_t kInFlightChunks = 4;
// How long a rejected (queue full) produce or a retriable transactional call
// waits before trying again.
constexpr Millis kRetryPause{50};
// A transaction of this many frames or more carried a backlog: the producer
// is busy (NextTransactionAt). At 1,000 commits/s a transaction carries ~5.
constexpr int64_t kBusyTransactionFrames = 16;

using RdError = RdPtr<rd_kafka_error_t>;

// One transactional producer of a database's publisher.
struct Lane {
  Client client;
  // Held so the client keeps the topic's metadata (declared after the
  // client: destroyed before it).
  RdPtr<rd_kafka_topic_t> topic;
  std::string transactional_id;
  // When its last transaction was committed or aborted (for transaction_gap).
  std::chrono::steady_clock::time_point last_end{};
};

// The producers, shared by the Publisher and its open FrameWriter so that
// neither may outlive what they use. Transactions alternate between the
// lanes: the transaction coordinator completes a commit (writes its markers)
// after commit_transaction returned, and the next transaction of the same
// transactional.id is refused until then (CONCURRENT_TRANSACTIONS, retried
// by librdkafka only 20 ms later). The other lane's last transaction ended a
// whole transaction earlier, so it can start at once. Order holds: a lane
// produces only after the other lane's commit returned, when every chunk of
// it is in the log, so its chunks take later offsets.
class ProducerCore {
 public:
  ProducerCore(std::vector<Lane> lanes, const KafkaSettings& settings, DatabaseLocation where,
               const PublisherOptions& options)
      : lanes_(std::move(lanes)),
        settings_(settings),
        where_(std::move(where)),
        options_(options) {}

  const DatabaseLocation& where() const { return where_; }
  const PublisherOptions& options() const { return options_; }
  const KafkaSettings& settings() const { return settings_; }

  // Fences every older publisher of the database on both transactional ids
  // (and settles their open transactions) before the caller reads the last
  // frame: an older one may commit on one id until this one took both.
  Status InitTransactions() {
    const Deadline deadline(options_.ack_timeout);
    for (current_ = 0; current_ < lanes_.size(); current_++) {
      LTXBUS_RETURN_IF_ERROR(InitLane(deadline));
      LTXBUS_RETURN_IF_ERROR(LearnPartitionLeader(deadline));
    }
    current_ = 0;
    return Status::OK();
  }

  // A batch keeps one transaction open across its frames.
  Status StartBatch() {
    LTXBUS_RETURN_IF_ERROR(broken_);
    LTXBUS_RETURN_IF_ERROR(batch_error_);
    if (in_batch_) return Status::InvalidArgument("{}", Describe("BeginBatch inside a batch"));
    in_batch_ = true;
    return Status::OK();
  }
  bool in_batch() const { return in_batch_; }
  // When the next transaction may begin: transaction_gap after the last one
  // of its lane, and, after a transaction that carried a backlog, also
  // transaction_gap after that one. A busy producer thus gathers commits for
  // a while into fewer, larger transactions (each costs the broker several
  // requests and log appends whatever it holds), as with one lane; a quiet
  // one starts at once.
  std::chrono::steady_clock::time_point NextTransactionAt() const {
    auto at = lanes_[current_].last_end + settings_.transaction_gap;
    if (last_was_busy_) at = std::max(at, last_end_ + settings_.transaction_gap);
    return at;
  }
  void FrameProduced() { frames_in_transaction_++; }
  // A frame of the batch failed: the transaction was aborted, and so is the
  // batch.
  void FailBatch(const Status& why) {
    if (in_batch_ && batch_error_.ok()) batch_error_ = why;
  }
  Result<uint64_t> EndBatch() {
    if (!in_batch_) return Status::InvalidArgument("{}", Describe("EndBatch without BeginBatch"));
    in_batch_ = false;
    LTXBUS_RETURN_IF_ERROR(broken_);
    if (!batch_error_.ok()) {
      return batch_error_.WithContext("the batch failed; open a new Publisher");
    }
    if (!txn_open_) return uint64_t{0};
    return Commit();
  }

  // Begins a transaction unless the batch already has one open.
  Status Begin() {
    LTXBUS_RETURN_IF_ERROR(broken_);
    LTXBUS_RETURN_IF_ERROR(batch_error_);
    if (txn_open_) return Status::OK();
    // See KafkaSettings::transaction_gap. With two lanes it has usually
    // passed; the producer waits for it before reading the WAL (NextBatchAt).
    std::this_thread::sleep_until(NextTransactionAt());
    RdError e(rd_kafka_begin_transaction(client().get()));
    if (e != nullptr) return TxnFailure("begin_transaction", e.get());
    ClientEvents& ev = client().events();
    std::lock_guard lock(ev.mu);
    ev.generation++;
    ev.in_flight = 0;
    ev.in_flight_bytes = 0;
    ev.max_offset = -1;
    ev.delivery_error = RD_KAFKA_RESP_ERR_NO_ERROR;
    ev.delivery_error_text.clear();
    txn_open_ = true;
    return Status::OK();
  }

  // Produces one chunk after waiting for room in the in-flight window.
  Status Produce(const ChunkHeaders& headers, std::string_view payload) {
    LTXBUS_RETURN_IF_ERROR(broken_);
    const Deadline deadline(options_.ack_timeout);
    for (;;) {
      LTXBUS_RETURN_IF_ERROR(DeliveryFailure());
      if (InFlightBytes() + static_cast<int64_t>(payload.size()) <=
              kInFlightChunks * static_cast<int64_t>(options_.chunk_size) ||
          InFlight() == 0) {
        break;
      }
      if (deadline.Expired()) {
        return client().TimedOut(Describe("waiting for chunk acknowledgements"),
                                 options_.ack_timeout);
      }
      rd_kafka_poll(client().get(), std::min(deadline.RemainingMs(), 100));
    }
    RdPtr<rd_kafka_headers_t> kh(rd_kafka_headers_new(16));
    for (const auto& [name, value] : headers.Encode()) {
      rd_kafka_header_add(kh.get(), name.data(), static_cast<ssize_t>(name.size()), value.data(),
                          static_cast<ssize_t>(value.size()));
    }
    uint64_t generation;
    {
      std::lock_guard lock(client().events().mu);
      generation = client().events().generation;
    }
    // Explicit partition on every produce (never the partitioner), payload
    // copied: the caller's buffer is reused as soon as we return.
    rd_kafka_vu_t vu[7] = {};
    vu[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vu[0].u.cstr = settings_.topic.c_str();
    vu[1].vtype = RD_KAFKA_VTYPE_PARTITION;
    vu[1].u.i32 = where_.partition;
    vu[2].vtype = RD_KAFKA_VTYPE_KEY;
    vu[2].u.mem = {const_cast<char*>(where_.database.data()), where_.database.size()};
    vu[3].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[3].u.mem = {const_cast<char*>(payload.data()), payload.size()};
    vu[4].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[4].u.i = RD_KAFKA_MSG_F_COPY;
    vu[5].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vu[5].u.ptr = reinterpret_cast<void*>(static_cast<uintptr_t>(generation));
    vu[6].vtype = RD_KAFKA_VTYPE_HEADERS;
    vu[6].u.headers = kh.get();
    for (;;) {
      RdError e(rd_kafka_produceva(client().get(), vu, 7));
      if (e == nullptr) break;
      if (rd_kafka_error_code(e.get()) == RD_KAFKA_RESP_ERR__QUEUE_FULL && !deadline.Expired()) {
        rd_kafka_poll(client().get(), static_cast<int>(kRetryPause.count()));
        continue;
      }
      return TxnFailure("produce", e.get());
    }
    (void)kh.release();  // the message owns the headers now
    std::lock_guard lock(client().events().mu);
    client().events().in_flight++;
    client().events().in_flight_bytes += static_cast<int64_t>(payload.size());
    return Status::OK();
  }

  // Waits for every chunk's acknowledgement, then commits. Returns the
  // offset of the last chunk.
  Result<uint64_t> Commit() {
    LTXBUS_RETURN_IF_ERROR(broken_);
    txn_open_ = false;
    const Deadline deadline(options_.ack_timeout);
    while (InFlight() > 0) {
      if (deadline.Expired()) {
        // Aborting would wait as long again for the same brokers; a new
        // producer's init_transactions (or the transaction timeout) aborts
        // the frame instead.
        broken_ =
            client().TimedOut(Describe("waiting for chunk acknowledgements (open a new Publisher)"),
                              options_.ack_timeout);
        return broken_;
      }
      rd_kafka_flush(client().get(), std::min(deadline.RemainingMs(), 100));
    }
    if (Status st = DeliveryFailure(); !st.ok()) {
      if (broken_.ok()) Abort();
      return st;
    }
    for (;;) {
      RdError e(rd_kafka_commit_transaction(client().get(), deadline.RemainingMs()));
      if (e == nullptr) break;
      if (rd_kafka_error_is_retriable(e.get()) && !rd_kafka_error_is_fatal(e.get()) &&
          !rd_kafka_error_txn_requires_abort(e.get())) {
        if (!deadline.Expired()) {
          std::this_thread::sleep_for(kRetryPause);
          continue;
        }
        // The commit may or may not complete in the background; only a new
        // producer (whose init_transactions settles it) can know.
        broken_ = client().TimedOut(
            Describe("committing a frame (its outcome is unknown; open a new Publisher)"),
            options_.ack_timeout);
        return broken_;
      }
      Status st = TxnFailure("commit_transaction", e.get());
      if (rd_kafka_error_txn_requires_abort(e.get())) Abort();
      return st;
    }
    int64_t max_offset;
    {
      std::lock_guard lock(client().events().mu);
      max_offset = client().events().max_offset;
    }
    EndTransaction();
    if (max_offset < 0) {
      return Status::Internal("{}: committed a frame without a delivered chunk",
                              Describe("committing"));
    }
    return static_cast<uint64_t>(max_offset);
  }

  void Abort() {
    txn_open_ = false;
    if (!broken_.ok()) return;  // nothing more can be done with this producer
    const Deadline deadline(options_.ack_timeout);
    // librdkafka 2.0.2 sends EndTxn(abort) even when the coordinator turned
    // the partition's registration down with CONCURRENT_TRANSACTIONS (the
    // previous frame's commit still completing); the broker then answers
    // INVALID_TXN_STATE, which librdkafka makes fatal (librdkafka #4849).
    // Once every produced chunk is acknowledged the partition is registered,
    // so wait for that first.
    while (InFlight() > 0 && !deadline.Expired()) {
      rd_kafka_flush(client().get(), std::min(deadline.RemainingMs(), 100));
    }
    for (;;) {
      RdError e(rd_kafka_abort_transaction(client().get(), deadline.RemainingMs()));
      if (e == nullptr) {
        EndTransaction();
        return;
      }
      if (rd_kafka_error_is_retriable(e.get()) && !rd_kafka_error_is_fatal(e.get()) &&
          !deadline.Expired()) {
        std::this_thread::sleep_for(kRetryPause);
        continue;
      }
      // Read_committed consumers never see the frame either way; the broker
      // aborts it after transaction.timeout.ms or when a new producer for
      // the database calls init_transactions.
      Status st = TxnFailure("abort_transaction", e.get());
      if (broken_.ok()) broken_ = st;
      return;
    }
  }

  std::string Describe(std::string_view doing) const {
    return fmt::format("{} for database '{}' on {}[{}] (transactional.id '{}')", doing,
                       where_.database, settings_.url, where_.partition,
                       lanes_[current_].transactional_id);
  }

 private:
  const Client& client() const { return lanes_[current_].client; }

  Status InitLane(const Deadline& deadline) {
    for (;;) {
      RdError e(rd_kafka_init_transactions(client().get(), deadline.RemainingMs()));
      if (e == nullptr) return Status::OK();
      if (rd_kafka_error_is_retriable(e.get()) && !rd_kafka_error_is_fatal(e.get())) {
        if (deadline.Expired()) {
          return client().TimedOut(Describe("becoming the writer (init_transactions)"),
                                   options_.ack_timeout);
        }
        std::this_thread::sleep_for(kRetryPause);
        continue;
      }
      return TxnFailure("init_transactions", e.get());
    }
  }

  // A client learns where the topic's partitions are only when it first
  // produces to it, and then only at its next metadata refresh: 150 ms to
  // over half a second that the first transaction of the second lane would
  // otherwise wait.
  Status LearnPartitionLeader(const Deadline& deadline) {
    Lane& lane = lanes_[current_];
    return TopicPartitions(lane.client, settings_, deadline, &lane.topic).status();
  }

  // The transaction ended (committed or aborted): the next one goes on the
  // other lane.
  void EndTransaction() {
    last_end_ = std::chrono::steady_clock::now();
    lanes_[current_].last_end = last_end_;
    current_ = (current_ + 1) % lanes_.size();
    last_was_busy_ = frames_in_transaction_ >= kBusyTransactionFrames;
    frames_in_transaction_ = 0;
  }

  int64_t InFlight() {
    rd_kafka_poll(client().get(), 0);  // serves delivery reports
    std::lock_guard lock(client().events().mu);
    return client().events().in_flight;
  }
  int64_t InFlightBytes() {
    std::lock_guard lock(client().events().mu);
    return client().events().in_flight_bytes;
  }

  // The first failed delivery of this frame, as a Status.
  Status DeliveryFailure() {
    rd_kafka_resp_err_t err;
    std::string text;
    {
      std::lock_guard lock(client().events().mu);
      err = client().events().delivery_error;
      text = client().events().delivery_error_text;
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::OK();
    char fatal[512];
    if (rd_kafka_resp_err_t code = rd_kafka_fatal_error(client().get(), fatal, sizeof fatal);
        code != RD_KAFKA_RESP_ERR_NO_ERROR || IsFencingError(err)) {
      return SetBroken(code != RD_KAFKA_RESP_ERR_NO_ERROR ? code : err,
                       code != RD_KAFKA_RESP_ERR_NO_ERROR ? fatal : text, "producing a chunk");
    }
    return KafkaStatus(err, Describe(fmt::format("a chunk was not delivered ({})", text)));
  }

  // Maps a transactional API error. Fencing and fatal errors end this
  // producer for good; others leave it usable (after an abort if needed).
  Status TxnFailure(std::string_view op, const rd_kafka_error_t* e) {
    rd_kafka_resp_err_t code = rd_kafka_error_code(e);
    std::string text = rd_kafka_error_string(e);
    if (rd_kafka_error_is_fatal(e) || code == RD_KAFKA_RESP_ERR__FATAL || IsFencingError(code)) {
      char fatal[512];
      if (rd_kafka_resp_err_t f = rd_kafka_fatal_error(client().get(), fatal, sizeof fatal);
          f != RD_KAFKA_RESP_ERR_NO_ERROR) {
        code = f;
        text = fatal;
      }
      return SetBroken(code, text, op);
    }
    if (code == RD_KAFKA_RESP_ERR__STATE || code == RD_KAFKA_RESP_ERR__NOT_CONFIGURED) {
      return Status::Internal("{}: {}", Describe(op), text);
    }
    return KafkaStatus(code, Describe(fmt::format("{} failed ({})", op, text)));
  }

  Status SetBroken(rd_kafka_resp_err_t code, std::string_view text, std::string_view op) {
    if (IsFencingError(code)) {
      broken_ = Status::Conflict(
          "{}: fenced, another publisher for the database took over (its init_transactions "
          "bumped the producer epoch): {}",
          Describe(op), text);
    } else {
      broken_ = Status::Internal("{}: fatal Kafka producer error, open a new Publisher: {}",
                                 Describe(op), text);
    }
    return broken_;
  }

  std::vector<Lane> lanes_;
  size_t current_ = 0;                                // the lane of the open (or next) transaction
  std::chrono::steady_clock::time_point last_end_{};  // of the last transaction, any lane
  int64_t frames_in_transaction_ = 0;                 // of the open one
  bool last_was_busy_ = false;  // the last one carried a backlog (see NextTransactionAt)
  KafkaSettings settings_;
  DatabaseLocation where_;
  PublisherOptions options_;
  // Once set, every later call fails with it: the producer is fenced, hit a
  // fatal error, or left a transaction in a state we cannot know.
  Status broken_;
  bool txn_open_ = false;
  bool in_batch_ = false;
  // Why the current batch failed; every call fails with it until EndBatch.
  Status batch_error_;
};

class KafkaFrameWriter final : public FrameWriter {
 public:
  KafkaFrameWriter(std::shared_ptr<ProducerCore> core, std::shared_ptr<bool> frame_open, FrameId id)
      : core_(std::move(core)),
        frame_open_(std::move(frame_open)),
        chunker_(std::move(id), core_->options().chunk_size) {}
  ~KafkaFrameWriter() override {
    if (!done_) Abort();
  }

  Status Append(std::span<const uint8_t> data) override {
    LTXBUS_RETURN_IF_ERROR(CheckOpen());
    Status st = chunker_.Append(data, [this](const ChunkHeaders& h, std::string& payload) {
      return core_->Produce(h, payload);
    });
    if (!st.ok()) core_->FailBatch(st);
    return st;
  }

  Result<uint64_t> Commit(const FrameTrailer& trailer) override {
    LTXBUS_RETURN_IF_ERROR(CheckOpen());
    Status st = chunker_.CheckTrailer(trailer);
    if (st.ok()) st = core_->Produce(chunker_.LastHeaders(trailer), chunker_.rest());
    if (!st.ok()) {
      core_->FailBatch(st);
      Abort();
      return st;
    }
    Finish();
    core_->FrameProduced();
    if (core_->in_batch()) return uint64_t{0};
    return core_->Commit();
  }

  // In a batch this aborts the batch's transaction, every frame of it.
  void Abort() override {
    if (done_) return;
    core_->FailBatch(Status::Internal("{}", core_->Describe("a frame of the batch was aborted")));
    Finish();
    core_->Abort();
  }

 private:
  Status CheckOpen() const {
    if (done_) {
      return Status::InvalidArgument("frame for TXID {} of database '{}' was already finished",
                                     ltx::FormatTXID(chunker_.frame().max_txid),
                                     chunker_.frame().database);
    }
    return Status::OK();
  }

  void Finish() {
    done_ = true;
    *frame_open_ = false;
    chunker_.Release();
  }

  std::shared_ptr<ProducerCore> core_;
  std::shared_ptr<bool> frame_open_;
  FrameChunker chunker_;
  bool done_ = false;
};

class KafkaPublisher final : public Publisher {
 public:
  explicit KafkaPublisher(std::shared_ptr<ProducerCore> core) : core_(std::move(core)) {}

  Result<std::optional<LastFrame>> Open() override {
    if (opened_) return Status::InvalidArgument("{}", core_->Describe("Open() called twice"));
    LTXBUS_RETURN_IF_ERROR(core_->InitTransactions());
    opened_ = true;
    // After init_transactions no older producer can commit, so the newest
    // committed frame cannot change under us.
    return ReadLastFrame(core_->settings(), core_->where());
  }

  Result<std::unique_ptr<FrameWriter>> BeginFrame(const FrameId& id) override {
    if (!opened_) return Status::InvalidArgument("{}", core_->Describe("BeginFrame before Open()"));
    if (*frame_open_) {
      return Status::InvalidArgument("{}", core_->Describe("BeginFrame while a frame is open"));
    }
    if (id.database != core_->where().database) {
      return Status::InvalidArgument("{}: the frame is for database '{}'",
                                     core_->Describe("BeginFrame"), id.database);
    }
    LTXBUS_RETURN_IF_ERROR(core_->Begin());
    *frame_open_ = true;
    return std::unique_ptr<FrameWriter>(std::make_unique<KafkaFrameWriter>(core_, frame_open_, id));
  }

  Status BeginBatch() override {
    if (!opened_) return Status::InvalidArgument("{}", core_->Describe("BeginBatch before Open()"));
    return core_->StartBatch();
  }
  Result<uint64_t> EndBatch() override {
    if (*frame_open_) {
      return Status::InvalidArgument("{}", core_->Describe("EndBatch while a frame is open"));
    }
    return core_->EndBatch();
  }
  std::chrono::steady_clock::time_point NextBatchAt() const override {
    return core_->NextTransactionAt();
  }

 private:
  std::shared_ptr<ProducerCore> core_;
  std::shared_ptr<bool> frame_open_ = std::make_shared<bool>(false);
  bool opened_ = false;
};

}  // namespace

std::vector<std::string> TransactionalIds(const KafkaSettings& settings,
                                          std::string_view database) {
  // An escaped name has no '.', so no database's ids collide with another's.
  const std::string first = settings.txn_prefix + EscapeDatabaseName(database);
  return {first, first + ".1"};
}

Result<std::unique_ptr<Publisher>> NewPublisher(const KafkaSettings& settings,
                                                const DatabaseLocation& where,
                                                const PublisherOptions& options) {
  if (options.chunk_size == 0 || options.chunk_size > kMaxChunkSize) {
    return Status::InvalidArgument(
        "chunk size {} for database '{}' must be between 1 and {} bytes (Kafka's message limit)",
        options.chunk_size, where.database, kMaxChunkSize);
  }
  if (options.ack_timeout.count() <= 0) {
    return Status::InvalidArgument("ack timeout for database '{}' must be positive",
                                   where.database);
  }
  std::vector<Lane> lanes;
  for (std::string& transactional_id : TransactionalIds(settings, where.database)) {
    const std::vector<std::pair<std::string, std::string>> extra = {
        {"client.id", fmt::format("ltxbus-pub-{}", EscapeDatabaseName(where.database))},
        // One writer per database: init_transactions fences every older one.
        {"transactional.id", transactional_id},
        {"enable.idempotence", "true"},
        {"transaction.timeout.ms", std::to_string(settings.transaction_timeout.count())},
    };
    LTXBUS_ASSIGN_OR_RETURN(Client client, NewClient(settings, RD_KAFKA_PRODUCER, extra));
    lanes.push_back(Lane{std::move(client), nullptr, std::move(transactional_id)});
  }
  auto core = std::make_shared<ProducerCore>(std::move(lanes), settings, where, options);
  return std::unique_ptr<Publisher>(std::make_unique<KafkaPublisher>(std::move(core)));
}

}  // namespace ltxbus::bus::kafka
