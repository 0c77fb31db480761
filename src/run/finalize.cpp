// The end of a run, see finalize.hpp.
#include "run/finalize.hpp"

#include <spdlog/spdlog.h>

#include "wsi/comm/message.hpp"

namespace wsi::run {

Failures gather_failures(const Failures& mine, const Comm& comm) {
  Failures all;
  for (const Failures& part : all_gather_message(comm, mine, "slide failures")) all.insert(part.begin(), part.end());
  return all;
}

std::vector<RankStats> job_statistics(const RankStats& mine, const JobState& state, const Comm& comm) {
  std::vector<RankStats> rows = state.previous_stats;
  if (rows.empty()) rows.resize(comm.size());
  const std::vector<RankStats> ranks = all_gather_message(comm, mine, "rank statistics");
  const std::vector<std::string> hosts = all_gather_message(comm, Comm::host_name(), "host names");
  for (size_t r = 0; r < ranks.size(); ++r) {
    RankStats& row = rows[r % rows.size()];
    for (const StatsColumn& column : kStatsColumns)
      row.*column.field = column.summed ? row.*column.field + ranks[r].*column.field : ranks[r].*column.field;
  }
  if (comm.rank() == 0) {
    size_t width = 4;
    for (const std::string& host : hosts) width = std::max(width, host.size());
    spdlog::info("rank  {:<{}}  tiles  tiles/s  reading  inferring  waiting  writing  planning  maps  (seconds, this run)",
                 "host", width);
    for (size_t r = 0; r < ranks.size(); ++r) {
      const RankStats& s = ranks[r];
      spdlog::info("{:>4}  {:<{}} {:>6.0f} {:>8.1f} {:>8.1f} {:>10.1f} {:>8.1f} {:>8.1f} {:>9.1f} {:>5.1f}", r, hosts[r], width, s.tiles,
                   s.seconds_total > 0 ? s.tiles / s.seconds_total : 0.0, s.seconds_reading, s.seconds_inferring,
                   s.seconds_waiting, s.seconds_writing, s.seconds_planning, s.seconds_maps);
    }
  }
  return rows;
}

JobOutcome finalize_slides(JobState& state, CohortFile& file, const Comm& comm, const Failures& failed) {
  int64_t done = 0, failures = 0;
  for (size_t s = 0; s < state.plans.size(); ++s) {
    SlideRow& row = state.plans[s].row;
    const auto index = static_cast<int64_t>(s);
    if (failed.count(index)) {
      if (comm.rank() == 0) file.write_slide_status(index, SlideStatus::failed, failed.at(index));
      row.status = SlideStatus::failed;
    } else if (row.status == SlideStatus::pending) {
      row.status = SlideStatus::done;  // its maps and status were written by its owner
    }
    (row.status == SlideStatus::done ? done : failures) += 1;
  }
  if (comm.rank() == 0) spdlog::info("{} slides done, {} failed", done, failures);
  if (failures == 0) return JobOutcome::complete;
  return done > 0 ? JobOutcome::some_slides_failed : JobOutcome::all_slides_failed;
}

}  // namespace wsi::run
