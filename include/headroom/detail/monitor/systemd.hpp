// SPDX-License-Identifier: MIT
// headroom: systemd's memory pressure protocol ($MEMORY_PRESSURE_WATCH and
// $MEMORY_PRESSURE_WRITE, see open_systemd_watch in event_fds.hpp). A
// wakeup is a moderate signal. Only with a kernel behind the files and
// when the environment is honoured; read with secure_getenv, so a setuid
// program is not steered by its caller.
#pragma once

#include "../event_fds.hpp"  // secure_env, open_systemd_watch, drain_stream
#include "source.hpp"        // monitor_source, source_env, status_only

namespace headroom::detail {

inline std::optional<monitor_source> open_systemd_source(
    const source_env& env) {
  constexpr source_kind k = source_kind::systemd;
  if (!env.opt.use_systemd || !env.opt.reader.use_environment || !env.live)
    return std::nullopt;
  const char* path = secure_env("MEMORY_PRESSURE_WATCH");
  if (!path) return std::nullopt;
  auto w = open_systemd_watch(path, secure_env("MEMORY_PRESSURE_WRITE"));
  if (!w) return status_only(source_failed(k, w.error()));
  const bool psi = w->wants_pollpri();
  if (!psi) drain_stream(w->fd.get());  // what we wrote into a FIFO
  monitor_source src;
  src.status = source_active(k, path);
  src.fds.push_back(
      {std::move(w->fd), psi ? EPOLLPRI : EPOLLIN, path, psi ? 0u : 1u});
  src.on_ready = [](monitor_clock::time_point, source_fd& f,
                    std::uint32_t events) {
    source_outcome out;
    const bool stream = f.row == 1;
    if ((events & EPOLLERR) || (stream && !drain_stream(f.fd.get()))) {
      out.status = source_failed(
          k, make_error(std::make_error_code(std::errc::connection_reset),
                        f.path));
      out.stop_watching = true;
      return out;
    }
    out.signal(pressure_level::moderate, k,
               "$MEMORY_PRESSURE_WATCH signalled (" + f.path + ")");
    out.sample = true;
    return out;
  };
  return src;
}

inline void open_systemd(const source_env& env, source_sink& out) {
  if (auto s = open_systemd_source(env)) out.push_back(std::move(*s));
}

}  // namespace headroom::detail
