// SPDX-License-Identifier: MIT
// The Kubernetes context: pod cgroup paths of both drivers, kubelet's
// oom_score_adj rules, and fixture pods of each class on v1 and v2 read
// through the exporter.
#include <headroom/export.hpp>
#include <headroom/kubernetes.hpp>
#include "../support/doctest.hpp"

#include <filesystem>
#include <optional>
#include <string>

#include "../support/json.hpp"
#include "../support/kubernetes_layouts.hpp"

using namespace headroom;
using namespace headroom_test;

namespace {

struct path_case {
  const char* name;
  const char* path;
  bool pod;
  qos_class qos;
  cgroup_driver driver;
  const char* uid;
  const char* id;
  const char* runtime;
};

constexpr auto G = qos_class::guaranteed;
constexpr auto B = qos_class::burstable;
constexpr auto BE = qos_class::best_effort;
constexpr auto FS = cgroup_driver::cgroupfs;
constexpr auto SD = cgroup_driver::systemd;

const path_case path_cases[] = {
    {"cgroupfs guaranteed", "/kubepods/pod0f3c-11/abc123", true, G, FS,
     "0f3c-11", "abc123", ""},
    {"cgroupfs burstable", "/kubepods/burstable/pod0f3c-11/abc123", true, B, FS,
     "0f3c-11", "abc123", ""},
    {"cgroupfs besteffort", "/kubepods/besteffort/pod0f3c-11/abc123", true, BE,
     FS, "0f3c-11", "abc123", ""},
    {"cgroupfs crio", "/kubepods/burstable/pod0f3c/crio-abc123", true, B, FS,
     "0f3c", "abc123", "crio"},
    {"cgroupfs pod cgroup itself", "/kubepods/burstable/pod0f3c", true, B, FS,
     "0f3c", "", ""},
    {"cgroupfs below the container", "/kubepods/pod0f3c/abc123/sub", true, G,
     FS, "0f3c", "abc123", ""},
    {"cgroupfs nested under docker", "/docker/ffee/kubepods/besteffort/pod1/a1",
     true, BE, FS, "1", "a1", ""},
    {"systemd guaranteed",
     "/kubepods.slice/kubepods-pod0f3c_11.slice/cri-containerd-abc.scope", true,
     G, SD, "0f3c-11", "abc", "containerd"},
    {"systemd burstable",
     "/kubepods.slice/kubepods-burstable.slice/"
     "kubepods-burstable-pod0f3c_11_22.slice/cri-containerd-abc.scope",
     true, B, SD, "0f3c-11-22", "abc", "containerd"},
    {"systemd besteffort docker",
     "/kubepods.slice/kubepods-besteffort.slice/"
     "kubepods-besteffort-pod0f3c.slice/docker-abc.scope",
     true, BE, SD, "0f3c", "abc", "docker"},
    {"systemd crio",
     "/kubepods.slice/kubepods-burstable.slice/"
     "kubepods-burstable-pod0f3c.slice/crio-abc.scope",
     true, B, SD, "0f3c", "abc", "crio"},
    {"systemd kind (kubelet.slice)",
     "/kubelet.slice/kubelet-kubepods.slice/"
     "kubelet-kubepods-besteffort.slice/"
     "kubelet-kubepods-besteffort-pod0f3c.slice/cri-containerd-abc.scope",
     true, BE, SD, "0f3c", "abc", "containerd"},
    {"systemd pod slice itself", "/kubepods.slice/kubepods-pod0f3c.slice", true,
     G, SD, "0f3c", "", ""},
    // Not a pod.
    {"namespaced root", "/", false, G, FS, "", "", ""},
    {"docker", "/docker/0123abcd", false, G, FS, "", "", ""},
    {"systemd service", "/system.slice/containerd.service", false, G, FS, "",
     "", ""},
    {"kubepods itself", "/kubepods", false, G, FS, "", "", ""},
    {"qos level only", "/kubepods/burstable", false, G, FS, "", "", ""},
    {"kubepods.slice only", "/kubepods.slice", false, G, FS, "", "", ""},
    {"pod without uid", "/kubepods/burstable/pod/abc", false, G, FS, "", "",
     ""},
    {"uid not hex", "/kubepods/podXYZ/abc", false, G, FS, "", "", ""},
    {"uppercase id", "/kubepods/pod1/ABC", false, G, FS, "", "", ""},
    {"conmon", "/kubepods.slice/kubepods-pod1.slice/crio-conmon-abc.scope",
     false, G, FS, "", "", ""},
    {"systemd dash in uid",
     "/kubepods.slice/kubepods-pod0f3c-11.slice/cri-containerd-abc.scope",
     false, G, FS, "", "", ""},
    {"systemd qos slice of another prefix",
     "/kubepods.slice/other-burstable.slice/kubepods-burstable-pod1.slice",
     false, G, FS, "", "", ""},
    {"malformed", "kubepods/pod1/abc", false, G, FS, "", "", ""},
    {"empty component", "/kubepods//pod1/abc", false, G, FS, "", "", ""},
    {"empty", "", false, G, FS, "", "", ""},
};

// Reads of the report's JSON: a key's string, number text, flag or null.
json report_json(const exporter& ex) {
  auto j = json_reader::parse(to_json(ex.read()));
  REQUIRE(j);
  return *j;
}
std::string str(const json& j, const char* key) {
  const json* v = j.at(key);
  return v && v->type == json::kind::string ? v->text : "(not a string)";
}
std::string num(const json& j, const char* key) {
  const json* v = j.at(key);
  return v && v->type == json::kind::number ? v->text : "(not a number)";
}
bool yes(const json& j, const char* key) {
  const json* v = j.at(key);
  return v && v->type == json::kind::boolean && v->b;
}
bool no(const json& j, const char* key) {
  const json* v = j.at(key);
  return v && v->type == json::kind::boolean && !v->b;
}
bool null(const json& j, const char* key) {
  const json* v = j.at(key);
  return v && v->is_null();
}

}  // namespace

TEST_CASE(
    "parse_pod_cgroup: both drivers, every class, and what is not a pod") {
  for (const path_case& c : path_cases) {
    CAPTURE(c.name);
    const auto p = parse_pod_cgroup(c.path);
    REQUIRE(p.has_value() == c.pod);
    if (!p) continue;
    CHECK(p->qos == c.qos);
    CHECK(p->driver == c.driver);
    CHECK(p->pod_uid == c.uid);
    CHECK(p->container_id == c.id);
    CHECK(p->runtime == c.runtime);
  }
}

TEST_CASE("oom_score_adj: kubelet's values, and its formula inverted") {
  CHECK(qos_from_oom_score_adj(-997) == qos_class::guaranteed);
  CHECK(qos_from_oom_score_adj(1000) == qos_class::best_effort);
  CHECK(qos_from_oom_score_adj(3) == qos_class::burstable);
  CHECK(qos_from_oom_score_adj(999) == qos_class::burstable);
  CHECK_FALSE(qos_from_oom_score_adj(0));
  CHECK(qos_from_oom_score_adj(2) == qos_class::burstable);  // older kubelets
  CHECK_FALSE(qos_from_oom_score_adj(1));
  CHECK_FALSE(qos_from_oom_score_adj(-998));
  CHECK_FALSE(qos_from_oom_score_adj(-1000));

  // 2 GiB of 16 GiB: 1000 - 2000/16 = 875; back: 125 * 16 GiB / 1000.
  const std::uint64_t cap = 16 * GiB;
  const auto req = request_from_oom_score_adj(875, cap);
  REQUIRE(req);
  CHECK(*req == 125 * cap / 1000);
  CHECK(*req <= 2 * GiB);
  CHECK(2 * GiB - *req < cap / 1000);
  CHECK_FALSE(request_from_oom_score_adj(1000, cap));
  CHECK_FALSE(request_from_oom_score_adj(-997, cap));
  CHECK_FALSE(request_from_oom_score_adj(875, 0));
  // No overflow for the largest capacity.
  CHECK(*request_from_oom_score_adj(3, UINT64_MAX) <= UINT64_MAX);

  CHECK(*parse_oom_score_adj("-997\n") == -997);
  CHECK(*parse_oom_score_adj("1000\n") == 1000);
  CHECK(*parse_oom_score_adj("0") == 0);
  CHECK_FALSE(parse_oom_score_adj("1001\n"));
  CHECK_FALSE(parse_oom_score_adj("-1001\n"));
  CHECK_FALSE(parse_oom_score_adj("--1\n"));
  CHECK_FALSE(parse_oom_score_adj(""));
  CHECK_FALSE(parse_oom_score_adj("abc"));
}

TEST_CASE("fixture pods: each class and driver on v1 and v2, as JSON") {
  for (const pod_row& row : pod_rows()) {
    CAPTURE(row.name);
    fixture_tree t;
    write_pod(t, row);
    options o;
    o.root = t.root();
    auto ex = exporter::open(o);
    REQUIRE(ex);
    const json j = report_json(*ex);
    const std::string name = row.name;
    const std::string qos =
        name.find("guaranteed") != std::string::npos  ? "Guaranteed"
        : name.find("burstable") != std::string::npos ? "Burstable"
                                                      : "BestEffort";
    CHECK(str(j, "kubernetes.qos_class") == qos);
    CHECK(str(j, "kubernetes.qos_class_source") == "cgroup_path");
    CHECK(yes(j, "kubernetes.oom_score_adj_agrees"));
    CHECK(str(j, "kubernetes.cgroup_driver") ==
          (name.find("systemd") != std::string::npos ? "systemd" : "cgroupfs"));
    CHECK(str(j, "kubernetes.pod_uid") == pod_uid);
    CHECK(str(j, "kubernetes.container_id") == ctr_id);
    CHECK(num(j, "kubernetes.oom_score_adj") ==
          std::to_string(row.oom_score_adj));
    if (qos == "BestEffort") {
      CHECK(null(j, "kubernetes.memory_request_bytes"));
      CHECK(null(j, "kubernetes.memory_request_source"));
    } else if (qos == "Guaranteed") {
      CHECK(num(j, "kubernetes.memory_request_bytes") == std::to_string(GiB));
      CHECK(str(j, "kubernetes.memory_request_source") ==
            (row.v2 && row.min != "0" ? "memory.min" : "limit"));
      CHECK(no(j, "kubernetes.memory_request_estimate"));
    } else if (row.v2 && row.min != "0") {
      CHECK(num(j, "kubernetes.memory_request_bytes") ==
            std::to_string(2 * GiB));
      CHECK(str(j, "kubernetes.memory_request_source") == "memory.min");
    } else {
      CHECK(str(j, "kubernetes.memory_request_source") == "oom_score_adj");
      CHECK(yes(j, "kubernetes.memory_request_estimate"));
      CHECK(num(j, "kubernetes.memory_request_bytes") ==
            std::to_string(125 * (16 * GiB) / 1000));
    }
    if (row.v2) {
      CHECK(yes(j, "memory.oom_group"));
    } else {
      CHECK(null(j, "memory.oom_group"));
    }
  }
}

TEST_CASE("a namespaced pod: the path says nothing, oom_score_adj does") {
  fixture_tree t;
  pod_row row = pod_rows()[7];  // v2 cgroupfs burstable
  write_pod(t, row);
  // A cgroup namespace: the path is "/", the mount shows the container.
  t.file("proc/self/cgroup", "0::/\n");
  t.file("proc/self/mountinfo",
         std::string(mi_base) +
             "26 23 0:23 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n");
  write_v2(t, "sys/fs/cgroup", v2_dir{});
  options o;
  o.root = t.root();
  auto ex = exporter::open(o);
  REQUIRE(ex);
  const json j = report_json(*ex);
  CHECK(str(j, "kubernetes.qos_class") == "Burstable");
  CHECK(str(j, "kubernetes.qos_class_source") == "oom_score_adj");
  CHECK(null(j, "kubernetes.pod_uid"));
  CHECK(str(j, "kubernetes.memory_request_source") == "oom_score_adj");

  // Outside kubelet: oom_score_adj 0 and no kubepods: null everywhere.
  t.file("proc/self/oom_score_adj", "0\n");
  const json n = report_json(*ex);
  CHECK(null(n, "kubernetes.qos_class"));
  CHECK(null(n, "kubernetes.memory_request_bytes"));

  // A tree without the file (captured before it was read): null, no error.
  t.remove("proc/self/oom_score_adj");
  const json gone = report_json(*ex);
  CHECK(null(gone, "kubernetes.oom_score_adj"));
  const json* none = gone.at("errors");
  REQUIRE(none);
  for (const json& x : none->items)
    CHECK(str(x, "field").rfind("kubernetes.", 0) == std::string::npos);

  // A link to this machine's own file resolves inside the tree: never the
  // reader's oom_score_adj.
  std::filesystem::create_symlink("/proc/1/oom_score_adj",
                                  t.path("proc/self/oom_score_adj"));
  const json linked = report_json(*ex);
  CHECK(null(linked, "kubernetes.oom_score_adj"));
  t.remove("proc/self/oom_score_adj");

  // An unreadable oom_score_adj is an error, listed.
  t.file("proc/self/oom_score_adj", "lots\n");
  const json e = report_json(*ex);
  CHECK(null(e, "kubernetes.oom_score_adj"));
  bool listed = false;
  const json* errors = e.at("errors");
  REQUIRE(errors);
  for (const json& x : errors->items)
    listed = listed || str(x, "field") == "kubernetes.oom_score_adj";
  CHECK(listed);
}
