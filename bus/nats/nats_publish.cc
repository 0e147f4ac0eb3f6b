// One chunk at a time: fencing on the subject's last sequence, de-duplication
// by Msg-Id, retries, and learning what happened after a lost acknowledgement.
#include "bus/nats/nats_publish.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <thread>
#include <utility>

namespace ltxbus::bus::nats {
namespace {

// Pause before retrying a publish that failed at once (disconnected, or
// JetStream not ready yet after a server restart).
constexpr Millis kRetryPause{100};

std::string ProducerOf(natsMsg* m) { return HeaderOr(m, std::string(kHeaderProducer).c_str()); }

// Builds the Conflict status for a fenced publish, naming the producer that
// wrote last when the bus can tell us. If that is this very producer, nobody
// took over: a publish of ours whose verdict we never had landed late (a
// reconnect delivered it), so the caller is told to retry instead.
Status Fence(PublishState& st, uint64_t expected) {
  std::string other = "another producer";
  std::string found;
  auto last = st.conn->GetLastMsg(st.subject, std::min(st.options.ack_timeout, Millis(2000)));
  if (last.ok() && last->has_value()) {
    natsMsg* m = (*last)->get();
    const std::string producer = ProducerOf(m);
    if (producer == st.options.producer && natsMsg_GetSequence(m) > expected) {
      st.uncertain = true;
      return Status::Unavailable(
          "database {}: an earlier publish of this producer landed on {} late (sequence {}, "
          "expected {}); the next frame starts from there",
          st.database, st.subject, natsMsg_GetSequence(m), expected);
    }
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
    const std::string producer = ProducerOf(m);
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

// Our chunk 0 was fenced before we stored anything. If every message after
// the one Open() saw is a chunk of the previous writer's frame that was in
// flight then (same producer, an attempt open at that time, not a last
// chunk), that writer is still finishing its window, not someone taking
// over: move past those chunks (they stay an incomplete frame that consumers
// drop) under a new attempt. Anything else — a last chunk, another producer,
// another attempt — is a real fence.
Result<bool> TakeOver(PublishState& st, ChunkHeaders& h) {
  if (!st.previous_writer || h.index != 0) return false;
  LTXBUS_ASSIGN_OR_RETURN(auto last, st.conn->GetLastMsg(st.subject, st.options.ack_timeout));
  if (!last.has_value()) return false;
  natsMsg* m = last->get();
  const uint64_t seq = natsMsg_GetSequence(m);
  auto tail = DecodeChunkHeaders(m);
  if (seq <= st.last_seq || !tail.ok() || tail->last ||
      tail->frame.producer != st.previous_writer->producer ||
      !st.previous_writer->attempts.contains(tail->frame.attempt)) {
    return false;
  }
  spdlog::info(
      "database {}: the previous writer ({}) stored chunk {} of TXID {} after we took over; "
      "starting after it at sequence {}",
      st.database, tail->frame.producer, tail->index, ltx::FormatTXID(tail->frame.max_txid), seq);
  st.last_seq = seq;
  st.last_msg_id.clear();
  h.frame.attempt = std::to_string(seq);
  return true;
}

}  // namespace

std::string MsgIdFor(const ChunkHeaders& h) {
  return fmt::format("{}:{}:{}:{}:{}", h.frame.database, ltx::FormatTXID(h.frame.max_txid),
                     h.frame.attempt, h.index, h.frame.producer);
}

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
  const size_t msg_id = MsgIdFor(worst).size();
  n += std::strlen("Nats-Msg-Id: \r\n") + msg_id;
  // A chunk names its predecessor by one of these, never both.
  n += std::max(std::strlen("Nats-Expected-Last-Subject-Sequence: \r\n") + 20,
                std::strlen("Nats-Expected-Last-Msg-Id: \r\n") + msg_id);
  return n + 256;  // slack for anything cnats may add
}

Result<uint64_t> PublishChunk(PublishState& st, ChunkHeaders& h, std::string_view payload) {
  const std::string what =
      fmt::format("database {}: publishing chunk {} of TXID {} to {} on {}", st.database, h.index,
                  ltx::FormatTXID(h.frame.max_txid), st.subject, st.conn->url());
  // Built again when a takeover changes the attempt.
  std::string msg_id;
  MsgPtr msg;
  struct RetireOnReturn {
    RetiredMessages& retired;
    MsgPtr& msg;
    ~RetireOnReturn() { retired.Add(std::move(msg)); }
  } retire_on_return{st.retired, msg};
  auto build = [&]() -> Status {
    msg_id = MsgIdFor(h);
    natsMsg* raw = nullptr;
    natsStatus s = natsMsg_Create(&raw, st.subject.c_str(), nullptr, payload.data(),
                                  static_cast<int>(payload.size()));
    msg.reset(raw);
    for (const auto& [key, value] : h.Encode()) {
      if (s == NATS_OK) s = natsMsgHeader_Set(msg.get(), key.c_str(), value.c_str());
    }
    return s == NATS_OK ? Status::OK() : FromNats(s, what);
  };
  LTXBUS_RETURN_IF_ERROR(build());
  const auto deadline = Clock::now() + st.options.ack_timeout;
  Status error;
  natsStatus last_status = NATS_OK;
  for (;;) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    if (left <= Millis(0)) break;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = msg_id.c_str();
    // cnats sends the expected sequence only when > 0; "nothing on the
    // subject yet" is ExpectNoMessage, which sends 0.
    if (st.last_seq == 0) {
      po.ExpectNoMessage = true;
    } else {
      po.ExpectLastSubjectSeq = st.last_seq;
    }
    po.MaxWait = std::min(left, kTryWait).count();
    jsPubAck* raw_ack = nullptr;
    jsErrCode jerr{};
    natsStatus s = js_PublishMsg(&raw_ack, st.conn->js(), msg.get(), &po, &jerr);
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
      st.last_msg_id = msg_id;
      st.uncertain = false;
      st.previous_writer.reset();
      return seq;
    }
    if (jerr == JSStreamWrongLastSequenceErr) {
      LTXBUS_ASSIGN_OR_RETURN(bool moved, TakeOver(st, h));
      if (!moved) return Fence(st, st.last_seq);
      LTXBUS_RETURN_IF_ERROR(build());
      continue;
    }
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

Status Resync(PublishState& st) {
  LTXBUS_ASSIGN_OR_RETURN(auto last, st.conn->GetLastMsg(st.subject, st.options.ack_timeout));
  const uint64_t seq = last.has_value() ? natsMsg_GetSequence(last->get()) : 0;
  if (seq == st.last_seq) {
    st.uncertain = false;
    return Status::OK();
  }
  if (seq > st.last_seq && ProducerOf(last->get()) == st.options.producer) {
    st.last_seq = seq;
    st.last_msg_id.clear();
    st.uncertain = false;
    auto h = DecodeChunkHeaders(last->get());
    if (h.ok() && h->last) st.landed = LastFrame{h->frame, h->trailer, seq};
    return Status::OK();
  }
  return Fence(st, st.last_seq);
}

}  // namespace ltxbus::bus::nats
