// SPDX-License-Identifier: MIT
// An LRU cache with byte accounting that gives memory back on pressure:
// subscribe it to a headroom::monitor and it
//  - sheds a fraction of its bytes at moderate (default 25%),
//  - sheds most of them at critical (default 75%),
//  - does not grow while the level is moderate or worse: a new entry first
//    evicts old ones to make room,
//  - and after shedding asks the allocator to return freed pages to the
//    kernel (headroom::release_free_memory: glibc, jemalloc, tcmalloc...),
//    since freed bytes that stay in the process's heap are still charged
//    to its cgroup.
// Single-threaded: call the monitor's dispatch() from the thread that uses
// the cache (see pressure_cache.cpp), or guard it with your own lock.
#pragma once

#include <headroom/pressure.hpp>
#include <headroom/release.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <list>
#include <string>
#include <unordered_map>
#include <utility>

namespace pressure_cache {

template <class Key, class Value>
class lru_cache {
 public:
  struct shedding {
    double at_moderate = 0.25;  // fraction of bytes dropped at moderate
    double at_critical = 0.75;  // ... at critical
  };

  // Bytes an entry costs: key, value and bookkeeping.
  using sizer = std::size_t (*)(const Key&, const Value&);

  explicit lru_cache(sizer size_of, shedding s = {})
      : size_of_(size_of), shed_(s) {}

  // Follows the monitor's pressure events, calling on_event() from the
  // thread that dispatches them. With monitor::start() that is another
  // thread: then subscribe yourself and call on_event() under your lock.
  void follow(headroom::monitor& m) {
    subscription_ =
        m.subscribe([this](const headroom::memory_event& e) { on_event(e); });
  }

  // Sheds or freezes on a pressure event; ignores the other kinds.
  void on_event(const headroom::memory_event& e) {
    if (e.kind == headroom::event_kind::pressure) on_level(e.level);
  }

  const Value* get(const Key& k) {
    const auto it = index_.find(k);
    if (it == index_.end()) {
      ++misses_;
      return nullptr;
    }
    ++hits_;
    order_.splice(order_.begin(), order_, it->second);  // most recent first
    return &it->second->second;
  }

  void put(Key k, Value v) {
    const std::size_t cost = size_of_(k, v);
    if (const auto it = index_.find(k); it != index_.end()) erase(it->second);
    // Under pressure the cache does not grow: make room first.
    if (level_ != headroom::pressure_level::none) {
      while (!order_.empty() && bytes_ + cost > frozen_at_) evict_oldest();
    }
    if (cost > capacity_) return;  // would not fit even alone
    while (!order_.empty() && bytes_ + cost > capacity_) evict_oldest();
    order_.emplace_front(std::move(k), std::move(v));
    index_.emplace(order_.front().first, order_.begin());
    bytes_ += cost;
  }

  // Drops the least recently used entries until `fraction` of the bytes
  // are gone; returns the bytes dropped.
  std::size_t shed(double fraction) {
    const std::size_t target =
        bytes_ -
        static_cast<std::size_t>(static_cast<double>(bytes_) * fraction);
    const std::size_t before = bytes_;
    while (bytes_ > target && !order_.empty()) evict_oldest();
    (void)headroom::release_free_memory();  // hand the freed pages back
    ++sheds_;
    return before - bytes_;
  }

  // At most `bytes` from now on (a budget's target): evicts down to it now,
  // and put() makes room under it.
  void set_capacity(std::size_t bytes) {
    capacity_ = bytes;
    while (bytes_ > capacity_ && !order_.empty()) evict_oldest();
  }

  // Called with each evicted value, so that its buffer can be reused.
  void on_evict(std::function<void(Value&&)> f) { on_evict_ = std::move(f); }

  std::size_t bytes() const { return bytes_; }
  std::size_t entries() const { return index_.size(); }
  std::uint64_t hits() const { return hits_; }
  std::uint64_t misses() const { return misses_; }
  std::uint64_t sheds() const { return sheds_; }
  headroom::pressure_level level() const { return level_; }

 private:
  using list = std::list<std::pair<Key, Value>>;

  void on_level(headroom::pressure_level l) {
    const auto previous = level_;
    level_ = l;
    if (l == headroom::pressure_level::critical) {
      shed(shed_.at_critical);
    } else if (l == headroom::pressure_level::moderate &&
               previous == headroom::pressure_level::none) {
      shed(shed_.at_moderate);
    } else if (l == headroom::pressure_level::moderate) {
      // A sustained moderate level notified again: keep shrinking gently.
      shed(shed_.at_moderate / 2);
    }
    frozen_at_ = bytes_;
  }

  void evict_oldest() { erase(std::prev(order_.end())); }

  void erase(typename list::iterator it) {
    bytes_ -= size_of_(it->first, it->second);
    index_.erase(it->first);
    if (on_evict_) on_evict_(std::move(it->second));
    order_.erase(it);
  }

  sizer size_of_;
  shedding shed_;
  list order_;
  std::unordered_map<Key, typename list::iterator> index_;
  std::size_t bytes_ = 0;
  std::size_t frozen_at_ = 0;
  std::size_t capacity_ = std::numeric_limits<std::size_t>::max();
  std::function<void(Value&&)> on_evict_;
  headroom::pressure_level level_ = headroom::pressure_level::none;
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
  std::uint64_t sheds_ = 0;
  headroom::subscription subscription_;
};

}  // namespace pressure_cache
