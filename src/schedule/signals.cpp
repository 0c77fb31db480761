// Stop signals, see include/wsi/schedule/signals.hpp.
#include "wsi/schedule/signals.hpp"

#include <atomic>
#include <csignal>

namespace wsi {
namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_stop_signal(int) { g_stop.store(true); }

}  // namespace

void install_stop_signals() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
}

bool stop_requested() { return g_stop.load(); }

}  // namespace wsi
