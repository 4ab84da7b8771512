// SPDX-License-Identifier: MIT
// headroom: the Kubernetes context of a process, from what kubelet leaves
// behind: the cgroup path (QoS class, pod UID, container ID) and the
// process's oom_score_adj (a second witness of the QoS class, and for a
// Burstable pod a coarse estimate of the container's memory request).
//
//   auto pod = headroom::parse_pod_cgroup(
//       "/kubepods/burstable/pod0f3c.../4b5e...");
//   if (pod) use(to_string(pod->qos), pod->pod_uid, pod->container_id);
//
// parse_pod_cgroup() and the oom_score_adj rules are pure; read_kubernetes()
// reads /proc/<pid>/oom_score_adj through the root prefix and looks at every
// form of the cgroup path the memory reader found.
#pragma once

#include <cstdint>      // std::uint64_t
#include <optional>     // std::optional, std::nullopt
#include <string>       // std::string, std::to_string
#include <string_view>  // std::string_view
#include <vector>       // std::vector

#include "discover.hpp"  // cgroup_components, cgroup_location, join_path
#include "error.hpp"     // result, error, errc
#include "memory.hpp"    // memory_reader, reading

namespace headroom {

// Kubernetes' QoS classes (as kubectl prints status.qosClass).
enum class qos_class { guaranteed, burstable, best_effort };

// The class as kubectl prints it: "Guaranteed", "Burstable" or
// "BestEffort".
constexpr const char* to_string(qos_class q) noexcept {
  switch (q) {
    case qos_class::guaranteed:
      return "Guaranteed";
    case qos_class::burstable:
      return "Burstable";
    case qos_class::best_effort:
      break;
  }
  return "BestEffort";
}

// How kubelet names its cgroups (its --cgroup-driver).
enum class cgroup_driver { cgroupfs, systemd };

// The driver's name: "cgroupfs" or "systemd".
constexpr const char* to_string(cgroup_driver d) noexcept {
  return d == cgroup_driver::systemd ? "systemd" : "cgroupfs";
}

// A pod's cgroup, as its path names it.
struct pod_cgroup {
  // The pod's QoS class, from its path.
  qos_class qos = qos_class::best_effort;
  // Which driver named the path.
  cgroup_driver driver = cgroup_driver::cgroupfs;
  // The pod's UID with its dashes (the systemd driver writes them as
  // underscores). Static pods have a 32-digit hash instead of a UUID.
  std::string pod_uid;
  // The container's ID; empty when the process sits in the pod's cgroup.
  std::string container_id;
  // "containerd", "docker" or "crio" when the scope's name says
  // (cri-containerd-, docker-, crio-); empty otherwise (cgroupfs names a
  // container by its ID alone).
  std::string runtime;
};

namespace detail {

inline bool is_uid_char(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-';
}

// A pod UID: lowercase hex and dashes (a UUID, or a static pod's hash).
inline bool is_pod_uid(std::string_view s) noexcept {
  if (s.empty() || s.size() > 64) return false;
  for (const char c : s) {
    if (!is_uid_char(c)) return false;
  }
  return true;
}

// A container ID: a runtime's hex ID (64 digits for containerd, CRI-O and
// Docker); anything else is not one kubelet made.
inline bool is_container_id(std::string_view s) noexcept {
  if (s.empty() || s.size() > 128) return false;
  for (const char c : s) {
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    if (!hex) return false;
  }
  return true;
}

inline bool has_prefix(std::string_view s, std::string_view p) noexcept {
  return s.substr(0, p.size()) == p;
}

inline bool has_suffix(std::string_view s, std::string_view p) noexcept {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

// The container component below a pod: "<id>" (cgroupfs) or
// "<runtime>-<id>.scope" (systemd; cgroupfs with CRI-O writes "crio-<id>").
// False when it is not a container's cgroup (CRI-O's conmon, a pause
// sandbox kubelet does not name, anything else).
inline bool parse_container(std::string_view c, pod_cgroup& out) {
  if (has_suffix(c, ".scope")) c.remove_suffix(6);
  struct prefix {
    std::string_view text, runtime;
  };
  static constexpr prefix prefixes[] = {
      {"cri-containerd-", "containerd"},
      {"docker-", "docker"},
      {"crio-", "crio"},
  };
  for (const prefix& p : prefixes) {
    if (has_prefix(c, p.text)) {
      c.remove_prefix(p.text.size());
      if (!is_container_id(c)) return false;
      out.container_id = std::string(c);
      out.runtime = std::string(p.runtime);
      return true;
    }
  }
  if (!is_container_id(c)) return false;
  out.container_id = std::string(c);
  return true;
}

// cgroupfs: .../kubepods[/burstable|/besteffort]/pod<uid>[/<id>...]
inline std::optional<pod_cgroup> parse_cgroupfs(
    const std::vector<std::string_view>& c, std::size_t at) {
  pod_cgroup out;
  out.driver = cgroup_driver::cgroupfs;
  std::size_t i = at + 1;
  if (i < c.size() && c[i] == "burstable") {
    out.qos = qos_class::burstable;
    ++i;
  } else if (i < c.size() && c[i] == "besteffort") {
    out.qos = qos_class::best_effort;
    ++i;
  } else {
    out.qos = qos_class::guaranteed;  // pods sit directly under kubepods
  }
  if (i >= c.size() || !has_prefix(c[i], "pod")) return std::nullopt;
  const std::string_view uid = c[i].substr(3);
  if (!is_pod_uid(uid)) return std::nullopt;
  out.pod_uid = std::string(uid);
  if (++i < c.size() && !parse_container(c[i], out)) return std::nullopt;
  return out;
}

// systemd: .../<p>.slice[/<p>-burstable.slice]/<p>[-burstable]-pod<uid>.slice
// [/<runtime>-<id>.scope...], where <p> is "kubepods" (or, with another
// cgroup root, "kubelet-kubepods" below kubelet.slice) and the UID has
// underscores for its dashes.
inline std::optional<pod_cgroup> parse_systemd(
    const std::vector<std::string_view>& c, std::size_t at) {
  pod_cgroup out;
  out.driver = cgroup_driver::systemd;
  std::string prefix(c[at].substr(0, c[at].size() - 6));  // no ".slice"
  std::size_t i = at + 1;
  const auto qos_slice = [&](std::string_view name) {
    return i < c.size() && c[i] == prefix + "-" + std::string(name) + ".slice";
  };
  if (qos_slice("burstable")) {
    out.qos = qos_class::burstable;
    prefix += "-burstable";
    ++i;
  } else if (qos_slice("besteffort")) {
    out.qos = qos_class::best_effort;
    prefix += "-besteffort";
    ++i;
  } else {
    out.qos = qos_class::guaranteed;
  }
  const std::string pod = prefix + "-pod";
  if (i >= c.size() || !has_prefix(c[i], pod) || !has_suffix(c[i], ".slice"))
    return std::nullopt;
  std::string uid(c[i].substr(pod.size(), c[i].size() - pod.size() - 6));
  for (char& ch : uid) {
    if (ch == '_')
      ch = '-';
    else if (ch == '-')
      return std::nullopt;  // a dash is a deeper slice
  }
  if (!is_pod_uid(uid)) return std::nullopt;
  out.pod_uid = std::move(uid);
  if (++i < c.size() && !parse_container(c[i], out)) return std::nullopt;
  return out;
}

}  // namespace detail

// The pod a cgroup path (as /proc/<pid>/cgroup prints it) belongs to, or
// nullopt when the path is not below kubelet's pod cgroups. The first
// "kubepods" (cgroupfs) or "...kubepods.slice" (systemd) component is
// kubelet's; what precedes it (a nested runtime, kubelet.slice) is ignored,
// and so are cgroups below the container's.
inline std::optional<pod_cgroup> parse_pod_cgroup(std::string_view path) {
  const auto c = detail::cgroup_components(path);
  if (!c) return std::nullopt;
  for (std::size_t i = 0; i < c->size(); ++i) {
    const std::string_view name = (*c)[i];
    if (name == "kubepods") return detail::parse_cgroupfs(*c, i);
    if (name == "kubepods.slice" || detail::has_suffix(name, "-kubepods.slice"))
      return detail::parse_systemd(*c, i);
  }
  return std::nullopt;
}

// kubelet's oom_score_adj values (pkg/kubelet/qos/policy.go,
// GetContainerOOMScoreAdjust): Guaranteed (and node-critical) containers get
// -997, BestEffort 1000, Burstable 1000 - 1000 * request / capacity, raised
// to 1000 + (-997) = 3 and lowered from 1000 to 999 so that it never equals
// either of the others (Kubernetes' eviction page says 2, which kubelets
// before the -997 value used: 2 is accepted too). A sidecar container gets
// at most the value of the pod's smallest regular container. Capacity is
// the node's memory (MemTotal, in practice).
inline constexpr int guaranteed_oom_score_adj = -997;
// kubelet's oom_score_adj for BestEffort containers.
inline constexpr int best_effort_oom_score_adj = 1000;
// The lowest oom_score_adj taken as Burstable: kubelet gives at least 3,
// older kubelets 2.
inline constexpr int burstable_min_oom_score_adj = 2;
// The highest oom_score_adj a Burstable container gets.
inline constexpr int burstable_max_oom_score_adj =
    best_effort_oom_score_adj - 1;

// The QoS class an oom_score_adj value says, or nullopt for a value kubelet
// does not give a pod's container (0, the default outside kubelet; -998, its
// pause containers; -999, kubelet itself).
constexpr std::optional<qos_class> qos_from_oom_score_adj(int adj) noexcept {
  if (adj == guaranteed_oom_score_adj) return qos_class::guaranteed;
  if (adj == best_effort_oom_score_adj) return qos_class::best_effort;
  if (adj >= burstable_min_oom_score_adj && adj <= burstable_max_oom_score_adj)
    return qos_class::burstable;
  return std::nullopt;
}

// An estimate of a Burstable container's memory request from its
// oom_score_adj, inverting kubelet's formula: 1000 - adj is
// floor(1000 * request / capacity), so the request lies in
// [(1000 - adj) * capacity / 1000, (1000 - adj + 1) * capacity / 1000); the
// lower end is returned (resolution capacity / 1000: 16 MiB on a 16 GiB
// node). nullopt outside the Burstable range, or without a capacity. At
// either clamp (3 or less, 999) the request is only bounded, not estimated.
constexpr std::optional<std::uint64_t> request_from_oom_score_adj(
    int adj, std::uint64_t capacity) noexcept {
  if (capacity == 0 || adj < burstable_min_oom_score_adj ||
      adj > burstable_max_oom_score_adj)
    return std::nullopt;
  const auto k = static_cast<std::uint64_t>(1000 - adj);
  // k * capacity / 1000 without overflow for any capacity.
  return capacity / 1000 * k + capacity % 1000 * k / 1000;
}

// /proc/<pid>/oom_score_adj: an integer in [-1000, 1000] and a newline.
inline result<int> parse_oom_score_adj(std::string_view text) noexcept {
  const std::string_view s = detail::trim_trailing_newline(text);
  const bool negative = !s.empty() && s.front() == '-';
  auto n = parse_u64(negative ? s.substr(1) : s);
  if (!n || *n > 1000) return error(errc::malformed);
  const int v = static_cast<int>(*n);
  return negative ? -v : v;
}

// What read_kubernetes() found.
struct kubernetes_context {
  // The pod, from the first path that names one; nullopt when none does
  // (not under kubelet, or a cgroup namespace shows only "/").
  std::optional<pod_cgroup> pod;
  std::string pod_path;  // the path it was read from
  // /proc/<pid>/oom_score_adj, as the kernel holds it.
  reading<int> oom_score_adj;
};

// Every form of the process's cgroup path the memory reader knows, most
// telling first: the path as printed, the mount root joined with the
// directory below the mount point (the real path when the directory was
// found by pid, or the mount root shows it), and the cgroup2 path.
inline std::vector<std::string> cgroup_path_forms(const cgroup_location& l) {
  std::vector<std::string> out;
  if (!l.path.empty()) out.push_back(l.path);
  const std::string& mp = l.mount.mount_point;
  if (!l.dir.empty() && !mp.empty() && detail::has_prefix(l.dir, mp)) {
    out.push_back(detail::join_path(l.mount.root, l.dir.substr(mp.size())));
  }
  if (!l.mount.root.empty()) out.push_back(l.mount.root);
  if (!l.unified_path.empty()) out.push_back(l.unified_path);
  return out;
}

// Reads the Kubernetes context of the memory reader's process, through its
// root prefix.
inline kubernetes_context read_kubernetes(const memory_reader& m) {
  kubernetes_context k;
  for (const std::string& p : cgroup_path_forms(m.location())) {
    if (auto pod = parse_pod_cgroup(p)) {
      k.pod = std::move(pod);
      k.pod_path = p;
      break;
    }
  }
  const detail::file_system& fs = m.files();
  const int pid = fs.pid();
  k.oom_score_adj.path = "/proc/" +
                         (pid > 0 ? std::to_string(pid) : std::string("self")) +
                         "/oom_score_adj";
  // Opened as every file of the tree is: within the root, regular files
  // only.
  const auto f = fs.keep_proc("oom_score_adj");
  k.oom_score_adj.value = detail::read_parsed(f, parse_oom_score_adj);
  return k;
}

}  // namespace headroom
