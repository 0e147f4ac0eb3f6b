// The JetStream object store's connection, bucket stream and JetStream
// requests (with bounded retries), and opening it from a URL.
#include <algorithm>
#include <thread>

#include "bus/nats/nats_bus.h"
#include "store/nats/nats_store_internal.h"

namespace ltxbus::store::nats {
namespace {

// Room for a chunk's headers (Nats-Msg-Id) below the server's max_payload.
constexpr int64_t kHeaderRoom = 4096;

bool Transient(natsStatus s) {
  return s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS || s == NATS_CONNECTION_DISCONNECTED ||
         s == NATS_NOT_YET_CONNECTED || s == NATS_IO_ERROR || s == NATS_STALE_CONNECTION;
}

}  // namespace

Status NatsStore::Connect() {
  natsOptions* raw_opts = nullptr;
  natsStatus s = natsOptions_Create(&raw_opts);  // also initialises the library once
  bn::OptionsPtr opts(raw_opts);
  if (s != NATS_OK) return bn::FromNats(s, "creating NATS options");
  std::vector<const char*> servers;
  for (const auto& srv : c_.servers) servers.push_back(srv.c_str());
  s = natsOptions_SetServers(opts.get(), servers.data(), static_cast<int>(servers.size()));
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts.get(), c_.timeout_ms);
  if (s == NATS_OK) s = natsOptions_SetName(opts.get(), "ltxbus-store");
  // Dropped connections reconnect in the background; calls meanwhile time
  // out and are retried a bounded number of times.
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(opts.get(), true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts.get(), -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts.get(), 250);
  if (s != NATS_OK) return bn::FromNats(s, fmt::format("{}: setting NATS options", c_.url));
  natsConnection* raw_nc = nullptr;
  s = natsConnection_Connect(&raw_nc, opts.get());
  nc_.reset(raw_nc);
  if (s != NATS_OK) return bn::FromNats(s, fmt::format("connecting to NATS for {}", c_.url));
  jsOptions jo = Options();
  jsCtx* raw_js = nullptr;
  s = natsConnection_JetStream(&raw_js, nc_.get(), &jo);
  js_.reset(raw_js);
  if (s != NATS_OK) return bn::FromNats(s, fmt::format("{}: opening JetStream", c_.url));
  const int64_t limit = natsConnection_GetMaxPayload(nc_.get()) - kHeaderRoom;
  if (c_.chunk_size > limit) {
    return Status::InvalidArgument("{}: chunk-size {} exceeds the server's max_payload less {}",
                                   c_.url, c_.chunk_size, kHeaderRoom);
  }
  chunk_size_ = c_.chunk_size > 0 ? static_cast<size_t>(c_.chunk_size)
                                  : std::min(kDefaultChunk, static_cast<size_t>(limit));
  return EnsureStream();
}

Status NatsStore::EnsureStream() {
  const std::string chunks = fmt::format("$O.{}.C.>", c_.bucket);
  const std::string metas = fmt::format("$O.{}.M.>", c_.bucket);
  jsOptions jo = Options();
  jsErrCode jerr{};
  jsStreamInfo* raw = nullptr;
  natsStatus s = js_GetStreamInfo(&raw, js_.get(), stream_.c_str(), &jo, &jerr);
  bn::StreamInfoPtr info(raw);
  if (s == NATS_NO_RESPONDERS || jerr == JSNotEnabledErr || jerr == JSNotEnabledForAccountErr) {
    return Status::Unavailable(
        "{}: JetStream is not enabled on the server (start nats-server with -js)", c_.url);
  }
  if (s == NATS_NOT_FOUND) {
    if (!c_.create) {
      return Status::NotFound(
          "{}: object store bucket {} (stream {}) does not exist and the URL "
          "says create=false",
          c_.url, c_.bucket, stream_);
    }
    // As nats.go's CreateObjectStore makes it, so other clients accept it.
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char* subjects[] = {chunks.c_str(), metas.c_str()};
    cfg.Name = stream_.c_str();
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 2;
    cfg.Storage = js_FileStorage;
    cfg.Retention = js_LimitsPolicy;
    cfg.Discard = js_DiscardNew;
    cfg.MaxBytes = -1;
    cfg.Replicas = c_.replicas;
    cfg.AllowRollup = true;
    cfg.AllowDirect = true;
    jsStreamInfo* created = nullptr;
    s = js_AddStream(&created, js_.get(), &cfg, &jo, &jerr);
    info.reset(created);
    if (s != NATS_OK && jerr == JSStreamNameExistErr) {
      raw = nullptr;
      s = js_GetStreamInfo(&raw, js_.get(), stream_.c_str(), &jo, &jerr);
      info.reset(raw);
    }
    if (s != NATS_OK) {
      return bn::FromNats(s, fmt::format("{}: creating stream {}", c_.url, stream_), jerr);
    }
  } else if (s != NATS_OK) {
    return bn::FromNats(s, fmt::format("{}: looking up stream {}", c_.url, stream_), jerr);
  }
  if (info == nullptr || info->Config == nullptr) {
    return Status::Internal("{}: stream {} came back without a configuration", c_.url, stream_);
  }
  const jsStreamConfig& cfg = *info->Config;
  bool has_chunks = false, has_metas = false;
  for (int i = 0; i < cfg.SubjectsLen; i++) {
    has_chunks = has_chunks || chunks == cfg.Subjects[i];
    has_metas = has_metas || metas == cfg.Subjects[i];
  }
  if (!has_chunks || !has_metas || !cfg.AllowRollup || cfg.DenyPurge || !cfg.AllowDirect) {
    return Status::InvalidArgument(
        "{}: stream {} is not an object store bucket (want subjects {} and {}, rollups and "
        "purges allowed, direct get on)",
        c_.url, stream_, chunks, metas);
  }
  return Status::OK();
}

Result<std::optional<bn::MsgPtr>> NatsStore::DirectGet(jsDirectGetMsgOptions& dg,
                                                       std::string_view what,
                                                       RequestCounter::Kind kind) {
  for (int attempt = 1;; attempt++) {
    counter_.Add(kind);
    jsOptions jo = Options();
    natsMsg* raw = nullptr;
    natsStatus s = js_DirectGetMsg(&raw, js_.get(), stream_.c_str(), &jo, &dg);
    bn::MsgPtr msg(raw);
    if (s == NATS_OK) return std::optional<bn::MsgPtr>(std::move(msg));
    if (s == NATS_NOT_FOUND) return std::optional<bn::MsgPtr>();
    if (!Transient(s) || attempt >= kAttempts) {
      return bn::FromNats(s, fmt::format("{}: {} (attempt {})", c_.url, what, attempt));
    }
    std::this_thread::sleep_for(kRetryPause);
  }
}

Result<std::optional<Current>> NatsStore::ReadMeta(const std::string& name) {
  const std::string subject = MetaSubject(c_.bucket, name);
  jsDirectGetMsgOptions dg;
  jsDirectGetMsgOptions_Init(&dg);
  dg.LastBySubject = subject.c_str();
  LTXBUS_ASSIGN_OR_RETURN(auto msg,
                          DirectGet(dg, "reading the meta of " + name, RequestCounter::kHead));
  if (!msg.has_value()) return std::optional<Current>();
  Current cur;
  auto meta = ObjectMeta::Decode(bn::PayloadOf(msg->get()));
  if (!meta.ok()) return meta.status().WithContext(fmt::format("{}: object {}", c_.url, name));
  cur.meta = std::move(meta).value();
  cur.seq = natsMsg_GetSequence(msg->get());
  cur.time_ms = natsMsg_GetTime(msg->get()) / 1'000'000;
  return std::optional<Current>(std::move(cur));
}

Result<uint64_t> NatsStore::Publish(const std::string& subject, std::span<const uint8_t> data,
                                    const std::string& msg_id, bool rollup,
                                    std::optional<uint64_t> expect) {
  for (int attempt = 1;; attempt++) {
    natsMsg* raw = nullptr;
    natsStatus s =
        natsMsg_Create(&raw, subject.c_str(), nullptr, reinterpret_cast<const char*>(data.data()),
                       static_cast<int>(data.size()));
    bn::MsgPtr msg(raw);
    if (s == NATS_OK && rollup) s = natsMsgHeader_Set(msg.get(), "Nats-Rollup", "sub");
    if (s != NATS_OK) return bn::FromNats(s, fmt::format("{}: building a message", c_.url));
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = c_.timeout_ms;
    po.MsgId = msg_id.c_str();
    if (expect.has_value() && *expect > 0) po.ExpectLastSubjectSeq = *expect;
    if (expect.has_value() && *expect == 0) po.ExpectNoMessage = true;
    counter_.Add(RequestCounter::kPut);
    jsPubAck* raw_ack = nullptr;
    jsErrCode jerr{};
    s = js_PublishMsg(&raw_ack, js_.get(), msg.get(), &po, &jerr);
    bn::PubAckPtr ack(raw_ack);
    if (s == NATS_OK && ack != nullptr) return ack->Sequence;
    if (jerr == JSStreamWrongLastSequenceErr) {
      return Status::Conflict("{}: {} was written by someone else meanwhile", c_.url, subject);
    }
    if (!Transient(s) || attempt >= kAttempts) {
      return bn::FromNats(
          s, fmt::format("{}: publishing to {} (attempt {})", c_.url, subject, attempt), jerr);
    }
    // The same Msg-Id again: stored once even if the first one landed.
    std::this_thread::sleep_for(kRetryPause);
  }
}

Status NatsStore::Purge(const std::string& subject) {
  for (int attempt = 1;; attempt++) {
    jsOptions jo = Options();
    jo.Stream.Purge.Subject = subject.c_str();
    counter_.Add(RequestCounter::kDelete);
    jsErrCode jerr{};
    natsStatus s = js_PurgeStream(js_.get(), stream_.c_str(), &jo, &jerr);
    if (s == NATS_OK) return Status::OK();
    if (!Transient(s) || attempt >= kAttempts) {
      return bn::FromNats(s, fmt::format("{}: purging {}", c_.url, subject), jerr);
    }
    std::this_thread::sleep_for(kRetryPause);
  }
}

Result<bn::StreamInfoPtr> NatsStore::SubjectsInfo(const std::string& filter) {
  for (int attempt = 1;; attempt++) {
    jsOptions jo = Options();
    jo.Stream.Info.SubjectsFilter = filter.c_str();
    counter_.Add(RequestCounter::kList);
    jsStreamInfo* raw = nullptr;
    jsErrCode jerr{};
    natsStatus s = js_GetStreamInfo(&raw, js_.get(), stream_.c_str(), &jo, &jerr);
    bn::StreamInfoPtr info(raw);
    if (s == NATS_OK) return info;
    if (!Transient(s) || attempt >= kAttempts) {
      return bn::FromNats(s, fmt::format("{}: listing stream {}", c_.url, stream_), jerr);
    }
    std::this_thread::sleep_for(kRetryPause);
  }
}

Result<std::unique_ptr<ObjectStore>> OpenNatsStore(const StoreUrl& url) {
  LTXBUS_RETURN_IF_ERROR(url.CheckOptions({"create", "chunk-size", "timeout", "replicas"}));
  Config c;
  if (url.host.empty()) return Status::InvalidArgument("{}: no NATS server", url.redacted);
  std::string_view hosts = url.host;
  while (!hosts.empty()) {
    size_t comma = hosts.find(',');
    std::string server = "nats://";
    if (!url.userinfo.empty()) server += url.userinfo + "@";
    server += std::string(hosts.substr(0, comma));
    c.servers.push_back(std::move(server));
    if (comma == std::string_view::npos) break;
    hosts.remove_prefix(comma + 1);
  }
  const std::string& path = url.path;
  const size_t slash = path.find('/');
  c.bucket = path.substr(0, slash);
  if (!ValidBucket(c.bucket)) {
    return Status::InvalidArgument(
        "{}: '{}' is not a valid object store bucket name (want [A-Za-z0-9_-]+ after the servers)",
        url.redacted, c.bucket);
  }
  if (slash != std::string::npos) {
    const std::string root = path.substr(slash + 1);
    LTXBUS_RETURN_IF_ERROR(ValidateKey(root).WithContext(url.redacted + ": path"));
    c.root = root + "/";
  }
  c.url = url.redacted;
  if (url.query.count("create") != 0) {
    LTXBUS_ASSIGN_OR_RETURN(c.create, ParseBool(url.Option("create"), "create"));
  }
  if (url.query.count("chunk-size") != 0) {
    LTXBUS_ASSIGN_OR_RETURN(c.chunk_size,
                            ParseInt(url.Option("chunk-size"), "chunk-size", 1024, 64LL << 20));
  }
  if (url.query.count("timeout") != 0) {
    auto ns = bus::ParseGoDuration(url.Option("timeout"));
    if (!ns.ok()) return ns.status().WithContext(url.redacted + ": timeout");
    if (*ns < 1'000'000) return Status::InvalidArgument("{}: timeout must be >= 1ms", url.redacted);
    c.timeout_ms = *ns / 1'000'000;
  }
  if (url.query.count("replicas") != 0) {
    LTXBUS_ASSIGN_OR_RETURN(c.replicas, ParseInt(url.Option("replicas"), "replicas", 1, 5));
  }
  auto store = std::make_unique<NatsStore>(std::move(c));
  LTXBUS_RETURN_IF_ERROR(store->Connect());
  return std::unique_ptr<ObjectStore>(std::move(store));
}

}  // namespace ltxbus::store::nats
