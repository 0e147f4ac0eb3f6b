#include "base/status.h"

#include <cstring>

namespace ltxbus {

std::string_view CodeName(Status::Code code) {
  switch (code) {
    case Status::Code::kOk:
      return "OK";
    case Status::Code::kCorruption:
      return "corruption";
    case Status::Code::kInvalidArgument:
      return "invalid argument";
    case Status::Code::kIOError:
      return "I/O error";
    case Status::Code::kNotFound:
      return "not found";
    case Status::Code::kConflict:
      return "conflict";
    case Status::Code::kUnavailable:
      return "unavailable";
    case Status::Code::kTimeout:
      return "timeout";
    case Status::Code::kInternal:
      return "internal error";
  }
  return "unknown";
}

Status Status::FromErrno(std::string_view what, int err) {
  char buf[256];
  // GNU strerror_r returns the message pointer, which may not be buf.
  const char* msg = strerror_r(err, buf, sizeof buf);
  Code code = Code::kIOError;
  if (err == ENOENT) code = Code::kNotFound;
  return Status(code, fmt::format("{}: {}", what, msg));
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, fmt::format("{}: {}", context, message_));
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return fmt::format("{}: {}", CodeName(code_), message_);
}

}  // namespace ltxbus
