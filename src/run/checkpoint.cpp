// Checkpoint epochs, see checkpoint.hpp.
#include "run/checkpoint.hpp"

#include <ctime>

#include <spdlog/spdlog.h>

#include "util/exclusive_file.hpp"
#include "util/json.hpp"
#include "wsi/comm/message.hpp"

namespace wsi::run {

void checkpoint_epoch(const std::vector<UnitResult>& finished, JobState& state, CohortFile& file, MapMaker& maps,
                      const TestHooks& hooks, const Comm& comm) {
  fail_point(comm, "epoch");
  std::vector<CohortFile::TileRows> rows;
  std::vector<int64_t> units;
  for (const UnitResult& r : finished) {
    rows.push_back({r.first, r.count, r.probabilities.empty() ? nullptr : r.probabilities.data(),
                    r.features.empty() ? nullptr : r.features.data()});
    units.push_back(r.unit);
  }
  file.write_tile_rows(rows);
  file.flush();
  hooks.between_rows_and_flags();
  file.write_done(units, comm.rank());
  if (maps.write_ready(false) > 0) hooks.between_maps_and_flush();
  file.flush();
  maps.commit_status();
  // Every rank learns what every rank checkpointed (the done flags of the whole job).
  const std::vector<int64_t> all = all_gather_concat(comm, units, "units checkpointed");
  for (int64_t u : all) state.done[u] = 1;
  maps.units_done(all);
}

void write_progress_file(const std::string& output, const JobState& state, int64_t slides_done,
                         const std::string& status) {
  int64_t units_done = 0, tiles_done = 0, tiles = 0;
  for (size_t u = 0; u < state.units.size(); ++u) {
    tiles += state.units[u].tile_count;
    if (state.done[u]) ++units_done, tiles_done += state.units[u].tile_count;
  }
  const auto slides = static_cast<int64_t>(state.plans.size());
  // Until every slide is planned, the cohort's tiles are extrapolated from the planned slides.
  const int64_t tiles_expected =
      state.planned_slides >= slides || state.planned_slides == 0
          ? tiles
          : static_cast<int64_t>(static_cast<double>(tiles) * slides / static_cast<double>(state.planned_slides));
  const double seconds = seconds_since_process_start();
  Json progress = {{"state", status},
                   {"slides_planned", state.planned_slides},
                   {"slides_total", slides},
                   {"units_done", units_done},
                   {"units_total", static_cast<int64_t>(state.units.size())},
                   {"tiles_done", tiles_done},
                   {"tiles_total", tiles},
                   {"tiles_expected", tiles_expected},
                   {"slides_done", slides_done},
                   {"seconds_running", seconds},
                   {"updated_unix", static_cast<int64_t>(std::time(nullptr))}};
  // The rate of this process so far (a resumed job's tiles done before it are not counted).
  const int64_t tiles_this_run = tiles_done - state.tiles_done_at_start;
  if (status == "running" && tiles_this_run > 0 && seconds > 0)
    progress["eta_seconds"] = static_cast<double>(tiles_expected - tiles_done) * seconds / tiles_this_run;
  const std::string path = output + ".progress.json";
  try {  // atomic: a reader sees the old file or the new one
    write_file_atomically(path, json_text(progress) + "\n");
  } catch (const std::exception& e) {
    spdlog::warn("progress file not updated: {}", e.what());  // a view of the job, not its state
  }
}

}  // namespace wsi::run
