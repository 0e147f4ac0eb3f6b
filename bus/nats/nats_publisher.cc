// The NATS Publisher and FrameWriter: chunked, fenced, de-duplicated publish.
// One chunk at a time is nats_publish.h; the window of chunks in flight is
// nats_window.h; the walk back to the newest complete frame is
// nats_last_frame.cc.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

#include "bus/chunker.h"
#include "bus/nats/nats_publish.h"
#include "bus/nats/nats_window.h"

namespace ltxbus::bus::nats {
namespace {

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
        chunker_(std::move(frame), chunk_size),
        window_(st_->in_batch ? st_->batch_window : std::make_shared<ChunkWindow>(*st_)),
        landed_(std::move(landed)) {}
  ~NatsFrameWriter() override {
    // Dropped without Commit or Abort: wait for what is in flight, so the
    // publisher knows where the subject ends.
    if (!done_)
      Abandon(Status::Internal("database {}: a frame was dropped unfinished", st_->database));
    Finish();
  }
  NatsFrameWriter(const NatsFrameWriter&) = delete;
  NatsFrameWriter& operator=(const NatsFrameWriter&) = delete;

  Status Append(std::span<const uint8_t> data) override {
    LTXBUS_RETURN_IF_ERROR(Usable());
    Status s = chunker_.Append(data, [this](const ChunkHeaders& h, std::string& payload) {
      if (landed_) return Status::OK();
      ChunkHeaders sent = h;
      LTXBUS_RETURN_IF_ERROR(window_->Publish(sent, std::move(payload)));
      // Taking over from a writer still finishing may renumber the attempt.
      chunker_.frame().attempt = sent.frame.attempt;
      return Status::OK();
    });
    if (!s.ok()) Fail(s);
    return s;
  }

  Result<uint64_t> Commit(const FrameTrailer& trailer) override {
    LTXBUS_RETURN_IF_ERROR(Usable());
    if (Status s = chunker_.CheckTrailer(trailer); !s.ok()) {
      Fail(s);
      return s;
    }
    if (landed_) {
      Finish();
      const FrameTrailer& stored = landed_->trailer;
      if (stored.frame_size != trailer.frame_size || stored.post_apply != trailer.post_apply) {
        error_ = Status::InvalidArgument(
            "database {}: TXID {} is already on {} at sequence {} ({} bytes, post-apply checksum "
            "{:016x}) but was published again differently ({} bytes, {:016x})",
            st_->database, ltx::FormatTXID(chunker_.frame().max_txid), st_->subject,
            landed_->offset, stored.frame_size, stored.post_apply, trailer.frame_size,
            trailer.post_apply);
        return error_;
      }
      return landed_->offset;
    }
    ChunkHeaders h = chunker_.LastHeaders(trailer);
    Status s = window_->Publish(h, std::move(chunker_.rest()));
    if (s.ok() && st_->in_batch) {
      Finish();  // EndBatch waits for it
      return uint64_t{0};
    }
    Result<uint64_t> seq = s.ok() ? window_->Finish() : Result<uint64_t>(s);
    if (!seq.ok()) {
      Fail(seq.status());
      return seq;
    }
    Finish();
    return seq;
  }

  // JetStream has no transactions: chunks already published stay, and
  // consumers drop them when the next frame's chunk 0 arrives.
  void Abort() override {
    if (done_) return;
    Abandon(Status::Internal("database {}: a frame of the batch was aborted", st_->database));
    Finish();
  }

 private:
  Status Usable() const {
    if (!error_.ok()) return error_;
    if (done_) {
      return Status::InvalidArgument(
          "database {}: frame for TXID {} was already committed or aborted", st_->database,
          ltx::FormatTXID(chunker_.frame().max_txid));
    }
    return Status::OK();
  }

  void Fail(const Status& s) {
    error_ = s;
    Abandon(s);
    Finish();
  }

  // In a batch the window holds earlier frames of the batch too: they are
  // given up with this one, and the batch fails.
  void Abandon(const Status& why) {
    if (st_->in_batch && !st_->batch_error) st_->batch_error = why;
    window_->Abandon();
  }

  // Releases the publisher for the next frame and the chunk buffer.
  void Finish() {
    if (done_) return;
    done_ = true;
    st_->frame_open = false;
    chunker_.Release();
  }

  std::shared_ptr<PublishState> st_;
  FrameChunker chunker_;
  std::shared_ptr<ChunkWindow> window_;
  const std::optional<LastFrame> landed_;
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
    LTXBUS_ASSIGN_OR_RETURN(SubjectTail tail,
                            ReadSubjectTail(*st.conn, st.database, st.options.ack_timeout));
    st.last_seq = tail.seq;
    st.last_msg_id.clear();
    st.uncertain = false;
    st.landed.reset();
    st.fenced.reset();
    st.previous_writer.reset();
    if (tail.headers) {
      PreviousWriter prev;
      prev.producer = tail.headers->frame.producer;
      prev.attempts.insert(std::to_string(tail.seq));
      if (!tail.headers->last) prev.attempts.insert(tail.headers->frame.attempt);
      st.previous_writer = std::move(prev);
    }
    st.window = st.max_in_flight;
    st.window_credit = 0;
    st.opened = true;
    return std::move(tail.frame);
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
    if (st.batch_error) return *st.batch_error;
    if (id.database != st.database) {
      return Status::InvalidArgument("publisher for database {} got a frame for database {}",
                                     st.database, id.database);
    }
    if (id.min_txid == 0 || id.max_txid < id.min_txid) {
      return Status::InvalidArgument("database {}: frame has TXID range {}-{}", st.database,
                                     id.min_txid, id.max_txid);
    }
    if (st.uncertain) {
      LTXBUS_RETURN_IF_ERROR(Resync(st));
    }
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

  Status BeginBatch() override {
    PublishState& st = *st_;
    if (!st.opened || st.frame_open || st.in_batch) {
      return Status::InvalidArgument(
          "database {}: BeginBatch() before Open(), inside a frame or inside a batch", st.database);
    }
    if (st.fenced) return *st.fenced;
    if (st.uncertain) LTXBUS_RETURN_IF_ERROR(Resync(st));
    st.landed.reset();
    st.in_batch = true;
    st.batch_window = std::make_shared<ChunkWindow>(st);
    st.batch_error.reset();
    return Status::OK();
  }

  Result<uint64_t> EndBatch() override {
    PublishState& st = *st_;
    if (!st.in_batch || st.frame_open) {
      return Status::InvalidArgument("database {}: EndBatch() outside a batch or inside a frame",
                                     st.database);
    }
    std::shared_ptr<ChunkWindow> window = std::move(st.batch_window);
    Result<uint64_t> seq = st.batch_error ? Result<uint64_t>(*st.batch_error) : window->Finish();
    if (!seq.ok()) {
      window->Abandon();
      if (!st.batch_error) st.batch_error = seq.status();
    }
    st.in_batch = false;
    if (st.batch_error) {
      // Stays failed: only a new Publisher learns where the subject ends.
      return st.batch_error->WithContext("the batch failed; open a new Publisher");
    }
    return seq;
  }

 private:
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
  st->max_in_flight = std::max(1, st->conn->settings().max_in_flight);
  st->window = st->max_in_flight;
  return std::unique_ptr<Publisher>(std::make_unique<NatsPublisher>(std::move(st)));
}

}  // namespace ltxbus::bus::nats
