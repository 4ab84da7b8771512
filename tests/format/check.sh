#!/bin/sh
# SPDX-License-Identifier: MIT
# The C++ files listed in tests/format/files.txt (one path a line, from the
# top of the repository) must be formatted as .clang-format says.
# Exit 77 (skip) without clang-format.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
command -v clang-format >/dev/null 2>&1 || { echo "SKIP: clang-format is not installed"; exit 77; }
cd "$top"
files=$(grep -v '^#' tests/format/files.txt | grep .)
# shellcheck disable=SC2086
clang-format --dry-run --Werror $files
echo "$(echo "$files" | wc -l) files formatted as .clang-format says"
