// SPDX-License-Identifier: MIT
// headroom: one byte budget shared by several consumers (caches, arenas,
// pools) in one process, that follows the limit and the monitor's events.
//
//   auto b = headroom::shared_budget::create(reader->snapshot(), policy);
//   auto pages = b->join({"pages", 3}, [&](std::uint64_t t) {
//   pages.shrink_to(t); }); auto blobs = b->join({"blobs", 1, 16 << 20},
//   [&](std::uint64_t t) { ... }); auto sub = b->follow(*monitor);
//   ...
//   if (pages->bytes() + n <= pages_share->target()) pages.grow(n);
//
// The budget's total comes from a budget_policy (policy.hpp), recomputed
// when the limit changes. What the consumers may hold together, the
// allowance, is the total until pressure: then it falls by the bytes the
// event says must be freed (memory_event::bytes_to_free) or, where it does
// not say, by a share of the total, and each consumer is told its new
// target. A consumer's target is its floor plus its weight's share of what
// is above the floors. After the last pressure event and a calm period, the
// allowance grows back in steps (rate-limited), so the consumers do not
// refill at once what the kernel just asked for.
//
// Growing is pulled, shrinking is pushed: target() includes the regrowth
// at the time it is called; the shrink callback runs only when a target
// falls below what its consumer holds (or, before it has reported, below
// its previous target). Callbacks run on the thread that delivered the
// event (the monitor's, after follow()), never under the budget's lock:
// they may call any member, join, or reset their own share.
//
// Thread-safety: every member may be called from any thread. Lifetime: a
// share and a subscription from follow() keep the budget's state alive; a
// reset (or destroyed) share's callback is not running when reset()
// returns, unless reset() is called from that callback.
#pragma once

#include <algorithm>     // std::remove_if, std::min, std::max
#include <chrono>        // std::chrono
#include <cmath>         // std::isfinite
#include <cstdint>       // std::uint64_t
#include <functional>    // std::function
#include <memory>        // std::shared_ptr, std::make_shared
#include <mutex>         // std::lock_guard, std::mutex, std::recursive_mutex
#include <optional>      // std::optional
#include <string>        // std::string
#include <system_error>  // std::errc
#include <utility>       // std::move, std::pair, std::exchange
#include <vector>        // std::vector

#include "detail/level.hpp"  // pressure_level
#include "error.hpp"         // result, error, errc
#include "policy.hpp"        // percent_of, budget_policy, compute_budget
#include "pressure.hpp"      // monitor, memory_event, subscription
#include "snapshot.hpp"      // memory_snapshot

namespace headroom {

// How a shared_budget sheds on pressure and grows back. A plain value,
// copied into the budget.
struct shared_budget_options {
  // The share of the total given back on a pressure event that does not
  // say how many bytes must be freed (moderate), and at least this much on
  // critical, in percent of the total.
  double shed_at_moderate = 10;
  // At least this share of the total is given back on critical (percent).
  double shed_at_critical = 25;
  // Regrowth: nothing for `calm` after the last pressure event, then
  // `regrow_percent` of the total per `regrow_interval` (with the defaults,
  // from a quarter of the total back to all of it in 17 s).
  std::chrono::steady_clock::duration calm = std::chrono::seconds(2);
  // Percent of the total the allowance grows back per regrow_interval.
  double regrow_percent = 5;
  // How often the allowance grows back by regrow_percent.
  std::chrono::steady_clock::duration regrow_interval = std::chrono::seconds(1);
};

// A consumer joining a shared_budget. A plain value.
struct budget_share_options {
  std::string name;   // for people: reasons and errors
  double weight = 1;  // its part of what is above the floors; 0: floor only
  std::uint64_t floor = 0;  // never asked to go below this
};

namespace detail {

class shared_budget_state {
 public:
  using clock = std::chrono::steady_clock;
  using shrink_callback = std::function<void(std::uint64_t target)>;

  shared_budget_state(std::uint64_t total, shared_budget_options o)
      : opt_(o), total_(total), base_(total) {}

  std::uint64_t add(budget_share_options o, shrink_callback cb) {
    std::lock_guard<std::mutex> lock(mu_);
    share s;
    s.id = ++last_id_;
    s.opt = std::move(o);
    s.on_shrink = std::move(cb);
    shares_.push_back(std::move(s));
    return last_id_;
  }

  // Waits for a running callback of this share unless called from it.
  void remove(std::uint64_t id) {
    std::lock_guard<std::recursive_mutex> delivering(deliver_mu_);
    std::lock_guard<std::mutex> lock(mu_);
    shares_.erase(std::remove_if(shares_.begin(), shares_.end(),
                                 [&](const share& s) { return s.id == id; }),
                  shares_.end());
  }

  void report(std::uint64_t id, std::uint64_t held) {
    std::lock_guard<std::mutex> lock(mu_);
    if (share* s = find(id)) s->held = held;
  }

  std::uint64_t target(std::uint64_t id, clock::time_point now) const {
    std::lock_guard<std::mutex> lock(mu_);
    const share* s = find(id);
    return s ? target_of(*s, allowance_at(now)) : 0;
  }

  std::uint64_t total() const {
    std::lock_guard<std::mutex> lock(mu_);
    return total_;
  }

  std::uint64_t allowance(clock::time_point now) const {
    std::lock_guard<std::mutex> lock(mu_);
    return allowance_at(now);
  }

  // A raise adds its difference to the allowance at once (the kernel gave
  // room; what pressure took still grows back at the regrowth rate); a
  // lowering caps it.
  void set_total(std::uint64_t total, clock::time_point now) {
    deliver(now, [&] {
      const std::uint64_t a = settle(now);
      base_ = total >= total_ ? std::min(total, a + (total - total_))
                              : std::min(a, total);
      total_ = total;
    });
  }

  void pressure(pressure_level level, std::optional<std::uint64_t> to_free,
                clock::time_point now) {
    if (level == pressure_level::none) return;
    deliver(now, [&] {
      const std::uint64_t a = settle(now);
      std::uint64_t held = 0;
      for (const share& s : shares_)
        held += s.held ? std::min(*s.held, target_of(s, a)) : target_of(s, a);
      std::uint64_t shed =
          to_free ? *to_free : percent_of(total_, opt_.shed_at_moderate);
      if (level == pressure_level::critical)
        shed = std::max(shed, percent_of(total_, opt_.shed_at_critical));
      // What is held is where the bytes must come from (no shares: the
      // allowance itself).
      const std::uint64_t from = shares_.empty() ? a : std::min(a, held);
      base_ = std::max(floors(), from > shed ? from - shed : 0);
      base_ = std::min(base_, a);
      next_step_ = now + opt_.calm;
    });
  }

 private:
  struct share {
    std::uint64_t id = 0;
    budget_share_options opt;
    shrink_callback on_shrink;
    std::optional<std::uint64_t> held;  // as last reported
  };

  share* find(std::uint64_t id) {
    for (share& s : shares_)
      if (s.id == id) return &s;
    return nullptr;
  }
  const share* find(std::uint64_t id) const {
    return const_cast<shared_budget_state*>(this)->find(id);
  }

  std::uint64_t floors() const {
    std::uint64_t f = 0;
    for (const share& s : shares_) f += s.opt.floor;
    return f;
  }

  std::uint64_t step() const {
    return std::max<std::uint64_t>(1, percent_of(total_, opt_.regrow_percent));
  }

  // The allowance at `now`: the base plus the regrowth steps due by then.
  std::uint64_t allowance_at(clock::time_point now) const {
    if (base_ >= total_ || now < next_step_) return std::min(base_, total_);
    const auto interval = std::max(opt_.regrow_interval, clock::duration(1));
    const auto steps =
        static_cast<std::uint64_t>((now - next_step_) / interval) + 1;
    const std::uint64_t room = total_ - base_;
    const std::uint64_t s = step();
    return steps >= (room + s - 1) / s ? total_ : base_ + steps * s;
  }

  // Folds the regrowth due by `now` into the base.
  std::uint64_t settle(clock::time_point now) {
    const std::uint64_t a = allowance_at(now);
    if (a != base_ && now >= next_step_) {
      const auto interval = std::max(opt_.regrow_interval, clock::duration(1));
      next_step_ += ((now - next_step_) / interval + 1) * interval;
    }
    base_ = a;
    return a;
  }

  std::uint64_t target_of(const share& s, std::uint64_t allowance) const {
    const std::uint64_t f = floors();
    if (allowance <= f) return s.opt.floor;
    double weights = 0;
    for (const share& o : shares_) weights += o.opt.weight;
    if (weights <= 0) return s.opt.floor;
    const double part =
        static_cast<double>(allowance - f) * (s.opt.weight / weights);
    return s.opt.floor + static_cast<std::uint64_t>(part);
  }

  // Runs `change` under the lock, then tells each share whose target fell
  // below what it holds (or below its old target, before it reported).
  template <class F>
  void deliver(clock::time_point now, F&& change) {
    std::lock_guard<std::recursive_mutex> delivering(deliver_mu_);
    std::vector<std::pair<shrink_callback, std::uint64_t>> calls;
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::vector<std::uint64_t> before;
      before.reserve(shares_.size());
      const std::uint64_t a0 = allowance_at(now);
      for (const share& s : shares_) before.push_back(target_of(s, a0));
      change();
      const std::uint64_t a1 = allowance_at(now);
      for (std::size_t i = 0; i < shares_.size(); ++i) {
        const share& s = shares_[i];
        const std::uint64_t t = target_of(s, a1);
        const std::uint64_t was = s.held ? *s.held : before[i];
        if (t < was && s.on_shrink) calls.emplace_back(s.on_shrink, t);
      }
    }
    for (auto& c : calls) c.first(c.second);
  }

  const shared_budget_options opt_;
  mutable std::mutex mu_;
  std::recursive_mutex deliver_mu_;  // held while callbacks run
  std::vector<share> shares_;
  std::uint64_t last_id_ = 0;
  std::uint64_t total_ = 0;
  std::uint64_t base_ = 0;  // the allowance before regrowth since next_step_
  clock::time_point next_step_{};
};

}  // namespace detail

// A consumer's part of a shared_budget. Move-only; leaves the budget when
// reset or destroyed.
class budget_share {
 public:
  // The clock target() is read against.
  using clock = std::chrono::steady_clock;

  budget_share() = default;
  // Takes o's place in the budget; o is left empty (false, target() 0).
  budget_share(budget_share&& o) noexcept
      : state_(std::move(o.state_)), id_(std::exchange(o.id_, 0)) {}
  // Leaves the budget with this share's place, then takes o's; o is left
  // empty.
  budget_share& operator=(budget_share&& o) noexcept {
    if (this != &o) {
      reset();
      state_ = std::move(o.state_);
      id_ = std::exchange(o.id_, 0);
    }
    return *this;
  }
  budget_share(const budget_share&) = delete;
  budget_share& operator=(const budget_share&) = delete;
  ~budget_share() { reset(); }

  // The bytes this consumer may hold now (0 for an empty share).
  std::uint64_t target(clock::time_point now = clock::now()) const {
    return state_ ? state_->target(id_, now) : 0;
  }
  // What it holds, so that pressure takes bytes from what is really held
  // and a consumer below its new target is not asked to shrink.
  void report(std::uint64_t held) {
    if (state_) state_->report(id_, held);
  }
  // Leaves the budget: the share is empty afterwards. Its shrink callback
  // is not running when reset() returns, unless reset() is called from
  // that callback.
  void reset() {
    if (state_) state_->remove(id_);
    state_.reset();
    id_ = 0;
  }
  // False for an empty share (default-constructed, moved-from or reset).
  explicit operator bool() const noexcept { return state_ != nullptr; }

 private:
  friend class shared_budget;
  budget_share(std::shared_ptr<detail::shared_budget_state> s, std::uint64_t id)
      : state_(std::move(s)), id_(id) {}
  std::shared_ptr<detail::shared_budget_state> state_;
  std::uint64_t id_ = 0;
};

// A byte budget shared by consumers (see the file comment). A handle:
// copies refer to the same budget, and shares and follow() subscriptions
// keep its state alive after the last copy is destroyed. Every member may
// be called from any thread.
class shared_budget {
 public:
  // The clock allowance() and the regrowth are read against.
  using clock = std::chrono::steady_clock;
  // Called with a share's new target: give back down to it. Runs on the
  // thread that delivered the event, outside the budget's lock.
  using shrink_callback = detail::shared_budget_state::shrink_callback;

  // A budget of `total` bytes.
  explicit shared_budget(std::uint64_t total, shared_budget_options o = {})
      : state_(std::make_shared<detail::shared_budget_state>(total, o)) {}

  // The total from a policy and a snapshot (compute_budget); the error when
  // the policy gives none (no limit with budget_basis::limit_only is
  // errc::not_supported: there is nothing to share).
  static result<shared_budget> create(const memory_snapshot& s, budget_policy p,
                                      shared_budget_options o = {}) {
    auto total = compute_budget(s, p);
    if (!total) return total.error();
    if (!*total)
      return result<shared_budget>(errc::not_supported,
                                   "shared budget: nothing limits");
    shared_budget b((*total)->max, o);
    b.policy_ = std::move(p);
    return b;
  }

  // Joins the budget; `on_shrink(target)` is called when the share's target
  // falls below what it holds: give back down to `target` bytes. A weight
  // that is negative or not a number is std::errc::invalid_argument.
  result<budget_share> join(budget_share_options o,
                            shrink_callback on_shrink = {}) {
    if (!(o.weight >= 0) || !std::isfinite(o.weight))
      return make_error(std::make_error_code(std::errc::invalid_argument),
                        "shared budget: weight of " + o.name);
    const std::uint64_t id = state_->add(std::move(o), std::move(on_shrink));
    return budget_share(state_, id);
  }

  // The total in bytes (from the policy, or as given).
  std::uint64_t total() const { return state_->total(); }
  // What the shares may hold together now.
  std::uint64_t allowance(clock::time_point now = clock::now()) const {
    return state_->allowance(now);
  }

  // The limit changed: a new total.
  void set_total(std::uint64_t total, clock::time_point now = clock::now()) {
    state_->set_total(total, now);
  }
  // The budget's policy applied to a new snapshot (after create(); for a
  // budget made from bytes this does nothing). A snapshot the policy cannot
  // use leaves the total as it was and returns why.
  result<void> update(const memory_snapshot& s,
                      clock::time_point now = clock::now()) {
    if (!policy_) return {};
    auto b = compute_budget(s, *policy_);
    if (!b) return b.error();
    if (!*b)
      return result<void>(errc::not_supported, "shared budget: nothing limits");
    set_total((*b)->max, now);
    return {};
  }

  // Pressure: the allowance falls by `bytes_to_free`, or by the options'
  // share of the total where that is unknown (at least shed_at_critical on
  // critical), and the shares above their new targets are told.
  void on_pressure(pressure_level level,
                   std::optional<std::uint64_t> bytes_to_free,
                   clock::time_point now = clock::now()) {
    state_->pressure(level, bytes_to_free, now);
  }

  // A monitor's event: pressure as above; limit_changed recomputes the
  // total from the event's effective limit and new limit.
  void on_event(const memory_event& e, clock::time_point now = clock::now()) {
    if (e.kind == event_kind::pressure) {
      on_pressure(e.level, e.bytes_to_free, now);
    } else if (e.kind == event_kind::limit_changed && e.effective_limit) {
      memory_snapshot s;
      s.limit = e.new_limit;
      s.effective_limit = *e.effective_limit;
      (void)update(s, now);
    }
  }

  // Follows a monitor's events until the subscription ends. The
  // subscription keeps the budget's state alive.
  [[nodiscard]] subscription follow(monitor& m) {
    shared_budget self = *this;
    return m.subscribe(
        [self](const memory_event& e) mutable { self.on_event(e); });
  }

 private:
  std::shared_ptr<detail::shared_budget_state> state_;
  std::optional<budget_policy> policy_;
};

}  // namespace headroom
