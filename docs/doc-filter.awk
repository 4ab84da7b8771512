# SPDX-License-Identifier: MIT
# Doxygen input filter: headroom's headers are documented with plain //
# comments (STYLE.md); this turns them into what Doxygen reads, without
# changing the headers. The comment block that opens a file becomes its
# \file description (SPDX line left out); a // line above a declaration
# becomes ///; a // after code on the same line becomes ///< (and so do the
# // lines that continue it); rulers (// -----) and comments on
# preprocessor lines are left as they are.
function lead(s) { match(s, /^[ \t]*/); return RLENGTH }
# Comments name paths such as /proc/<pid>/status: <word> is not HTML here,
# and \xNN is an escape, not a Doxygen command.
function untag(s,   out) {
  gsub(/\\x/, "\\\\\\\\x", s)
  out = ""
  while (match(s, /<[A-Za-z][^<>]*>/)) {
    out = out substr(s, 1, RSTART - 1) "\\<" substr(s, RSTART + 1, RLENGTH - 2) "\\>"
    s = substr(s, RSTART + RLENGTH)
  }
  return out s
}
BEGIN { header = 1; trailing = 0 }
{
  line = $0
  if (header) {
    if (line ~ /^\/\//) {
      # One output line per input line: warnings keep their line numbers.
      if (line ~ /SPDX-License-Identifier/) { print "/// \\file"; next }
      sub(/^\/\//, "///", line)
      print untag(line)
      next
    }
    header = 0
  }
  if (line ~ /^[ \t]*#/) { trailing = 0; print line; next }
  if (line ~ /^[ \t]*\/\/[ \t]*[-=]{8,}[ \t]*$/) { trailing = 0; print ""; next }
  if (line ~ /^[ \t]*\/\//) {
    if (line ~ /^[ \t]*\/\/\//) { print untag(line); next }
    if (trailing && lead(line) >= trailing_col) { sub(/\/\//, "///<", line); print untag(line); next }
    trailing = 0
    sub(/\/\//, "///", line)
    print untag(line)
    next
  }
  # A // after code, outside string and character literals.
  n = length(line); inq = 0; at = 0
  for (i = 1; i < n; i++) {
    c = substr(line, i, 1)
    if (inq) { if (c == "\\") { i++ } else if (c == inq) inq = 0; continue }
    if (c == "\"" || c == "'") { inq = c; continue }
    if (c == "/" && substr(line, i + 1, 1) == "/" && i > 1 && substr(line, i - 1, 1) ~ /[ \t]/) { at = i; break }
  }
  if (at > 0 && substr(line, at, 3) != "///") {
    trailing = 1; trailing_col = at - 1
    print substr(line, 1, at - 1) "///<" untag(substr(line, at + 2))
    next
  }
  trailing = 0
  print line
}
