#include "store/s3/s3_client.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

#include "store/time_format.h"

namespace ltxbus::store::s3 {
namespace {

constexpr std::chrono::milliseconds kBackoffBase{100};
constexpr std::chrono::milliseconds kBackoffCap{5000};
// The query characters werkzeug (moto) decodes before checking signatures.
constexpr const char* kSubDelims = "!$'()*,/:;?@";

}  // namespace

HeaderList PutHeaders(const PutOptions& options, bool conditions) {
  HeaderList h;
  for (const auto& [k, v] : options.metadata) h.emplace_back("x-amz-meta-" + k, v);
  if (conditions && options.if_none_match) h.emplace_back("If-None-Match", "*");
  if (conditions && !options.if_match.empty()) h.emplace_back("If-Match", options.if_match);
  return h;
}

Result<size_t> ReadUpTo(SequentialFile& source, size_t limit, std::vector<uint8_t>& buf) {
  const size_t start = buf.size();
  while (buf.size() < limit) {
    // Grow geometrically from 64 KiB, so a small object costs a small buffer.
    const size_t want = std::min(limit, std::max<size_t>(buf.size() * 2, 64 << 10));
    const size_t have = buf.size();
    buf.resize(want);
    auto n = source.Read(std::span<uint8_t>(buf).subspan(have));
    if (!n.ok()) {
      buf.resize(have);
      return n.status();
    }
    buf.resize(have + *n);
    if (*n == 0) break;
  }
  return buf.size() - start;
}

std::string SinglePutEtag(std::span<const uint8_t> body) {
  return "\"" + HexLower(Md5Of(body)) + "\"";
}

std::string MultipartEtag(const std::vector<Md5Digest>& part_md5s) {
  std::vector<uint8_t> all;
  for (const Md5Digest& d : part_md5s) all.insert(all.end(), d.begin(), d.end());
  return fmt::format("\"{}-{}\"", HexLower(Md5Of(all)), part_md5s.size());
}

S3Client::S3Client(S3Config config) : config_(std::move(config)), http_(config_.timeouts) {
  std::string_view ep = config_.endpoint;
  size_t sep = ep.find("://");
  scheme_ = std::string(ep.substr(0, sep));
  ep.remove_prefix(sep + 3);
  size_t slash = ep.find('/');
  host_ = std::string(ep.substr(0, slash));
  if (slash != std::string_view::npos) endpoint_path_ = std::string(ep.substr(slash));
  while (!endpoint_path_.empty() && endpoint_path_.back() == '/') endpoint_path_.pop_back();
  // The default port is not part of the Host header curl sends.
  if ((scheme_ == "http" && host_.ends_with(":80")) ||
      (scheme_ == "https" && host_.ends_with(":443"))) {
    host_.resize(host_.rfind(':'));
  }
}

std::string S3Client::Describe(const S3Call& call) const {
  return fmt::format("s3://{}/{}", config_.bucket, call.key);
}

HttpRequest S3Client::Prepare(const S3Call& call, int64_t unix_seconds) const {
  std::string host = host_;
  std::string path = endpoint_path_;
  if (config_.path_style) {
    path += "/" + UriEncode(config_.bucket, true);
    if (!call.key.empty()) path += "/" + UriEncode(call.key, false);
  } else {
    host = config_.bucket + "." + host_;
    path += "/" + UriEncode(call.key, false);
  }
  const std::string payload_hash =
      call.body.empty() ? std::string(kEmptyPayloadHash) : HexLower(Sha256Of(call.body));
  const std::string amz_date = FormatAmzDate(unix_seconds);

  SigningInput in;
  in.method = call.method;
  in.canonical_uri = path;
  in.query = call.query;
  in.headers = call.headers;
  in.headers.emplace_back("Host", host);
  in.headers.emplace_back("x-amz-date", amz_date);
  in.headers.emplace_back("x-amz-content-sha256", payload_hash);
  if (!config_.credentials.session_token.empty()) {
    in.headers.emplace_back("x-amz-security-token", config_.credentials.session_token);
  }
  in.payload_hash = payload_hash;
  if (raw_sub_delims_) in.query_keep_raw = kSubDelims;
  SigningResult signature = SignV4(in, config_.credentials, config_.region, "s3", amz_date);

  HttpRequest req;
  req.method = call.method;
  req.url = scheme_ + "://" + host + path;
  if (std::string q = CanonicalQuery(call.query, raw_sub_delims_ ? kSubDelims : ""); !q.empty()) {
    req.url += "?" + q;
  }
  req.headers = std::move(in.headers);
  req.headers.emplace_back("Authorization", signature.authorization);
  req.body = call.body;
  req.small = call.small;
  return req;
}

Status S3Client::SendOnce(const S3Call& call, HttpResponse& response, const BodySink* sink) {
  auto now = [] {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  auto has = [&](std::string_view name) {
    return std::any_of(call.query.begin(), call.query.end(),
                       [&](const auto& q) { return q.first == name; });
  };
  RequestCounter::Kind kind = RequestCounter::kPut;
  if (call.method == "HEAD") {
    kind = RequestCounter::kHead;
  } else if (call.method == "GET") {
    kind = has("list-type") || has("uploads") ? RequestCounter::kList : RequestCounter::kGet;
  } else if (call.method == "DELETE" || (call.method == "POST" && has("delete"))) {
    kind = RequestCounter::kDelete;
  }
  counter_.Add(kind);
  Status s = http_.Perform(Prepare(call, now()), response, sink);
  if (!s.ok() || response.status != 403 || raw_sub_delims_) return s;
  const bool has_sub_delims = std::any_of(call.query.begin(), call.query.end(), [](const auto& q) {
    return q.second.find_first_of(kSubDelims) != std::string::npos;
  });
  auto e = ParseError(response.body);
  if (!has_sub_delims || !e.has_value() || e->code != "SignatureDoesNotMatch") return s;
  raw_sub_delims_ = true;
  counter_.Add(kind);
  s = http_.Perform(Prepare(call, now()), response, sink);
  if (s.ok() && response.status == 403) {
    raw_sub_delims_ = false;  // not the server's quirk: the signature is wrong
  } else if (s.ok()) {
    spdlog::info(
        "{}: the server checks signatures over a partly decoded query string (as moto "
        "does); leaving !$'()*,/:;?@ unencoded in queries from now on",
        Describe(call));
  }
  return s;
}

bool S3Client::Retryable(const HttpResponse& response) {
  if (response.status >= 500 || response.status == 429) return true;
  if (response.status == 400) {
    auto e = ParseError(response.body);
    return e.has_value() && (e->code == "RequestTimeout" || e->code == "SlowDown");
  }
  return false;
}

void S3Client::Backoff(int attempt) const {
  const int shift = std::min(attempt - 1, 16);
  const auto full = std::min<std::chrono::milliseconds>(kBackoffCap, kBackoffBase * (1LL << shift));
  // Full-ish jitter: somewhere in [full/2, full], so clients that failed
  // together do not come back together.
  std::random_device rd;
  std::uniform_int_distribution<int64_t> dist(full.count() / 2, full.count());
  std::this_thread::sleep_for(std::chrono::milliseconds(dist(rd)));
}

Status S3Client::Send(const S3Call& call, HttpResponse& response, int* attempts) {
  for (int attempt = 1;; attempt++) {
    if (attempts != nullptr) *attempts = attempt;
    Status s = SendOnce(call, response, nullptr);
    const bool transport = !s.ok();
    if (!transport && !Retryable(response)) return Status::OK();
    if (attempt >= config_.max_attempts) {
      if (transport) {
        return s.WithContext(
            fmt::format("{} {} (gave up after {} attempts)", call.method, Describe(call), attempt));
      }
      return Status::OK();  // the caller turns the last answer into an error
    }
    spdlog::debug("{} {}: attempt {} failed ({}); retrying", call.method, Describe(call), attempt,
                  transport ? s.ToString() : fmt::format("HTTP {}", response.status));
    Backoff(attempt);
  }
}

Status S3Client::ErrorStatus(const S3Call& call, const HttpResponse& response) const {
  std::string detail;
  std::optional<S3Error> e = ParseError(response.body);
  if (e.has_value()) {
    detail = e->code;
    if (!e->message.empty()) detail += ": " + e->message;
    if (!e->request_id.empty()) detail += fmt::format(" (request id {})", e->request_id);
  } else if (!response.body.empty()) {
    detail = response.body.substr(0, 200);
  } else {
    // HEAD answers carry no body; S3 puts the code in a header at most.
    detail = response.Header("x-amz-error-code");
    if (detail.empty()) detail = "no error document";
  }
  const std::string what = fmt::format("{}: {} failed: HTTP {} {}", Describe(call), call.method,
                                       response.status, detail);
  const long st = response.status;
  if (st == 404) return Status::NotFound("{}", what);
  if (st == 412 || st == 409) return Status::Conflict("{}", what);
  if (st == 400 || st == 401 || st == 403 || st == 405 || st == 411 || st == 413 || st == 416) {
    return Status::InvalidArgument("{}", what);
  }
  if (st >= 500 || st == 429) return Status::Unavailable("{}", what);
  return Status::IOError("{}", what);
}

}  // namespace ltxbus::store::s3
