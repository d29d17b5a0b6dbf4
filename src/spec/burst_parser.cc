// fleet.yaml's GPU-burst keys: scaling, budgets and prices (burst_reader.h).
#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

#include "core/enum_table.h"
#include "spec/burst_reader.h"

namespace carrierarr::spec {
namespace {

constexpr EnumName<WakeTrigger> kTriggerNames[] = {{WakeTrigger::kRequests, "requests"},
                                                   {WakeTrigger::kPendingPods, "pending-pods"},
                                                   {WakeTrigger::kSchedule, "schedule"}};
static_assert(IsEnumTable(kTriggerNames, WakeTrigger::kSchedule));

constexpr EnumName<StopMode> kStopNames[] = {{StopMode::kStop, "stop"},
                                             {StopMode::kTerminate, "terminate"}};
static_assert(IsEnumTable(kStopNames, StopMode::kTerminate));

constexpr std::array<std::string_view, 7> kDays = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
constexpr MicroUsd kMaxUsd = MicroUsd{1'000'000} * 1'000'000;  // a million dollars
constexpr auto kMinIdleAfter = std::chrono::seconds(1);
constexpr auto kMaxIdleAfter = std::chrono::hours(24 * 7);

int DayIndex(std::string_view s) {
  auto it = std::find(kDays.begin(), kDays.end(), s);
  return it == kDays.end() ? -1 : static_cast<int>(it - kDays.begin());
}

// "mon", "mon-fri", "sat,sun", "mon-wed,fri", "*": bit 0 = Monday.
std::optional<uint8_t> ParseDays(std::string_view s) {
  if (s == "*") return 0x7f;
  uint8_t days = 0;
  while (!s.empty()) {
    const size_t comma = s.find(',');
    const std::string_view part = s.substr(0, comma);
    s = comma == std::string_view::npos ? std::string_view() : s.substr(comma + 1);
    const size_t dash = part.find('-');
    const int from = DayIndex(part.substr(0, dash));
    const int to = dash == std::string_view::npos ? from : DayIndex(part.substr(dash + 1));
    if (from < 0 || to < from) return std::nullopt;
    for (int d = from; d <= to; ++d) days |= static_cast<uint8_t>(1u << d);
    if (comma != std::string_view::npos && s.empty()) return std::nullopt;
  }
  return days == 0 ? std::nullopt : std::optional<uint8_t>(days);
}

// Ollama's model names: "llama3:8b", "library/qwen2.5:0.5b", "hf.co/org/model:Q4_K_M".
bool IsModelName(std::string_view s) {
  if (s.empty() || s.size() > 200) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '_' || c == ':' || c == '/' || c == '-';
  });
}

// "09:00" -> 540; "24:00" only where `allow_24`.
std::optional<int> ParseClock(std::string_view s, bool allow_24) {
  if (s.size() != 5 || s[2] != ':') return std::nullopt;
  int h = 0, m = 0;
  if (std::from_chars(s.data(), s.data() + 2, h).ptr != s.data() + 2 ||
      std::from_chars(s.data() + 3, s.data() + 5, m).ptr != s.data() + 5 || m > 59) {
    return std::nullopt;
  }
  if (h < 24 || (allow_24 && h == 24 && m == 0)) return h * 60 + m;
  return std::nullopt;
}

// "mon-fri 09:00-18:00" (UTC).
std::optional<ScheduleWindow> ParseWindow(const std::string& s) {
  const size_t space = s.find(' ');
  if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
    return std::nullopt;
  const std::string_view times = std::string_view{s}.substr(space + 1);
  const size_t dash = times.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto days = ParseDays(std::string_view{s}.substr(0, space));
  auto start = ParseClock(times.substr(0, dash), false);
  auto end = ParseClock(times.substr(dash + 1), true);
  if (!days || !start || !end || *end <= *start) return std::nullopt;
  return ScheduleWindow{*days, *start, *end};
}

// "1.006", "20", "0.5": dollars with at most six decimals, more than 0.
bool ReadUsd(FleetReader& r, const YAML::Node& node, const std::string& what, MicroUsd* out) {
  std::string s;
  if (!r.Scalar(node, what, &s)) return false;
  const size_t dot = s.find('.');
  const std::string whole = s.substr(0, dot);
  const std::string frac = dot == std::string::npos ? "" : s.substr(dot + 1);
  auto digits = [](const std::string& d) {
    return std::all_of(d.begin(), d.end(), [](unsigned char c) { return std::isdigit(c); });
  };
  MicroUsd value = 0;
  const bool shaped = !whole.empty() && whole.size() <= 7 && digits(whole) && digits(frac) &&
                      frac.size() <= 6 && (dot == std::string::npos || !frac.empty());
  if (shaped) {
    value = std::stoll(whole) * 1'000'000;
    if (!frac.empty()) value += std::stoll(frac + std::string(6 - frac.size(), '0'));
  }
  if (!shaped || value <= 0 || value > kMaxUsd) {
    r.Error(node.Mark(), what + " '" + s +
                             "' must be US dollars more than 0, with at most six decimals "
                             "(e.g. 20 or 1.006)");
    return false;
  }
  *out = value;
  return true;
}

void ReadWakeOn(FleetReader& r, const YAML::Node& node, const std::string& what,
                std::vector<WakeTrigger>* out) {
  if (!node.IsSequence()) {
    r.Error(node.Mark(), what + " must be a list, e.g. [requests, pending-pods]");
    return;
  }
  std::vector<WakeTrigger> triggers;
  for (const YAML::Node& item : node) {
    std::string s;
    if (!r.Scalar(item, what, &s)) continue;
    auto t = WakeTriggerNamed(s);
    if (!t) {
      r.Error(item.Mark(), what + " '" + s + "' must be one of requests, pending-pods, schedule");
    } else if (std::find(triggers.begin(), triggers.end(), *t) != triggers.end()) {
      r.Error(item.Mark(), what + " lists '" + s + "' twice");
    } else {
      triggers.push_back(*t);
    }
  }
  *out = triggers;
}

void ReadSchedule(FleetReader& r, const YAML::Node& node, const std::string& what,
                  std::vector<ScheduleWindow>* out) {
  if (!node.IsSequence() || node.size() == 0) {
    r.Error(node.Mark(), what + " must be a list of windows, e.g. ['mon-fri 09:00-18:00']");
    return;
  }
  for (const YAML::Node& item : node) {
    std::string s;
    if (!r.Scalar(item, what, &s)) continue;
    if (auto w = ParseWindow(s)) {
      out->push_back(*w);
    } else {
      r.Error(item.Mark(), what + " '" + s +
                               "' must be DAYS HH:MM-HH:MM in UTC: days as mon..sun, ranges "
                               "(mon-fri), lists (sat,sun) or *, the end after the start "
                               "(24:00 at most; split a window that crosses midnight)");
    }
  }
}

}  // namespace

std::string_view WakeTriggerName(WakeTrigger t) { return EnumNameOr(kTriggerNames, t, "unknown"); }
std::string_view StopModeName(StopMode m) { return EnumNameOr(kStopNames, m, "unknown"); }
std::optional<WakeTrigger> WakeTriggerNamed(std::string_view name) {
  return EnumValueNamed(kTriggerNames, name);
}
std::optional<StopMode> StopModeNamed(std::string_view name) {
  return EnumValueNamed(kStopNames, name);
}

void ReadScaling(FleetReader& r, const YAML::Node& node, const std::string& where, PoolSpec& pool) {
  const std::string key = where + ".scaling";
  auto m = r.Map(node, key, {"min", "max", "idle_after", "wake_on", "stop", "schedule"});
  ScalingSpec& s = pool.scaling;
  s.enabled = true;
  s.stop = pool.type == PoolType::kGpuWorker ? StopMode::kStop : StopMode::kTerminate;
  r.Remember(key, node.Mark());
  int64_t n = 0;
  if (m.count("max") && r.Int(m["max"], key + ".max", 1, kMaxPoolCount, &n))
    s.max = static_cast<int>(n);
  if (m.count("min") && r.Int(m["min"], key + ".min", 0, kMaxPoolCount, &n)) {
    s.min = static_cast<int>(n);
    if (s.min > s.max) {
      r.Error(m["min"].Mark(),
              key + ".min " + std::to_string(s.min) + " is more than max " + std::to_string(s.max));
    }
  }
  std::chrono::nanoseconds idle{};
  if (m.count("idle_after") && r.Duration(m["idle_after"], key + ".idle_after", &idle)) {
    if (idle < kMinIdleAfter || idle > kMaxIdleAfter) {
      r.Error(m["idle_after"].Mark(), key + ".idle_after must be from 1s to 168h");
    } else {
      s.idle_after = std::chrono::duration_cast<std::chrono::seconds>(idle);
    }
  }
  if (m.count("wake_on")) ReadWakeOn(r, m["wake_on"], key + ".wake_on", &s.wake_on);
  if (m.count("stop")) {
    std::string stop;
    if (r.Scalar(m["stop"], key + ".stop", &stop)) {
      if (auto mode = StopModeNamed(stop)) {
        s.stop = *mode;
      } else {
        r.Error(m["stop"].Mark(), key + ".stop '" + stop +
                                      "' must be stop (keep the volumes: a warm start skips "
                                      "the model download) or terminate (free everything)");
      }
    }
  }
  if (m.count("schedule")) ReadSchedule(r, m["schedule"], key + ".schedule", &s.schedule);
  const bool on_schedule =
      std::find(s.wake_on.begin(), s.wake_on.end(), WakeTrigger::kSchedule) != s.wake_on.end();
  if (on_schedule && !m.count("schedule")) {
    r.Error(node.Mark(), key +
                             ".wake_on has schedule but no schedule windows; add e.g. "
                             "schedule: ['mon-fri 09:00-18:00']");
  } else if (!on_schedule && m.count("schedule")) {
    r.Error(m["schedule"].Mark(), key +
                                      ".schedule is used only with schedule in wake_on; add it "
                                      "there or remove the windows");
  }
}

void ReadBudget(FleetReader& r, const YAML::Node& node, const std::string& where, Budget& out) {
  auto m = r.Map(node, where, {"usd_per_day", "usd_per_month"});
  r.Remember(where, node.Mark());
  if (m.count("usd_per_day"))
    ReadUsd(r, m["usd_per_day"], where + ".usd_per_day", &out.usd_per_day);
  if (m.count("usd_per_month"))
    ReadUsd(r, m["usd_per_month"], where + ".usd_per_month", &out.usd_per_month);
  if (m.empty() && node.IsMap()) {
    r.Error(node.Mark(), where + " needs usd_per_day or usd_per_month");
  }
}

void ReadPrices(FleetReader& r, const YAML::Node& node, std::map<std::string, InstancePrice>& out) {
  if (!node.IsMap()) {
    r.Error(node.Mark(),
            "prices must map instance types to US dollars per hour, e.g. "
            "{g5.xlarge: 1.006} or {g5.xlarge: {on_demand: 1.006, spot: 0.45}}");
    return;
  }
  for (const auto& entry : node) {
    std::string type;
    if (!r.Scalar(entry.first, "prices' instance type", &type)) continue;
    const std::string what = "prices." + type;
    if (out.count(type)) {
      r.Error(entry.first.Mark(), "duplicate key '" + type + "' in prices; keep one");
      continue;
    }
    InstancePrice price;
    if (entry.second.IsMap()) {
      auto m = r.Map(entry.second, what, {"on_demand", "spot"});
      if (!m.count("on_demand")) {
        r.Error(entry.second.Mark(), what + " needs on_demand (US dollars per hour)");
        continue;
      }
      if (!ReadUsd(r, m["on_demand"], what + ".on_demand", &price.on_demand)) continue;
      MicroUsd spot = 0;
      if (m.count("spot") && ReadUsd(r, m["spot"], what + ".spot", &spot)) price.spot = spot;
    } else if (!ReadUsd(r, entry.second, what, &price.on_demand)) {
      continue;
    }
    out[type] = price;
  }
}

void ReadModels(FleetReader& r, std::map<std::string, YAML::Node>& m, const std::string& where,
                PoolSpec& pool) {
  if (m.count("models")) {
    const YAML::Node& list = m["models"];
    r.Remember(where + ".models", list.Mark());
    if (!list.IsSequence()) {
      r.Error(list.Mark(), where + ".models must be a list of Ollama models, e.g. [llama3:8b]");
    } else {
      for (size_t i = 0; i < list.size(); ++i) {
        const std::string what = where + ".models[" + std::to_string(i) + "]";
        std::string model;
        if (!r.Scalar(list[i], what, &model)) continue;
        if (!IsModelName(model)) {
          r.Error(list[i].Mark(), what + " '" + model +
                                      "' is not an Ollama model name (1-200 of [A-Za-z0-9._:/-], "
                                      "e.g. llama3:8b)");
        } else if (std::find(pool.models.begin(), pool.models.end(), model) != pool.models.end()) {
          r.Error(list[i].Mark(), what + " '" + model + "' is listed twice");
        } else {
          pool.models.push_back(model);
        }
      }
    }
  }
  int64_t gb = pool.models.empty() ? 0 : kDefaultModelsVolumeGb;
  if (m.count("models_volume_gb")) {
    // 0: on the root volume; else EBS's gp3 range.
    if (r.Int(m["models_volume_gb"], where + ".models_volume_gb", 0, 16384, &gb) && gb > 0 &&
        gb < 8) {
      r.Error(m["models_volume_gb"].Mark(),
              where + ".models_volume_gb must be 0 (models on the root volume) or 8-16384");
    }
    if (!m.count("models"))
      r.Error(m["models_volume_gb"].Mark(),
              where + ".models_volume_gb applies to models; add models: [...]");
  }
  pool.models_volume_gb = static_cast<int>(gb);
  if (!m.count("keep_alive")) return;
  std::string keep;
  std::chrono::nanoseconds d{};
  if (!r.Scalar(m["keep_alive"], where + ".keep_alive", &keep)) return;
  if (keep != "-1" && !r.Duration(m["keep_alive"], where + ".keep_alive", &d)) return;
  if (!m.count("models"))
    r.Error(m["keep_alive"].Mark(), where + ".keep_alive applies to models; add models: [...]");
  pool.keep_alive = keep;
}

void ValidateBurst(FleetReader& r, FleetSpec& fleet, const ListPriceFn& list_price) {
  std::map<std::string, std::string> pool_of_model;
  for (const PoolSpec& pool : fleet.pools) {
    for (const std::string& model : pool.models) {
      auto [it, fresh] = pool_of_model.emplace(model, pool.name);
      if (!fresh)
        r.Error(r.MarkOf("pool '" + pool.name + "'.models"),
                "model '" + model + "' is in pools '" + it->second + "' and '" + pool.name +
                    "': the gateway sends a model's requests to one pool; keep it in one");
    }
  }
  for (PoolSpec& pool : fleet.pools) {
    const std::string where = "pool '" + pool.name + "'";
    if (pool.budget.any() && !pool.scaling.enabled) {
      r.Error(r.MarkOf(where + ".budget"),
              where +
                  ".budget needs scaling: carrierarr holds to a budget by waking and "
                  "stopping the nodes it scales; add scaling: {min: 0, max: " +
                  std::to_string(std::max(pool.count, 1)) + "} (instead of count)");
      continue;
    }
    if (!pool.scaling.enabled) continue;
    auto written = fleet.prices.find(pool.instance_type);
    if (!pool.instance_type.empty() && written != fleet.prices.end()) {
      const InstancePrice& p = written->second;
      // A pool that may fall back to on-demand counts at on-demand's price (never under).
      pool.usd_per_hour = pool.spot && !pool.on_demand_fallback && p.spot ? *p.spot : p.on_demand;
    } else {
      pool.usd_per_hour = list_price(pool);
    }
    if (pool.usd_per_hour || !(pool.budget.any() || fleet.budget.any())) continue;
    const std::string type = pool.instance_type.empty() ? "<instance type>" : pool.instance_type;
    r.Error(r.MarkOf(where + ".scaling"),
            where + " is held to a budget but has no price" +
                (pool.instance_type.empty() ? " (it has no instance_type)"
                                            : " for instance type '" + type + "'") +
                ": add prices: {" + type + ": <US dollars per hour>} to fleet.yaml");
  }
}

}  // namespace carrierarr::spec
