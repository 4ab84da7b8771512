// --capture DIR: copies every file headroom read into DIR at its logical path
// (/proc/self/cgroup -> DIR/proc/self/cgroup), so that --root DIR replays
// the same report. Files that could not be read are left out: a replay then
// finds them missing, as the live run did.
#pragma once

#include <headroom/detail/fd.hpp>
#include <headroom/error.hpp>

#include <cerrno>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace headroom_info {

class capture_list {
 public:
  auto hook() {
    return [this](std::string_view logical, std::string_view real) {
      if (seen_.insert(std::string(logical)).second) {
        files_.emplace_back(std::string(logical), std::string(real));
      }
    };
  }

  std::size_t size() const { return saved_; }

  headroom::result<void> save(const std::string& dir) {
    for (const auto& [logical, real] : files_) {
      auto content = headroom::detail::read_whole(real);
      if (!content) continue;
      const std::string target = dir + logical;
      auto made = make_parents(target);
      if (!made) return made;
      auto written = write_file(target, *content);
      if (!written) return written;
      ++saved_;
    }
    return {};
  }

 private:
  static headroom::result<void> make_parents(const std::string& path) {
    for (std::size_t at = path.find('/', 1); at != std::string::npos;
         at = path.find('/', at + 1)) {
      const std::string part = path.substr(0, at);
      if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) {
        return headroom::errno_error(errno, part);
      }
    }
    return {};
  }

  static headroom::result<void> write_file(const std::string& path,
                                           const std::string& content) {
    headroom::detail::unique_fd fd(::open(
        path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) return headroom::errno_error(errno, path);
    std::size_t done = 0;
    while (done < content.size()) {
      const ssize_t n =
          ::write(fd.get(), content.data() + done, content.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return headroom::errno_error(errno, path);
      }
      done += static_cast<std::size_t>(n);
    }
    return {};
  }

  std::vector<std::pair<std::string, std::string>> files_;
  std::set<std::string> seen_;
  std::size_t saved_ = 0;
};

}  // namespace headroom_info
