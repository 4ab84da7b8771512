// SPDX-License-Identifier: MIT
// Table tests of the pure parsers: named fixture strings in, values out,
// malformed input included.
#include <cerrno>
#include <headroom/format.hpp>
#include <headroom/parse.hpp>
#include <string>

#include "../support/doctest.hpp"

using namespace headroom;

namespace {

// --- number-or-max ----------------------------------------------------------

struct number_case {
  const char* name;
  const char* text;
  bool ok;
  std::optional<std::uint64_t> value;
};

const number_case number_or_max_cases[] = {
    {"v2 limit", "268435456\n", true, 268435456},
    {"v2 max", "max\n", true, std::nullopt},
    {"no newline", "4096", true, 4096},
    {"zero", "0\n", true, 0},
    {"u64 max", "18446744073709551615\n", true, UINT64_MAX},
    {"overflow", "18446744073709551616\n", false, {}},
    {"empty", "", false, {}},
    {"newline only", "\n", false, {}},
    {"negative", "-1\n", false, {}},
    {"space", " 12\n", false, {}},
    {"trailing junk", "12abc\n", false, {}},
    {"two lines", "12\n13\n", false, {}},
    {"Max capitalised", "Max\n", false, {}},
    {"binary", "\x01\x02\xff", false, {}},
};

}  // namespace

TEST_CASE("parse_number_or_max") {
  for (const auto& c : number_or_max_cases) {
    CAPTURE(c.name);
    auto r = parse_number_or_max(c.text);
    REQUIRE(r.has_value() == c.ok);
    if (c.ok) {
      CHECK(*r == c.value);
    } else {
      CHECK(r.error().code == errc::malformed);
    }
  }
}

TEST_CASE("parse_v1_limit: the page-rounded LONG_MAX means unlimited") {
  const struct {
    const char* name;
    const char* text;
    std::optional<std::uint64_t> value;
  } cases[] = {
      {"4 KiB pages unlimited", "9223372036854771712\n", std::nullopt},
      {"64 KiB pages unlimited", "9223372036854710272\n", std::nullopt},
      {"16 KiB pages unlimited", "9223372036854759424\n", std::nullopt},
      {"LONG_MAX itself", "9223372036854775807\n", std::nullopt},
      {"256 MiB", "268435456\n", 268435456},
      {"just below the threshold", "9223372036853727231\n",
       9223372036853727231ull},
      {"100 GiB (over host RAM is still a limit)", "107374182400\n",
       107374182400ull},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto r = parse_v1_limit(c.text);
    REQUIRE(r.has_value());
    CHECK(*r == c.value);
  }
  CHECK(parse_v1_limit("max\n").error().code == errc::malformed);
  CHECK(parse_v1_limit("-1\n").error().code == errc::malformed);
  CHECK(parse_v1_limit("").error().code == errc::malformed);
}

TEST_CASE("parse_counter") {
  CHECK(*parse_counter("4001792\n") == 4001792u);
  CHECK(!parse_counter("4001792 \n"));
  CHECK(!parse_counter("max\n"));
}

TEST_CASE("parse_size: quantities as people write them") {
  const struct {
    const char* text;
    std::optional<std::uint64_t> bytes;
  } cases[] = {
      {"536870912", 536870912},
      {"512Mi", 512ull << 20},
      {"1Gi", 1ull << 30},
      {"64Ki", 64ull << 10},
      {"2Ti", 2ull << 40},
      {"500M", 500000000},
      {"1G", 1000000000},
      {"3k", 3000},
      {"3K", 3000},
      {"0", 0},
      {"", std::nullopt},
      {"Mi", std::nullopt},
      {"512 Mi", std::nullopt},
      {"512mi", std::nullopt},
      {"1.5Gi", std::nullopt},
      {"-1", std::nullopt},
      {"max", std::nullopt},
      {"99999999999Ti", std::nullopt},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    auto r = parse_size(c.text);
    REQUIRE(r.has_value() == c.bytes.has_value());
    if (c.bytes) CHECK(*r == *c.bytes);
  }
}

// --- /proc/<pid>/cgroup
// -------------------------------------------------------

TEST_CASE("parse_cgroup_line") {
  SUBCASE("v1 memory") {
    auto e = parse_cgroup_line("4:memory:/docker/0123abcd\n");
    REQUIRE(e);
    CHECK(e->hierarchy_id == 4);
    CHECK(e->controllers == "memory");
    CHECK(e->path == "/docker/0123abcd");
  }
  SUBCASE("v1 co-mounted controllers") {
    auto e = parse_cgroup_line("3:cpu,cpuacct:/user.slice");
    REQUIRE(e);
    CHECK(has_controller(e->controllers, "cpu"));
    CHECK(has_controller(e->controllers, "cpuacct"));
    CHECK_FALSE(has_controller(e->controllers, "cpus"));
    CHECK_FALSE(has_controller(e->controllers, "memory"));
  }
  SUBCASE("named hierarchy") {
    auto e = parse_cgroup_line("1:name=systemd:/init.scope");
    REQUIRE(e);
    CHECK(e->controllers == "name=systemd");
    CHECK_FALSE(has_controller(e->controllers, "memory"));
  }
  SUBCASE("v2") {
    auto e = parse_cgroup_line("0::/system.slice/foo.service");
    REQUIRE(e);
    CHECK(e->hierarchy_id == 0);
    CHECK(e->controllers.empty());
    CHECK(e->path == "/system.slice/foo.service");
  }
  SUBCASE("colons inside the path") {
    auto e = parse_cgroup_line(
        "0::/kubepods/pod:abc/cri-containerd:1234:5678.scope\n");
    REQUIRE(e);
    CHECK(e->path == "/kubepods/pod:abc/cri-containerd:1234:5678.scope");
  }
  SUBCASE("very long path") {
    const std::string path = "/" + std::string(70000, 'a');
    auto e = parse_cgroup_line("0::" + path);
    REQUIRE(e);
    CHECK(e->path.size() == path.size());
  }
  SUBCASE("malformed") {
    for (const char* bad :
         {"", "garbage", "4:memory", "x:memory:/a", "4:memory:relative",
          "4:memory:", "-1::/a", "99999999999::/a"}) {
      CAPTURE(bad);
      CHECK(parse_cgroup_line(bad).error().code == errc::malformed);
    }
  }
}

// --- mountinfo
// ------------------------------------------------------------------

namespace {
const char* const mi_v1_memory =
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory";
const char* const mi_optional_fields =
    "30 23 0:26 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime "
    "shared:13 master:7 - cgroup cgroup rw,memory";
const char* const mi_docker_v1 =
    "1290 1282 0:29 /docker/0123abcd /sys/fs/cgroup/memory "
    "ro,nosuid,nodev,noexec,relatime master:15 - cgroup cgroup rw,memory";
const char* const mi_line_v2 =
    "26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - "
    "cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot";
const char* const mi_escaped =
    "40 31 0:38 /a\\040b /mnt/cgroup\\040v2\\011tab\\134back\\012nl rw - "
    "cgroup2 none rw";
}  // namespace

TEST_CASE("parse_mountinfo_line") {
  SUBCASE("no optional fields") {
    auto e = parse_mountinfo_line(mi_v1_memory);
    REQUIRE(e);
    CHECK(e->mount_id == 35);
    CHECK(e->parent_id == 31);
    CHECK(e->major_minor == "0:32");
    CHECK(e->root == "/");
    CHECK(e->mount_point == "/sys/fs/cgroup/memory");
    CHECK(e->mount_options == "rw,relatime");
    CHECK(e->optional_fields.empty());
    CHECK(e->fs_type == "cgroup");
    CHECK(e->source == "cgroup");
    CHECK(e->super_options == "rw,memory");
  }
  SUBCASE("two optional fields") {
    auto e = parse_mountinfo_line(mi_optional_fields);
    REQUIRE(e);
    CHECK(e->optional_fields == "shared:13 master:7");
    CHECK(e->fs_type == "cgroup");
    CHECK(e->super_options == "rw,memory");
  }
  SUBCASE("docker v1 mount root") {
    auto e = parse_mountinfo_line(mi_docker_v1);
    REQUIRE(e);
    CHECK(e->root == "/docker/0123abcd");
    CHECK(e->optional_fields == "master:15");
  }
  SUBCASE("cgroup2") {
    auto e = parse_mountinfo_line(mi_line_v2);
    REQUIRE(e);
    CHECK(e->fs_type == "cgroup2");
    CHECK(e->super_options == "rw,nsdelegate,memory_recursiveprot");
  }
  SUBCASE("octal escapes") {
    auto e = parse_mountinfo_line(mi_escaped);
    REQUIRE(e);
    CHECK(unescape_mount_path(e->root) == "/a b");
    CHECK(unescape_mount_path(e->mount_point) ==
          "/mnt/cgroup v2\ttab\\back\nnl");
  }
  SUBCASE("a very long line (overlay with many layers)") {
    std::string opts = "lowerdir=";
    for (int i = 0; i < 4000; ++i)
      opts += "/var/lib/layer" + std::to_string(i) + ":";
    const std::string line =
        "800 700 0:99 / /merged rw,relatime shared:1 - overlay overlay rw," +
        opts;
    REQUIRE(line.size() > 64 * 1024);
    auto e = parse_mountinfo_line(line);
    REQUIRE(e);
    CHECK(e->fs_type == "overlay");
    CHECK(e->super_options.size() == opts.size() + 3);
  }
  SUBCASE("malformed") {
    for (const char* bad : {
             "",
             "garbage",
             "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime cgroup cgroup",
             "x 31 0:32 / /m rw - cgroup cgroup rw",
             "35 31 032 / /m rw - cgroup cgroup rw",
             "35 31 0:32 / /m rw -",
             "35 31 0:32 / /m rw - ",
         }) {
      CAPTURE(bad);
      CHECK(parse_mountinfo_line(bad).error().code == errc::malformed);
    }
  }
}

TEST_CASE("unescape_mount_path keeps what is not an escape") {
  CHECK(unescape_mount_path("/plain") == "/plain");
  CHECK(unescape_mount_path("/a\\040") == "/a ");
  CHECK(unescape_mount_path("/a\\04") == "/a\\04");
  CHECK(unescape_mount_path("/a\\9zz") == "/a\\9zz");
  CHECK(unescape_mount_path("\\") == "\\");
}

// --- keyed files
// ---------------------------------------------------------------

namespace {
const char* const v2_memory_stat =
    "anon 1675264\n"
    "file 802816\n"
    "kernel 327680\n"
    "kernel_stack 16384\n"
    "shmem 0\n"
    "inactive_anon 1556480\n"
    "active_anon 8192\n"
    "inactive_file 466944\n"
    "active_file 335872\n"
    "workingset_refault_file 0\n";
const char* const v1_memory_stat_tail =
    "cache 802816\n"
    "rss 1675264\n"
    "inactive_file 1\n"
    "hierarchical_memory_limit 268435456\n"
    "hierarchical_memsw_limit 9223372036854771712\n"
    "total_cache 902816\n"
    "total_rss 1775264\n"
    "total_inactive_file 566944\n";
const char* const v2_memory_events =
    "low 0\nhigh 12\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n";
}  // namespace

TEST_CASE("parse_keyed finds keys by name, wherever they are") {
  std::array<key_slot, 3> v2{
      {{"anon", {}}, {"file", {}}, {"inactive_file", {}}}};
  REQUIRE(parse_keyed(v2_memory_stat, v2));
  CHECK(v2[0].value == 1675264u);
  CHECK(v2[1].value == 802816u);
  CHECK(v2[2].value == 466944u);

  std::array<key_slot, 3> v1{{{"total_rss", {}},
                              {"total_inactive_file", {}},
                              {"hierarchical_memory_limit", {}}}};
  REQUIRE(parse_keyed(v1_memory_stat_tail, v1));
  CHECK(v1[0].value == 1775264u);
  CHECK(v1[1].value == 566944u);  // not the local inactive_file
  CHECK(v1[2].value == 268435456u);

  std::array<key_slot, 2> ev{{{"oom_kill", {}}, {"absent", {}}}};
  REQUIRE(parse_keyed(v2_memory_events, ev));
  CHECK(ev[0].value == 1u);
  CHECK_FALSE(ev[1].value.has_value());
}

TEST_CASE("keyed files: malformed lines fail the whole file") {
  std::array<key_slot, 1> k{{{"anon", {}}}};
  for (const char* bad : {"anon\n", "anon x\n", "anon 1 2\n", " anon 1\n",
                          "anon 1\ngarbage\n", "anon\t1\n"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_keyed(bad, k));
  }
  // A negative per-CPU sum from an old kernel reads as 0, not as garbage.
  REQUIRE(parse_keyed("anon -4096\n", k));
  CHECK(k[0].value == 0u);
  // Empty lines are tolerated; an empty file has no keys.
  REQUIRE(parse_keyed("\nanon 5\n\n", k));
  CHECK(k[0].value == 5u);
  REQUIRE(parse_keyed("", k));
  CHECK_FALSE(k[0].value.has_value());
}

// --- PSI
// ----------------------------------------------------------------------

TEST_CASE("parse_psi") {
  SUBCASE("some and full") {
    auto p = parse_psi(
        "some avg10=1.50 avg60=0.25 avg300=100.00 total=123456\n"
        "full avg10=0.00 avg60=0.01 avg300=0.00 total=42\n");
    REQUIRE(p);
    CHECK(p->some.avg10 == doctest::Approx(1.5));
    CHECK(p->some.avg60 == doctest::Approx(0.25));
    CHECK(p->some.avg300 == doctest::Approx(100.0));
    CHECK(p->some.total_us == 123456u);
    REQUIRE(p->full.has_value());
    CHECK(p->full->avg60 == doctest::Approx(0.01));
    CHECK(p->full->total_us == 42u);
  }
  SUBCASE("a key a newer kernel may add is ignored, whatever its value") {
    auto p = parse_psi(
        "some avg10=1.00 avg60=0.00 avg300=0.00 total=5 stalls=1000\n");
    REQUIRE(p);
    CHECK(p->some.avg10 == doctest::Approx(1.0));
  }
  SUBCASE("no full line") {
    auto p = parse_psi("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
    REQUIRE(p);
    CHECK_FALSE(p->full.has_value());
  }
  SUBCASE("malformed") {
    for (const char* bad : {
             "",
             "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
             "some avg10=0.00 avg60=0.00 total=0\n",
             "some avg10=abc avg60=0.00 avg300=0.00 total=0\n",
             "some avg10=101.00 avg60=0.00 avg300=0.00 total=0\n",
             "some avg10=0 avg60=5 avg300=100.1 total=4\n",
             "some avg10=1. avg60=0.00 avg300=0.00 total=0\n",
             "some avg10=0.00 avg60=0.00 avg300=0.00 total=-1\n",
             "most avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
             "some avg10 avg60=0.00 avg300=0.00 total=0\n",
         }) {
      CAPTURE(bad);
      CHECK(parse_psi(bad).error().code == errc::malformed);
    }
  }
}

// --- meminfo
// ------------------------------------------------------------------

TEST_CASE("parse_meminfo") {
  auto m = parse_meminfo(
      "MemTotal:       24684084 kB\n"
      "MemFree:        23000000 kB\n"
      "MemAvailable:   23500000 kB\n"
      "Buffers:           12345 kB\n"
      "HugePages_Total:       0\n");
  REQUIRE(m);
  CHECK(m->total == 24684084ull * 1024);
  CHECK(m->free == 23000000ull * 1024);
  CHECK(m->available == 23500000ull * 1024);

  auto old = parse_meminfo("MemTotal: 1024 kB\nMemFree: 512 kB\n");
  REQUIRE(old);
  CHECK_FALSE(old->available.has_value());

  for (const char* bad :
       {"", "MemFree: 1 kB\n", "MemTotal: x kB\nMemFree: 1 kB\n",
        "MemTotal 1 kB\nMemFree: 1 kB\n", "MemTotal: 0 kB\nMemFree: 0 kB\n",
        "MemTotal: 99999999999999999999 kB\nMemFree: 1 kB\n"}) {
    CAPTURE(bad);
    CHECK(parse_meminfo(bad).error().code == errc::malformed);
  }
}

// --- errors ----------------------------------------------------------------

TEST_CASE("error(errc, path) and the predicates callers ask") {
  const error malformed(errc::malformed, "/sys/fs/cgroup/memory.max");
  CHECK(malformed.code == errc::malformed);
  CHECK(malformed.path == "/sys/fs/cgroup/memory.max");
  CHECK(malformed.message() == "/sys/fs/cgroup/memory.max: malformed content");
  CHECK(is_malformed(malformed));
  CHECK_FALSE(is_gone(malformed));

  const error enoent = errno_error(ENOENT, "x");
  const error enodev = errno_error(ENODEV, "x");
  const error eacces = errno_error(EACCES, "x");
  CHECK(is_missing(enoent));
  CHECK(is_gone(enoent));
  CHECK_FALSE(is_missing(enodev));
  CHECK(is_gone(enodev));  // a file opened before the cgroup was removed
  CHECK_FALSE(is_gone(eacces));

  CHECK(is_unsupported(error(errc::not_supported)));
  CHECK(is_unsupported(errno_error(EOPNOTSUPP)));  // PSI off: psi=0
  CHECK_FALSE(is_unsupported(eacces));
  CHECK(is_disabled(error(errc::disabled)));
  CHECK(is_no_cgroup(error(errc::no_cgroup)));
  CHECK(is_no_cgroup(error(errc::controller_absent)));
  CHECK_FALSE(is_no_cgroup(error(errc::disabled)));

  // A parser's error given the file it parsed.
  const error named = with_path(error(errc::malformed), "/proc/meminfo");
  CHECK(named.code == errc::malformed);
  CHECK(named.path == "/proc/meminfo");

  // result<T> still takes a bare errc (no ambiguity with error's
  // constructor) and keeps the path.
  const result<int> r(errc::malformed, "p");
  CHECK(!r);
  CHECK(r.error().path == "p");
}

TEST_CASE("format_bytes: binary units, one decimal") {
  CHECK(format_bytes(0) == "0 B");
  CHECK(format_bytes(1023) == "1023 B");
  CHECK(format_bytes(1024) == "1.0 KiB");
  CHECK(format_bytes(std::uint64_t{256} << 20) == "256.0 MiB");
  CHECK(format_bytes(std::uint64_t{3} << 29) == "1.5 GiB");
  CHECK(format_bytes(UINT64_MAX) == "16.0 EiB");
}
