// ltxbus's one error scheme: every fallible function returns a Status, or a
// Result<T> that holds either a value or a non-OK Status. Nothing throws across
// a public interface.
//
// A Status carries a Code (what kind of failure, for callers that branch on
// it) and a message written for the person reading the log: what failed,
// where, and what was expected. Add context while propagating with
// WithContext("while doing X").
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace ltxbus {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kCorruption,       // bytes on disk or on the wire are not what they claim
    kInvalidArgument,  // the caller asked for something that cannot be done
    kIOError,          // the operating system refused
    kNotFound,         // a file, object, message or position does not exist
    kConflict,         // someone else holds it (fencing, leases, conditions)
    kUnavailable,      // a server is down or unreachable; retrying may help
    kTimeout,          // a wait ran out of time
    kInternal,         // a bug in ltxbus
  };

  Status() = default;
  static Status OK() { return Status(); }

  template <typename... Args>
  static Status Corruption(fmt::format_string<Args...> f, Args&&... a) {
    return Status(Code::kCorruption, fmt::format(f, std::forward<Args>(a)...));
  }
  template <typename... Args>
  static Status InvalidArgument(fmt::format_string<Args...> f, Args&&... a) {
    return Status(Code::kInvalidArgument, fmt::format(f, std::forward<Args>(a)...));
  }
  template <typename... Args>
  static Status IOError(fmt::format_string<Args...> f, Args&&... a) {
    return Status(Code::kIOError, fmt::format(f, std::forward<Args>(a)...));
  }
  template <typename... Args>
  static Status NotFound(fmt::format_string<Args...> f, Args&&... a) {
    return Status(Code::kNotFound, fmt::format(f, std::forward<Args>(a)...));
  }
  template <typename... Args>
  static Status Conflict(fmt::format_string<Args...> f, Args&&... a) {
    return Status(Code::kConflict, fmt::format(f, std::forward<Args>(a)...));
  }
  template <typename... Args>
  static Status Unavailable(fmt::format_string<Args...> f, Args&&... a) {
    return Status(Code::kUnavailable, fmt::format(f, std::forward<Args>(a)...));
  }
  template <typename... Args>
  static Status Timeout(fmt::format_string<Args...> f, Args&&... a) {
    return Status(Code::kTimeout, fmt::format(f, std::forward<Args>(a)...));
  }
  template <typename... Args>
  static Status Internal(fmt::format_string<Args...> f, Args&&... a) {
    return Status(Code::kInternal, fmt::format(f, std::forward<Args>(a)...));
  }
  // errno-based I/O error: "<what>: <strerror(err)>".
  static Status FromErrno(std::string_view what, int err);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }

  // "<context>: <message>"; an OK status stays OK.
  Status WithContext(std::string_view context) const;
  // "corruption: <message>", or "OK".
  std::string ToString() const;

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

std::string_view CodeName(Status::Code code);

// Either a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    if (std::get<Status>(v_).ok()) v_ = Status::Internal("Result constructed from an OK status");
  }
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace ltxbus

#define LTXBUS_CONCAT_INNER(a, b) a##b
#define LTXBUS_CONCAT(a, b) LTXBUS_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function if `expr` is not OK.
#define LTXBUS_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::ltxbus::Status ltxbus_status_ = (expr);        \
    if (!ltxbus_status_.ok()) return ltxbus_status_; \
  } while (0)

// `lhs = value of expr`, or returns its Status.
#define LTXBUS_ASSIGN_OR_RETURN(lhs, expr) \
  LTXBUS_ASSIGN_OR_RETURN_IMPL(LTXBUS_CONCAT(ltxbus_result_, __LINE__), lhs, expr)
#define LTXBUS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
