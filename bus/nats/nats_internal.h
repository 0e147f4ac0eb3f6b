// Pieces shared by the NATS bus implementation files: RAII owners for cnats
// objects, the shared connection, error mapping, and message helpers. Not a
// public header.
#pragma once

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "bus/bus.h"
#include "bus/nats/nats_bus.h"

namespace ltxbus::bus::nats {

// A unique_ptr deleter that calls a cnats destroy function.
template <auto kDestroy>
struct CDeleter {
  template <typename T>
  void operator()(T* p) const {
    kDestroy(p);
  }
};
using OptionsPtr = std::unique_ptr<natsOptions, CDeleter<&natsOptions_Destroy>>;
using ConnectionPtr = std::unique_ptr<natsConnection, CDeleter<&natsConnection_Destroy>>;
using JsPtr = std::unique_ptr<jsCtx, CDeleter<&jsCtx_Destroy>>;
using MsgPtr = std::unique_ptr<natsMsg, CDeleter<&natsMsg_Destroy>>;
using SubscriptionPtr = std::unique_ptr<natsSubscription, CDeleter<&natsSubscription_Destroy>>;
using StreamInfoPtr = std::unique_ptr<jsStreamInfo, CDeleter<&jsStreamInfo_Destroy>>;
using PubAckPtr = std::unique_ptr<jsPubAck, CDeleter<&jsPubAck_Destroy>>;
using MetaDataPtr = std::unique_ptr<jsMsgMetaData, CDeleter<&jsMsgMetaData_Destroy>>;
using ConsumerInfoPtr = std::unique_ptr<jsConsumerInfo, CDeleter<&jsConsumerInfo_Destroy>>;

// cnats frees every destroyed message, received or made with natsMsg_Create,
// on its garbage-collector thread and wakes that thread whenever its list was
// empty, which for messages destroyed one at a time is once per message: a
// cross-CPU wake-up and two context switches each, a tenth of a catching-up
// follower's time and of a producer's per small frame (perf,
// bench/RESULTS.md). Destroyed a batch at a time, one wake-up serves the
// batch. Only small messages wait: a large one is destroyed at once, so its
// memory is reused for the next one while still warm (holding 512 KiB chunks
// back cost a fifth of the apply rate of 100-page transactions).
class RetiredMessages {
 public:
  void Add(MsgPtr msg) {
    if (msg == nullptr) return;
    const auto size = static_cast<size_t>(natsMsg_GetDataLength(msg.get()));
    if (size >= kMaxBytes / 4) return;  // destroyed now
    bytes_ += size;
    msgs_.push_back(std::move(msg));
    if (msgs_.size() >= kMaxMessages || bytes_ >= kMaxBytes) Clear();
  }
  void Clear() {
    msgs_.clear();
    bytes_ = 0;
  }

 private:
  static constexpr size_t kMaxMessages = 64;
  static constexpr size_t kMaxBytes = size_t{256} << 10;
  std::vector<MsgPtr> msgs_;
  size_t bytes_ = 0;
};

// A Status for a failed cnats call: the code follows the failure (a server
// that cannot be reached is Unavailable, a wait that ran out is Timeout), and
// the message says what we were doing plus cnats' own description.
Status FromNats(natsStatus s, std::string_view what, jsErrCode jerr = {});

// One connection and JetStream context, shared by the Bus and every
// Publisher and Subscriber made from it (they may outlive the Bus object).
class Connection {
  // Only Open() constructs (through make_shared, which needs a public
  // constructor).
  struct Key {
    explicit Key() = default;
  };

 public:
  static Result<std::shared_ptr<Connection>> Open(const Endpoint& endpoint,
                                                  const NatsSettings& settings);
  Connection(Key, NatsSettings settings, std::string url)
      : settings_(std::move(settings)), url_(std::move(url)) {}
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  natsConnection* nc() const { return nc_.get(); }
  jsCtx* js() const { return js_.get(); }
  const NatsSettings& settings() const { return settings_; }
  const std::string& stream() const { return settings_.stream; }
  const std::string& url() const { return url_; }
  std::string SubjectFor(std::string_view database) const;
  // The server's message size limit (headers included).
  int64_t max_payload() const;
  // The stream's de-duplication window, as the server has it.
  int64_t duplicates_ns() const { return duplicates_ns_; }
  bool connected() const;

  // A stored message: the last on `subject`, or the one at `seq`. nullopt
  // when there is none (an empty subject, or a sequence already deleted).
  Result<std::optional<MsgPtr>> GetLastMsg(const std::string& subject, Millis timeout) const;
  Result<std::optional<MsgPtr>> GetMsg(uint64_t seq, Millis timeout) const;
  // The stream's last sequence (0 when it never held a message).
  Result<uint64_t> StreamLastSeq() const;

 private:
  Status EnsureStream();

  NatsSettings settings_;
  std::string url_;
  int64_t duplicates_ns_ = 0;
  // Destroyed in reverse order: the context before the connection.
  ConnectionPtr nc_;
  JsPtr js_;
};

// Decodes the chunk headers of `msg` (the first value of each header),
// reading them from the message itself.
Result<ChunkHeaders> DecodeChunkHeaders(natsMsg* msg);
// A header's value, or "" when absent.
std::string HeaderOr(natsMsg* msg, const char* name);
std::string_view PayloadOf(natsMsg* msg);

// The last message on a database's subject and the newest complete frame at
// or before it.
struct SubjectTail {
  uint64_t seq = 0;                     // of the last message; 0: the subject is empty
  std::optional<ChunkHeaders> headers;  // the last message's
  std::optional<LastFrame> frame;       // the newest complete frame, if any is left
};
// Reads the subject's last message and walks back from it to the last chunk
// of the newest complete frame (nats_last_frame.cc). The one walk shared by
// Publisher::Open() and Bus::ReadLastFrame(); it only reads. Each request
// waits up to `timeout`.
Result<SubjectTail> ReadSubjectTail(const Connection& conn, const std::string& database,
                                    Millis timeout);

Result<std::unique_ptr<Publisher>> NewPublisher(std::shared_ptr<Connection> conn,
                                                const std::string& database,
                                                const PublisherOptions& options);
Result<std::unique_ptr<Subscriber>> NewSubscriber(std::shared_ptr<Connection> conn,
                                                  const std::string& database,
                                                  const StartPosition& start);

}  // namespace ltxbus::bus::nats
