#!/bin/sh
# SPDX-License-Identifier: MIT
# Every #include of the library's headers says what it is there for, as a
# trailing comment naming what the file uses from it (`// std::optional`,
# `// file_system`), so that a reader sees why it is there and a change
# sees when it no longer is.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
bare=$(grep -rn '^[[:space:]]*#[[:space:]]*include' include | grep -v '//' || true)
if [ -n "$bare" ]; then
  echo "includes without a comment saying what they are for:"
  echo "$bare"
  exit 1
fi
echo "$(grep -rn '^[[:space:]]*#[[:space:]]*include' include | wc -l) includes, each saying what it is for"
