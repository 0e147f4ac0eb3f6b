// The NATS JetStream bus (docs/message-format.md, "NATS JetStream").
//
// One stream holds every database; a database's chunks go to the subject
// `<prefix>.<EscapeDatabaseName(db)>`, so they keep their order and a chunk's
// offset is its stream sequence. JetStream has no transactions, so two
// mechanisms replace them:
//   - fencing: every publish carries the expected last sequence of the
//     subject, so a producer that is no longer the database's writer fails
//     (error 10071) on its next chunk and gets Status::Conflict;
//   - de-duplication: every publish carries `Nats-Msg-Id =
//     <db>:<txid>:<attempt>:<chunk>`, so a publish retried after a lost
//     acknowledgement is stored once.
// A frame's attempt id is the subject's last sequence when its chunk 0 was
// published (decimal, "0" on an empty subject). That makes attempts unique
// per subject, and lets Publisher::Open() walk back from an incomplete frame
// to the message before it without scanning the stream.
//
// Publishing keeps a bounded window of chunks in flight (nats_window.h):
// chunk 0 of a frame is published and acknowledged alone, fenced on the
// subject's last sequence; each later chunk goes out without waiting, fenced
// with `Nats-Expected-Last-Msg-Id` on the Msg-Id of the chunk before it, so it
// is stored only directly after it. A chunk refused because something else
// landed in between (another database's message, on a shared stream) is
// published again, fenced on the subject's last sequence. Memory stays
// bounded by (window + 1) chunks; chunks are capped below the server's
// max_payload. A publish without an answer is resent under the same Msg-Id
// until ack_timeout (which must be shorter than the stream's duplicates
// window). When it still has no verdict, the next BeginFrame() asks the bus:
// if the frame landed after all and the caller publishes the same frame
// again, Commit() returns the stored frame's offset instead of storing a
// second copy; if another producer wrote meanwhile, the publisher is fenced.
//
// Subscribers are ordered push consumers (ephemeral, flow-controlled,
// recreated by cnats after a gap or a reconnect) filtered to the database's
// subject; a start time or "end" is turned into a stream sequence first.
//
// URL: nats://[user:pass@]host:port[,host:port]/STREAM[?option=value&...]
// Options (all optional):
//   subject-prefix   subject prefix; default the stream name in lower case
//   create           "false": the stream must exist; default "true"
//   duplicates       de-duplication window, Go duration; default 2m
//   max-age          stream MaxAge, Go duration ("24h", "90m"); default none
//   max-bytes        stream MaxBytes ("1073741824", "512MiB", "2G"); default none
//   replicas         stream replicas; default 1
//   connect-timeout  connect and JetStream API timeout, Go duration; default 5s
//   max-in-flight    chunks a publisher keeps unacknowledged, 1 to 1024 (1: one
//                    chunk at a time, each fenced on the subject); default 8
// Stream settings apply when ltxbus creates the stream; an existing stream is
// used as it is, after checking that it holds `<prefix>.>` and keeps
// messages by limits.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "bus/bus.h"

namespace ltxbus::bus {

// Connects to the servers of `endpoint` (kind kNats) and makes sure its stream
// exists. A server that cannot be reached gives Status::Unavailable.
Result<std::unique_ptr<Bus>> ConnectNats(const Endpoint& endpoint);

// The stream settings a NATS endpoint asks for, parsed and checked.
struct NatsSettings {
  std::string stream;
  std::string subject_prefix;
  bool create = true;
  int64_t duplicates_ns = int64_t{120} * 1'000'000'000;
  int64_t max_age_ns = 0;  // 0: unlimited
  int64_t max_bytes = -1;  // -1: unlimited
  int64_t replicas = 1;
  Millis connect_timeout{5000};
  int max_in_flight = 64;  // a publisher setting, carried by the endpoint

  static Result<NatsSettings> FromEndpoint(const Endpoint& endpoint);
};

// A Go duration ("300ms", "1.5h", "2h45m", "0") in nanoseconds.
Result<int64_t> ParseGoDuration(std::string_view text);
// A byte count: decimal, optionally with a K/M/G/T suffix (powers of 1024;
// "KB", "KiB" and "k" all mean 1024), or -1 for unlimited.
Result<int64_t> ParseByteSize(std::string_view text);

}  // namespace ltxbus::bus
