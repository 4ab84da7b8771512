#!/bin/sh
# SPDX-License-Identifier: MIT
# Every tracked source file (code, build and test scripts, configuration)
# names its licence on an SPDX-License-Identifier line. Left out: prose and
# data that are not source (*.md, LICENSE itself, the benchmark results, the
# fuzzers' seeds, regression inputs and dictionaries). Outside a git checkout
# there is no list of tracked files: skipped (77).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || { echo "SKIP: not a git checkout"; exit 77; }
missing=$(git ls-files | grep -v -E '(\.md$|^LICENSE$|^benchmarks/results/|^tests/fuzz/(seeds|regressions|dicts)/)' |
  while IFS= read -r f; do
    [ -f "$f" ] || continue
    head -n 5 "$f" | grep -q 'SPDX-License-Identifier: ' || echo "$f"
  done)
if [ -n "$missing" ]; then
  echo "files without an SPDX-License-Identifier line in their first 5 lines:"
  echo "$missing"
  exit 1
fi
echo "$(git ls-files | grep -c -v -E '(\.md$|^LICENSE$|^benchmarks/results/|^tests/fuzz/(seeds|regressions|dicts)/)') source files, each with an SPDX line"
