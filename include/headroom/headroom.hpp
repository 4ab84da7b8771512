// headroom: the whole library. Include this, or only the headers you use.
#pragma once

#include "discover.hpp"
#include "error.hpp"
#include "memory.hpp"
#include "parse.hpp"
#include "pressure.hpp"
#include "version.hpp"
