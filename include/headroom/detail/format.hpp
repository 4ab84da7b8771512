// SPDX-License-Identifier: MIT
// headroom: the byte formatting used in event reasons and by the exporters
// (the public spelling is headroom::format_bytes, format.hpp).
#pragma once

#include <cstdint>  // std::uint64_t
#include <string>   // the result

#include "../format.hpp"  // format_bytes

namespace headroom::detail {

inline std::string human_bytes(std::uint64_t b) { return format_bytes(b); }

}  // namespace headroom::detail
