#include "bus/nats/nats_window.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <utility>

namespace ltxbus::bus::nats {
namespace {

// In-flight bytes, in chunks of the publisher's chunk size: what bounds
// memory while a big frame streams through.
constexpr size_t kWindowChunks = 8;

using InboxPtr = std::unique_ptr<natsInbox, CDeleter<&natsInbox_Destroy>>;

// One more chunk acknowledged without trouble: the window grows back by one
// per window's worth of them.
void Grow(PublishState& st) {
  if (st.window >= st.max_in_flight) return;
  if (++st.window_credit >= st.window) {
    st.window++;
    st.window_credit = 0;
  }
}

int64_t MillisUntil(Clock::time_point t) {
  return std::max<int64_t>(0, std::chrono::duration_cast<Millis>(t - Clock::now()).count());
}

}  // namespace

Status ChunkWindow::EnsureInbox() {
  if (st_.replies != nullptr) return Status::OK();
  natsInbox* raw_inbox = nullptr;
  natsStatus s = natsInbox_Create(&raw_inbox);
  InboxPtr inbox(raw_inbox);
  if (s != NATS_OK) return FromNats(s, "creating an inbox for publish acknowledgements");
  st_.inbox = inbox.get();
  natsSubscription* raw = nullptr;
  s = natsConnection_SubscribeSync(&raw, st_.conn->nc(), (st_.inbox + ".*").c_str());
  st_.replies.reset(raw);
  if (s != NATS_OK) {
    return FromNats(s, fmt::format("database {}: subscribing to publish acknowledgements on {}",
                                   st_.database, st_.conn->url()));
  }
  // Replies are small and taken promptly; never drop one for being many.
  natsSubscription_SetPendingLimits(raw, -1, -1);
  return Status::OK();
}

void ChunkWindow::Restamp(ChunkHeaders& h) const {
  if (h.index > 0 && restamped_txid_ != 0 && h.frame.max_txid == restamped_txid_) {
    h.frame.attempt = restamped_attempt_;
  }
}

Status ChunkWindow::Publish(ChunkHeaders& h, std::string payload) {
  if (st_.fenced) return *st_.fenced;
  Restamp(h);
  if (st_.window > 1 && (h.index > 0 || st_.in_batch)) {
    // Room in the window: by count, and by bytes so that big frames keep
    // memory bounded by a few chunks whatever the count.
    const size_t max_bytes = kWindowChunks * st_.options.chunk_size;
    for (;;) {
      LTXBUS_RETURN_IF_ERROR(Receive(Clock::now()));
      Advance();
      if (broken_) {
        LTXBUS_RETURN_IF_ERROR(Resolve());
        Restamp(h);
        continue;
      }
      if (static_cast<int>(pending_.size()) < st_.window &&
          (pending_.empty() || pending_bytes_ + payload.size() <= max_bytes)) {
        break;
      }
      LTXBUS_RETURN_IF_ERROR(Receive(pending_.front().deadline));
    }
    // Outside a batch a frame's later chunks follow its acknowledged chunk
    // 0. In a batch, a message is pipelined only behind a chain in flight or
    // our own last stored message, whose sequences are then exact (see the
    // top of nats_window.h).
    if (!st_.in_batch || !pending_.empty() || !st_.last_msg_id.empty()) {
      if (h.index == 0) h.frame.attempt = std::to_string(st_.last_seq + pending_.size());
      return Send(h, std::move(payload));
    }
  }
  // A synchronous publish names the subject's last sequence, so nothing of
  // ours may still be in flight.
  if (!pending_.empty() || broken_) {
    LTXBUS_RETURN_IF_ERROR(Finish().status());
    Restamp(h);
  }
  if (h.index == 0) h.frame.attempt = std::to_string(st_.last_seq);
  LTXBUS_RETURN_IF_ERROR(PublishChunk(st_, h, payload).status());
  if (h.index > 0) Grow(st_);
  return Status::OK();
}

Result<uint64_t> ChunkWindow::Finish() {
  for (;;) {
    LTXBUS_RETURN_IF_ERROR(Receive(Clock::now()));
    Advance();
    if (broken_) {
      LTXBUS_RETURN_IF_ERROR(Resolve());
      continue;
    }
    if (pending_.empty()) return st_.last_seq;
    LTXBUS_RETURN_IF_ERROR(Receive(pending_.front().deadline));
  }
}

void ChunkWindow::Abandon() {
  if (pending_.empty()) {
    broken_ = false;
    return;
  }
  (void)AwaitAll();
  // Everything up to the newest chunk stored is stored; after it, only a
  // refusal is a certain "no".
  size_t stored = 0;
  for (size_t i = 0; i < pending_.size(); i++) {
    if (pending_[i].state == State::kStored && pending_[i].seq > st_.last_seq) stored = i + 1;
  }
  if (stored > 0) {
    st_.last_seq = pending_[stored - 1].seq;
    st_.last_msg_id = pending_[stored - 1].msg_id;
    st_.previous_writer.reset();
  }
  for (size_t i = stored; i < pending_.size(); i++) {
    if (pending_[i].state != State::kRefused) st_.uncertain = true;
  }
  pending_.clear();
  pending_bytes_ = 0;
  broken_ = false;
  interleaved_ = false;
}

Status ChunkWindow::Send(const ChunkHeaders& h, std::string payload) {
  LTXBUS_RETURN_IF_ERROR(EnsureInbox());
  Pending p;
  p.headers = h;
  p.msg_id = MsgIdFor(h);
  p.token = st_.next_token++;
  pending_bytes_ += payload.size();
  const std::string reply = fmt::format("{}.{}", st_.inbox, p.token);
  natsMsg* raw = nullptr;
  natsStatus s = natsMsg_Create(&raw, st_.subject.c_str(), reply.c_str(), payload.data(),
                                static_cast<int>(payload.size()));
  MsgPtr msg(raw);
  for (const auto& [key, value] : h.Encode()) {
    if (s == NATS_OK) s = natsMsgHeader_Set(msg.get(), key.c_str(), value.c_str());
  }
  if (s == NATS_OK) s = natsMsgHeader_Set(msg.get(), "Nats-Msg-Id", p.msg_id.c_str());
  if (s == NATS_OK) {
    // Fenced on the chunk sent just before; with nothing in flight, in a
    // batch on our last stored message by Msg-Id (so this one's sequence is
    // known), else on its sequence, as a synchronous publish does.
    static const std::string kNone;
    const std::string& previous = !pending_.empty() ? pending_.back().msg_id
                                  : st_.in_batch    ? st_.last_msg_id
                                                    : kNone;
    if (previous.empty()) {
      s = natsMsgHeader_Set(msg.get(), "Nats-Expected-Last-Subject-Sequence",
                            std::to_string(st_.last_seq).c_str());
    } else {
      s = natsMsgHeader_Set(msg.get(), "Nats-Expected-Last-Msg-Id", previous.c_str());
    }
  }
  if (s != NATS_OK) {
    return FromNats(s, fmt::format("database {}: building chunk {} of TXID {}", st_.database,
                                   h.index, ltx::FormatTXID(h.frame.max_txid)));
  }
  s = natsConnection_PublishMsg(st_.conn->nc(), msg.get());
  st_.retired.Add(std::move(msg));
  p.payload = std::move(payload);
  p.deadline = Clock::now() + std::min(kTryWait, st_.options.ack_timeout);
  if (s != NATS_OK) {
    // Not sent, or not known to be: the synchronous path settles it.
    spdlog::debug("database {}: pipelined chunk {} not sent: {}", st_.database, h.index,
                  natsStatus_GetText(s));
    p.state = State::kUnknown;
    broken_ = true;
  }
  pending_.push_back(std::move(p));
  return Status::OK();
}

Status ChunkWindow::Receive(Clock::time_point until, bool all) {
  if (st_.replies == nullptr) return Status::OK();
  auto waiting = [](const Pending& p) { return p.state == State::kWaiting; };
  for (;;) {
    const bool due = all ? std::any_of(pending_.begin(), pending_.end(), waiting)
                         : !pending_.empty() && waiting(pending_.front());
    const bool block = due && Clock::now() < until;
    natsMsg* raw = nullptr;
    natsStatus s = natsSubscription_NextMsg(&raw, st_.replies.get(),
                                            block ? std::max<int64_t>(1, MillisUntil(until)) : 0);
    MsgPtr reply(raw);
    if (s == NATS_TIMEOUT) {
      if (!block) return Status::OK();
      continue;  // the next round sees the deadline passed and drains without waiting
    }
    if (s != NATS_OK) {
      // The connection is closed: no answer is coming for anything.
      for (Pending& p : pending_) {
        if (p.state == State::kWaiting) p.state = State::kUnknown;
      }
      return Status::OK();
    }
    Record(reply.get());
    st_.retired.Add(std::move(reply));
  }
}

void ChunkWindow::Record(natsMsg* reply) {
  const char* subject = natsMsg_GetSubject(reply);
  if (subject == nullptr) return;
  std::string_view token(subject);
  if (token.size() <= st_.inbox.size() + 1 || !token.starts_with(st_.inbox)) return;
  token.remove_prefix(st_.inbox.size() + 1);
  uint64_t id = 0;
  auto [p, ec] = std::from_chars(token.data(), token.data() + token.size(), id);
  if (ec != std::errc() || p != token.data() + token.size()) return;
  auto it = std::find_if(pending_.begin(), pending_.end(),
                         [id](const Pending& x) { return x.token == id; });
  // An answer to a chunk given up on earlier (Abandon, Resolve): its fate was
  // settled another way.
  if (it == pending_.end() || it->state != State::kWaiting) return;
  it->state = State::kUnknown;
  if (natsMsg_IsNoResponders(reply)) return;  // no stream took it
  const auto body = PayloadOf(reply);
  auto json = nlohmann::json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) return;
  if (auto e = json.find("error"); e != json.end()) {
    it->state = State::kRefused;
    if (e->is_object()) {
      if (auto code = e->find("err_code"); code != e->end() && code->is_number_integer()) {
        it->error = static_cast<jsErrCode>(code->get<int>());
      }
    }
    spdlog::debug("database {}: pipelined chunk {} of TXID {} refused: {}", st_.database,
                  it->headers.index, ltx::FormatTXID(it->headers.frame.max_txid), e->dump());
    return;
  }
  const auto seq = json.find("seq");
  const auto dup = json.find("duplicate");
  // A duplicate is settled by the synchronous path, which checks whose it is.
  if (seq == json.end() || !seq->is_number_unsigned() ||
      (dup != json.end() && !(dup->is_boolean() && !dup->get<bool>()))) {
    return;
  }
  it->state = State::kStored;
  it->seq = seq->get<uint64_t>();
}

void ChunkWindow::Advance() {
  while (!pending_.empty()) {
    Pending& front = pending_.front();
    if (front.state == State::kWaiting) {
      if (Clock::now() < front.deadline) return;
      front.state = State::kUnknown;
    }
    if (front.state == State::kStored && front.seq > st_.last_seq) {
      st_.last_seq = front.seq;
      st_.last_msg_id = front.msg_id;
      st_.previous_writer.reset();
      Grow(st_);
      pending_bytes_ -= front.payload.size();
      pending_.pop_front();
      continue;
    }
    broken_ = true;
    if (front.state == State::kRefused && front.error == JSStreamWrongLastMsgIDErr) {
      interleaved_ = true;
    }
    return;
  }
}

Status ChunkWindow::AwaitAll() {
  Clock::time_point latest = Clock::now();
  for (const Pending& p : pending_) {
    if (p.state == State::kWaiting) latest = std::max(latest, p.deadline);
  }
  LTXBUS_RETURN_IF_ERROR(Receive(latest, /*all=*/true));
  for (Pending& p : pending_) {
    if (p.state == State::kWaiting) p.state = State::kUnknown;
  }
  return Status::OK();
}

Status ChunkWindow::Resolve() {
  LTXBUS_RETURN_IF_ERROR(AwaitAll());
  // A chunk is stored only right behind the one before it, so the newest
  // stored chunk vouches for all before it.
  size_t stored = 0;
  for (size_t i = 0; i < pending_.size(); i++) {
    if (pending_[i].state == State::kStored && pending_[i].seq > st_.last_seq) stored = i + 1;
  }
  for (size_t i = 0; i + 1 < stored; i++) {
    if (pending_[i].state == State::kRefused) {
      Status inconsistent = Status::Internal(
          "database {}: chunk {} of TXID {} was refused but a later chunk was stored after it",
          st_.database, pending_[i].headers.index,
          ltx::FormatTXID(pending_[i].headers.frame.max_txid));
      st_.uncertain = true;
      pending_.clear();
      pending_bytes_ = 0;
      broken_ = false;
      return inconsistent;
    }
  }
  if (stored > 0) {
    st_.last_seq = pending_[stored - 1].seq;
    st_.last_msg_id = pending_[stored - 1].msg_id;
    st_.previous_writer.reset();
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(stored));
  }
  while (!pending_.empty()) {
    Pending p = std::move(pending_.front());
    pending_.pop_front();
    pending_bytes_ -= p.payload.size();
    if (p.headers.index == 0) {
      // Published now right behind st_.last_seq: that is its attempt (the
      // same as before unless the chain broke before its predecessor).
      p.headers.frame.attempt = std::to_string(st_.last_seq);
      restamped_txid_ = p.headers.frame.max_txid;
      restamped_attempt_ = p.headers.frame.attempt;
    } else {
      Restamp(p.headers);
    }
    auto seq = PublishChunk(st_, p.headers, p.payload);
    if (!seq.ok()) {
      // What was queued behind it cannot land before it (each names its
      // predecessor); PublishChunk marked the state uncertain if needed.
      pending_.clear();
      pending_bytes_ = 0;
      broken_ = false;
      interleaved_ = false;
      return seq.status();
    }
  }
  broken_ = false;
  if (interleaved_) {
    st_.window = std::max(1, st_.window / 2);
    st_.window_credit = 0;
    interleaved_ = false;
    spdlog::debug("database {}: other messages interleave with ours; publish window now {}",
                  st_.database, st_.window);
  }
  return Status::OK();
}

}  // namespace ltxbus::bus::nats
