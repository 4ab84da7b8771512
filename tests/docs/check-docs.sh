#!/bin/sh
# SPDX-License-Identifier: MIT
# The API reference has no gaps: Doxygen, run on the public headers with
# WARN_IF_UNDOCUMENTED (docs/Doxyfile.in, detail/ left out), must write no
# warning. Prints the warnings and fails when there are any.
# Usage: check-docs.sh <build>/docs-check/Doxyfile
# Exit 77 (skip) without doxygen or awk.
set -eu
doxyfile=$1
command -v doxygen >/dev/null 2>&1 || { echo "SKIP: doxygen is not installed (Debian: apt-get install doxygen)"; exit 77; }
command -v awk >/dev/null 2>&1 || { echo "SKIP: awk is not installed"; exit 77; }
out=$(dirname "$doxyfile")
log="$out/warnings.log"
rm -f "$log"
doxygen "$doxyfile"
[ -f "$log" ] || { echo "FAIL: doxygen wrote no warning log ($log)"; exit 1; }
n=$(grep -c 'warning:' "$log" || true)
if [ "$n" -ne 0 ]; then
  cat "$log"
  echo "FAIL: $n doxygen warnings (undocumented public names among them)"
  exit 1
fi
echo "the public headers are documented: 0 doxygen warnings"
