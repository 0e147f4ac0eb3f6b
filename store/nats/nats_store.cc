// The JetStream object store's operations (put, get, stat, list, delete).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "store/digest.h"
#include "store/nats/nats_store_internal.h"

namespace ltxbus::store::nats {
namespace {

// Unconditional puts that keep losing the race for the meta subject give up.
constexpr int kMetaRounds = 10;

std::string NewNuid() {
  natsInbox* inbox = nullptr;
  if (natsInbox_Create(&inbox) != NATS_OK || inbox == nullptr) return "";
  std::string s(inbox);
  natsInbox_Destroy(inbox);
  return s.substr(s.rfind('.') + 1);  // "_INBOX.<nuid>"
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Reads from `source` until `buf` holds `limit` bytes or the source ends.
Status ReadChunk(SequentialFile& source, size_t limit, std::vector<uint8_t>& buf) {
  buf.resize(limit);
  size_t have = 0;
  while (have < limit) {
    LTXBUS_ASSIGN_OR_RETURN(size_t n, source.Read(std::span<uint8_t>(buf).subspan(have)));
    if (n == 0) break;
    have += n;
  }
  buf.resize(have);
  return Status::OK();
}

}  // namespace

ObjectInfo NatsStore::InfoOf(const std::string& key, const Current& cur) const {
  ObjectInfo info;
  info.key = key;
  info.size = cur.meta.size;
  info.etag = std::to_string(cur.seq);
  info.last_modified_ms = cur.time_ms;
  for (const auto& [name, values] : cur.meta.headers) {
    std::string k = name;
    std::transform(k.begin(), k.end(), k.begin(), [](char ch) {
      return static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    });
    // Headers that are not valid metadata keys (set by other clients) are
    // left out rather than failing the read.
    if (!values.empty() && ValidateMetadata({{k, values.front()}}).ok()) {
      info.metadata[k] = values.front();
    }
  }
  return info;
}

Result<ObjectInfo> NatsStore::Put(const std::string& key, SequentialFile& source,
                                  const PutOptions& options) {
  LTXBUS_RETURN_IF_ERROR(ValidatePutOptions(key, options));
  const std::string name = c_.root + key;
  LTXBUS_ASSIGN_OR_RETURN(std::optional<Current> current, ReadMeta(name));
  auto exists = [](const std::optional<Current>& cur) {
    return cur.has_value() && !cur->meta.deleted;
  };
  // Checked here to fail before uploading; enforced by the meta publish.
  if (options.if_none_match && exists(current)) {
    return Status::Conflict("{}: put {} if-none-match: the object exists", c_.url, key);
  }
  if (!options.if_match.empty()) {
    if (!exists(current)) {
      return Status::Conflict("{}: put {} if-match {}: the object does not exist", c_.url, key,
                              options.if_match);
    }
    if (std::to_string(current->seq) != options.if_match) {
      return Status::Conflict("{}: put {} if-match {}: the object's etag is {}", c_.url, key,
                              options.if_match, current->seq);
    }
  }
  const std::string nuid = NewNuid();
  if (nuid.empty()) return Status::Internal("{}: cannot make a NUID", c_.url);
  const std::string chunk_subject = ChunkSubject(c_.bucket, nuid);
  auto fail = [&](const Status& why) -> Status {
    if (Status s = Purge(chunk_subject); !s.ok()) {
      spdlog::warn("{}: could not remove the chunks of an abandoned put of {}: {}", c_.url, key,
                   s.ToString());
    }
    return why;
  };

  ObjectMeta meta;
  meta.name = name;
  meta.bucket = c_.bucket;
  meta.nuid = nuid;
  meta.max_chunk_size = static_cast<uint32_t>(chunk_size_);
  for (const auto& [k, v] : options.metadata) meta.headers[CanonicalHeaderName(k)] = {v};
  Sha256 hash;
  std::vector<uint8_t> buf;
  for (;;) {
    if (Status s = ReadChunk(source, chunk_size_, buf); !s.ok()) {
      return fail(s.WithContext(fmt::format("put {}: reading", key)));
    }
    if (buf.empty()) break;
    hash.Update(buf);
    auto seq =
        Publish(chunk_subject, buf, fmt::format("{}.{}", nuid, meta.chunks), false, std::nullopt);
    if (!seq.ok()) return fail(seq.status());
    if (!meta.chunk_seqs.empty() &&
        meta.chunk_seqs.back().first + meta.chunk_seqs.back().second == *seq) {
      meta.chunk_seqs.back().second++;
    } else {
      meta.chunk_seqs.emplace_back(*seq, 1);
    }
    meta.size += buf.size();
    meta.chunks++;
    if (buf.size() < chunk_size_) break;
  }
  meta.digest = "SHA-256=" + Base64(hash.Finish(), /*url=*/true);
  const std::string payload = meta.Encode();
  const std::string meta_subject = MetaSubject(c_.bucket, name);
  const bool conditional = options.if_none_match || !options.if_match.empty();
  uint64_t seq = 0;
  for (int round = 1;; round++) {
    auto published = Publish(meta_subject, AsBytes(payload), nuid + ".meta", /*rollup=*/true,
                             current.has_value() ? current->seq : 0);
    if (published.ok()) {
      seq = *published;
      break;
    }
    if (published.status().code() != Status::Code::kConflict || conditional) {
      return fail(published.status().WithContext(fmt::format("put {}", key)));
    }
    // Unconditional, and someone else wrote the object meanwhile: replace
    // their version instead, so the chunks purged below are the replaced ones.
    if (round >= kMetaRounds) return fail(published.status());
    auto again = ReadMeta(name);
    if (!again.ok()) return fail(again.status());
    current = std::move(again).value();
  }
  if (exists(current) && !current->meta.nuid.empty() && current->meta.nuid != nuid) {
    if (Status s = Purge(ChunkSubject(c_.bucket, current->meta.nuid)); !s.ok()) {
      spdlog::warn("{}: {} was replaced but its old chunks stay: {}", c_.url, key, s.ToString());
    }
  }
  ObjectInfo info;
  info.key = key;
  info.size = meta.size;
  info.etag = std::to_string(seq);
  info.last_modified_ms = NowMs();
  info.metadata = options.metadata;
  return info;
}

Result<ObjectInfo> NatsStore::Get(const std::string& key, WritableFile& sink,
                                  const GetOptions& options) {
  LTXBUS_RETURN_IF_ERROR(ValidateKey(key));
  // A version replaced before we passed on any byte of it is no conflict:
  // read the new one instead.
  for (int attempt = 1;; attempt++) {
    bool delivered = false;
    Result<ObjectInfo> r = GetVersion(key, sink, options, delivered);
    if (r.ok() || r.status().code() != Status::Code::kConflict || delivered ||
        !options.if_match.empty() || attempt >= kAttempts) {
      return r;
    }
  }
}

Result<ObjectInfo> NatsStore::GetVersion(const std::string& key, WritableFile& sink,
                                         const GetOptions& options, bool& delivered) {
  LTXBUS_ASSIGN_OR_RETURN(std::optional<Current> cur, ReadMeta(c_.root + key));
  if (!cur.has_value() || cur->meta.deleted)
    return Status::NotFound("{}: no object {}", c_.url, key);
  ObjectInfo info = InfoOf(key, *cur);
  const ObjectMeta& meta = cur->meta;
  if (!options.if_match.empty() && options.if_match != info.etag) {
    return Status::Conflict("{}: get {}: etag is {}, not {}", c_.url, key, info.etag,
                            options.if_match);
  }
  if (options.offset > info.size) {
    return Status::InvalidArgument("{}: get {}: offset {} is beyond the object's {} bytes", c_.url,
                                   key, options.offset, info.size);
  }
  const uint64_t end = options.length.has_value()
                           ? std::min(info.size, options.offset + *options.length)
                           : info.size;
  if (options.offset == end) return info;
  if (meta.nuid.empty()) return Status::Corruption("{}: object {} has no nuid", c_.url, key);

  // Start at the chunk holding `offset` when we know where it is (objects we
  // wrote: fixed-size chunks, sequences recorded); otherwise walk from the
  // first chunk.
  uint64_t index = 0, chunk_start = 0, seq = 0;
  const uint64_t cs = meta.max_chunk_size;
  if (cs > 0 && !meta.chunk_seqs.empty()) {
    index = options.offset / cs;
    std::optional<uint64_t> s = meta.ChunkSeq(index);
    if (!s.has_value()) {
      return Status::Corruption("{}: object {} records no sequence for chunk {}", c_.url, key,
                                index);
    }
    chunk_start = index * cs;
    seq = *s;
  }
  const bool whole = options.offset == 0 && end == info.size;
  const std::string chunk_subject = ChunkSubject(c_.bucket, meta.nuid);
  Sha256 hash;
  while (chunk_start < end) {
    if (index >= meta.chunks) {
      return Status::Corruption("{}: object {} claims {} bytes in {} chunks but they hold fewer",
                                c_.url, key, info.size, meta.chunks);
    }
    jsDirectGetMsgOptions dg;
    jsDirectGetMsgOptions_Init(&dg);
    dg.Sequence = seq;
    dg.NextBySubject = chunk_subject.c_str();
    LTXBUS_ASSIGN_OR_RETURN(
        auto msg,
        DirectGet(dg, fmt::format("reading chunk {} of {}", index, key), RequestCounter::kGet));
    if (!msg.has_value()) {
      return Status::Conflict(
          "{}: chunk {} of {} is gone: the object was replaced or deleted "
          "while being read",
          c_.url, index, key);
    }
    const std::string_view data = bn::PayloadOf(msg->get());
    if (data.empty()) return Status::Corruption("{}: object {} has an empty chunk", c_.url, key);
    if (whole) hash.Update(data);
    const uint64_t lo = std::max(options.offset, chunk_start);
    const uint64_t hi = std::min(end, chunk_start + data.size());
    if (hi > lo) {
      delivered = true;
      LTXBUS_RETURN_IF_ERROR(sink.Append(AsBytes(
          data.substr(static_cast<size_t>(lo - chunk_start), static_cast<size_t>(hi - lo)))));
    }
    chunk_start += data.size();
    index++;
    seq = natsMsg_GetSequence(msg->get()) + 1;
  }
  if (whole) {
    if (index != meta.chunks || chunk_start != info.size) {
      return Status::Corruption("{}: object {}: {} bytes in {} chunks, meta says {} in {}", c_.url,
                                key, chunk_start, index, info.size, meta.chunks);
    }
    const std::string digest = "SHA-256=" + Base64(hash.Finish(), /*url=*/true);
    if (digest != meta.digest) {
      return Status::Corruption("{}: object {}: digest {} does not match the meta's {}", c_.url,
                                key, digest, meta.digest);
    }
  }
  return info;
}

Result<ObjectInfo> NatsStore::Stat(const std::string& key) {
  LTXBUS_RETURN_IF_ERROR(ValidateKey(key));
  LTXBUS_ASSIGN_OR_RETURN(std::optional<Current> cur, ReadMeta(c_.root + key));
  if (!cur.has_value() || cur->meta.deleted)
    return Status::NotFound("{}: no object {}", c_.url, key);
  return InfoOf(key, *cur);
}

Result<std::vector<ObjectInfo>> NatsStore::List(const std::string& prefix,
                                                const ListOptions& options) {
  LTXBUS_RETURN_IF_ERROR(ValidatePrefix(prefix));
  // Object names are base64 in the subjects, so the server cannot filter by
  // prefix: take every meta subject, then read the metas that match.
  const std::string filter = fmt::format("$O.{}.M.>", c_.bucket);
  LTXBUS_ASSIGN_OR_RETURN(bn::StreamInfoPtr info, SubjectsInfo(filter));
  std::vector<std::string> keys;
  // nats-server sends at most this many subjects in a stream info, without
  // paging (2.9); a fuller bucket would list incompletely.
  constexpr int kMaxSubjectDetails = 100'000;
  if (info->State.Subjects != nullptr && info->State.Subjects->Count >= kMaxSubjectDetails) {
    return Status::IOError("{}: the bucket holds {} or more objects, more than nats-server lists",
                           c_.url, kMaxSubjectDetails);
  }
  if (info->State.Subjects != nullptr) {
    for (int i = 0; i < info->State.Subjects->Count; i++) {
      std::string name = NameFromMetaSubject(c_.bucket, info->State.Subjects->List[i].Subject);
      if (name.empty() || !name.starts_with(c_.root)) continue;
      std::string key = name.substr(c_.root.size());
      if (!key.starts_with(prefix) || key <= options.start_after || !ValidateKey(key).ok()) {
        continue;
      }
      keys.push_back(std::move(key));
    }
  }
  std::sort(keys.begin(), keys.end());
  std::vector<ObjectInfo> out;
  for (const std::string& key : keys) {
    LTXBUS_ASSIGN_OR_RETURN(std::optional<Current> cur, ReadMeta(c_.root + key));
    if (!cur.has_value() || cur->meta.deleted) continue;  // deleted meanwhile, or a marker
    ObjectInfo o = InfoOf(key, *cur);
    o.metadata.clear();
    out.push_back(std::move(o));
  }
  return out;
}

Status NatsStore::Delete(const std::vector<std::string>& keys) {
  for (const std::string& k : keys) LTXBUS_RETURN_IF_ERROR(ValidateKey(k));
  for (const std::string& key : keys) {
    const std::string name = c_.root + key;
    LTXBUS_ASSIGN_OR_RETURN(std::optional<Current> cur, ReadMeta(name));
    if (!cur.has_value()) continue;
    // The meta first: a crash in between leaves unreferenced chunks, never
    // a meta whose chunks are gone.
    LTXBUS_RETURN_IF_ERROR(Purge(MetaSubject(c_.bucket, name)));
    if (!cur->meta.deleted && !cur->meta.nuid.empty()) {
      LTXBUS_RETURN_IF_ERROR(Purge(ChunkSubject(c_.bucket, cur->meta.nuid)));
    }
  }
  return Status::OK();
}

}  // namespace ltxbus::store::nats
