// SPDX-License-Identifier: MIT
// A temporary root holding proc/ and sys/ files, for reading a layout
// through headroom's root prefix exactly as a captured tree is replayed.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "doctest.hpp"

namespace headroom_test {

class fixture_tree {
 public:
  fixture_tree() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(tmp && *tmp ? tmp : "/tmp") + "/headroom-fixture-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    root_ = tmpl;
  }
  ~fixture_tree() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  fixture_tree(const fixture_tree&) = delete;
  fixture_tree& operator=(const fixture_tree&) = delete;

  const std::string& root() const { return root_; }
  std::string path(std::string_view rel) const {
    return root_ + "/" + std::string(rel);
  }

  // Writes `content` at root/rel, creating parent directories.
  fixture_tree& file(std::string_view rel, std::string_view content) {
    const std::filesystem::path p = path(rel);
    std::error_code ec;
    std::filesystem::create_directories(p.parent_path(), ec);
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    REQUIRE(out.good());
    return *this;
  }

  fixture_tree& dir(std::string_view rel) {
    std::error_code ec;
    std::filesystem::create_directories(path(rel), ec);
    return *this;
  }

  fixture_tree& remove(std::string_view rel) {
    std::error_code ec;
    std::filesystem::remove_all(path(rel), ec);
    return *this;
  }

  // Replaces root/rel with a Unix socket bound there (and closed: the
  // socket file stays), which open(2) refuses with ENXIO.
  fixture_tree& socket(std::string_view rel) {
    remove(rel);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    const std::string p = path(rel);
    REQUIRE(p.size() < sizeof a.sun_path);
    std::memcpy(a.sun_path, p.c_str(), p.size() + 1);
    const int bound = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::close(fd);
    REQUIRE(bound == 0);
    return *this;
  }

 private:
  std::string root_;
};

// Sets an environment variable for one test and restores it after.
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~scoped_env() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace headroom_test
