// S3Store: configuration, single PUTs, GET with resume, HEAD, listing,
// deletion. Multipart uploads are in s3_multipart.cc.
#include "store/s3/s3_store.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "store/time_format.h"

namespace ltxbus::store::s3 {
namespace {

bool Is2xx(const HttpResponse& r) { return r.status >= 200 && r.status < 300; }

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

std::string FirstNonEmpty(std::initializer_list<std::string> values) {
  for (const std::string& v : values) {
    if (!v.empty()) return v;
  }
  return "";
}

// "bytes 0-9/443" -> 443.
std::optional<uint64_t> TotalFromContentRange(std::string_view v) {
  size_t slash = v.rfind('/');
  if (slash == std::string_view::npos) return std::nullopt;
  uint64_t total = 0;
  auto [p, ec] = std::from_chars(v.data() + slash + 1, v.data() + v.size(), total);
  if (ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
  return total;
}

}  // namespace

Result<S3Config> S3ConfigFromUrl(const StoreUrl& u, const OpenOptions& o) {
  LTXBUS_RETURN_IF_ERROR(
      u.CheckOptions({"endpoint", "region", "force-path-style", "forcePathStyle", "part-size",
                      "max-attempts", "max-keys", "access-key-id", "secret-access-key"}));
  S3Config c;
  c.bucket = u.host;
  if (c.bucket.empty())
    return Status::InvalidArgument("{}: no bucket (want s3://BUCKET/PATH)", u.redacted);
  if (!u.path.empty()) {
    LTXBUS_RETURN_IF_ERROR(ValidateKey(u.path).WithContext(u.redacted + ": path"));
    c.root = u.path + "/";
  }
  c.region = FirstNonEmpty(
      {u.Option("region"), Env("AWS_REGION"), Env("AWS_DEFAULT_REGION"), "us-east-1"});
  c.endpoint =
      FirstNonEmpty({u.Option("endpoint"), Env("AWS_ENDPOINT_URL_S3"), Env("AWS_ENDPOINT_URL")});
  if (c.endpoint.empty()) {
    c.endpoint = fmt::format("https://s3.{}.amazonaws.com", c.region);
    c.path_style = false;
  } else {
    if (c.endpoint.find("://") == std::string::npos) c.endpoint = "https://" + c.endpoint;
    if (!c.endpoint.starts_with("http://") && !c.endpoint.starts_with("https://")) {
      return Status::InvalidArgument("{}: endpoint '{}' is not an http(s) URL", u.redacted,
                                     c.endpoint);
    }
    while (c.endpoint.back() == '/') c.endpoint.pop_back();
    c.path_style = true;
  }
  for (const char* key : {"force-path-style", "forcePathStyle"}) {
    if (u.query.count(key) != 0) {
      LTXBUS_ASSIGN_OR_RETURN(c.path_style, ParseBool(u.Option(key), key));
    }
  }
  if (u.query.count("part-size") != 0) {
    LTXBUS_ASSIGN_OR_RETURN(int64_t part,
                            ParseInt(u.Option("part-size"), "part-size", 5LL << 20, 5LL << 30));
    c.part_size = static_cast<uint64_t>(part);
  }
  if (u.query.count("max-attempts") != 0) {
    LTXBUS_ASSIGN_OR_RETURN(int64_t n, ParseInt(u.Option("max-attempts"), "max-attempts", 1, 100));
    c.max_attempts = static_cast<int>(n);
  }
  if (u.query.count("max-keys") != 0) {
    LTXBUS_ASSIGN_OR_RETURN(int64_t n, ParseInt(u.Option("max-keys"), "max-keys", 1, 1000));
    c.max_keys = static_cast<int>(n);
  }
  c.credentials.access_key_id =
      FirstNonEmpty({o.access_key_id, u.Option("access-key-id"), Env("AWS_ACCESS_KEY_ID")});
  c.credentials.secret_access_key = FirstNonEmpty(
      {o.secret_access_key, u.Option("secret-access-key"), Env("AWS_SECRET_ACCESS_KEY")});
  c.credentials.session_token = FirstNonEmpty({o.session_token, Env("AWS_SESSION_TOKEN")});
  if (c.credentials.access_key_id.empty() || c.credentials.secret_access_key.empty()) {
    return Status::InvalidArgument(
        "{}: no S3 credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the "
        "configuration's access-key-id and secret-access-key)",
        u.redacted);
  }
  return c;
}

Result<std::unique_ptr<ObjectStore>> OpenS3Store(const StoreUrl& url, const OpenOptions& options) {
  LTXBUS_ASSIGN_OR_RETURN(S3Config config, S3ConfigFromUrl(url, options));
  return std::unique_ptr<ObjectStore>(std::make_unique<S3Store>(std::move(config), url.redacted));
}

S3Store::S3Store(S3Config config, std::string url)
    : client_(std::move(config)), url_(std::move(url)) {}

ObjectInfo S3Store::InfoFromHeaders(const std::string& key, const HttpResponse& r) const {
  ObjectInfo info;
  info.key = key;
  info.etag = r.Header("etag");
  if (auto total = TotalFromContentRange(r.Header("content-range")); total.has_value()) {
    info.size = *total;
  } else {
    std::string len = r.Header("content-length");
    std::from_chars(len.data(), len.data() + len.size(), info.size);
  }
  if (auto ms = ParseHttpDate(r.Header("last-modified")); ms.ok()) info.last_modified_ms = *ms;
  for (const auto& [name, value] : r.headers) {
    if (name.starts_with("x-amz-meta-")) info.metadata[name.substr(11)] = value;
  }
  return info;
}

Result<ObjectInfo> S3Store::Put(const std::string& key, SequentialFile& source,
                                const PutOptions& options) {
  LTXBUS_RETURN_IF_ERROR(ValidatePutOptions(key, options));
  std::vector<uint8_t> buf;
  const auto part = static_cast<size_t>(client_.config().part_size);
  LTXBUS_ASSIGN_OR_RETURN(size_t n, ReadUpTo(source, part, buf));
  // A source of exactly part-size bytes goes up as one part of a multipart
  // upload (allowed), which saves peeking past the first part.
  if (n < part) return PutSingle(key, buf, options);
  return PutMultipart(key, buf, source, options);
}

bool S3Store::LandedAnyway(const std::string& key, const std::string& expected_etag) {
  auto info = Stat(key);
  return info.ok() && info->etag == expected_etag;
}

Result<ObjectInfo> S3Store::PutSingle(const std::string& key, std::span<const uint8_t> body,
                                      const PutOptions& options) {
  S3Call call;
  call.method = "PUT";
  call.key = Full(key);
  call.headers = PutHeaders(options, /*conditions=*/true);
  call.body = body;
  call.small = false;
  HttpResponse r;
  int attempts = 0;
  LTXBUS_RETURN_IF_ERROR(client_.Send(call, r, &attempts));
  const bool conditional = options.if_none_match || !options.if_match.empty();
  if (!Is2xx(r) && conditional && attempts > 1 && (r.status == 412 || r.status == 404) &&
      LandedAnyway(key, SinglePutEtag(body))) {
    return Stat(key);
  }
  if (r.status == 404 && !options.if_match.empty()) {
    auto e = ParseError(r.body);
    if (!e.has_value() || e->code == "NoSuchKey") {
      return Status::Conflict("{}: PUT If-Match {}: the object does not exist",
                              client_.Describe(call), options.if_match);
    }
  }
  if (!Is2xx(r)) return client_.ErrorStatus(call, r);
  ObjectInfo info;
  info.key = key;
  info.size = body.size();
  info.etag = r.Header("etag");
  info.metadata = options.metadata;
  if (auto ms = ParseHttpDate(r.Header("date")); ms.ok()) info.last_modified_ms = *ms;
  return info;
}

Result<ObjectInfo> S3Store::Get(const std::string& key, WritableFile& sink,
                                const GetOptions& options) {
  LTXBUS_RETURN_IF_ERROR(ValidateKey(key));
  std::optional<uint64_t> end;  // one past the last byte wanted
  if (options.length.has_value()) end = options.offset + *options.length;
  if (end.has_value() && *end == options.offset) {
    // An empty range has no HTTP form; the object must still exist.
    LTXBUS_ASSIGN_OR_RETURN(ObjectInfo info, Stat(key));
    if (options.offset > info.size) {
      return Status::InvalidArgument("{}: offset {} is beyond the object's {} bytes", key,
                                     options.offset, info.size);
    }
    if (!options.if_match.empty() && options.if_match != info.etag) {
      return Status::Conflict("{}: etag is {}, not {}", key, info.etag, options.if_match);
    }
    return info;
  }
  uint64_t pos = options.offset;  // the next byte the sink wants
  std::string etag = options.if_match;
  bool pinned_by_us = false;  // etag comes from our first response
  S3Call call;
  call.method = "GET";
  call.key = Full(key);
  call.small = false;
  for (int attempt = 1;; attempt++) {
    call.headers.clear();
    if (pos > 0 || end.has_value()) {
      call.headers.emplace_back("Range", end.has_value() ? fmt::format("bytes={}-{}", pos, *end - 1)
                                                         : fmt::format("bytes={}-", pos));
    }
    if (!etag.empty()) call.headers.emplace_back("If-Match", etag);
    HttpResponse r;
    bool started = false;
    uint64_t skip = 0;  // bytes of a 200 to drop when the server ignored Range
    Status sink_status;
    BodySink body = [&](std::span<const uint8_t> data) -> Status {
      if (!started) {
        started = true;
        if (r.status == 200) skip = pos;
      }
      const size_t drop = static_cast<size_t>(std::min<uint64_t>(skip, data.size()));
      skip -= drop;
      data = data.subspan(drop);
      if (end.has_value()) {
        data = data.first(static_cast<size_t>(std::min<uint64_t>(data.size(), *end - pos)));
      }
      if (data.empty()) return Status::OK();
      sink_status = sink.Append(data);
      if (!sink_status.ok()) return sink_status;
      pos += data.size();
      return Status::OK();
    };
    Status s = client_.SendOnce(call, r, &body);
    if (!sink_status.ok()) return sink_status;
    if (etag.empty() && Is2xx(r) && !r.Header("etag").empty()) {
      etag = r.Header("etag");
      pinned_by_us = true;
    }
    if (s.ok() && Is2xx(r)) {
      ObjectInfo info = InfoFromHeaders(key, r);
      const uint64_t want = end.has_value() ? std::min(*end, info.size) : info.size;
      if (pos != want) {
        s = Status::Unavailable("{}: body ended at byte {} of {}", client_.Describe(call), pos,
                                want);
      } else {
        return info;
      }
    }
    if (s.ok() && r.status == 416) {
      LTXBUS_ASSIGN_OR_RETURN(ObjectInfo info, Stat(key));
      if (pos == info.size && pos == options.offset) return info;
      return Status::InvalidArgument("{}: offset {} is beyond the object's {} bytes", key,
                                     options.offset, info.size);
    }
    if (s.ok() && r.status == 412) {
      if (pinned_by_us) {
        return Status::Conflict("{}: the object changed while being read (etag was {})",
                                client_.Describe(call), etag);
      }
      return Status::Conflict("{}: etag is not {}", client_.Describe(call), etag);
    }
    const bool retry = !s.ok() || S3Client::Retryable(r);
    if (!retry) return client_.ErrorStatus(call, r);
    if (attempt >= client_.config().max_attempts) {
      if (!s.ok()) {
        return s.WithContext(fmt::format("GET {} (gave up after {} attempts, at byte {})",
                                         client_.Describe(call), attempt, pos));
      }
      return client_.ErrorStatus(call, r);
    }
    client_.Backoff(attempt);
  }
}

Result<ObjectInfo> S3Store::Stat(const std::string& key) {
  LTXBUS_RETURN_IF_ERROR(ValidateKey(key));
  S3Call call;
  call.method = "HEAD";
  call.key = Full(key);
  HttpResponse r;
  LTXBUS_RETURN_IF_ERROR(client_.Send(call, r));
  if (r.status == 404) return Status::NotFound("{}: no such object", client_.Describe(call));
  if (!Is2xx(r)) return client_.ErrorStatus(call, r);
  return InfoFromHeaders(key, r);
}

Result<std::vector<ObjectInfo>> S3Store::List(const std::string& prefix,
                                              const ListOptions& options) {
  LTXBUS_RETURN_IF_ERROR(ValidatePrefix(prefix));
  const std::string& root = client_.config().root;
  std::vector<ObjectInfo> out;
  std::string token;
  for (bool first = true;; first = false) {
    S3Call call;
    call.method = "GET";
    call.query = {{"list-type", "2"},
                  {"prefix", root + prefix},
                  {"max-keys", std::to_string(client_.config().max_keys)}};
    if (!token.empty()) call.query.emplace_back("continuation-token", token);
    if (first && !options.start_after.empty()) {
      call.query.emplace_back("start-after", root + options.start_after);
    }
    HttpResponse r;
    LTXBUS_RETURN_IF_ERROR(client_.Send(call, r));
    if (!Is2xx(r)) return client_.ErrorStatus(call, r);
    LTXBUS_ASSIGN_OR_RETURN(ListPage page, ParseListObjectsV2(r.body));
    for (ListedObject& o : page.objects) {
      if (!o.key.starts_with(root)) continue;
      ObjectInfo info;
      info.key = o.key.substr(root.size());
      info.size = o.size;
      info.etag = std::move(o.etag);
      info.last_modified_ms = o.last_modified_ms;
      out.push_back(std::move(info));
    }
    if (!page.truncated) break;
    token = page.next_token;
  }
  std::sort(out.begin(), out.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  return out;
}

Status S3Store::Delete(const std::vector<std::string>& keys) {
  for (const std::string& k : keys) LTXBUS_RETURN_IF_ERROR(ValidateKey(k));
  std::vector<std::string> batch;
  for (size_t i = 0; i < keys.size(); i++) {
    batch.push_back(Full(keys[i]));
    if (batch.size() == 1000 || i + 1 == keys.size()) {
      LTXBUS_RETURN_IF_ERROR(DeleteBatch(batch));
      batch.clear();
    }
  }
  return Status::OK();
}

Status S3Store::DeleteBatch(const std::vector<std::string>& full_keys) {
  if (full_keys.size() > 1) {
    const std::string body = DeleteObjectsBody(full_keys);
    S3Call call;
    call.method = "POST";
    call.query = {{"delete", ""}};
    // DeleteObjects insists on a body checksum.
    call.headers = {{"Content-MD5", Base64(Md5Of(AsBytes(body)))},
                    {"Content-Type", "application/xml"}};
    call.body = AsBytes(body);
    HttpResponse r;
    LTXBUS_RETURN_IF_ERROR(client_.Send(call, r));
    if (Is2xx(r)) {
      LTXBUS_ASSIGN_OR_RETURN(std::vector<DeleteFailure> failures, ParseDeleteResult(r.body));
      if (failures.empty()) return Status::OK();
      const DeleteFailure& f = failures.front();
      return Status::IOError("s3://{}/{}: delete failed: {}: {} ({} of {} keys failed)",
                             client_.config().bucket, f.key, f.error.code, f.error.message,
                             failures.size(), full_keys.size());
    }
    // Some S3-compatible servers lack DeleteObjects: one by one then.
    if (r.status != 501 && r.status != 405) return client_.ErrorStatus(call, r);
  }
  for (const std::string& k : full_keys) {
    S3Call call;
    call.method = "DELETE";
    call.key = k;
    HttpResponse r;
    LTXBUS_RETURN_IF_ERROR(client_.Send(call, r));
    if (!Is2xx(r) && r.status != 404) return client_.ErrorStatus(call, r);
  }
  return Status::OK();
}

Status S3Store::CreateBucket() {
  S3Call call;
  call.method = "PUT";
  std::string body;
  if (client_.config().region != "us-east-1") {
    body = fmt::format(
        "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
        client_.config().region);
  }
  call.body = AsBytes(body);
  HttpResponse r;
  LTXBUS_RETURN_IF_ERROR(client_.Send(call, r));
  if (Is2xx(r)) return Status::OK();
  if (auto e = ParseError(r.body); e.has_value() && e->code == "BucketAlreadyOwnedByYou") {
    return Status::OK();
  }
  return client_.ErrorStatus(call, r);
}

}  // namespace ltxbus::store::s3
