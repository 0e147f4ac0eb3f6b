#include "store/store_url.h"

#include "base/percent_decode.h"

#include <charconv>

namespace ltxbus::store {

Result<StoreUrl> StoreUrl::Parse(std::string_view url) {
  StoreUrl u;
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    if (url.empty()) return Status::InvalidArgument("empty object-store URL");
    u.scheme = "file";
    u.path = std::string(url);
    u.redacted = u.path;
    return u;
  }
  u.scheme = std::string(url.substr(0, scheme_end));
  std::string_view rest = url.substr(scheme_end + 3);
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    u.userinfo = std::string(authority.substr(0, at));
    authority = authority.substr(at + 1);
  }
  u.host = PercentDecode(authority);
  if (u.scheme == "file") {
    if (!u.host.empty() && u.host != "localhost") {
      return Status::InvalidArgument(
          "file URL '{}' names host '{}' (want file:///absolute/dir, no host)", url, u.host);
    }
    u.path = PercentDecode(path);
    if (u.path.empty()) return Status::InvalidArgument("file URL '{}' names no directory", url);
  } else {
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    u.path = PercentDecode(path);
  }
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    if (!kv.empty()) {
      size_t eq = kv.find('=');
      u.query[PercentDecode(kv.substr(0, eq))] =
          eq == std::string_view::npos ? "" : PercentDecode(kv.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  u.redacted = u.scheme + "://" + std::string(authority);
  if (u.scheme == "file") {
    u.redacted += std::string(path);
  } else if (!u.path.empty()) {
    u.redacted += "/" + std::string(path);
  }
  return u;
}

std::string StoreUrl::Option(const std::string& key, std::string fallback) const {
  auto it = query.find(key);
  return it == query.end() ? fallback : it->second;
}

Status StoreUrl::CheckOptions(std::initializer_list<std::string_view> known) const {
  for (const auto& [key, value] : query) {
    bool ok = false;
    for (std::string_view k : known) ok = ok || k == key;
    if (!ok) {
      return Status::InvalidArgument("{}: unknown option '{}' ({} knows {})", redacted, key, scheme,
                                     fmt::join(known, ", "));
    }
  }
  return Status::OK();
}

Result<bool> ParseBool(std::string_view text, std::string_view what) {
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  return Status::InvalidArgument("{}='{}' (want true or false)", what, text);
}

Result<int64_t> ParseInt(std::string_view text, std::string_view what, int64_t min, int64_t max) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < min || v > max) {
    return Status::InvalidArgument("{}='{}' (want a whole number from {} to {})", what, text, min,
                                   max);
  }
  return v;
}

}  // namespace ltxbus::store
