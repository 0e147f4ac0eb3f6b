// Time formats the object stores speak: Go's RFC3339Nano (Litestream's
// timestamp metadata), HTTP dates, ISO 8601 listings, and SigV4's amz-date.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace ltxbus::store {

// Go's time.UnixMilli(ms).UTC().Format(time.RFC3339Nano): trailing zeros of
// the fraction dropped, no fraction at all on a whole second,
// "2026-08-01T12:34:56.789Z".
std::string FormatTimestamp(int64_t unix_ms);
// RFC 3339 with any fraction and a "Z" or "+hh:mm" offset, to Unix ms
// (sub-millisecond digits truncated).
Result<int64_t> ParseTimestamp(std::string_view text);
// RFC 7231 HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT") to Unix ms.
Result<int64_t> ParseHttpDate(std::string_view text);
// SigV4's "20130524T000000Z" for a Unix time in seconds.
std::string FormatAmzDate(int64_t unix_seconds);

}  // namespace ltxbus::store
