// SPDX-License-Identifier: MIT
// headroom: give free heap memory back to the kernel.
//
// release_free_memory() asks the allocator that serves this process's malloc
// to return the memory it holds free, and says which call ran and how much
// resident memory went away. The allocator is found at run time, without
// linking to any of them: each known entry point is looked up with
// dlsym(RTLD_DEFAULT, ...), and the one defined in the same object as the
// process's malloc wins (a process that loads jemalloc but allocates with
// glibc is trimmed by glibc's call). Known calls:
//
//   glibc       malloc_trim(0)                 (man 3 malloc_trim)
//   jemalloc    mallctl("thread.tcache.flush"), then
//               mallctl("arena.4096.purge")    (4096: MALLCTL_ARENAS_ALL)
//   gperftools  MallocExtension_ReleaseFreeMemory()  (its C API,
//               gperftools/malloc_extension_c.h; libtcmalloc and
//               libtcmalloc_minimal)
//   tcmalloc    MallocExtension_Internal_ReleaseMemoryToSystem(SIZE_MAX)
//               (google/tcmalloc: the extern "C" entry behind
//               tcmalloc::MallocExtension::ReleaseMemoryToSystem)
//   mimalloc    mi_collect(true)
//   sanitizers  __sanitizer_purge_allocator()  (ASan, LSan, MSan builds)
//
// On glibc before 2.34 dlsym and dladdr live in libdl: link ${CMAKE_DL_LIBS}.
// Statically linked programs cannot look symbols up: with glibc they get its
// malloc_trim (the malloc they were linked with), elsewhere `unknown`.
#pragma once

#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint64_t, SIZE_MAX
#include <cstring>      // std::memcpy
#include <optional>     // std::optional, std::nullopt
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <utility>      // std::move

#include "detail/fd.hpp"      // HEADROOM_HAVE_LINUX, open_read, pread_all
#include "error.hpp"          // result, errc, error
#include "parse/numbers.hpp"  // parse_u64
#include "parse/text.hpp"     // trim_trailing_newline, next_field

#if HEADROOM_HAVE_LINUX
#include <dlfcn.h>   // dlsym, RTLD_DEFAULT, Dl_info
#include <unistd.h>  // sysconf, _SC_PAGESIZE
#endif
#if defined(__GLIBC__)
#include <malloc.h>  // malloc_trim
#endif

namespace headroom {

// The allocator that serves malloc, as far as a release call is concerned.
enum class allocator_kind {
  unknown,     // no release call known for the object that defines malloc
  glibc,       // malloc_trim(0)
  jemalloc,    // mallctl arena.4096.purge
  gperftools,  // MallocExtension_ReleaseFreeMemory()
  tcmalloc,    // MallocExtension_Internal_ReleaseMemoryToSystem()
  mimalloc,    // mi_collect(true)
  sanitizer,   // __sanitizer_purge_allocator()
};

// The allocator's name: "glibc", "jemalloc", "gperftools", "tcmalloc",
// "mimalloc", "sanitizer" or "unknown".
constexpr const char* to_string(allocator_kind k) noexcept {
  switch (k) {
    case allocator_kind::glibc:
      return "glibc";
    case allocator_kind::jemalloc:
      return "jemalloc";
    case allocator_kind::gperftools:
      return "gperftools";
    case allocator_kind::tcmalloc:
      return "tcmalloc";
    case allocator_kind::mimalloc:
      return "mimalloc";
    case allocator_kind::sanitizer:
      return "sanitizer";
    case allocator_kind::unknown:
      break;
  }
  return "unknown";
}

// What release_free_memory() did. A plain value.
struct release_report {
  // The allocator that serves malloc.
  allocator_kind allocator = allocator_kind::unknown;
  std::string call;         // what ran, e.g. "malloc_trim(0)"; empty: nothing
  std::string malloc_from;  // the file of the object that defines malloc
  // Resident memory of the process before and after the call
  // (/proc/self/statm). Other threads allocate meanwhile: a difference, not
  // an exact count.
  result<std::uint64_t> rss_before{errc::not_supported};
  // Resident memory after the call (see rss_before).
  result<std::uint64_t> rss_after{errc::not_supported};
  // What the allocator itself says it returned, where it says:
  // jemalloc (stats.resident before - after), gperftools
  // (tcmalloc.pageheap_unmapped_bytes after - before).
  std::optional<std::uint64_t> allocator_released;

  // rss_before - rss_after, floored at 0; nullopt when either is unknown.
  std::optional<std::uint64_t> rss_released() const {
    if (!rss_before || !rss_after) return std::nullopt;
    return *rss_before > *rss_after ? *rss_before - *rss_after : 0;
  }
};

// /proc/<pid>/statm. Format (Documentation/filesystems/proc.rst, "Contents of
// the statm fields"): one line of seven decimal page counts, "size resident
// shared text lib data dt". Returns resident, in pages.
inline result<std::uint64_t> parse_statm_resident(
    std::string_view text) noexcept {
  std::string_view s = detail::trim_trailing_newline(text);
  auto size = parse_u64(detail::next_field(s, ' '));
  auto resident = parse_u64(detail::next_field(s, ' '));
  if (!size || !resident || s.empty()) return errc::malformed;
  for (int i = 0; i < 4; ++i) {
    if (!parse_u64(detail::next_field(s, ' '))) return errc::malformed;
  }
  if (!parse_u64(s)) return errc::malformed;
  return *resident;
}

namespace detail {

// Resident bytes of the calling process; no allocation.
inline result<std::uint64_t> resident_bytes() {
#if HEADROOM_HAVE_LINUX
  static constexpr const char* path = "/proc/self/statm";
  auto fd = open_read(path);
  if (!fd) return std::move(fd).error();
  char buf[256];
  auto text = pread_all(fd->get(), buf, sizeof buf, path);
  if (!text) return std::move(text).error();
  auto pages = parse_statm_resident(*text);
  if (!pages) return with_path(pages.error(), path);
  const long page = HEADROOM_SYSCALL(sysconf)(_SC_PAGESIZE);
  if (page <= 0) return errno_error(EINVAL, "sysconf(_SC_PAGESIZE)");
  return *pages * static_cast<std::uint64_t>(page);
#else
  return result<std::uint64_t>(errc::not_supported, "/proc/self/statm");
#endif
}

#if HEADROOM_HAVE_LINUX
// A symbol of the running process and the object that defines it.
struct found_symbol {
  void* address = nullptr;
  const void* object = nullptr;  // load base, nullptr when unknown
};

inline found_symbol find_symbol(const char* name) {
  found_symbol s;
  s.address = HEADROOM_SYSCALL(dlsym)(RTLD_DEFAULT, name);
  Dl_info info{};
  if (s.address != nullptr && HEADROOM_SYSCALL(dladdr)(s.address, &info) != 0) {
    s.object = info.dli_fbase;
  }
  return s;
}

// The object that defines the process's malloc, and the entry points defined
// in that same object: a process that loads jemalloc but allocates with
// glibc must be steered through glibc's calls.
class malloc_home {
 public:
  malloc_home() : malloc_(find_symbol("malloc")) {
    Dl_info info{};
    if (malloc_.address != nullptr &&
        HEADROOM_SYSCALL(dladdr)(malloc_.address, &info) != 0 &&
        info.dli_fname != nullptr) {
      file_ = info.dli_fname;
    }
  }

  // False in a statically linked program: nothing can be looked up.
  bool found() const noexcept { return malloc_.address != nullptr; }
  const std::string& file() const noexcept { return file_; }

  // `name` when the object that defines malloc defines it, else nullptr.
  void* serving(const char* name) const {
    const found_symbol s = find_symbol(name);
    if (s.address == nullptr || s.object == nullptr) return nullptr;
    return s.object == malloc_.object ? s.address : nullptr;
  }

 private:
  found_symbol malloc_;
  std::string file_;
};

// The function a dlsym address names (copied: object and function pointers
// do not convert into each other in ISO C++).
template <class Fn>
Fn as_function(void* address) noexcept {
  Fn fn = nullptr;
  static_assert(sizeof fn == sizeof address, "function pointer size");
  std::memcpy(&fn, &address, sizeof fn);
  return fn;
}

using mallctl_fn = int (*)(const char*, void*, std::size_t*, void*,
                           std::size_t);

// jemalloc's resident bytes (needs an "epoch" write to refresh the stats).
inline std::optional<std::uint64_t> jemalloc_resident(mallctl_fn mallctl) {
  std::uint64_t epoch = 1;
  std::size_t len = sizeof epoch;
  if (mallctl("epoch", &epoch, &len, &epoch, sizeof epoch) != 0) {
    return std::nullopt;
  }
  std::size_t resident = 0;
  len = sizeof resident;
  if (mallctl("stats.resident", &resident, &len, nullptr, 0) != 0) {
    return std::nullopt;
  }
  return resident;
}

using numeric_property_fn = int (*)(const char*, std::size_t*);

inline std::optional<std::uint64_t> gperftools_unmapped(
    numeric_property_fn get) {
  std::size_t v = 0;
  if (get == nullptr || get("tcmalloc.pageheap_unmapped_bytes", &v) == 0) {
    return std::nullopt;
  }
  return v;
}
#endif

}  // namespace detail

// Releases the free memory of the allocator that serves malloc, and reports
// what ran. Fails with errc::not_supported off Linux, and with the
// allocator's error when its call reports one (jemalloc's mallctl).
inline result<release_report> release_free_memory() {
#if HEADROOM_HAVE_LINUX
  release_report r;
  const detail::malloc_home home;
  r.malloc_from = home.file();
  const auto serves_malloc = [&](const char* name) {
    return home.serving(name);
  };

  r.rss_before = detail::resident_bytes();
  if (void* purge = serves_malloc("__sanitizer_purge_allocator")) {
    r.allocator = allocator_kind::sanitizer;
    r.call = "__sanitizer_purge_allocator()";
    detail::as_function<void (*)()>(purge)();
  } else if (void* mallctl_sym = serves_malloc("mallctl")) {
    r.allocator = allocator_kind::jemalloc;
    r.call = "mallctl(\"arena.4096.purge\")";
    const auto mallctl = detail::as_function<detail::mallctl_fn>(mallctl_sym);
    const auto before = detail::jemalloc_resident(mallctl);
    // Small freed blocks sit in this thread's cache until flushed.
    mallctl("thread.tcache.flush", nullptr, nullptr, nullptr, 0);
    const int rc = mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
    if (rc != 0) return errno_error(rc, "mallctl arena.4096.purge");
    const auto after = detail::jemalloc_resident(mallctl);
    if (before && after) {
      r.allocator_released = *before > *after ? *before - *after : 0;
    }
  } else if (void* tcm = serves_malloc(
                 "MallocExtension_Internal_ReleaseMemoryToSystem")) {
    r.allocator = allocator_kind::tcmalloc;
    r.call = "MallocExtension_Internal_ReleaseMemoryToSystem(SIZE_MAX)";
    // Older releases return void, newer ones size_t: the result is not used.
    detail::as_function<void (*)(std::size_t)>(tcm)(SIZE_MAX);
  } else if (void* gperf = serves_malloc("MallocExtension_ReleaseFreeMemory")) {
    r.allocator = allocator_kind::gperftools;
    r.call = "MallocExtension_ReleaseFreeMemory()";
    const auto get = detail::as_function<detail::numeric_property_fn>(
        serves_malloc("MallocExtension_GetNumericProperty"));
    const auto before = detail::gperftools_unmapped(get);
    detail::as_function<void (*)()>(gperf)();
    const auto after = detail::gperftools_unmapped(get);
    if (before && after) {
      r.allocator_released = *after > *before ? *after - *before : 0;
    }
  } else if (void* mi = serves_malloc("mi_collect")) {
    r.allocator = allocator_kind::mimalloc;
    r.call = "mi_collect(true)";
    detail::as_function<void (*)(bool)>(mi)(true);
  } else if (void* trim = serves_malloc("malloc_trim")) {
    r.allocator = allocator_kind::glibc;
    r.call = "malloc_trim(0)";
    detail::as_function<int (*)(std::size_t)>(trim)(0);
  }
#if defined(__GLIBC__)
  else if (!home.found()) {
    // A static program: nothing can be looked up, and its malloc is the
    // glibc one it was linked with.
    r.allocator = allocator_kind::glibc;
    r.call = "malloc_trim(0) (linked statically)";
    ::malloc_trim(0);
  }
#endif
  r.rss_after = detail::resident_bytes();
  return r;
#else
  return result<release_report>(errc::not_supported);
#endif
}

}  // namespace headroom
