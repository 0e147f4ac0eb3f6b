#include "consumer/stream_position.h"

#include <charconv>
#include <chrono>

namespace ltxbus::consumer {
namespace {

// Parses all of `text` as an unsigned number in `base`.
bool ParseAll(std::string_view text, int base, uint64_t* out) {
  if (text.empty()) return false;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), *out, base);
  return ec == std::errc() && p == text.data() + text.size();
}

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

std::string Position::ToString() const {
  return fmt::format("{}:{}:{}", ltx::FormatTXID(txid), first_offset, last_offset);
}

Result<Position> Position::Parse(std::string_view text) {
  const size_t a = text.find(':');
  const size_t b = a == std::string_view::npos ? a : text.find(':', a + 1);
  Position p;
  if (b == std::string_view::npos || a != 16 ||
      !ParseAll(text.substr(a + 1, b - a - 1), 10, &p.first_offset) ||
      !ParseAll(text.substr(b + 1), 10, &p.last_offset) ||
      !ParseAll(text.substr(0, 16), 16, &p.txid) || p.last_offset < p.first_offset) {
    return Status::InvalidArgument("position '{}' is not TXID:FIRST-OFFSET:LAST-OFFSET", text);
  }
  return p;
}

std::string StartAt::ToString() const {
  switch (kind) {
    case Kind::kBeginning:
      return "the beginning";
    case Kind::kEnd:
      return "the end";
    case Kind::kOffset:
      return fmt::format("offset {}", offset);
    case Kind::kTime:
      return fmt::format("time {}", FormatRfc3339(time_ms));
    case Kind::kTxid:
      return fmt::format("TXID {}", ltx::FormatTXID(txid));
    case Kind::kAfter:
      return fmt::format("after position {}", after.ToString());
  }
  return "?";
}

std::string StopAt::ToString() const {
  switch (kind) {
    case Kind::kNever:
      return "never";
    case Kind::kEnd:
      return "the end";
    case Kind::kOffset:
      return fmt::format("offset {}", offset);
    case Kind::kTime:
      return fmt::format("time {}", FormatRfc3339(time_ms));
    case Kind::kTxid:
      return fmt::format("TXID {}", ltx::FormatTXID(txid));
  }
  return "?";
}

Result<ltx::TXID> ParseTxidArg(std::string_view text) {
  uint64_t v = 0;
  bool ok = false;
  if (text.size() == 16) {
    ok = ParseAll(text, 16, &v);
  } else if (text.starts_with("0x") || text.starts_with("0X")) {
    ok = ParseAll(text.substr(2), 16, &v);
  } else {
    ok = ParseAll(text, 10, &v);
  }
  if (!ok || v == 0) {
    return Status::InvalidArgument(
        "TXID '{}' is not 16 hex digits, 0x-prefixed hex or a positive decimal number", text);
  }
  return v;
}

Result<int64_t> ParseRfc3339(std::string_view s) {
  auto bad = [&] {
    return Status::InvalidArgument(
        "time '{}' is not RFC 3339 (e.g. 2026-11-21T07:30:12Z or 2026-11-21T08:30:12.5+01:00)", s);
  };
  int y, mo, d, h, mi, sec;
  if (!Digits(s, 0, 4, &y) || s.size() < 19 || s[4] != '-' || !Digits(s, 5, 2, &mo) ||
      s[7] != '-' || !Digits(s, 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !Digits(s, 11, 2, &h) || s[13] != ':' || !Digits(s, 14, 2, &mi) || s[16] != ':' ||
      !Digits(s, 17, 2, &sec)) {
    return bad();
  }
  namespace chr = std::chrono;
  const chr::year_month_day ymd{chr::year(y), chr::month(static_cast<unsigned>(mo)),
                                chr::day(static_cast<unsigned>(d))};
  // 60 is a leap second, which the epoch count folds into the next second.
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return bad();
  size_t pos = 19;
  int64_t millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    size_t digits = 0;
    for (pos++; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; pos++, digits++) {
      if (digits < 3) millis = millis * 10 + (s[pos] - '0');
    }
    if (digits == 0) return bad();
    for (; digits < 3; digits++) millis *= 10;
  }
  int64_t offset_min = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    pos++;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!Digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return bad();
    }
    offset_min = (s[pos] == '-' ? -1 : 1) * (oh * 60 + om);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != s.size()) return bad();
  const int64_t days = chr::sys_days(ymd).time_since_epoch().count();
  const int64_t seconds = days * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
  return seconds * 1000 + millis;
}

std::string FormatRfc3339(int64_t unix_ms) {
  namespace chr = std::chrono;
  const int64_t seconds = unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000;
  const int64_t millis = unix_ms - seconds * 1000;
  const int64_t days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400;
  const int64_t rest = seconds - days * 86400;
  const chr::year_month_day ymd{chr::sys_days(chr::days(days))};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     rest / 3600, rest / 60 % 60, rest % 60, millis);
}

}  // namespace ltxbus::consumer
