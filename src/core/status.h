// Status and Result<T>: how every fallible call in carrierarr reports failure.
//
// A Status is either OK or carries a code and a human-readable message that says what failed and,
// where we know it, how to fix it. Result<T> holds a value or a non-OK Status. Both are cheap to
// move and are plain values: no thread-safety concerns beyond those of std::string.
#ifndef CARRIERARR_CORE_STATUS_H_
#define CARRIERARR_CORE_STATUS_H_

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace carrierarr {

// A new code goes last, and in the table in status.cc that checks it ends at the last one.
enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // the caller's input is wrong; fixing the input fixes the call
  kNotFound,            // a file, key or record does not exist
  kAlreadyExists,       // refusing to overwrite something that exists
  kPermissionDenied,    // the OS or a peer refused
  kFailedPrecondition,  // the system is not in a state where the call can work (e.g. expired CA)
  kDataLoss,            // stored or received bytes are corrupt or malformed
  kUnavailable,         // a dependency is down; retrying may help
  kDeadlineExceeded,    // a bounded wait ran out
  kInternal,            // a bug or an unexpected library failure
  kUnauthenticated,     // no credential, or one that is not valid (a peer's token, an agent's)
  kResourceExhausted,   // a limit was reached (a quota, a queue, a size)
  kAborted,             // superseded by a concurrent action (a newer connection of the same peer)
};

// Returns a short lowercase name for the code ("invalid argument").
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status PermissionDenied(std::string m) {
    return {StatusCode::kPermissionDenied, std::move(m)};
  }
  static Status FailedPrecondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status DeadlineExceeded(std::string m) {
    return {StatusCode::kDeadlineExceeded, std::move(m)};
  }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  static Status Unauthenticated(std::string m) {
    return {StatusCode::kUnauthenticated, std::move(m)};
  }
  static Status ResourceExhausted(std::string m) {
    return {StatusCode::kResourceExhausted, std::move(m)};
  }
  static Status Aborted(std::string m) { return {StatusCode::kAborted, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "prefix: message" (same code); OK stays OK.
  Status WithPrefix(std::string_view prefix) const;

  // "OK" or "<code name>: <message>", for logs.
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// A value or the reason there is none. Accessing value() of a failed Result is a bug (asserts).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!status_.ok() && "a Result built from a Status must carry an error");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace carrierarr

// Evaluates a Status expression and returns it from the enclosing function when it is not OK.
#define CARRIERARR_RETURN_IF_ERROR(expr)                     \
  do {                                                       \
    ::carrierarr::Status carrierarr_status_ = (expr);        \
    if (!carrierarr_status_.ok()) return carrierarr_status_; \
  } while (0)

// Evaluates a Result<T> expression; on failure returns its Status from the enclosing function,
// else moves the value into `lhs` (a declaration such as `auto x` or an existing variable):
//   CARRIERARR_ASSIGN_OR_RETURN(auto spec, spec::LoadFleet(path));
#define CARRIERARR_ASSIGN_OR_RETURN(lhs, expr)                                                    \
  CARRIERARR_ASSIGN_OR_RETURN_IMPL_(CARRIERARR_STATUS_CONCAT_(carrierarr_result_, __LINE__), lhs, \
                                    expr)
// `lhs` may be a declaration and `a##b` pastes tokens: neither can take parentheses.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define CARRIERARR_ASSIGN_OR_RETURN_IMPL_(result, lhs, expr) \
  auto result = (expr);                                      \
  if (!result.ok()) return result.status();                  \
  lhs = std::move(result).value()
#define CARRIERARR_STATUS_CONCAT_(a, b) CARRIERARR_STATUS_CONCAT_INNER_(a, b)
#define CARRIERARR_STATUS_CONCAT_INNER_(a, b) a##b
// NOLINTEND(bugprone-macro-parentheses)

#endif  // CARRIERARR_CORE_STATUS_H_
