// SPDX-License-Identifier: MIT
// Fuzz target: whole trees read through the root prefix (memory_reader).
//
// The input is decoded, byte by byte, into a small tree under /dev/shm (or
// $TMPDIR): a hierarchy mode, a cgroup path, and for each of the files a
// reader may open a choice among a plausible value, raw bytes of the
// input, a FIFO, a symlink (inside the tree, outside it, to /dev/zero) or
// a directory. memory_reader::open and snapshot() run over it, and
// the invariants are checked: no crash or hang; effective limit
// at most the host total; headroom at most the effective limit; working
// set at most usage; a limit found on the chain says where on it, and is
// the content of that directory's limit file (re-read within the root);
// every error names a path. The exporter's three outputs over the same
// tree are checked too: JSON that parses (and is UTF-8), exposition text
// that follows the format, a human report that is UTF-8 with no control
// byte but the newline. A hang is caught by libFuzzer's -timeout (10 s),
// and by the replay test's own ctest timeout.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <headroom/export.hpp>
#include <headroom/memory.hpp>
#include <set>
#include <string>
#include <string_view>

#include "../support/json.hpp"
#include "../support/utf8.hpp"
#include "fuzz_support.hpp"

namespace {

namespace fsys = std::filesystem;

// Reads the input a byte (or a run of bytes) at a time; 0 when it is used up.
struct input {
  const std::uint8_t* data;
  std::size_t size;
  std::uint8_t byte() {
    if (size == 0) return 0;
    --size;
    return *data++;
  }
  std::string bytes(std::size_t n) {
    n = std::min(n, size);
    std::string s(reinterpret_cast<const char*>(data), n);
    data += n;
    size -= n;
    return s;
  }
};

const char* const numbers[] = {
    "0\n",
    "4096\n",
    "268435456\n",
    "max\n",
    "9223372036854771712\n",
    "18446744073709551615\n",
    "-1\n",
    "\n",
    "1073741824\n",
};

void put(const fsys::path& p, std::string_view content) {
  std::error_code ec;
  fsys::create_directories(p.parent_path(), ec);
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

// One file of the tree: what the input chooses, `plausible` by default.
void file(input& in, const fsys::path& root, const std::string& rel,
          const std::string& plausible) {
  const fsys::path p = root / rel;
  std::error_code ec;
  fsys::create_directories(p.parent_path(), ec);
  // A path may come twice (a cgroup path with ".."): start afresh, since
  // opening an earlier FIFO to write would block.
  fsys::remove_all(p, ec);
  switch (in.byte() % 10) {
    case 0:
      return;  // absent
    case 1:
      ::mkfifo(p.c_str(), 0600);
      return;
    case 2:
      fsys::create_symlink("/dev/zero", p, ec);
      return;
    case 3:
      fsys::create_symlink("/proc/self/status", p, ec);  // outside the tree
      return;
    case 4:
      fsys::create_directories(p, ec);
      return;
    case 5:
      put(p, in.bytes(in.byte()));
      return;
    case 6:
      put(p, numbers[in.byte() % (sizeof numbers / sizeof numbers[0])]);
      return;
    default:
      put(p, plausible);
      return;
  }
}

const char* const mi_base =
    "22 27 0:21 / /proc rw - proc proc rw\n"
    "23 27 0:22 / /sys rw - sysfs sysfs rw\n"
    "27 1 254:0 / / rw - ext4 /dev/vda rw\n";

std::string& scratch() {
  static std::string dir;
  return dir;
}

// A new directory for the trees, removed at exit.
std::string scratch_root() {
  const char* tmp = std::getenv("TMPDIR");
  std::string base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                     : tmp && *tmp                   ? tmp
                                                     : "/tmp";
  std::string t = base + "/headroom-tree-fuzz-XXXXXX";
  if (::mkdtemp(t.data()) == nullptr) std::abort();
  scratch() = t;
  return t;
}

void build_tree(input& in, const fsys::path& root) {
  const std::uint8_t mode = in.byte() % 3;  // v2, v1, none
  std::string cg = "/a";
  for (std::uint8_t depth = in.byte() % 4; depth > 0; --depth)
    cg += in.byte() % 5 == 0 ? "/.." : "/b";
  file(in, root, "proc/meminfo",
       "MemTotal: 16777216 kB\nMemFree: 8388608 kB\n"
       "MemAvailable: 12582912 kB\n");
  std::string dir = mode == 1 ? "sys/fs/cgroup/memory" : "sys/fs/cgroup";
  if (mode == 0) {
    file(in, root, "proc/self/cgroup", "0::" + cg + "\n");
    file(in, root, "proc/self/mountinfo",
         std::string(mi_base) +
             "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
    file(in, root, dir + "/cgroup.controllers", "memory\n");
  } else if (mode == 1) {
    file(in, root, "proc/self/cgroup", "4:memory:" + cg + "\n");
    file(in, root, "proc/self/mountinfo",
         std::string(mi_base) +
             "31 23 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup "
             "rw,memory\n");
  } else {
    file(in, root, "proc/self/cgroup", "");
    file(in, root, "proc/self/mountinfo", mi_base);
  }
  // Each directory of the path, with the files of its mode.
  std::string at = dir;
  std::size_t from = 1;
  for (;;) {
    if (mode == 0) {
      file(in, root, at + "/memory.max",
           numbers[in.byte() % (sizeof numbers / sizeof numbers[0])]);
      file(in, root, at + "/memory.current", "104857600\n");
      file(in, root, at + "/memory.stat",
           "anon 62914560\nfile 41943040\ninactive_file 20971520\n");
      file(in, root, at + "/memory.high", "max\n");
    } else if (mode == 1) {
      file(in, root, at + "/memory.limit_in_bytes", "268435456\n");
      file(in, root, at + "/memory.usage_in_bytes", "104857600\n");
      file(in, root, at + "/memory.stat",
           "total_rss 62914560\ntotal_cache 41943040\n"
           "total_inactive_file 20971520\n");
      file(in, root, at + "/memory.use_hierarchy", "1\n");
    }
    if (from >= cg.size()) break;
    const std::size_t next = cg.find('/', from);
    const std::string part = cg.substr(
        from, next == std::string::npos ? std::string::npos : next - from);
    at += "/" + part;
    if (next == std::string::npos) {
      from = cg.size();
    } else {
      from = next + 1;
    }
    // Sometimes the directory itself is a link: inside or out of the tree.
    const std::uint8_t link = in.byte() % 16;
    std::error_code ec;
    if (link == 0) {
      fsys::create_directories((root / at).parent_path(), ec);
      fsys::create_symlink("/sys", root / at, ec);
    } else if (link == 1) {
      fsys::create_directories((root / at).parent_path(), ec);
      fsys::create_symlink("..", root / at, ec);
    }
  }
}

template <class T>
void check_error_names_path(const headroom::result<T>& r) {
  if (!r) HEADROOM_FUZZ_CHECK(!r.error().path.empty());
}

bool name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         c == ':' || (!first && c >= '0' && c <= '9');
}

// A metric or label name at `line[i]`; `i` moves past it. False if none.
bool take_name(const std::string& line, std::size_t& i) {
  const std::size_t from = i;
  while (i < line.size() && name_char(line[i], i == from)) ++i;
  return i > from;
}

// The Prometheus text exposition format 0.0.4, as Prometheus parses it:
// UTF-8; every line a HELP, a TYPE (gauge or counter, before the family's
// samples), another comment or a sample: a name, labels with quoted values
// that escape only \\, \" and \n, a space and a number (NaN, +Inf, -Inf).
bool valid_exposition(const std::string& text) {
  if (text.empty() || text.back() != '\n') return false;
  if (!headroom_test::valid_utf8(text)) return false;
  std::set<std::string> typed;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t nl = text.find('\n', at);
    const std::string line = text.substr(at, nl - at);
    at = nl + 1;
    if (line.empty()) return false;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::size_t i = 7;
      if (!take_name(line, i) || i >= line.size() || line[i] != ' ')
        return false;
      const std::string type = line.substr(i + 1);
      if (type != "gauge" && type != "counter") return false;
      if (!typed.insert(line.substr(7, i - 7)).second) return false;
      continue;
    }
    if (line[0] == '#') continue;  // HELP and other comments: any UTF-8
    std::size_t i = 0;
    if (!take_name(line, i)) return false;
    if (typed.count(line.substr(0, i)) == 0) return false;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        if (!take_name(line, i)) return false;
        if (line.compare(i, 2, "=\"") != 0) return false;
        i += 2;
        for (; i < line.size() && line[i] != '"'; ++i) {
          if (line[i] != '\\') continue;
          if (++i >= line.size()) return false;
          if (line[i] != '\\' && line[i] != '"' && line[i] != 'n') return false;
        }
        if (i >= line.size()) return false;
        ++i;  // the closing quote
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) return false;
      ++i;  // the closing brace
    }
    if (i >= line.size() || line[i] != ' ') return false;
    const std::string v = line.substr(i + 1);
    if (v == "NaN" || v == "+Inf" || v == "-Inf") continue;
    char* end = nullptr;
    if (v.empty() || v[0] == ' ') return false;
    (void)std::strtod(v.c_str(), &end);
    if (end != v.c_str() + v.size()) return false;
  }
  return true;
}

// Text for a terminal: UTF-8 with no control byte (C0 but the newline,
// DEL, C1).
bool terminal_safe(const std::string& text) {
  if (!headroom_test::valid_utf8(text)) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto b = static_cast<unsigned char>(text[i]);
    if ((b < 0x20 && b != '\n') || b == 0x7f) return false;
    if (b == 0xc2 && i + 1 < text.size() &&
        static_cast<unsigned char>(text[i + 1]) < 0xa0)
      return false;
  }
  return true;
}

// A limit from the chain is the content of the limit file at its place on
// the chain, read again here within the root.
void check_limit_from_chain(const headroom::memory_reader& r,
                            const headroom::memory_snapshot& s,
                            const std::string& root) {
  if (!s.limit || !s.limit->has_value() ||
      s.source != headroom::limit_source::chain)
    return;
  HEADROOM_FUZZ_CHECK(s.limit_at.has_value());
  HEADROOM_FUZZ_CHECK(s.limit_at->index < r.location().chain.size());
  HEADROOM_FUZZ_CHECK(r.layout() != nullptr);
  const std::string logical = r.limit_path(s);
  HEADROOM_FUZZ_CHECK(!logical.empty());
  auto fd = headroom::detail::open_file_in(root, logical);
  HEADROOM_FUZZ_CHECK(fd.has_value());
  auto text = headroom::detail::read_open(fd->get(), root + logical);
  HEADROOM_FUZZ_CHECK(text.has_value());
  auto v = r.layout()->memory.parse_limit(*text);
  HEADROOM_FUZZ_CHECK(v.has_value() && v->has_value() && **v == **s.limit);
}

// The exporter's outputs for the tree: valid whatever the tree holds.
void check_outputs(const headroom::options& o) {
  auto ex = headroom::exporter::open(o);
  if (!ex) {
    HEADROOM_FUZZ_CHECK(!ex.error().path.empty());
    return;
  }
  const headroom::export_report rep = ex->read();
  const std::string json = headroom::to_json(rep);
  HEADROOM_FUZZ_CHECK(headroom_test::json_reader::parse(json).has_value());
  HEADROOM_FUZZ_CHECK(valid_exposition(headroom::to_prometheus(rep)));
  HEADROOM_FUZZ_CHECK(terminal_safe(headroom::to_text(rep)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static const std::string root = [] {
    std::string r = scratch_root();
    std::atexit([] {
      std::error_code ec;
      fsys::remove_all(scratch(), ec);
    });
    return r;
  }();
  std::error_code ec;
  for (const auto& e : fsys::directory_iterator(root, ec))
    fsys::remove_all(e.path(), ec);
  input in{data, size};
  build_tree(in, root);

  headroom::options o;
  o.root = root;
  o.use_environment = false;
  auto r = headroom::memory_reader::open(o);
  if (!r) {
    HEADROOM_FUZZ_CHECK(!r.error().path.empty());
    return 0;
  }
  const auto s = r->snapshot();
  if (std::getenv("HEADROOM_TREE_FUZZ_DEBUG")) {
    std::fprintf(stderr, "mode %s limit %s usage %s working set %s\n",
                 headroom::to_string(s.mode),
                 s.limit
                     ? (s.limit->has_value() ? std::to_string(**s.limit).c_str()
                                             : "none")
                     : s.limit.error().message().c_str(),
                 s.usage ? std::to_string(*s.usage).c_str()
                         : s.usage.error().message().c_str(),
                 s.working_set ? std::to_string(*s.working_set).c_str()
                               : s.working_set.error().message().c_str());
  }

  if (s.effective_limit && s.host_total)
    HEADROOM_FUZZ_CHECK(*s.effective_limit <= *s.host_total);
  if (s.headroom && s.effective_limit)
    HEADROOM_FUZZ_CHECK(*s.headroom <= *s.effective_limit);
  if (s.working_set && s.usage) HEADROOM_FUZZ_CHECK(*s.working_set <= *s.usage);
  if (s.limit && s.limit->has_value() &&
      s.source == headroom::limit_source::chain)
    HEADROOM_FUZZ_CHECK(s.limit_at.has_value());
  check_error_names_path(s.limit);
  check_error_names_path(s.usage);
  check_error_names_path(s.working_set);
  check_error_names_path(s.host_total);
  check_error_names_path(s.effective_limit);
  check_error_names_path(s.headroom);
  check_limit_from_chain(*r, s, root);
  check_outputs(o);
  return 0;
}
