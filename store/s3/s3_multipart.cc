// S3Store's multipart upload: CreateMultipartUpload, UploadPart for each
// part (one part in memory at a time), CompleteMultipartUpload carrying the
// write's conditions, and AbortMultipartUpload on any failure so no parts
// are left behind to be billed.
#include <spdlog/spdlog.h>

#include "store/s3/s3_store.h"

namespace ltxbus::store::s3 {
namespace {

bool Is2xx(const HttpResponse& r) { return r.status >= 200 && r.status < 300; }

// S3 allows at most this many parts per upload.
constexpr int kMaxParts = 10000;

}  // namespace

Result<ObjectInfo> S3Store::PutMultipart(const std::string& key, std::vector<uint8_t>& first,
                                         SequentialFile& source, const PutOptions& options) {
  const std::string full = Full(key);
  // The server checks the condition only when the upload completes; a HEAD
  // now saves uploading gigabytes that are bound to be refused.
  if (options.if_none_match || !options.if_match.empty()) {
    auto current = Stat(key);
    if (current.ok() && options.if_none_match) {
      return Status::Conflict("s3://{}/{}: PUT If-None-Match: the object exists",
                              client_.config().bucket, full);
    }
    if (!options.if_match.empty()) {
      if (!current.ok() && current.status().IsNotFound()) {
        return Status::Conflict("s3://{}/{}: PUT If-Match {}: the object does not exist",
                                client_.config().bucket, full, options.if_match);
      }
      if (current.ok() && current->etag != options.if_match) {
        return Status::Conflict("s3://{}/{}: PUT If-Match {}: the object's etag is {}",
                                client_.config().bucket, full, options.if_match, current->etag);
      }
    }
  }

  S3Call create;
  create.method = "POST";
  create.key = full;
  create.query = {{"uploads", ""}};
  create.headers = PutHeaders(options, /*conditions=*/false);
  HttpResponse r;
  LTXBUS_RETURN_IF_ERROR(client_.Send(create, r));
  if (!Is2xx(r)) return client_.ErrorStatus(create, r);
  LTXBUS_ASSIGN_OR_RETURN(std::string upload_id, ParseUploadId(r.body));

  auto abort = [&](Status why) -> Status {
    S3Call call;
    call.method = "DELETE";
    call.key = full;
    call.query = {{"uploadId", upload_id}};
    HttpResponse ar;
    Status s = client_.Send(call, ar);
    if (s.ok() && !Is2xx(ar) && ar.status != 404) s = client_.ErrorStatus(call, ar);
    if (!s.ok()) {
      spdlog::warn("{}: could not abort multipart upload {} after a failure: {}", url_, upload_id,
                   s.ToString());
    }
    return why;
  };

  std::vector<CompletedPart> parts;
  std::vector<Md5Digest> md5s;
  uint64_t total = 0;
  std::vector<uint8_t>& buf = first;
  const auto part_size = static_cast<size_t>(client_.config().part_size);
  for (int number = 1;; number++) {
    if (number > 1) {
      buf.clear();
      auto n = ReadUpTo(source, part_size, buf);
      if (!n.ok()) return abort(n.status().WithContext(fmt::format("put {}: reading", key)));
      if (*n == 0) break;
    }
    if (number > kMaxParts) {
      return abort(Status::InvalidArgument(
          "put {}: more than {} parts of {} bytes; raise part-size", key, kMaxParts, part_size));
    }
    S3Call up;
    up.method = "PUT";
    up.key = full;
    up.query = {{"partNumber", std::to_string(number)}, {"uploadId", upload_id}};
    up.body = buf;
    up.small = false;
    HttpResponse pr;
    Status s = client_.Send(up, pr);
    if (s.ok() && !Is2xx(pr)) s = client_.ErrorStatus(up, pr);
    if (s.ok() && pr.Header("etag").empty()) {
      s = Status::IOError("{}: part {} was accepted without an ETag", client_.Describe(up), number);
    }
    if (!s.ok()) return abort(s);
    parts.push_back(CompletedPart{number, pr.Header("etag")});
    md5s.push_back(Md5Of(buf));
    total += buf.size();
    if (buf.size() < part_size) break;  // a short part is the last
  }

  const std::string body = CompleteMultipartBody(parts);
  S3Call complete;
  complete.method = "POST";
  complete.key = full;
  complete.query = {{"uploadId", upload_id}};
  complete.headers = {{"Content-Type", "application/xml"}};
  if (options.if_none_match) complete.headers.emplace_back("If-None-Match", "*");
  if (!options.if_match.empty()) complete.headers.emplace_back("If-Match", options.if_match);
  complete.body = AsBytes(body);
  // Completing can take a while for many parts; S3 keeps the connection
  // alive with whitespace meanwhile.
  complete.small = false;
  HttpResponse cr;
  int attempts = 0;  // over both loops: more than one means an answer was lost
  for (int attempt = 1;; attempt++) {
    int sent = 0;
    Status s = client_.Send(complete, cr, &sent);
    attempts += sent;
    if (!s.ok()) return abort(s);
    if (!Is2xx(cr)) break;
    // 200 can still carry an <Error>; InternalError is worth another try.
    LTXBUS_ASSIGN_OR_RETURN(CompleteResult done, ParseCompleteMultipart(cr.body));
    if (!done.error.has_value()) {
      ObjectInfo info;
      info.key = key;
      info.size = total;
      info.etag = done.etag.empty() ? MultipartEtag(md5s) : done.etag;
      info.metadata = options.metadata;
      return info;
    }
    const bool retry = done.error->code == "InternalError" || done.error->code == "SlowDown";
    if (!retry || attempt >= client_.config().max_attempts) {
      return abort(Status::IOError("{}: completing multipart upload: {}: {}",
                                   client_.Describe(complete), done.error->code,
                                   done.error->message));
    }
    client_.Backoff(attempt);
  }
  // A retried completion may find the upload already completed by the
  // attempt whose answer was lost (404 NoSuchUpload, or a condition that
  // now fails against our own object).
  if (attempts > 1 && (cr.status == 404 || cr.status == 412) &&
      LandedAnyway(key, MultipartEtag(md5s))) {
    return Stat(key);
  }
  return abort(client_.ErrorStatus(complete, cr));
}

}  // namespace ltxbus::store::s3
