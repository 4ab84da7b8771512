#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every ```cpp block of README.md, compiled as a user's build would compile
# it: one translation unit, each block the body of its own function (its
# #include lines hoisted to the top), under the strict warnings of
# tests/strict/flags.txt, with each compiler given,
# C++17, checked with -fsyntax-only as tests/strict/run.cmake checks the
# headers (the whole front end, templates instantiated; no code generated). Errors point at README.md's lines (#line). The names a block uses
# as placeholders for the reader's own code (log, shrink_caches, size_heap,
# start_with, fail, cache) are declared here. A block that is not meant to
# compile is preceded by the line <!-- snippet: not compiled -->.
#
#   tests/readme/check-snippets.sh SOURCE_DIR WORK_DIR CXX...
set -euo pipefail
src=$1 work=$2
shift 2
readme=$src/README.md
mkdir -p "$work"
tu=$work/readme_snippets.cpp

awk -v readme="$readme" '
  /^<!-- snippet: not compiled -->/ { skip_next = 1; next }
  /^```cpp/ {
    if (skip_next) { skipping = 1; skip_next = 0; next }
    in_block = 1; n++; body[n] = ""; start[n] = NR + 1; next
  }
  /^```/ { in_block = 0; skipping = 0; next }
  skipping { next }
  in_block {
    if ($0 ~ /^#include /) { if (!($0 in seen)) { seen[$0] = 1; includes = includes $0 "\n" } body[n] = body[n] "\n"; next }
    body[n] = body[n] $0 "\n"; next
  }
  { if ($0 !~ /^[ \t]*$/) skip_next = 0 }
  END {
    printf "// Generated from %s by tests/readme/check-snippets.sh.\n", readme
    printf "%s", includes
    print "#include <cstdint>"
    print "#include <string>"
    print "namespace readme {"
    print "template <class... A> void log(const A&...) {}"
    print "template <class... A> void fail(const A&...) {}"
    print "inline void shrink_caches() {}"
    print "inline void size_heap(std::uint64_t) {}"
    print "inline void start_with(std::uint64_t, std::uint64_t) {}"
    print "struct lru { void shed(double) {} };"
    print "inline lru cache;"
    print "}  // namespace readme"
    print "using namespace readme;"
    for (i = 1; i <= n; i++) {
      printf "void readme_snippet_%d() {\n#line %d \"%s\"\n%s}\n", i, start[i], readme, body[i]
    }
    printf "int main() { return 0; }\n"
    printf "// %d snippets\n", n
  }' "$readme" >"$tu"

count=$(sed -n 's|^// \([0-9]*\) snippets$|\1|p' "$tu")
if ((count == 0)); then echo "no cpp snippets found in $readme"; exit 1; fi
# The strict flags, shared with tests/strict/run.cmake; "gcc: " lines only
# for g++.
mapfile -t flags < <(sed -n 's/^-/-/p' "$src/tests/strict/flags.txt")
mapfile -t gcc_flags < <(sed -n 's/^gcc: //p' "$src/tests/strict/flags.txt")
failed=0
for cxx in "$@"; do
  cxx_flags=(-std=c++17 "${flags[@]}")
  "$cxx" --version | grep -q clang || cxx_flags+=("${gcc_flags[@]}")
  if ! "$cxx" "${cxx_flags[@]}" -I "$src/include" -fsyntax-only "$tu"; then
    echo "FAIL: $cxx: README.md snippets (translation unit $tu)"
    failed=1
  fi
done
((failed == 0)) && echo "$count README.md snippets compile cleanly with: $*"
exit $failed
