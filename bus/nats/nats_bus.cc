// NATS endpoint settings, the shared connection, stream creation, and the Bus.
#include "bus/nats/nats_bus.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <vector>

#include "bus/nats/nats_internal.h"

namespace ltxbus::bus {
namespace {

constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// A subject token or stream name must not contain what NATS treats as
// structure: whitespace, wildcards, the token separator (for names), or
// path separators (JetStream stores a stream in a directory named after it).
bool ValidName(std::string_view name, bool allow_dots) {
  if (name.empty()) return false;
  for (char c : name) {
    const auto ch = static_cast<unsigned char>(c);
    if (ch <= ' ' || ch == 0x7f || c == '*' || c == '>' || c == '/' || c == '\\') return false;
    if (c == '.' && !allow_dots) return false;
  }
  if (allow_dots) {
    if (name.front() == '.' || name.back() == '.' || name.find("..") != std::string_view::npos) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<int64_t> ParseGoDuration(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("duration '{}': {} (want e.g. 500ms, 90s, 2m, 24h, 1h30m)", text,
                                   why);
  };
  if (text == "0") return int64_t{0};
  if (text.empty()) return bad("empty");
  if (text.front() == '-') return bad("negative");
  std::string_view s = text;
  if (s.front() == '+') s.remove_prefix(1);
  int64_t total = 0;
  while (!s.empty()) {
    size_t i = 0;
    int64_t whole = 0;
    bool digits = false;
    while (i < s.size() && IsDigit(s[i])) {
      if (whole > (kMaxInt64 - 9) / 10) return bad("too large");
      whole = whole * 10 + (s[i] - '0');
      digits = true;
      i++;
    }
    double fraction = 0;
    if (i < s.size() && s[i] == '.') {
      double scale = 0.1;
      for (i++; i < s.size() && IsDigit(s[i]); i++, scale /= 10) {
        fraction += (s[i] - '0') * scale;
        digits = true;
      }
    }
    if (!digits) return bad("a unit without a number");
    size_t unit_start = i;
    while (i < s.size() && !IsDigit(s[i]) && s[i] != '.') i++;
    std::string_view unit = s.substr(unit_start, i - unit_start);
    int64_t scale = 0;
    if (unit == "ns") {
      scale = 1;
    } else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") {
      scale = 1'000;
    } else if (unit == "ms") {
      scale = 1'000'000;
    } else if (unit == "s") {
      scale = 1'000'000'000;
    } else if (unit == "m") {
      scale = int64_t{60} * 1'000'000'000;
    } else if (unit == "h") {
      scale = int64_t{3600} * 1'000'000'000;
    } else {
      return bad(unit.empty() ? std::string("missing unit")
                              : fmt::format("unknown unit '{}'", unit));
    }
    if (whole > kMaxInt64 / scale) return bad("too large");
    int64_t part = whole * scale + static_cast<int64_t>(fraction * static_cast<double>(scale));
    if (part > kMaxInt64 - total) return bad("too large");
    total += part;
    s.remove_prefix(i);
  }
  return total;
}

Result<int64_t> ParseByteSize(std::string_view text) {
  if (text == "-1") return int64_t{-1};
  size_t i = 0;
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  i = static_cast<size_t>(p - text.data());
  if (ec != std::errc() || i == 0) {
    return Status::InvalidArgument(
        "byte size '{}' is not a number (want e.g. 1073741824, 512MiB, 2G)", text);
  }
  std::string unit;
  for (char c : text.substr(i)) unit.push_back(static_cast<char>(std::tolower(c)));
  int shift = -1;
  if (unit.empty() || unit == "b") shift = 0;
  for (auto [prefix, bits] : {std::pair{'k', 10}, {'m', 20}, {'g', 30}, {'t', 40}}) {
    if (unit == std::string(1, prefix) || unit == std::string(1, prefix) + "b" ||
        unit == std::string(1, prefix) + "ib") {
      shift = bits;
    }
  }
  if (shift < 0) return Status::InvalidArgument("byte size '{}': unknown unit '{}'", text, unit);
  if (n > (static_cast<uint64_t>(kMaxInt64) >> shift)) {
    return Status::InvalidArgument("byte size '{}' is too large", text);
  }
  return static_cast<int64_t>(n << shift);
}

Result<NatsSettings> NatsSettings::FromEndpoint(const Endpoint& endpoint) {
  if (endpoint.kind != Endpoint::Kind::kNats) {
    return Status::InvalidArgument("{} is not a nats:// URL", endpoint.url);
  }
  NatsSettings s;
  s.stream = endpoint.name;
  if (!ValidName(s.stream, /*allow_dots=*/false)) {
    return Status::InvalidArgument(
        "{}: '{}' is not a valid JetStream stream name (no spaces, '.', '*', '>', '/', '\\')",
        endpoint.url, s.stream);
  }
  s.subject_prefix = s.stream;
  std::transform(s.subject_prefix.begin(), s.subject_prefix.end(), s.subject_prefix.begin(),
                 [](char c) { return static_cast<char>(std::tolower(c)); });
  for (const auto& [key, value] : endpoint.options) {
    auto context = [&, &key = key](const Status& st) {
      return st.WithContext(fmt::format("{}: option {}", endpoint.url, key));
    };
    if (key == "subject-prefix") {
      if (!ValidName(value, /*allow_dots=*/true)) {
        return Status::InvalidArgument(
            "{}: subject-prefix '{}' is not a valid subject (dot-separated tokens without "
            "spaces or wildcards)",
            endpoint.url, value);
      }
      s.subject_prefix = value;
    } else if (key == "create") {
      if (value != "true" && value != "false") {
        return Status::InvalidArgument("{}: create='{}' (want true or false)", endpoint.url, value);
      }
      s.create = value == "true";
    } else if (key == "duplicates" || key == "max-age" || key == "connect-timeout") {
      auto d = ParseGoDuration(value);
      if (!d.ok()) return context(d.status());
      if (key == "duplicates") {
        if (*d <= 0) return Status::InvalidArgument("{}: duplicates must be > 0", endpoint.url);
        s.duplicates_ns = *d;
      } else if (key == "max-age") {
        s.max_age_ns = *d;
      } else {
        if (*d < 1'000'000) {
          return Status::InvalidArgument("{}: connect-timeout must be >= 1ms", endpoint.url);
        }
        s.connect_timeout = Millis(*d / 1'000'000);
      }
    } else if (key == "max-bytes") {
      auto b = ParseByteSize(value);
      if (!b.ok()) return context(b.status());
      s.max_bytes = *b == 0 ? -1 : *b;
    } else if (key == "max-in-flight") {
      int n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || p != value.data() + value.size() || n < 1 || n > 1024) {
        return Status::InvalidArgument("{}: max-in-flight='{}' (want 1 to 1024)", endpoint.url,
                                       value);
      }
      s.max_in_flight = n;
    } else if (key == "replicas") {
      int64_t r = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), r);
      if (ec != std::errc() || p != value.data() + value.size() || r < 1 || r > 5) {
        return Status::InvalidArgument("{}: replicas='{}' (want 1 to 5)", endpoint.url, value);
      }
      s.replicas = r;
    } else {
      return Status::InvalidArgument(
          "{}: unknown option '{}' (NATS knows subject-prefix, create, duplicates, max-age, "
          "max-bytes, replicas, connect-timeout, max-in-flight)",
          endpoint.url, key);
    }
  }
  return s;
}

namespace nats {
namespace {

// cnats keeps process-wide state (threads, timers). It is opened once, the
// first time a connection is made, and never closed: nats_Close() must not
// run while any connection exists, and we cannot know that none does.
Status OpenLibrary() {
  static const natsStatus kOpened = nats_Open(-1);
  if (kOpened != NATS_OK) return FromNats(kOpened, "initialising the NATS client library");
  return Status::OK();
}

class NatsBus final : public Bus {
 public:
  explicit NatsBus(std::shared_ptr<Connection> conn) : conn_(std::move(conn)) {}

  Result<std::unique_ptr<Publisher>> NewPublisher(const std::string& database,
                                                  const PublisherOptions& options) override {
    return nats::NewPublisher(conn_, database, options);
  }
  Result<std::unique_ptr<Subscriber>> Subscribe(const std::string& database,
                                                const StartPosition& start) override {
    return NewSubscriber(conn_, database, start);
  }
  Result<std::optional<LastFrame>> ReadLastFrame(const std::string& database) override {
    if (database.empty()) return Status::InvalidArgument("reading an empty database name");
    LTXBUS_ASSIGN_OR_RETURN(SubjectTail tail,
                            ReadSubjectTail(*conn_, database, conn_->settings().connect_timeout));
    return std::move(tail.frame);
  }

 private:
  std::shared_ptr<Connection> conn_;
};

}  // namespace

Status FromNats(natsStatus s, std::string_view what, jsErrCode jerr) {
  natsStatus last = NATS_OK;
  const char* detail = nats_GetLastError(&last);
  std::string text = natsStatus_GetText(s);
  if (detail != nullptr && *detail != '\0' && last == s && text != detail) {
    text = fmt::format("{}: {}", text, detail);
  }
  if (jerr != 0) text += fmt::format(" (JetStream error {})", static_cast<int>(jerr));
  switch (s) {
    case NATS_TIMEOUT:
      return Status::Timeout("{}: {}", what, text);
    case NATS_NO_SERVER:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_STALE_CONNECTION:
    case NATS_IO_ERROR:
    case NATS_NO_RESPONDERS:
    case NATS_NOT_YET_CONNECTED:
    case NATS_DRAINING:
      return Status::Unavailable("{}: {}", what, text);
    case NATS_NOT_FOUND:
      return Status::NotFound("{}: {}", what, text);
    case NATS_CONNECTION_AUTH_FAILED:
    case NATS_NOT_PERMITTED:
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
    case NATS_MAX_PAYLOAD:
    case NATS_ADDRESS_MISSING:
      return Status::InvalidArgument("{}: {}", what, text);
    case NATS_NO_MEMORY:
    case NATS_ILLEGAL_STATE:
    case NATS_INVALID_SUBSCRIPTION:
      return Status::Internal("{}: {}", what, text);
    default:
      // A JetStream API error or a protocol failure: the server answered but
      // refused; retrying may help (resources, leadership changes).
      return Status::Unavailable("{}: {}", what, text);
  }
}

Connection::~Connection() = default;

Result<std::shared_ptr<Connection>> Connection::Open(const Endpoint& endpoint,
                                                     const NatsSettings& settings) {
  LTXBUS_RETURN_IF_ERROR(OpenLibrary());
  auto c = std::make_shared<Connection>(Connection::Key(), settings, endpoint.url);
  natsOptions* raw_opts = nullptr;
  natsStatus s = natsOptions_Create(&raw_opts);
  OptionsPtr opts(raw_opts);
  if (s != NATS_OK) return FromNats(s, "creating NATS options");
  std::vector<std::string> servers;
  for (std::string_view rest = endpoint.servers; !rest.empty();) {
    size_t comma = rest.find(',');
    servers.emplace_back(rest.substr(0, comma));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  std::vector<const char*> server_ptrs;
  for (const auto& srv : servers) server_ptrs.push_back(srv.c_str());
  const int64_t timeout_ms = settings.connect_timeout.count();
  s = natsOptions_SetServers(opts.get(), server_ptrs.data(), static_cast<int>(server_ptrs.size()));
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts.get(), timeout_ms);
  if (s == NATS_OK) s = natsOptions_SetName(opts.get(), "ltxbus");
  // A connection that drops reconnects for ever in the background; calls made
  // meanwhile time out (and publishes are retried under the same Msg-Id).
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(opts.get(), true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts.get(), -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts.get(), 250);
  if (s != NATS_OK) return FromNats(s, fmt::format("{}: setting NATS options", endpoint.url));
  natsConnection* raw_nc = nullptr;
  s = natsConnection_Connect(&raw_nc, opts.get());
  c->nc_.reset(raw_nc);
  if (s != NATS_OK) {
    return FromNats(s, fmt::format("connecting to NATS at {}", endpoint.url));
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = timeout_ms;
  jsCtx* raw_js = nullptr;
  s = natsConnection_JetStream(&raw_js, c->nc_.get(), &jo);
  c->js_.reset(raw_js);
  if (s != NATS_OK) return FromNats(s, fmt::format("{}: opening JetStream", endpoint.url));
  LTXBUS_RETURN_IF_ERROR(c->EnsureStream());
  return c;
}

Status Connection::EnsureStream() {
  const std::string want_subject = settings_.subject_prefix + ".>";
  jsErrCode jerr{};
  jsStreamInfo* raw = nullptr;
  natsStatus s = js_GetStreamInfo(&raw, js(), stream().c_str(), nullptr, &jerr);
  StreamInfoPtr info(raw);
  if (s == NATS_NO_RESPONDERS || jerr == JSNotEnabledErr || jerr == JSNotEnabledForAccountErr) {
    return Status::Unavailable(
        "{}: JetStream is not enabled on the server (start nats-server with -js)", url_);
  }
  if (s == NATS_NOT_FOUND) {
    if (!settings_.create) {
      return Status::NotFound("{}: stream {} does not exist and the URL says create=false", url_,
                              stream());
    }
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char* subjects[] = {want_subject.c_str()};
    cfg.Name = stream().c_str();
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Retention = js_LimitsPolicy;
    cfg.Discard = js_DiscardOld;
    cfg.Duplicates = settings_.duplicates_ns;
    cfg.MaxAge = settings_.max_age_ns;
    cfg.MaxBytes = settings_.max_bytes;
    cfg.Replicas = settings_.replicas;
    // Snapshots may roll a subject up (Nats-Rollup: sub), which needs purge.
    cfg.AllowRollup = true;
    cfg.DenyDelete = false;
    cfg.DenyPurge = false;
    jsStreamInfo* created = nullptr;
    s = js_AddStream(&created, js(), &cfg, nullptr, &jerr);
    info.reset(created);
    if (s != NATS_OK && jerr == JSStreamNameExistErr) {
      // Another process created it between our two calls; use theirs.
      raw = nullptr;
      s = js_GetStreamInfo(&raw, js(), stream().c_str(), nullptr, &jerr);
      info.reset(raw);
    } else if (s != NATS_OK && jerr == JSStreamSubjectOverlapErr) {
      return Status::InvalidArgument(
          "{}: cannot create stream {} with subjects '{}': another stream already captures "
          "them (choose another ?subject-prefix=)",
          url_, stream(), want_subject);
    }
    if (s != NATS_OK) {
      return FromNats(s, fmt::format("{}: creating stream {}", url_, stream()), jerr);
    }
  } else if (s != NATS_OK) {
    return FromNats(s, fmt::format("{}: looking up stream {}", url_, stream()), jerr);
  }
  if (info == nullptr || info->Config == nullptr) {
    return Status::Internal("{}: stream {} came back without a configuration", url_, stream());
  }
  const jsStreamConfig& cfg = *info->Config;
  std::vector<std::string> have;
  for (int i = 0; i < cfg.SubjectsLen; i++) have.emplace_back(cfg.Subjects[i]);
  if (std::find(have.begin(), have.end(), want_subject) == have.end()) {
    return Status::InvalidArgument(
        "{}: stream {} exists with subjects [{}], not '{}'; use its prefix with "
        "?subject-prefix= or name another stream",
        url_, stream(), fmt::join(have, ", "), want_subject);
  }
  duplicates_ns_ = cfg.Duplicates;
  if (cfg.Retention != js_LimitsPolicy) {
    return Status::InvalidArgument(
        "{}: stream {} removes messages once consumed (work-queue or interest retention); "
        "ltxbus needs limits retention so frames can be replayed",
        url_, stream());
  }
  return Status::OK();
}

std::string Connection::SubjectFor(std::string_view database) const {
  return settings_.subject_prefix + "." + EscapeDatabaseName(database);
}

int64_t Connection::max_payload() const { return natsConnection_GetMaxPayload(nc()); }

bool Connection::connected() const {
  return natsConnection_Status(nc()) == NATS_CONN_STATUS_CONNECTED;
}

Result<std::optional<MsgPtr>> Connection::GetLastMsg(const std::string& subject,
                                                     Millis timeout) const {
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = std::max<int64_t>(1, timeout.count());
  natsMsg* raw = nullptr;
  jsErrCode jerr{};
  natsStatus s = js_GetLastMsg(&raw, js(), stream().c_str(), subject.c_str(), &jo, &jerr);
  MsgPtr msg(raw);
  if (s == NATS_NOT_FOUND && jerr == JSNoMessageFoundErr) return std::optional<MsgPtr>();
  if (s != NATS_OK) {
    return FromNats(s, fmt::format("{}: reading the last message on {}", url_, subject), jerr);
  }
  return std::optional<MsgPtr>(std::move(msg));
}

Result<std::optional<MsgPtr>> Connection::GetMsg(uint64_t seq, Millis timeout) const {
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = std::max<int64_t>(1, timeout.count());
  natsMsg* raw = nullptr;
  jsErrCode jerr{};
  natsStatus s = js_GetMsg(&raw, js(), stream().c_str(), seq, &jo, &jerr);
  MsgPtr msg(raw);
  if (s == NATS_NOT_FOUND && jerr == JSNoMessageFoundErr) return std::optional<MsgPtr>();
  if (s != NATS_OK) {
    return FromNats(s, fmt::format("{}: reading stream {} sequence {}", url_, stream(), seq), jerr);
  }
  return std::optional<MsgPtr>(std::move(msg));
}

Result<uint64_t> Connection::StreamLastSeq() const {
  jsStreamInfo* raw = nullptr;
  jsErrCode jerr{};
  natsStatus s = js_GetStreamInfo(&raw, js(), stream().c_str(), nullptr, &jerr);
  StreamInfoPtr info(raw);
  if (s != NATS_OK) {
    return FromNats(s, fmt::format("{}: reading the state of stream {}", url_, stream()), jerr);
  }
  return info->State.LastSeq;
}

Result<ChunkHeaders> DecodeChunkHeaders(natsMsg* msg) {
  return ChunkHeaders::Decode([msg](const std::string& name) -> std::optional<std::string_view> {
    const char* value = nullptr;
    if (natsMsgHeader_Get(msg, name.c_str(), &value) != NATS_OK || value == nullptr) {
      return std::nullopt;
    }
    return std::string_view(value);
  });
}

std::string HeaderOr(natsMsg* msg, const char* name) {
  const char* value = nullptr;
  if (natsMsgHeader_Get(msg, name, &value) != NATS_OK || value == nullptr) return "";
  return value;
}

std::string_view PayloadOf(natsMsg* msg) {
  const char* data = natsMsg_GetData(msg);
  int len = natsMsg_GetDataLength(msg);
  if (data == nullptr || len <= 0) return {};
  return {data, static_cast<size_t>(len)};
}

}  // namespace nats

Result<std::unique_ptr<Bus>> ConnectNats(const Endpoint& endpoint) {
  LTXBUS_ASSIGN_OR_RETURN(NatsSettings settings, NatsSettings::FromEndpoint(endpoint));
  LTXBUS_ASSIGN_OR_RETURN(auto conn, nats::Connection::Open(endpoint, settings));
  return std::unique_ptr<Bus>(std::make_unique<nats::NatsBus>(std::move(conn)));
}

}  // namespace ltxbus::bus
