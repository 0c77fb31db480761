// A progress line for long work: "<what>: done/total, rate <unit>/s, ETA s", at most every
// `every` seconds (and when forced). Thread-safety: none; one thread owns it.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include <spdlog/spdlog.h>

namespace wsi {

class ProgressLog {
 public:
  ProgressLog(std::string what, std::string unit, int64_t total, double every = 10.0)
      : what_(std::move(what)), unit_(std::move(unit)), total_(total), every_(every) {}

  void set_total(int64_t total) { total_ = total; }

  // `extra` is appended to the line (e.g. a second count).
  void update(int64_t done, bool force = false, const std::string& extra = "") {
    const auto now = Clock::now();
    if (!force && std::chrono::duration<double>(now - last_).count() < every_) return;
    last_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
    const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0.0;
    spdlog::info("{}: {}/{} {}, {:.1f} {}/s, ETA {:.0f} s{}", what_, done, total_, unit_, rate, unit_, eta, extra);
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::string what_, unit_;
  int64_t total_ = 0;
  double every_ = 10.0;
  Clock::time_point start_ = Clock::now(), last_ = Clock::now();
};

}  // namespace wsi
