// The NATS Publisher and FrameWriter: chunked, fenced, de-duplicated publish.
//
// Publishing is synchronous, one chunk at a time. Fencing needs every publish
// to name the subject's previous sequence, and stream sequences are shared by
// every database of the stream, so the sequence a chunk will get is unknown
// until its predecessor is acknowledged: a pipelined chunk could not name
// its predecessor. (A per-database stream would make sequences predictable
// and allow a bounded async window; one stream keeps setup simple.)
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstring>
#include <thread>
#include <utility>

#include "bus/nats/nats_internal.h"

namespace ltxbus::bus::nats {
namespace {

using Clock = std::chrono::steady_clock;

// How long one publish waits for its acknowledgement before it is sent again
// (under the same Msg-Id, so the server stores it once). Shorter than a
// typical ack_timeout so a reply lost to a reconnect is retried in time.
constexpr Millis kTryWait{5000};
// Pause before retrying a publish that failed at once (disconnected, or
// JetStream not ready yet after a server restart).
constexpr Millis kRetryPause{100};
// The smallest chunk we accept after making room for headers.
constexpr size_t kMinChunk = 1024;

std::string DefaultProducer() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) std::strcpy(host, "unknown");
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  return fmt::format("{}/{}/{}", host, getpid(), ms);
}

bool HasControlChars(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// An upper bound on the bytes a chunk's headers take on the wire ("NATS/1.0"
// line, every "Key: Value" line, the Msg-Id and expected-sequence headers
// cnats adds), so a chunk plus its headers stays below the server's limit.
size_t HeaderRoom(const FrameId& frame) {
  ChunkHeaders worst;
  worst.frame = frame;
  worst.frame.attempt = std::string(20, '9');
  worst.index = UINT32_MAX;
  worst.last = true;
  worst.trailer.frame_size = UINT64_MAX;
  worst.trailer.post_apply = UINT64_MAX;
  worst.trailer.wal = WalPosition{UINT32_MAX, UINT32_MAX, UINT64_MAX, UINT32_MAX, UINT32_MAX};
  size_t n = std::strlen("NATS/1.0\r\n\r\n");
  for (const auto& [key, value] : worst.Encode()) n += key.size() + value.size() + 4;
  n += std::strlen("Nats-Msg-Id: \r\n") + frame.database.size() + 16 + 20 + 10 + 3;
  n += std::strlen("Nats-Expected-Last-Subject-Sequence: \r\n") + 20;
  return n + 256;  // slack for anything cnats may add
}

// The publishing side of one database, shared by the Publisher and the open
// FrameWriter (either may be destroyed first). Not thread-safe: a Publisher
// and its writers are used from one thread.
struct PublishState {
  std::shared_ptr<Connection> conn;
  std::string database;
  std::string subject;
  PublisherOptions options;
  bool opened = false;
  // The subject's last stream sequence as far as we know: every publish
  // expects it, so a publish by anyone else since makes ours fail.
  uint64_t last_seq = 0;
  // A publish failed without a verdict (no acknowledgement): it may have been
  // stored, so last_seq may be stale. Resolved before the next frame.
  bool uncertain = false;
  // Found by Resync: the frame whose last chunk went unacknowledged did land.
  // If the caller publishes that frame again, it gets the stored one back
  // instead of a second copy under a new attempt.
  std::optional<LastFrame> landed;
  // Set once another producer has written: every later call fails with it.
  std::optional<Status> fenced;
  bool frame_open = false;
};

// Builds the Conflict status for a fenced publish, naming the producer that
// wrote last when the bus can tell us.
Status Fence(PublishState& st, uint64_t expected) {
  std::string other = "another producer";
  std::string found;
  auto last = st.conn->GetLastMsg(st.subject, std::min(st.options.ack_timeout, Millis(2000)));
  if (last.ok() && last->has_value()) {
    natsMsg* m = (*last)->get();
    std::string producer = HeaderOr(m, std::string(kHeaderProducer).c_str());
    if (!producer.empty()) other = fmt::format("another producer ({})", producer);
    found = fmt::format(", found {}", natsMsg_GetSequence(m));
  }
  Status c = Status::Conflict(
      "database {}: {} published to subject {} (expected last sequence {}{}) — fenced; this "
      "publisher is no longer the database's writer",
      st.database, other, st.subject, expected, found);
  st.fenced = c;
  return c;
}

// The server said a publish with our Msg-Id is already stored (dedupe is
// checked before the expected sequence). That is our own earlier try when its
// ack was lost. Anything else is another producer that published from the same
// last sequence, hence under the same attempt id, before us.
Status CheckDuplicate(PublishState& st, uint64_t seq, const ChunkHeaders& h,
                      std::string_view payload) {
  LTXBUS_ASSIGN_OR_RETURN(auto stored, st.conn->GetMsg(seq, st.options.ack_timeout));
  std::string other = "another producer";
  if (stored.has_value()) {
    natsMsg* m = stored->get();
    const std::string producer = HeaderOr(m, std::string(kHeaderProducer).c_str());
    if (producer == h.frame.producer && PayloadOf(m) == payload) return Status::OK();
    if (!producer.empty()) other = fmt::format("another producer ({})", producer);
  }
  Status c = Status::Conflict(
      "database {}: {} published to subject {} first (chunk {} of TXID {} under attempt {} is "
      "already at sequence {}) — fenced; this publisher is no longer the database's writer",
      st.database, other, st.subject, h.index, ltx::FormatTXID(h.frame.max_txid), h.frame.attempt,
      seq);
  st.fenced = c;
  return c;
}

// Publishes one chunk expecting st.last_seq before it; returns its sequence.
Result<uint64_t> PublishChunk(PublishState& st, const ChunkHeaders& h, std::string_view payload) {
  const std::string msg_id = fmt::format(
      "{}:{}:{}:{}", st.database, ltx::FormatTXID(h.frame.max_txid), h.frame.attempt, h.index);
  const std::string what =
      fmt::format("database {}: publishing chunk {} of TXID {} to {} on {}", st.database, h.index,
                  ltx::FormatTXID(h.frame.max_txid), st.subject, st.conn->url());
  natsMsg* raw = nullptr;
  natsStatus s = natsMsg_Create(&raw, st.subject.c_str(), nullptr, payload.data(),
                                static_cast<int>(payload.size()));
  MsgPtr msg(raw);
  for (const auto& [key, value] : h.Encode()) {
    if (s == NATS_OK) s = natsMsgHeader_Set(msg.get(), key.c_str(), value.c_str());
  }
  if (s != NATS_OK) return FromNats(s, what);
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MsgId = msg_id.c_str();
  // cnats sends the expected sequence only when > 0; "nothing on the subject
  // yet" is ExpectNoMessage, which sends 0.
  if (st.last_seq == 0) {
    po.ExpectNoMessage = true;
  } else {
    po.ExpectLastSubjectSeq = st.last_seq;
  }
  const auto deadline = Clock::now() + st.options.ack_timeout;
  Status error;
  natsStatus last_status = NATS_OK;
  for (;;) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    if (left <= Millis(0)) break;
    po.MaxWait = std::min(left, kTryWait).count();
    jsPubAck* raw_ack = nullptr;
    jsErrCode jerr{};
    s = js_PublishMsg(&raw_ack, st.conn->js(), msg.get(), &po, &jerr);
    PubAckPtr ack(raw_ack);
    if (s == NATS_OK && ack != nullptr) {
      const uint64_t seq = ack->Sequence;
      if (ack->Duplicate) {
        Status dup = CheckDuplicate(st, seq, h, payload);
        if (!dup.ok()) {
          if (dup.code() != Status::Code::kConflict) st.uncertain = true;
          return dup.WithContext(what);
        }
      }
      st.last_seq = seq;
      st.uncertain = false;
      return seq;
    }
    if (jerr == JSStreamWrongLastSequenceErr) return Fence(st, st.last_seq);
    last_status = s;
    error = FromNats(s, what, jerr);
    const bool retry = s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS ||
                       s == NATS_CONNECTION_DISCONNECTED || s == NATS_IO_ERROR ||
                       s == NATS_STALE_CONNECTION || s == NATS_NOT_YET_CONNECTED;
    if (!retry || jerr == JSStreamMessageExceedsMaximumErr) {
      // Refused, or the connection is closed. A refusal stored nothing, but
      // a closed connection may have lost the ack: let the next frame check.
      st.uncertain = true;
      return error;
    }
    if (s != NATS_TIMEOUT) {
      std::this_thread::sleep_for(
          std::min(kRetryPause, std::chrono::duration_cast<Millis>(deadline - Clock::now())));
    }
  }
  st.uncertain = true;
  const auto waited = st.options.ack_timeout.count();
  if (last_status == NATS_TIMEOUT && st.conn->connected()) {
    return Status::Timeout("{}: no acknowledgement within {} ms ({})", what, waited,
                           error.message());
  }
  return Status::Unavailable("{}: JetStream unreachable for {} ms ({})", what, waited,
                             error.ok() ? std::string("no attempt made") : error.message());
}

// After a publish that ended without a verdict, learns whether it was stored:
// if the subject's last message is ours, it was (and if it ended a frame, that
// frame is complete); if someone else's, we are fenced.
Status Resync(PublishState& st) {
  LTXBUS_ASSIGN_OR_RETURN(auto last, st.conn->GetLastMsg(st.subject, st.options.ack_timeout));
  const uint64_t seq = last.has_value() ? natsMsg_GetSequence(last->get()) : 0;
  if (seq == st.last_seq) {
    st.uncertain = false;
    return Status::OK();
  }
  if (seq > st.last_seq &&
      HeaderOr(last->get(), std::string(kHeaderProducer).c_str()) == st.options.producer) {
    st.last_seq = seq;
    st.uncertain = false;
    auto h = ChunkHeaders::Decode(HeadersOf(last->get()));
    if (h.ok() && h->last) st.landed = LastFrame{h->frame, h->trailer, seq};
    return Status::OK();
  }
  return Fence(st, st.last_seq);
}

bool SameFrame(const FrameId& a, const FrameId& b) {
  return a.database == b.database && a.min_txid == b.min_txid && a.max_txid == b.max_txid &&
         a.pre_apply == b.pre_apply && a.timestamp_ms == b.timestamp_ms;
}

class NatsFrameWriter final : public FrameWriter {
 public:
  // With `landed`, the frame is already on the bus (its acknowledgement was
  // lost): the writer only counts bytes and Commit returns the stored offset.
  NatsFrameWriter(std::shared_ptr<PublishState> st, FrameId frame, size_t chunk_size,
                  std::optional<LastFrame> landed)
      : st_(std::move(st)),
        frame_(std::move(frame)),
        chunk_size_(chunk_size),
        landed_(std::move(landed)) {}
  ~NatsFrameWriter() override { Finish(); }
  NatsFrameWriter(const NatsFrameWriter&) = delete;
  NatsFrameWriter& operator=(const NatsFrameWriter&) = delete;

  Status Append(std::span<const uint8_t> data) override {
    LTXBUS_RETURN_IF_ERROR(Usable());
    if (landed_) {
      bytes_ += data.size();
      return Status::OK();
    }
    if (buffer_.capacity() < chunk_size_) buffer_.reserve(chunk_size_);
    while (!data.empty()) {
      // A full chunk goes out only once more bytes follow, so the last chunk
      // is never empty and always carries the trailer.
      if (buffer_.size() == chunk_size_) {
        LTXBUS_RETURN_IF_ERROR(Flush(nullptr).status());
      }
      const size_t take = std::min(chunk_size_ - buffer_.size(), data.size());
      buffer_.append(reinterpret_cast<const char*>(data.data()), take);
      data = data.subspan(take);
      bytes_ += take;
    }
    return Status::OK();
  }

  Result<uint64_t> Commit(const FrameTrailer& trailer) override {
    LTXBUS_RETURN_IF_ERROR(Usable());
    if (trailer.frame_size != bytes_) {
      error_ = Status::InvalidArgument(
          "database {}: TXID {} committed with frame_size {} but {} bytes were written",
          st_->database, ltx::FormatTXID(frame_.max_txid), trailer.frame_size, bytes_);
      Finish();
      return error_;
    }
    if (landed_) {
      Finish();
      const FrameTrailer& stored = landed_->trailer;
      if (stored.frame_size != trailer.frame_size || stored.post_apply != trailer.post_apply) {
        error_ = Status::InvalidArgument(
            "database {}: TXID {} is already on {} at sequence {} ({} bytes, post-apply checksum "
            "{:016x}) but was published again differently ({} bytes, {:016x})",
            st_->database, ltx::FormatTXID(frame_.max_txid), st_->subject, landed_->offset,
            stored.frame_size, stored.post_apply, trailer.frame_size, trailer.post_apply);
        return error_;
      }
      return landed_->offset;
    }
    LTXBUS_ASSIGN_OR_RETURN(uint64_t seq, Flush(&trailer));
    Finish();
    return seq;
  }

  // JetStream has no transactions: chunks already published stay, and
  // consumers drop them when the next frame's chunk 0 arrives.
  void Abort() override { Finish(); }

 private:
  Status Usable() const {
    if (!error_.ok()) return error_;
    if (done_) {
      return Status::InvalidArgument(
          "database {}: frame for TXID {} was already committed or aborted", st_->database,
          ltx::FormatTXID(frame_.max_txid));
    }
    return Status::OK();
  }

  Result<uint64_t> Flush(const FrameTrailer* trailer) {
    ChunkHeaders h;
    h.frame = frame_;
    h.index = index_;
    h.last = trailer != nullptr;
    if (trailer != nullptr) h.trailer = *trailer;
    auto seq = PublishChunk(*st_, h, buffer_);
    if (!seq.ok()) {
      error_ = seq.status();
      Finish();
      return error_;
    }
    index_++;
    buffer_.clear();
    return seq;
  }

  // Releases the publisher for the next frame and the chunk buffer.
  void Finish() {
    if (done_) return;
    done_ = true;
    st_->frame_open = false;
    std::string().swap(buffer_);
  }

  std::shared_ptr<PublishState> st_;
  const FrameId frame_;
  const size_t chunk_size_;
  const std::optional<LastFrame> landed_;
  std::string buffer_;
  uint32_t index_ = 0;
  uint64_t bytes_ = 0;
  Status error_;
  bool done_ = false;
};

class NatsPublisher final : public Publisher {
 public:
  explicit NatsPublisher(std::shared_ptr<PublishState> st) : st_(std::move(st)) {}

  Result<std::optional<LastFrame>> Open() override {
    PublishState& st = *st_;
    if (st.frame_open) {
      return Status::InvalidArgument("database {}: Open() while a frame is open", st.database);
    }
    st.opened = false;
    LTXBUS_ASSIGN_OR_RETURN(auto last, st.conn->GetLastMsg(st.subject, st.options.ack_timeout));
    const uint64_t last_seq = last.has_value() ? natsMsg_GetSequence(last->get()) : 0;
    std::optional<LastFrame> found;
    if (last.has_value()) {
      LTXBUS_ASSIGN_OR_RETURN(found, NewestCompleteFrame(std::move(*last)));
    }
    st.last_seq = last_seq;
    st.uncertain = false;
    st.landed.reset();
    st.fenced.reset();
    st.opened = true;
    return found;
  }

  Result<std::unique_ptr<FrameWriter>> BeginFrame(const FrameId& id) override {
    PublishState& st = *st_;
    if (!st.opened) {
      return Status::InvalidArgument("database {}: BeginFrame() before a successful Open()",
                                     st.database);
    }
    if (st.frame_open) {
      return Status::InvalidArgument("database {}: BeginFrame() while another frame is open",
                                     st.database);
    }
    if (st.fenced) return *st.fenced;
    if (id.database != st.database) {
      return Status::InvalidArgument("publisher for database {} got a frame for database {}",
                                     st.database, id.database);
    }
    if (id.min_txid == 0 || id.max_txid < id.min_txid) {
      return Status::InvalidArgument("database {}: frame has TXID range {}-{}", st.database,
                                     id.min_txid, id.max_txid);
    }
    if (st.uncertain) LTXBUS_RETURN_IF_ERROR(Resync(st));
    std::optional<LastFrame> landed = std::exchange(st.landed, std::nullopt);
    if (landed && !SameFrame(landed->id, id)) landed.reset();
    FrameId frame = id;
    frame.producer = st.options.producer;
    frame.attempt = std::to_string(st.last_seq);
    const size_t room = HeaderRoom(frame);
    const int64_t max_payload = st.conn->max_payload();
    if (max_payload <= 0 || static_cast<uint64_t>(max_payload) < room + kMinChunk) {
      return Status::InvalidArgument(
          "database {}: the server's max_payload {} leaves no room for chunks after {} bytes "
          "of headers",
          st.database, max_payload, room);
    }
    const size_t chunk = std::min(st.options.chunk_size, static_cast<size_t>(max_payload) - room);
    st.frame_open = true;
    return std::unique_ptr<FrameWriter>(
        std::make_unique<NatsFrameWriter>(st_, std::move(frame), chunk, std::move(landed)));
  }

 private:
  // Walks back from the subject's last message to the last chunk of the newest
  // complete frame. An incomplete frame's attempt id is the sequence of the
  // message before its chunk 0, so each step skips a whole incomplete frame.
  Result<std::optional<LastFrame>> NewestCompleteFrame(MsgPtr msg) const {
    const PublishState& st = *st_;
    for (;;) {
      const uint64_t seq = natsMsg_GetSequence(msg.get());
      auto where = [&] {
        return fmt::format("database {}: the message at stream sequence {} on {}", st.database, seq,
                           st.subject);
      };
      auto h = ChunkHeaders::Decode(HeadersOf(msg.get()));
      if (!h.ok()) return h.status().WithContext(where());
      if (h->frame.database != st.database) {
        return Status::Corruption("{} belongs to database '{}'", where(), h->frame.database);
      }
      if (h->last) return std::optional<LastFrame>(LastFrame{h->frame, h->trailer, seq});
      uint64_t before = 0;
      const std::string& a = h->frame.attempt;
      auto [p, ec] = std::from_chars(a.data(), a.data() + a.size(), before);
      if (ec != std::errc() || p != a.data() + a.size() || before >= seq) {
        return Status::Corruption("{} has attempt '{}', not an earlier stream sequence", where(),
                                  a);
      }
      if (before == 0) return std::optional<LastFrame>();
      LTXBUS_ASSIGN_OR_RETURN(auto prev, st.conn->GetMsg(before, st.options.ack_timeout));
      // Removed by the stream's limits: no complete frame is left before it.
      if (!prev.has_value()) return std::optional<LastFrame>();
      const char* subject = natsMsg_GetSubject(prev->get());
      if (subject == nullptr || st.subject != subject) {
        return Status::Corruption("{} names sequence {} as its predecessor, which is on {}",
                                  where(), before, subject == nullptr ? "?" : subject);
      }
      msg = std::move(*prev);
    }
  }

  std::shared_ptr<PublishState> st_;
};

}  // namespace

Result<std::unique_ptr<Publisher>> NewPublisher(std::shared_ptr<Connection> conn,
                                                const std::string& database,
                                                const PublisherOptions& options) {
  if (database.empty() || HasControlChars(database)) {
    return Status::InvalidArgument(
        "database name '{}' is empty or has control characters (NATS headers cannot carry them)",
        database);
  }
  if (HasControlChars(options.producer)) {
    return Status::InvalidArgument("producer identity '{}' has control characters",
                                   options.producer);
  }
  if (options.chunk_size == 0 || options.ack_timeout <= Millis(0)) {
    return Status::InvalidArgument("database {}: chunk_size and ack_timeout must be positive",
                                   database);
  }
  // A publish is retried under its Msg-Id for up to ack_timeout; only inside
  // the window does the server recognise the retry.
  const auto window = std::chrono::nanoseconds(conn->duplicates_ns());
  if (window > std::chrono::nanoseconds(0) && options.ack_timeout >= window) {
    return Status::InvalidArgument(
        "database {}: ack_timeout {} ms is not shorter than stream {}'s duplicates window {} ms",
        database, options.ack_timeout.count(), conn->stream(),
        std::chrono::duration_cast<Millis>(window).count());
  }
  auto st = std::make_shared<PublishState>();
  st->subject = conn->SubjectFor(database);
  st->conn = std::move(conn);
  st->database = database;
  st->options = options;
  if (st->options.producer.empty()) st->options.producer = DefaultProducer();
  return std::unique_ptr<Publisher>(std::make_unique<NatsPublisher>(std::move(st)));
}

}  // namespace ltxbus::bus::nats
