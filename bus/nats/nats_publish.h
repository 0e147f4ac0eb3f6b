// Internal to the NATS publisher: the state one database's Publisher and its
// open FrameWriter share, and the synchronous, fenced, de-duplicated publish
// of one chunk that everything else falls back on. Not a public header.
//
// The fencing invariant, which the window (nats_window.h) keeps too: a chunk
// is stored only directly after the message it names as its predecessor on
// the subject — by stream sequence (`Nats-Expected-Last-Subject-Sequence`),
// or by Msg-Id (`Nats-Expected-Last-Msg-Id`: the stream's very last message).
// A producer only ever names its own messages (or, once, the last message it
// saw when it took over). So a frame's chunks are contiguous on the subject,
// and once another producer has stored a message, nothing this one sends can
// land after it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "bus/nats/nats_internal.h"

namespace ltxbus::bus::nats {

class ChunkWindow;

using Clock = std::chrono::steady_clock;

// How long one publish waits for its acknowledgement before it is sent again
// (under the same Msg-Id, so the server stores it once). Shorter than a
// typical ack_timeout so a reply lost to a reconnect is retried in time.
inline constexpr Millis kTryWait{5000};

// The writer this publisher takes over from, as Open() saw it: its chunks
// still in flight may land after that read. Until our first message is
// stored, a fence caused only by such chunks is not a takeover by someone
// else (see TakeOver in nats_publish.cc).
struct PreviousWriter {
  std::string producer;
  // Attempts whose chunks may follow: the frame that was open at the tail,
  // and one begun right after it.
  std::set<std::string> attempts;
};

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
  // that is not pipelined expects it, so a publish by anyone else since makes
  // ours fail.
  uint64_t last_seq = 0;
  // The Msg-Id of that message when it is ours and we know it (else empty):
  // a batch's next message can then be pipelined right behind it, fenced by
  // Msg-Id, and its stream sequence is known to be last_seq + 1.
  std::string last_msg_id;
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
  std::optional<PreviousWriter> previous_writer;

  // Between BeginBatch and EndBatch: one window for every frame of the
  // batch, so frames pipeline like chunks do. Once a frame of the batch
  // failed, the batch (and this publisher) fails with `batch_error`.
  bool in_batch = false;
  std::shared_ptr<ChunkWindow> batch_window;
  std::optional<Status> batch_error;

  // The window (nats_window.h): its upper bound from the endpoint, and its
  // current size, halved when pipelined chunks are refused because other
  // messages interleave with ours on the stream, grown back by one per
  // window of clean acknowledgements.
  int max_in_flight = 1;
  int window = 1;
  int window_credit = 0;
  // The inbox pipelined publishes are answered on, made on first use;
  // replies carry a token that is never reused.
  std::string inbox;
  SubscriptionPtr replies;
  uint64_t next_token = 1;
  // Chunks sent and replies read, destroyed a few dozen at a time.
  RetiredMessages retired;
};

// "<db>:<txid>:<attempt>:<chunk>:<producer>": unique per stored chunk, since
// attempts are unique among the frames stored on a subject, and never the
// same for two producers, so a pipelined chunk that names its predecessor by
// Msg-Id can only ever land behind its own producer's message.
std::string MsgIdFor(const ChunkHeaders& h);

// Publishes one chunk expecting st.last_seq before it on the subject, retrying
// under the same Msg-Id until st.options.ack_timeout; returns its sequence
// and makes it st.last_seq. A duplicate is accepted only if the stored
// message is ours. Fenced: Conflict (and st.fenced). For chunk 0, when the
// writer we took over from still had chunks in flight, it moves past them and
// gives the frame a new attempt in `h`.
Result<uint64_t> PublishChunk(PublishState& st, ChunkHeaders& h, std::string_view payload);

// After a publish that ended without a verdict, learns whether it was stored:
// if the subject's last message is ours, it was (and if it ended a frame, that
// frame is complete); if someone else's, we are fenced.
Status Resync(PublishState& st);

// The bytes a chunk's headers take on the wire at most ("NATS/1.0" line, every
// "Key: Value" line, and the Nats-* headers we add), so that a chunk plus its
// headers stays below the server's limit.
size_t HeaderRoom(const FrameId& frame);

}  // namespace ltxbus::bus::nats
