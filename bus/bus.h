// The bus interface: Kafka (bus/kafka/) and NATS JetStream (bus/nats/) behind
// one narrow API. A bus carries, per database, an ordered log of chunk
// messages (bus/message.h) with real offsets: Kafka partition offsets, or
// JetStream stream sequences.
//
// Publishing is single-writer per database and fenced: a Publisher that is no
// longer the database's writer (another producer took over) gets a Conflict
// status and must stop. Consumers see only frames that were completely
// published (Kafka: read_committed transactions; NATS: the assembler drops
// chunks of a frame whose last chunk never arrived).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "base/env.h"
#include "base/status.h"
#include "bus/message.h"

namespace ltxbus::bus {

using Millis = std::chrono::milliseconds;

// A parsed bus URL:
//   nats://[user:pass@]host:port[,host:port]/STREAM[?subject-prefix=ltx&...]
//   kafka://host:port[,host:port]/TOPIC[?partitions=1&...]
struct Endpoint {
  enum class Kind { kNats, kKafka } kind = Kind::kNats;
  std::string servers;  // as the client library wants them ("nats://h:p,…" or "h:p,…")
  std::string name;     // JetStream stream or Kafka topic
  std::map<std::string, std::string> options;  // query parameters
  std::string url;                             // the original, for messages (credentials removed)

  static Result<Endpoint> Parse(std::string_view url);
};

// A message as read back from the bus.
struct Chunk {
  ChunkHeaders headers;
  std::string payload;
  uint64_t offset = 0;      // Kafka offset or JetStream stream sequence
  int64_t bus_time_ms = 0;  // when the bus stored it
};

// Where a Subscriber starts reading.
struct StartPosition {
  enum class Kind { kBeginning, kEnd, kOffset, kTime } kind = Kind::kBeginning;
  uint64_t offset = 0;  // kOffset: the first offset to deliver
  int64_t time_ms = 0;  // kTime: the first message stored at or after this time
};

// One frame being published. It is a WritableFile so an ltx::Encoder can
// stream into it: Append() buffers and publishes full chunks as they fill, so
// memory stays bounded by the chunk size whatever the frame size.
class FrameWriter : public WritableFile {
 public:
  // Publishes the last chunk with `trailer` and waits until the bus has
  // acknowledged every chunk of the frame (Kafka: the transaction commits).
  // Returns the offset of the last chunk. Inside a batch (Publisher::
  // BeginBatch) it only sends and returns without waiting (the value is then
  // not an offset); EndBatch acknowledges the frame.
  virtual Result<uint64_t> Commit(const FrameTrailer& trailer) = 0;
  // Gives the frame up (Kafka: aborts the transaction). Consumers never see
  // an aborted or uncommitted frame as complete.
  virtual void Abort() = 0;
  // WritableFile plumbing: Sync() and Close() do nothing; Commit() publishes.
  Status Sync() override { return Status::OK(); }
  Status Close() override { return Status::OK(); }
};

// The newest complete frame of a database, as a restarted producer needs it.
struct LastFrame {
  FrameId id;
  FrameTrailer trailer;
  uint64_t offset = 0;  // of its last chunk
};

struct PublisherOptions {
  std::string producer;            // this producer's identity, see FrameId::producer
  size_t chunk_size = 512 * 1024;  // payload bytes per message (bounded by the server's limit)
  Millis ack_timeout{30000};       // how long Commit() waits for the bus
};

class Publisher {
 public:
  virtual ~Publisher() = default;
  // Becomes the database's writer (Kafka: init_transactions fences older
  // producers) and reads the newest complete frame, if any.
  virtual Result<std::optional<LastFrame>> Open() = 0;
  // Starts a frame; at most one frame is open at a time. The publisher sets
  // `attempt` and `producer` itself. Publishing the same frame again after a
  // Commit that failed with Timeout or Unavailable is safe: it is stored once.
  virtual Result<std::unique_ptr<FrameWriter>> BeginFrame(const FrameId& id) = 0;

  // Batches: the frames begun between BeginBatch() and EndBatch() are sent
  // back to back without waiting for each acknowledgement (NATS: pipelined,
  // each message fenced on the one before it; Kafka: one Kafka transaction
  // for the whole batch), which is how a backlog of small frames moves at
  // the bus's throughput rather than one round trip per frame. Every frame
  // is still its own frame to consumers. EndBatch() waits until every frame
  // of the batch is stored and returns the offset of the last chunk.
  //
  // A failed batch (any error from a FrameWriter or EndBatch) leaves the
  // bus holding an unknown prefix of the batch (Kafka: all or none), so the
  // Publisher is unusable afterwards except for being destroyed: the caller
  // opens a new Publisher and learns from Open() where the bus is.
  virtual Status BeginBatch() = 0;
  virtual Result<uint64_t> EndBatch() = 0;

  // The earliest moment the next batch would start without waiting inside
  // BeginBatch (Kafka: transaction-gap-ms after the previous transaction).
  // A caller that waits until then before deciding what goes into the batch
  // lets commits made meanwhile join it rather than wait a whole batch.
  virtual std::chrono::steady_clock::time_point NextBatchAt() const { return {}; }
};

class Subscriber {
 public:
  virtual ~Subscriber() = default;
  // The next chunk of this database, or nullopt if none arrived within
  // `timeout`. Chunks come in bus order.
  virtual Result<std::optional<Chunk>> Next(Millis timeout) = 0;
  // One past this database's last message (the "head"), for lag.
  virtual Result<uint64_t> HeadOffset() = 0;
};

class Bus {
 public:
  virtual ~Bus() = default;
  // Connects to the servers named by `endpoint`, creating the stream or topic
  // if it does not exist and the options allow it.
  static Result<std::unique_ptr<Bus>> Connect(const Endpoint& endpoint);

  virtual Result<std::unique_ptr<Publisher>> NewPublisher(const std::string& database,
                                                          const PublisherOptions& options) = 0;
  virtual Result<std::unique_ptr<Subscriber>> Subscribe(const std::string& database,
                                                        const StartPosition& start) = 0;
  // The newest frame of `database` that consumers see complete, read without
  // becoming the writer: no fencing, no effect on a running producer (Kafka:
  // a read_committed reader, no init_transactions). nullopt when the database
  // has none. The same walk a Publisher's Open() does, for `ltxbus sync` and
  // monitoring.
  virtual Result<std::optional<LastFrame>> ReadLastFrame(const std::string& database) = 0;
};

}  // namespace ltxbus::bus
