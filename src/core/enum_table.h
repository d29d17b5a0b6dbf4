// Tables with one row per enumerator, for enums numbered 0, 1, ... without gaps: the names an
// enum prints as (and parses back from), or any other value per enumerator. A row is a struct
// whose member `value` is its enumerator. A table is checked when compiled:
//   constexpr EnumName<Role> kRoleNames[] = {{Role::kLighthouse, "lighthouse"}, ...};
//   static_assert(IsEnumTable(kRoleNames, Role::kWorker));
// so, as with a switch, leaving out or misplacing an enumerator does not build; the enum's
// header says which enumerator is last.
#ifndef CARRIERARR_CORE_ENUM_TABLE_H_
#define CARRIERARR_CORE_ENUM_TABLE_H_

#include <cstddef>
#include <optional>
#include <string_view>

namespace carrierarr {

// The common row: an enumerator and its name.
template <typename E>
struct EnumName {
  E value;
  std::string_view name;
};

// True when row i holds enumerator i for every i and the last row holds `last`: every
// enumerator once, in order, which is what lets EnumRow index the table.
template <typename Row, std::size_t N, typename E>
consteval bool IsEnumTable(const Row (&rows)[N], E last) {
  for (std::size_t i = 0; i < N; ++i) {
    if (static_cast<std::size_t>(rows[i].value) != i) return false;
  }
  return rows[N - 1].value == last;
}

// The row of `value`, or null for a value outside the enum (a number cast to it).
template <typename Row, std::size_t N, typename E>
constexpr const Row* EnumRow(const Row (&rows)[N], E value) {
  const auto i = static_cast<std::size_t>(value);  // a negative value wraps past N
  return i < N ? &rows[i] : nullptr;
}

// The name of `value`, or `unknown` for a value outside the enum.
template <typename Row, std::size_t N, typename E>
constexpr std::string_view EnumNameOr(const Row (&rows)[N], E value, std::string_view unknown) {
  const Row* row = EnumRow(rows, value);
  return row != nullptr ? row->name : unknown;
}

// The row whose `name` is `name`, or null.
template <typename Row, std::size_t N>
constexpr const Row* EnumRowNamed(const Row (&rows)[N], std::string_view name) {
  for (const Row& row : rows) {
    if (row.name == name) return &row;
  }
  return nullptr;
}

// The enumerator of the row named `name`, or nullopt: an enum parsed from its name.
template <typename Row, std::size_t N>
constexpr auto EnumValueNamed(const Row (&rows)[N], std::string_view name)
    -> std::optional<decltype(Row::value)> {
  const Row* row = EnumRowNamed(rows, name);
  if (row == nullptr) return std::nullopt;
  return row->value;
}

}  // namespace carrierarr

#endif  // CARRIERARR_CORE_ENUM_TABLE_H_
