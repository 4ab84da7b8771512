# SPDX-License-Identifier: MIT
# Writes one header from headroom's headers: each of the project's own
# includes ("x.hpp" beside the including file, or <headroom/x.hpp>) is
# inlined where it first appears and dropped where it appears again;
# system includes stay as they are. #pragma once of the parts is dropped
# (the output has its own). Usage:
#   awk -v inc=INCLUDE_DIR -f single-header.awk FILE...   (FILEs relative to
#   INCLUDE_DIR, e.g. headroom/headroom.hpp headroom/export.hpp)
function norm(p,   n, i, parts, out, k, stack) {
  n = split(p, parts, "/"); k = 0
  for (i = 1; i <= n; i++) {
    if (parts[i] == "" || parts[i] == ".") continue
    if (parts[i] == "..") { if (k > 0) k--; continue }
    stack[++k] = parts[i]
  }
  out = ""
  for (i = 1; i <= k; i++) out = out (i > 1 ? "/" : "") stack[i]
  return out
}
function dir_of(p) { return p ~ /\// ? substr(p, 1, match(p, /\/[^\/]*$/) - 1) : "" }
function emit(rel,   path, line, target, m, got) {
  rel = norm(rel)
  if (rel in seen) return
  seen[rel] = 1
  path = inc "/" rel
  print "// ---- " rel
  while ((got = (getline line < path)) > 0) {
    if (line ~ /^[ \t]*#[ \t]*pragma[ \t]+once/) continue
    if (line ~ /SPDX-License-Identifier/) continue
    if (match(line, /^[ \t]*#[ \t]*include[ \t]*"[^"]+"/)) {
      target = line; sub(/^[^"]*"/, "", target); sub(/".*$/, "", target)
      emit((dir_of(rel) == "" ? "" : dir_of(rel) "/") target)
      continue
    }
    if (match(line, /^[ \t]*#[ \t]*include[ \t]*<headroom\/[^>]+>/)) {
      target = line; sub(/^[^<]*</, "", target); sub(/>.*$/, "", target)
      emit(target)
      continue
    }
    print line
  }
  if (got < 0) { print "single-header.awk: cannot read " path > "/dev/stderr"; failed = 1; exit 1 }
  close(path)
}
BEGIN {
  if (inc == "") { print "single-header.awk: -v inc=DIR is required" > "/dev/stderr"; exit 2 }
  print "// SPDX-License-Identifier: MIT"
  print "// headroom " version ", as one header: generated from include/headroom by"
  print "// cmake/single-header.awk (the CMake target headroom-single-header). Do not"
  print "// edit; the headers are the source."
  print "#pragma once"
  for (i = 1; i < ARGC; i++) emit(ARGV[i])
  exit failed
}
