#include "base/percent_decode.h"
#include "bus/bus.h"

namespace ltxbus::bus {

Result<Endpoint> Endpoint::Parse(std::string_view url) {
  Endpoint e;
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return Status::InvalidArgument("bus URL '{}' has no scheme (want nats:// or kafka://)", url);
  }
  std::string_view scheme = url.substr(0, scheme_end);
  if (scheme == "nats") {
    e.kind = Kind::kNats;
  } else if (scheme == "kafka") {
    e.kind = Kind::kKafka;
  } else {
    return Status::InvalidArgument("bus URL '{}': unknown scheme '{}' (want nats or kafka)", url,
                                   scheme);
  }
  std::string_view rest = url.substr(scheme_end + 3);
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (authority.empty()) return Status::InvalidArgument("bus URL '{}' names no server", url);
  if (path.empty() || path.find('/') != std::string_view::npos) {
    return Status::InvalidArgument("bus URL '{}' must name exactly one {} after the servers", url,
                                   e.kind == Kind::kNats ? "JetStream stream" : "Kafka topic");
  }
  e.name = PercentDecode(path);
  std::string_view userinfo;
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
  }
  const std::string hosts(authority);
  // Several servers: "h1:p1,h2:p2"; NATS wants each as a URL.
  std::string servers;
  while (!authority.empty()) {
    size_t comma = authority.find(',');
    std::string_view host = authority.substr(0, comma);
    if (!servers.empty()) servers += ",";
    if (e.kind == Kind::kNats) {
      servers += "nats://";
      if (!userinfo.empty()) servers += std::string(userinfo) + "@";
    }
    servers += std::string(host);
    if (comma == std::string_view::npos) break;
    authority.remove_prefix(comma + 1);
  }
  e.servers = servers;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    size_t eq = kv.find('=');
    e.options[PercentDecode(kv.substr(0, eq))] =
        eq == std::string_view::npos ? "" : PercentDecode(kv.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  // Shown in messages and logs, so never with credentials.
  e.url = fmt::format("{}://{}/{}", scheme, hosts, e.name);
  return e;
}

}  // namespace ltxbus::bus
