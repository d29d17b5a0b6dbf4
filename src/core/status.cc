#include "core/status.h"

#include "core/enum_table.h"

namespace carrierarr {

namespace {

constexpr EnumName<StatusCode> kCodeNames[] = {
    {StatusCode::kOk, "ok"},
    {StatusCode::kInvalidArgument, "invalid argument"},
    {StatusCode::kNotFound, "not found"},
    {StatusCode::kAlreadyExists, "already exists"},
    {StatusCode::kPermissionDenied, "permission denied"},
    {StatusCode::kFailedPrecondition, "failed precondition"},
    {StatusCode::kDataLoss, "data loss"},
    {StatusCode::kUnavailable, "unavailable"},
    {StatusCode::kDeadlineExceeded, "deadline exceeded"},
    {StatusCode::kInternal, "internal"},
    {StatusCode::kUnauthenticated, "unauthenticated"},
    {StatusCode::kResourceExhausted, "resource exhausted"},
    {StatusCode::kAborted, "aborted"},
};
static_assert(IsEnumTable(kCodeNames, StatusCode::kAborted));

}  // namespace

std::string_view StatusCodeName(StatusCode code) { return EnumNameOr(kCodeNames, code, "unknown"); }

Status Status::WithPrefix(std::string_view prefix) const {
  if (ok()) return *this;
  return Status(code_, std::string(prefix) + ": " + message_);
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(StatusCodeName(code_)) + ": " + message_;
}

}  // namespace carrierarr
