// The JetStream object store's pieces shared by its two files: the store
// class, its settings, and request helpers. Not a public header.
#pragma once

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bus/nats/nats_internal.h"
#include "store/nats/nats_object_meta.h"
#include "store/nats/nats_store.h"
#include "store/request_counter.h"

namespace ltxbus::store::nats {

namespace bn = ::ltxbus::bus::nats;

// Tries per JetStream request; a timeout or a dropped connection is retried
// (the connection reconnects in the background meanwhile).
inline constexpr int kAttempts = 5;
inline constexpr std::chrono::milliseconds kRetryPause{200};
inline constexpr size_t kDefaultChunk = 512 << 10;

struct Config {
  std::vector<std::string> servers;
  std::string bucket;
  std::string root;  // "" or "PATH/"
  std::string url;
  bool create = true;
  int64_t chunk_size = 0;  // 0: default
  int64_t timeout_ms = 5000;
  int64_t replicas = 1;
};

// The newest meta message of an object (a deleted marker too).
struct Current {
  ObjectMeta meta;
  uint64_t seq = 0;
  int64_t time_ms = 0;
};

class NatsStore final : public ObjectStore {
 public:
  explicit NatsStore(Config config) : c_(std::move(config)), stream_(StreamName(c_.bucket)) {}

  Status Connect();

  std::string_view kind() const override { return "nats"; }
  const std::string& url() const override { return c_.url; }
  Result<ObjectInfo> Put(const std::string& key, SequentialFile& source,
                         const PutOptions& options) override;
  Result<ObjectInfo> Get(const std::string& key, WritableFile& sink,
                         const GetOptions& options) override;
  Result<ObjectInfo> Stat(const std::string& key) override;
  Result<std::vector<ObjectInfo>> List(const std::string& prefix,
                                       const ListOptions& options) override;
  Status Delete(const std::vector<std::string>& keys) override;
  RequestCounts Requests() const override { return counter_.Snapshot(); }

 private:
  Status EnsureStream();
  jsOptions Options() const {
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = c_.timeout_ms;
    return jo;
  }
  // `kind`: kHead for meta reads, kGet for chunks.
  Result<std::optional<bn::MsgPtr>> DirectGet(jsDirectGetMsgOptions& dg, std::string_view what,
                                              RequestCounter::Kind kind);
  Result<std::optional<Current>> ReadMeta(const std::string& name);
  // Publishes and returns the stream sequence. `expect`: the meta subject's
  // last sequence must be this (0: no message); Conflict otherwise.
  Result<uint64_t> Publish(const std::string& subject, std::span<const uint8_t> data,
                           const std::string& msg_id, bool rollup, std::optional<uint64_t> expect);
  Status Purge(const std::string& subject);
  // The stream's info listing the subjects that match `filter`.
  Result<bn::StreamInfoPtr> SubjectsInfo(const std::string& filter);
  ObjectInfo InfoOf(const std::string& key, const Current& cur) const;
  // One read of the current version; `delivered` says whether the sink got
  // any of it.
  Result<ObjectInfo> GetVersion(const std::string& key, WritableFile& sink,
                                const GetOptions& options, bool& delivered);

  Config c_;
  std::string stream_;
  size_t chunk_size_ = kDefaultChunk;
  // Destroyed in reverse order: the JetStream context before the connection.
  bn::ConnectionPtr nc_;
  bn::JsPtr js_;
  RequestCounter counter_;
};

}  // namespace ltxbus::store::nats
