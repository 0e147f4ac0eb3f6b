#include "store/time_format.h"

#include <charconv>

namespace ltxbus::store {
namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
// days_from_civil), so no time zone or locale state is involved.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3u : 9u)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct Civil {
  int64_t year;
  unsigned month, day, hour, minute, second;
};

Civil CivilFromUnix(int64_t secs) {
  int64_t days = secs / 86400;
  int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    days--;
  }
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  Civil c{};
  c.day = doy - (153 * mp + 2) / 5 + 1;
  c.month = mp < 10 ? mp + 3 : mp - 9;
  c.year = static_cast<int64_t>(yoe) + era * 400 + (c.month <= 2 ? 1 : 0);
  c.hour = static_cast<unsigned>(rem / 3600);
  c.minute = static_cast<unsigned>(rem % 3600 / 60);
  c.second = static_cast<unsigned>(rem % 60);
  return c;
}

// Reads exactly `width` digits at text[pos].
bool Digits(std::string_view text, size_t pos, size_t width, unsigned& out) {
  if (pos + width > text.size()) return false;
  auto [p, ec] = std::from_chars(text.data() + pos, text.data() + pos + width, out);
  return ec == std::errc() && p == text.data() + pos + width;
}

}  // namespace

std::string FormatTimestamp(int64_t unix_ms) {
  int64_t secs = unix_ms / 1000;
  int64_t ms = unix_ms % 1000;
  if (ms < 0) {
    ms += 1000;
    secs--;
  }
  Civil c = CivilFromUnix(secs);
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", c.year, c.month, c.day,
                                c.hour, c.minute, c.second);
  if (ms != 0) {
    std::string frac = fmt::format("{:03}", ms);
    while (frac.back() == '0') frac.pop_back();
    out += "." + frac;
  }
  return out + "Z";
}

Result<int64_t> ParseTimestamp(std::string_view text) {
  auto bad = [&] {
    return Status::InvalidArgument("'{}' is not an RFC 3339 time (want 2026-08-01T12:34:56.789Z)",
                                   text);
  };
  unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (text.size() < 20 || !Digits(text, 0, 4, y) || text[4] != '-' || !Digits(text, 5, 2, mo) ||
      text[7] != '-' || !Digits(text, 8, 2, d) || (text[10] != 'T' && text[10] != 't') ||
      !Digits(text, 11, 2, h) || text[13] != ':' || !Digits(text, 14, 2, mi) || text[16] != ':' ||
      !Digits(text, 17, 2, s)) {
    return bad();
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return bad();
  size_t pos = 19;
  int64_t ms = 0;
  if (pos < text.size() && text[pos] == '.') {
    pos++;
    int digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 3) ms = ms * 10 + (text[pos] - '0');
      digits++;
      pos++;
    }
    if (digits == 0) return bad();
    for (; digits < 3; digits++) ms *= 10;
  }
  int64_t offset_s = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    pos++;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    unsigned oh = 0, om = 0;
    if (!Digits(text, pos + 1, 2, oh) || pos + 3 >= text.size() || text[pos + 3] != ':' ||
        !Digits(text, pos + 4, 2, om)) {
      return bad();
    }
    offset_s = (text[pos] == '+' ? 1 : -1) * static_cast<int64_t>(oh * 3600 + om * 60);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != text.size()) return bad();
  int64_t secs = DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset_s;
  return secs * 1000 + ms;
}

Result<int64_t> ParseHttpDate(std::string_view text) {
  // "Wed, 21 Oct 2015 07:28:00 GMT"
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto bad = [&] { return Status::InvalidArgument("'{}' is not an HTTP date", text); };
  size_t comma = text.find(", ");
  if (comma == std::string_view::npos) return bad();
  std::string_view rest = text.substr(comma + 2);
  unsigned d = 0, y = 0, h = 0, mi = 0, s = 0;
  if (rest.size() < 24 || !Digits(rest, 0, 2, d) || rest[2] != ' ' || rest[6] != ' ' ||
      !Digits(rest, 7, 4, y) || rest[11] != ' ' || !Digits(rest, 12, 2, h) || rest[14] != ':' ||
      !Digits(rest, 15, 2, mi) || rest[17] != ':' || !Digits(rest, 18, 2, s) || rest[20] != ' ' ||
      rest.substr(21) != "GMT") {
    return bad();
  }
  unsigned mo = 0;
  for (unsigned i = 0; i < 12; i++) {
    if (rest.substr(3, 3) == kMonths[i]) mo = i + 1;
  }
  if (mo == 0) return bad();
  return (DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * 1000;
}

std::string FormatAmzDate(int64_t unix_seconds) {
  Civil c = CivilFromUnix(unix_seconds);
  return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z", c.year, c.month, c.day, c.hour, c.minute,
                     c.second);
}

}  // namespace ltxbus::store
