// The NATS Subscriber: an ordered push consumer on one database's subject.
//
// An ordered consumer is ephemeral, unacknowledged and flow-controlled; cnats
// recreates it from the last delivered stream sequence when it notices a gap
// or missed heartbeats (a server restart), so chunks come in order, without
// duplicates, and nothing is left on the server when the Subscriber goes.
// Pull consumers in cnats 3.4.1 cannot be ordered, so they would need that
// recovery written here.
#include <algorithm>
#include <chrono>
#include <vector>

#include "bus/nats/nats_internal.h"

namespace ltxbus::bus::nats {
namespace {

using Clock = std::chrono::steady_clock;

class NatsSubscriber final : public Subscriber {
 public:
  NatsSubscriber(std::shared_ptr<Connection> conn, std::string database, std::string subject)
      : conn_(std::move(conn)), database_(std::move(database)), subject_(std::move(subject)) {}

  ~NatsSubscriber() override {
    // Unsubscribing deletes the ephemeral consumer at once; skip the request
    // when it could only time out (the server forgets the consumer anyway
    // once nobody listens).
    if (sub_ != nullptr && conn_->connected()) natsSubscription_Unsubscribe(sub_.get());
  }
  NatsSubscriber(const NatsSubscriber&) = delete;
  NatsSubscriber& operator=(const NatsSubscriber&) = delete;

  Status Start(const StartPosition& start) {
    // Every start becomes a stream sequence here, not a cnats start policy:
    // when cnats 3.4.1 recreates an ordered consumer (after missed
    // heartbeats, say) that has delivered nothing yet, it restarts from
    // sequence 1, and with a start time it sends a request the server
    // refuses. The floor below drops what such a restart delivers again.
    uint64_t start_seq = 0;  // 0: the beginning
    switch (start.kind) {
      case StartPosition::Kind::kBeginning:
        break;
      case StartPosition::Kind::kEnd: {
        LTXBUS_ASSIGN_OR_RETURN(uint64_t last, conn_->StreamLastSeq());
        start_seq = last + 1;
        break;
      }
      case StartPosition::Kind::kOffset:
        start_seq = start.offset;  // sequences start at 1; 0 is the beginning
        break;
      case StartPosition::Kind::kTime:
        if (start.time_ms > 0) {
          min_time_ns_ = start.time_ms * 1'000'000;
          LTXBUS_ASSIGN_OR_RETURN(start_seq, FirstSeqStoredAtOrAfter(start.time_ms / 1000));
        }
        break;
    }
    last_seq_ = start_seq > 0 ? start_seq - 1 : 0;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = conn_->stream().c_str();
    so.Ordered = true;
    so.Config.DeliverPolicy = start_seq > 0 ? js_DeliverByStartSequence : js_DeliverAll;
    so.Config.OptStartSeq = start_seq;
    natsSubscription* raw = nullptr;
    jsErrCode jerr{};
    natsStatus s = js_SubscribeSync(&raw, conn_->js(), subject_.c_str(), nullptr, &so, &jerr);
    sub_.reset(raw);
    if (s != NATS_OK) {
      return FromNats(
          s, fmt::format("database {}: subscribing to {} on {}", database_, subject_, conn_->url()),
          jerr);
    }
    return Status::OK();
  }

  Result<std::optional<Chunk>> Next(Millis timeout) override {
    const auto deadline = Clock::now() + std::max(timeout, Millis(0));
    for (;;) {
      const auto left =
          std::max(Millis(0), std::chrono::duration_cast<Millis>(deadline - Clock::now()));
      natsMsg* raw = nullptr;
      natsStatus s = natsSubscription_NextMsg(&raw, sub_.get(), left.count());
      if (s == NATS_TIMEOUT) {
        retired_.Clear();  // idle: a good moment
        return std::optional<Chunk>();
      }
      RetireOnExit msg(retired_, MsgPtr(raw));
      if (s == NATS_SLOW_CONSUMER || s == NATS_MISMATCH) {
        // Messages were dropped or skipped; the ordered consumer resets itself
        // from the last sequence we received, so just keep reading.
        if (left == Millis(0)) return std::optional<Chunk>();
        continue;
      }
      if (s != NATS_OK) {
        return FromNats(s, fmt::format("database {}: reading {}", database_, subject_));
      }
      jsMsgMetaData* raw_meta = nullptr;
      s = natsMsg_GetMetaData(&raw_meta, msg.get());
      MetaDataPtr meta(raw_meta);
      if (s != NATS_OK) {
        return FromNats(s, fmt::format("database {}: a message on {} has no JetStream metadata",
                                       database_, subject_));
      }
      const uint64_t seq = meta->Sequence.Stream;
      // The ordered consumer never goes back; this guards the promise that
      // offsets only grow should it ever redeliver after a reset.
      if (seq <= last_seq_) continue;
      last_seq_ = seq;
      // Starting from a time begins at a whole second (see Start); skip what
      // was stored before the time asked for. Stored times only grow.
      if (meta->Timestamp < min_time_ns_) continue;
      min_time_ns_ = 0;
      Chunk chunk;
      chunk.offset = seq;
      chunk.bus_time_ms = meta->Timestamp / 1'000'000;
      auto headers = DecodeChunkHeaders(msg.get());
      if (!headers.ok()) {
        // Reported, and skipped: the next call goes on with the next message.
        return headers.status().WithContext(fmt::format(
            "database {}: the message at stream sequence {} on {}", database_, seq, subject_));
      }
      if (headers->frame.database != database_) {
        return Status::Corruption(
            "database {}: the message at stream sequence {} on {} is for "
            "database '{}'",
            database_, seq, subject_, headers->frame.database);
      }
      chunk.headers = std::move(*headers);
      chunk.payload = std::string(PayloadOf(msg.get()));
      return std::optional<Chunk>(std::move(chunk));
    }
  }

  // The subject's last sequence + 1: a consumer that has read everything has
  // exactly this as its next offset. On an empty subject, the stream's.
  Result<uint64_t> HeadOffset() override {
    LTXBUS_ASSIGN_OR_RETURN(auto last,
                            conn_->GetLastMsg(subject_, conn_->settings().connect_timeout));
    if (last.has_value()) return natsMsg_GetSequence(last->get()) + 1;
    LTXBUS_ASSIGN_OR_RETURN(uint64_t stream_last, conn_->StreamLastSeq());
    return stream_last + 1;
  }

 private:
  // The first stream sequence stored at or after `unix_seconds`, as a
  // throwaway pull consumer starting at that time computes it. Whole seconds
  // because cnats 3.4.1 encodes a start time's fraction of a second without
  // its leading zeros (".074" becomes ".74").
  Result<uint64_t> FirstSeqStoredAtOrAfter(int64_t unix_seconds) {
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.DeliverPolicy = js_DeliverByStartTime;
    cc.OptStartTime = unix_seconds * 1'000'000'000;
    cc.AckPolicy = js_AckNone;
    cc.FilterSubject = subject_.c_str();
    cc.MemoryStorage = true;
    // The server removes it by itself should the delete below not arrive.
    cc.InactiveThreshold = int64_t{30} * 1'000'000'000;
    jsConsumerInfo* raw = nullptr;
    jsErrCode jerr{};
    natsStatus s = js_AddConsumer(&raw, conn_->js(), conn_->stream().c_str(), &cc, nullptr, &jerr);
    ConsumerInfoPtr info(raw);
    if (s != NATS_OK) {
      return FromNats(s,
                      fmt::format("database {}: finding where {} starts at unix time {}", database_,
                                  subject_, unix_seconds),
                      jerr);
    }
    const uint64_t seq = info->Delivered.Stream + 1;
    js_DeleteConsumer(conn_->js(), conn_->stream().c_str(), info->Name, nullptr, nullptr);
    return seq;
  }

  // Holds a message for the rest of one loop iteration, then retires it.
  class RetireOnExit {
   public:
    RetireOnExit(RetiredMessages& to, MsgPtr msg) : to_(to), msg_(std::move(msg)) {}
    RetireOnExit(const RetireOnExit&) = delete;
    RetireOnExit& operator=(const RetireOnExit&) = delete;
    ~RetireOnExit() {
      if (msg_ != nullptr) to_.Add(std::move(msg_));
    }
    natsMsg* get() const { return msg_.get(); }

   private:
    RetiredMessages& to_;
    MsgPtr msg_;
  };

  std::shared_ptr<Connection> conn_;
  std::string database_;
  std::string subject_;
  SubscriptionPtr sub_;
  RetiredMessages retired_;  // after sub_: destroyed first
  // The last stream sequence returned (or the one before the start): anything
  // at or below it is a redelivery.
  uint64_t last_seq_ = 0;
  int64_t min_time_ns_ = 0;
};

}  // namespace

Result<std::unique_ptr<Subscriber>> NewSubscriber(std::shared_ptr<Connection> conn,
                                                  const std::string& database,
                                                  const StartPosition& start) {
  if (database.empty()) return Status::InvalidArgument("subscribing to an empty database name");
  std::string subject = conn->SubjectFor(database);
  auto sub = std::make_unique<NatsSubscriber>(std::move(conn), database, std::move(subject));
  LTXBUS_RETURN_IF_ERROR(sub->Start(start));
  return std::unique_ptr<Subscriber>(std::move(sub));
}

}  // namespace ltxbus::bus::nats
