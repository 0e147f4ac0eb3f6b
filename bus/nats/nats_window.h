// Internal to the NATS publisher: a frame's chunks with a bounded number in
// flight (docs/message-format.md, "The publish window").
//
// Chunk 0 is published alone and acknowledged (nats_publish.h PublishChunk):
// it is fenced on the subject's last sequence, and its success is what makes
// the frame's attempt ours. Every later chunk is sent without waiting, as
// a plain publish with a reply inbox, carrying
//   - `Nats-Expected-Last-Msg-Id: <Msg-Id of the chunk before it>`: stored
//     only if that chunk is the stream's last message, so a chunk lands right
//     behind its predecessor or not at all; nothing can slip in between, and
//     a late copy (a retry, a reconnect replaying its buffer) lands in order
//     or is refused;
//   - or, when nothing is in flight, `Nats-Expected-Last-Subject-Sequence`
//     on our last acknowledged chunk, as a synchronous publish would.
// In a batch (Publisher::BeginBatch) the window spans frames: a chunk 0 is
// pipelined too, behind the previous frame's last chunk, whenever a chain of
// messages that began with an acknowledged one is in flight. Its attempt
// (the stream sequence before it) is then known exactly: each message of the
// chain lands at its predecessor's sequence + 1 or not at all. When nothing
// is in flight, the next message is published synchronously and anchors a
// new chain.
// Acknowledgements are taken in chunk order. When one is missing or refused
// (another database's message landed between two of ours on a shared stream,
// a timeout, a reconnect), the window stops sending, waits for what is in
// flight, keeps everything up to the newest chunk the server stored (it
// stored all before it, in order), and publishes the rest one at a time with
// PublishChunk, which resolves duplicates, fencing and retries. Then it
// pipelines again, with a window halved if the cause was interleaving.
#pragma once

#include <deque>
#include <string>

#include "bus/nats/nats_publish.h"

namespace ltxbus::bus::nats {

class ChunkWindow {
 public:
  // `st` must outlive the window (the FrameWriter holds both).
  explicit ChunkWindow(PublishState& st) : st_(st) {}
  ChunkWindow(const ChunkWindow&) = delete;
  ChunkWindow& operator=(const ChunkWindow&) = delete;

  // Publishes one chunk, waiting for the oldest acknowledgement when the
  // window is full. Chunk 0 (and every chunk when the window is 1) is
  // published synchronously; for chunk 0 a takeover may give `h` a new
  // attempt, which the later chunks of the frame must carry too.
  Status Publish(ChunkHeaders& h, std::string payload);
  // Waits until every chunk sent is stored, resolving failures; returns the
  // stream sequence of the last one.
  Result<uint64_t> Finish();
  // Gives the frame up: waits (bounded) for the answers still due, so that
  // the publisher knows where the subject ends, or marks it uncertain.
  void Abandon();

 private:
  enum class State { kWaiting, kStored, kRefused, kUnknown };
  struct Pending {
    ChunkHeaders headers;
    std::string payload;
    std::string msg_id;
    uint64_t token = 0;
    Clock::time_point deadline;
    State state = State::kWaiting;
    uint64_t seq = 0;
    jsErrCode error = static_cast<jsErrCode>(0);
  };

  Status Send(const ChunkHeaders& h, std::string payload);
  // Takes the replies that arrived; with `until` in the future, waits for
  // more until then, or until the oldest pending chunk (`all`: every one)
  // has its answer.
  Status Receive(Clock::time_point until, bool all = false);
  void Record(natsMsg* reply);
  // Pops acknowledged chunks off the front; a front chunk that failed stops
  // the window (broken_).
  void Advance();
  // Waits for every answer still due (bounded by each chunk's deadline).
  Status AwaitAll();
  // After a break: keeps what was stored, republishes the rest one by one.
  Status Resolve();
  Status EnsureInbox();

  // A chunk 0 republished by Resolve gets the attempt its real predecessor
  // gives it; the frame's later chunks must carry the same.
  void Restamp(ChunkHeaders& h) const;

  PublishState& st_;
  std::deque<Pending> pending_;
  size_t pending_bytes_ = 0;
  // The frame whose attempt Resolve changed, and the new attempt.
  ltx::TXID restamped_txid_ = 0;
  std::string restamped_attempt_;
  bool broken_ = false;
  bool interleaved_ = false;  // the break was another message landing between ours
};

}  // namespace ltxbus::bus::nats
