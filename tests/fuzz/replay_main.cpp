// SPDX-License-Identifier: MIT
// Runs a fuzz target's entry function over saved inputs, with any compiler
// and no fuzzing engine: the seeds and every crash ever found stay tests.
//
//   headroom-fuzz-replay-<target> DIR|FILE...
//
// Directories are read in name order (missing ones are allowed: a target may
// have no regressions yet). A violated property aborts, naming the input
// first. Fails when no input at all was found, so an empty run is never
// mistaken for a pass.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size);

namespace {

namespace fs = std::filesystem;

bool read_file(const fs::path& p, std::string& out) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in),
             std::istreambuf_iterator<char>());
  return !in.bad();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const fs::path arg = argv[i];
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      std::vector<fs::path> in_dir;
      for (fs::directory_iterator it(arg, ec), end; !ec && it != end;
           it.increment(ec)) {
        if (it->is_regular_file(ec)) in_dir.push_back(it->path());
      }
      if (ec) {
        std::fprintf(stderr, "replay: cannot list %s: %s\n", argv[i],
                     ec.message().c_str());
        return 1;
      }
      std::sort(in_dir.begin(), in_dir.end());
      inputs.insert(inputs.end(), in_dir.begin(), in_dir.end());
    } else if (fs::exists(arg, ec)) {
      inputs.push_back(arg);
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "replay: no inputs found\n");
    return 1;
  }
  std::string data;
  for (const auto& p : inputs) {
    if (!read_file(p, data)) {
      std::fprintf(stderr, "replay: cannot read %s\n", p.c_str());
      return 1;
    }
    // Named before it runs: a failing input aborts the process.
    std::fprintf(stderr, "replay: %s\n", p.c_str());
    std::fflush(stderr);
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(data.data()),
                           data.size());
  }
  std::printf("replayed %zu inputs\n", inputs.size());
  return 0;
}
