# SPDX-License-Identifier: MIT
# headroom's own targets build with warnings as errors, with g++ and clang++.
function(headroom_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror)
endfunction()
