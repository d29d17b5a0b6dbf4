#include "cli/flags.h"

#include <charconv>

#include "core/duration.h"

namespace carrierarr::cli {

void FlagSet::String(const std::string& name, std::string* target, const std::string& def,
                     const std::string& usage) {
  *target = def;
  flags_[name] = {Kind::kString, target, def.empty() ? "" : "\"" + def + "\"", usage};
}

void FlagSet::Bool(const std::string& name, bool* target, bool def, const std::string& usage) {
  *target = def;
  flags_[name] = {Kind::kBool, target, def ? "true" : "", usage};
}

void FlagSet::Duration(const std::string& name, std::chrono::nanoseconds* target,
                       std::chrono::nanoseconds def, const std::string& usage) {
  *target = def;
  flags_[name] = {Kind::kDuration, target, def.count() == 0 ? "" : FormatGoDuration(def), usage};
}

void FlagSet::Int(const std::string& name, int64_t* target, int64_t def, const std::string& usage) {
  *target = def;
  flags_[name] = {Kind::kInt, target, def == 0 ? "" : std::to_string(def), usage};
}

void FlagSet::StringList(const std::string& name, std::vector<std::string>* target,
                         const std::string& usage) {
  target->clear();
  flags_[name] = {Kind::kStringList, target, "", usage};
}

bool FlagSet::WasSet(const std::string& name) const {
  auto it = flags_.find(name);
  return it != flags_.end() && it->second.set;
}

Status FlagSet::SetValue(const std::string& name, Flag& flag, const std::string& value) {
  auto bad = [&] {
    return Status::InvalidArgument("invalid value \"" + value + "\" for flag -" + name +
                                   ": parse error");
  };
  switch (flag.kind) {
    case Kind::kString:
      *static_cast<std::string*>(flag.target) = value;
      break;
    case Kind::kStringList:
      static_cast<std::vector<std::string>*>(flag.target)->push_back(value);
      break;
    case Kind::kBool:
      if (value == "1" || value == "t" || value == "T" || value == "true" || value == "TRUE" ||
          value == "True") {
        *static_cast<bool*>(flag.target) = true;
      } else if (value == "0" || value == "f" || value == "F" || value == "false" ||
                 value == "FALSE" || value == "False") {
        *static_cast<bool*>(flag.target) = false;
      } else {
        // Go's flag package words bool failures differently from other kinds.
        return Status::InvalidArgument("invalid boolean value \"" + value + "\" for -" + name +
                                       ": parse error");
      }
      break;
    case Kind::kDuration: {
      auto d = ParseGoDuration(value);
      if (!d.ok()) return bad();
      *static_cast<std::chrono::nanoseconds*>(flag.target) = *d;
      break;
    }
    case Kind::kInt: {
      int64_t v = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec != std::errc() || end != value.data() + value.size()) return bad();
      *static_cast<int64_t*>(flag.target) = v;
      break;
    }
  }
  flag.set = true;
  return Status::Ok();
}

Status FlagSet::Parse(const std::vector<std::string>& args) {
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.size() < 2 || arg[0] != '-') break;  // first non-flag ends the flags
    size_t dashes = (arg[1] == '-') ? 2 : 1;
    if (dashes == 2 && arg.size() == 2) {  // "--"
      ++i;
      break;
    }
    std::string body = arg.substr(dashes);
    if (body.empty() || body[0] == '-' || body[0] == '=') {
      return Status::InvalidArgument("bad flag syntax: " + arg);
    }
    std::string name = body, value;
    bool has_value = false;
    if (auto eq = body.find('='); eq != std::string::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    auto it = flags_.find(name);
    if (it == flags_.end()) {
      if (name == "h" || name == "help") {
        help_ = true;
        continue;
      }
      return Status::InvalidArgument("flag provided but not defined: -" + name);
    }
    Flag& flag = it->second;
    if (flag.kind == Kind::kBool && !has_value) {
      value = "true";
    } else if (!has_value) {
      if (i + 1 >= args.size()) {
        return Status::InvalidArgument("flag needs an argument: -" + name);
      }
      value = args[++i];
    }
    CARRIERARR_RETURN_IF_ERROR(SetValue(name, flag, value));
  }
  args_.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  return Status::Ok();
}

std::string FlagSet::Usage() const {
  std::string out;
  for (const auto& [name, flag] : flags_) {
    out += "  -" + name;
    if (flag.kind == Kind::kString) out += " string";
    if (flag.kind == Kind::kDuration) out += " duration";
    if (flag.kind == Kind::kInt) out += " int";
    if (flag.kind == Kind::kStringList) out += " value (repeatable)";
    out += "\n    \t" + flag.usage;
    if (!flag.def.empty()) out += " (default " + flag.def + ")";
    out += "\n";
  }
  return out;
}

std::vector<std::string> SplitCommaList(const std::string& csv) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= csv.size()) {
    size_t comma = csv.find(',', start);
    std::string item =
        csv.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t b = item.find_first_not_of(" \t\r\n");
    size_t e = item.find_last_not_of(" \t\r\n");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace carrierarr::cli
