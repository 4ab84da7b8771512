#!/bin/sh
# SPDX-License-Identifier: MIT
# Every C++ file of the repository (git ls-files, or find outside a git
# checkout) must be formatted as .clang-format says.
# Exit 77 (skip) without clang-format.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
command -v clang-format >/dev/null 2>&1 || { echo "SKIP: clang-format is not installed"; exit 77; }
cd "$top"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  files=$(git ls-files '*.hpp' '*.cpp')
else
  files=$(find include examples tests benchmarks -name '*.hpp' -o -name '*.cpp')
fi
# shellcheck disable=SC2086
clang-format --dry-run --Werror $files
echo "$(echo "$files" | wc -l) files formatted as .clang-format says"
