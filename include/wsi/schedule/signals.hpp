// SIGTERM and SIGUSR1 (Slurm's warning before a time limit or pre-emption) ask the job to stop:
// the current batch finishes, a checkpoint epoch runs at once, and every rank exits 75.
#pragma once

namespace wsi {

void install_stop_signals();  // idempotent
bool stop_requested();        // async-signal-safe flag, readable from any thread

}  // namespace wsi
