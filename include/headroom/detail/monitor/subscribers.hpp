// SPDX-License-Identifier: MIT
// headroom: the monitor's subscribers, and the RAII subscription a user
// holds. Callbacks are called with no lock held.
#pragma once

#include <condition_variable>  // std::condition_variable
#include <cstdint>             // std::uint64_t
#include <functional>          // std::function
#include <map>                 // std::map
#include <memory>              // std::make_shared, std::shared_ptr
#include <mutex>               // std::lock_guard, std::mutex, std::unique_lock
#include <thread>              // std::this_thread, std::thread
#include <utility>             // std::move
#include <vector>              // std::vector

namespace headroom {

struct memory_event;

namespace detail {

// Subscribers. Callbacks are called with no lock held; remove() waits for a
// running call of that callback to end, unless it is called from inside it.
class subscriber_registry {
 public:
  using callback = std::function<void(const memory_event&)>;

  std::uint64_t add(callback fn) {
    std::lock_guard<std::mutex> lock(mu_);
    const std::uint64_t id = next_id_++;
    entries_.emplace(
        id, std::make_shared<entry>(entry{std::move(fn), true, {}, 0}));
    return id;
  }

  void remove(std::uint64_t id) {
    std::unique_lock<std::mutex> lock(mu_);
    const auto it = entries_.find(id);
    if (it == entries_.end()) return;
    const std::shared_ptr<entry> e = it->second;
    entries_.erase(it);
    e->live = false;
    const auto me = std::this_thread::get_id();
    cv_.wait(lock, [&] { return e->in_call == 0 || e->caller == me; });
  }

  std::size_t deliver(const memory_event& ev) {
    std::vector<std::shared_ptr<entry>> list;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& kv : entries_) list.push_back(kv.second);
    }
    std::size_t called = 0;
    for (const auto& e : list) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!e->live) continue;
        ++e->in_call;
        e->caller = std::this_thread::get_id();
      }
      e->fn(ev);
      ++called;
      {
        std::lock_guard<std::mutex> lock(mu_);
        --e->in_call;
      }
      cv_.notify_all();
    }
    return called;
  }

 private:
  struct entry {
    callback fn;
    bool live;
    std::thread::id caller;
    int in_call;
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::uint64_t, std::shared_ptr<entry>> entries_;
  std::uint64_t next_id_ = 1;
};

}  // namespace detail
}  // namespace headroom
