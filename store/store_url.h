// Parsing of object-store URLs (scheme://[userinfo@]host/path?query), shared
// by the backends. Not a public header.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "base/status.h"

namespace ltxbus::store {

struct StoreUrl {
  std::string scheme;    // "s3", "file", "nats"
  std::string userinfo;  // "user:pass" as written (nats), "" if none
  std::string host;      // the authority without userinfo: bucket (s3), servers (nats)
  std::string path;      // percent-decoded; file: absolute; s3/nats: without leading '/'
  std::map<std::string, std::string> query;  // percent-decoded
  std::string redacted;  // the URL for messages: no userinfo, no secrets, no query

  // A plain path ("/dir", "./dir") is a file URL.
  static Result<StoreUrl> Parse(std::string_view url);

  // The query value, or `fallback`.
  std::string Option(const std::string& key, std::string fallback = "") const;
  // InvalidArgument naming the first query key not in `known`.
  Status CheckOptions(std::initializer_list<std::string_view> known) const;
};

// "true"/"false"/"1"/"0" into a bool, or InvalidArgument naming `what`.
Result<bool> ParseBool(std::string_view text, std::string_view what);
// A decimal count in [min, max], or InvalidArgument naming `what`.
Result<int64_t> ParseInt(std::string_view text, std::string_view what, int64_t min, int64_t max);

}  // namespace ltxbus::store
