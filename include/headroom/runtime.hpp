// SPDX-License-Identifier: MIT
// headroom: runtime settings from the real limit. The environment variables
// that make a runtime size itself for the process's limit and CPUs, for an
// entrypoint (`headroom-info --env`, `--exec`) or for a service that embeds
// a runtime and wants the same numbers in-process:
//
//   go      GOMEMLIMIT (presets::go_automemlimit), GOMAXPROCS (the effective
//           CPU count rounded down, as automaxprocs does)
//   jvm     JAVA_TOOL_OPTIONS += -XX:MaxRAM=<effective limit>
//           -XX:ActiveProcessorCount=<effective CPU count, rounded up>
//   node    NODE_OPTIONS += --max-old-space-size=<MiB> (presets::node)
//   dotnet  DOTNET_GCHeapHardLimit=0x<hex> (presets::dotnet; .NET reads its
//           GC settings from the environment as hexadecimal)
//   glibc   MALLOC_ARENA_MAX = 8 * the effective CPU count, rounded up
//           (glibc's own NARENAS_FROM_NCORES on 64-bit, malloc/arena.c,
//           applied to the CPUs the quota allows instead of the affinity)
//
// A setting is made only where the runtime's default is wrong: memory ones
// under a memory limit, CPU ones when a quota or cpuset allows fewer CPUs
// than the affinity (which every runtime above already follows). A value
// the user set is kept unless asked to override it; options appended to
// JAVA_TOOL_OPTIONS and NODE_OPTIONS keep the user's other options.
//
//   auto s = reader->snapshot();
//   auto c = cpus->snapshot();
//   auto env = headroom::runtime_settings(s, c, headroom::all_runtimes());
//   if (env) for (auto& v : env->set) setenv(v.name.c_str(), ...);
#pragma once

#include <cstdint>           // std::uint64_t, std::uint32_t
#include <cstdio>            // std::snprintf
#include <cstdlib>           // std::getenv
#include <functional>        // std::function
#include <initializer_list>  // std::initializer_list
#include <optional>          // std::optional, std::nullopt
#include <string>            // std::string, std::to_string
#include <string_view>       // std::string_view
#include <utility>           // std::move
#include <vector>            // std::vector

#include "cpu.hpp"       // cpu_snapshot, cpu_rounding
#include "error.hpp"     // result, error
#include "policy.hpp"    // jvm, node, dotnet
#include "snapshot.hpp"  // memory_snapshot

namespace headroom {

// The language runtimes runtime_env() knows how to size.
enum class runtime { go, jvm, node, dotnet, glibc };

// The runtime's name: "go", "jvm", "node", "dotnet" or "glibc".
constexpr const char* to_string(runtime r) noexcept {
  switch (r) {
    case runtime::jvm:
      return "jvm";
    case runtime::node:
      return "node";
    case runtime::dotnet:
      return "dotnet";
    case runtime::glibc:
      return "glibc";
    case runtime::go:
      break;
  }
  return "go";
}

// "go", "jvm", "node", "dotnet", "glibc"; std::nullopt for anything else.
inline std::optional<runtime> runtime_from_string(std::string_view s) {
  for (runtime r : {runtime::go, runtime::jvm, runtime::node, runtime::dotnet,
                    runtime::glibc}) {
    if (s == to_string(r)) return r;
  }
  return std::nullopt;
}

// Every runtime, in the order runtime_env() considers them.
inline std::vector<runtime> all_runtimes() {
  return {runtime::go, runtime::jvm, runtime::node, runtime::dotnet,
          runtime::glibc};
}

// One variable to set: its whole new value (the user's options included
// where ours are appended), and where the number comes from.
struct env_setting {
  // The runtime the variable is for.
  runtime from = runtime::go;
  // The variable's name.
  std::string name;
  // Its whole new value.
  std::string value;
  // Where the number comes from, in words.
  std::string why;
};

// A variable left alone, and why: no limit, the default is right, or the
// user's value is kept.
struct env_skipped {
  // The runtime the variable is for.
  runtime from = runtime::go;
  // The variable's name.
  std::string name;
  // Why it is left alone, in words.
  std::string why;
};

// What runtime_env() proposes: the variables to set, and those left
// alone with the reason. A plain value; nothing is changed in the
// environment.
struct runtime_env {
  // The variables to set.
  std::vector<env_setting> set;
  // The variables left alone.
  std::vector<env_skipped> skipped;
};

// Looks a variable up in the environment the runtime will start with.
using env_lookup =
    std::function<std::optional<std::string>(const std::string& name)>;

// An env_lookup that reads this process's environment (std::getenv).
// The environment must not be changed by another thread while it is used.
inline env_lookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
}

// How runtime_env() looks variables up and treats the user's settings.
struct runtime_env_options {
  // Where the user's current settings are read (default: this process's
  // environment).
  env_lookup lookup = process_environment();
  bool override_user = false;  // replace what the user set
  address_limits limits;       // RLIMIT_AS/RLIMIT_DATA for the presets
};

namespace detail {

inline constexpr std::uint64_t runtime_mib = 1024 * 1024;

inline std::string decimal(std::uint64_t v) { return std::to_string(v); }

inline std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

inline std::string mib_text(std::uint64_t bytes) {
  return std::to_string(bytes / runtime_mib) + " MiB";
}

// Whitespace-separated options, as the JVM and Node split theirs.
inline std::vector<std::string> split_options(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t' && s[j] != '\n') ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

inline bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

// The runtime settings being built: plain variables and options appended
// to one options variable.
class env_builder {
 public:
  env_builder(runtime_env& out, const runtime_env_options& o)
      : out_(out), opt_(o) {}

  void skip(runtime r, std::string name, std::string why) {
    out_.skipped.push_back({r, std::move(name), std::move(why)});
  }

  // NAME=value unless the user set NAME (or one of `aliases`).
  void plain(runtime r, const std::string& name, std::string value,
             std::string why, std::initializer_list<const char*> aliases = {}) {
    if (!opt_.override_user) {
      std::vector<std::string> names{name};
      for (const char* a : aliases) names.emplace_back(a);
      for (const auto& n : names) {
        if (auto v = opt_.lookup(n)) {
          skip(r, name, "kept the user's " + n + "=" + *v);
          return;
        }
      }
    }
    out_.set.push_back({r, name, std::move(value), std::move(why)});
  }

  // Appends `option` (prefix + value) to the options variable `name`. The
  // user's option with one of `prefixes` is kept, or with override_user
  // removed before ours is appended.
  void option(runtime r, const std::string& name, const std::string& option,
              std::initializer_list<const char*> prefixes, std::string why) {
    std::string current = pending(name);
    if (current.empty()) current = opt_.lookup(name).value_or("");
    std::string kept;
    bool user_has = false;
    for (const auto& o : split_options(current)) {
      bool matches = false;
      for (const char* p : prefixes) matches = matches || starts_with(o, p);
      if (matches && !opt_.override_user) {
        skip(r, name, "kept the user's " + o);
        user_has = true;
      }
      if (matches && opt_.override_user) continue;
      kept += (kept.empty() ? "" : " ") + o;
    }
    if (user_has) return;
    kept += (kept.empty() ? "" : " ") + option;
    for (auto& s : out_.set) {
      if (s.name == name) {
        s.value = kept;
        s.why += "; " + why;
        return;
      }
    }
    out_.set.push_back({r, name, kept, std::move(why)});
  }

 private:
  std::string pending(const std::string& name) const {
    for (const auto& s : out_.set)
      if (s.name == name) return s.value;
    return {};
  }

  runtime_env& out_;
  const runtime_env_options& opt_;
};

}  // namespace detail

// The settings for `which` runtimes, from a memory snapshot and a CPU
// snapshot (pure but for opt.lookup). Fails with the snapshot's error when
// a value a runtime needs could not be read (the limit, the CPU count):
// never a setting from a guess.
inline result<runtime_env> runtime_settings(
    const memory_snapshot& s, const cpu_snapshot& c,
    const std::vector<runtime>& which, const runtime_env_options& opt = {}) {
  runtime_env out;
  detail::env_builder env(out, opt);
  const auto wants = [&](runtime r) {
    for (runtime w : which)
      if (w == r) return true;
    return false;
  };
  const bool memory = wants(runtime::go) || wants(runtime::jvm) ||
                      wants(runtime::node) || wants(runtime::dotnet);
  const bool cpus =
      wants(runtime::go) || wants(runtime::jvm) || wants(runtime::glibc);
  if (memory && !s.limit) return s.limit.error();
  if (memory && !s.effective_limit) return s.effective_limit.error();
  const bool limited = memory && s.limit->has_value();
  // Fewer CPUs than the affinity: the quota or the cpuset limits.
  std::uint32_t up = 0, down = 0, affinity = 0;
  if (cpus) {
    if (!c.affinity) return c.affinity.error();
    auto u = c.effective(cpu_rounding::up);
    if (!u) return std::move(u).error();
    auto d = c.effective(cpu_rounding::down);
    if (!d) return std::move(d).error();
    up = *u;
    down = *d;
    affinity = *c.affinity;
  }
  const std::string no_limit =
      "no memory limit: the runtime's default is right";
  const std::string no_cpu_limit =
      "no CPU quota or cpuset below the affinity (" + std::to_string(affinity) +
      " CPUs): the runtime's default is right";
  const std::string limit_text =
      limited ? detail::mib_text(*s.effective_limit) + " limit" : std::string();

  const auto budget_of =
      [&](const budget_policy& p) -> result<std::optional<budget>> {
    return compute_budget(s, p, opt.limits);
  };

  if (wants(runtime::go)) {
    auto b = budget_of(presets::go_automemlimit());
    if (!b) return std::move(b).error();
    if (*b) {
      env.plain(runtime::go, "GOMEMLIMIT", detail::decimal((*b)->max),
                "90% of the " + limit_text + " (automemlimit)");
    } else {
      env.skip(runtime::go, "GOMEMLIMIT", no_limit);
    }
    if (down < affinity) {
      env.plain(runtime::go, "GOMAXPROCS", detail::decimal(down),
                "the CPU quota or cpuset, rounded down (automaxprocs)");
    } else {
      env.skip(runtime::go, "GOMAXPROCS", no_cpu_limit);
    }
  }
  if (wants(runtime::jvm)) {
    if (limited) {
      env.option(
          runtime::jvm, "JAVA_TOOL_OPTIONS",
          "-XX:MaxRAM=" + detail::decimal(*s.effective_limit), {"-XX:MaxRAM="},
          "MaxRAM: the " + limit_text + " (the JVM's percentages apply)");
    } else {
      env.skip(runtime::jvm, "JAVA_TOOL_OPTIONS", "-XX:MaxRAM: " + no_limit);
    }
    if (up < affinity) {
      env.option(runtime::jvm, "JAVA_TOOL_OPTIONS",
                 "-XX:ActiveProcessorCount=" + detail::decimal(up),
                 {"-XX:ActiveProcessorCount="},
                 "ActiveProcessorCount: the CPU quota or cpuset, rounded up");
    } else {
      env.skip(runtime::jvm, "JAVA_TOOL_OPTIONS",
               "-XX:ActiveProcessorCount: " + no_cpu_limit);
    }
  }
  if (wants(runtime::node)) {
    auto b = budget_of(presets::node());
    if (!b) return std::move(b).error();
    const std::uint64_t mib = *b ? (*b)->max / detail::runtime_mib : 0;
    if (*b && mib > 0) {
      env.option(
          runtime::node, "NODE_OPTIONS",
          "--max-old-space-size=" + detail::decimal(mib),
          {"--max-old-space-size=", "--max_old_space_size="},
          "V8's old generation: half the " + limit_text + " (presets::node)");
    } else {
      env.skip(runtime::node, "NODE_OPTIONS",
               *b ? "the limit is under 2 MiB"
                  : "--max-old-space-size: " + no_limit);
    }
  }
  if (wants(runtime::dotnet)) {
    auto b = budget_of(presets::dotnet());
    if (!b) return std::move(b).error();
    if (*b) {
      env.plain(runtime::dotnet, "DOTNET_GCHeapHardLimit",
                detail::hex((*b)->max),
                "75% of the " + limit_text + " (the .NET GC's container rule)",
                {"COMPlus_GCHeapHardLimit"});
    } else {
      env.skip(runtime::dotnet, "DOTNET_GCHeapHardLimit", no_limit);
    }
  }
  if (wants(runtime::glibc)) {
    if (up < affinity) {
      env.plain(runtime::glibc, "MALLOC_ARENA_MAX",
                detail::decimal(std::uint64_t{8} * up),
                "8 arenas per CPU the quota or cpuset allows (glibc's rule)");
    } else {
      env.skip(runtime::glibc, "MALLOC_ARENA_MAX", no_cpu_limit);
    }
  }
  return out;
}

// `NAME='value'` quoted for a POSIX shell: inside single quotes everything
// is literal but the quote itself, written '\''.
inline std::string shell_export(const env_setting& v) {
  std::string out = "export " + v.name + "='";
  for (char ch : v.value) {
    if (ch == '\'') {
      out += "'\\''";
    } else {
      out += ch;
    }
  }
  return out + "'";
}

}  // namespace headroom
