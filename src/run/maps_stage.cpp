// Maps beside inference, see maps_stage.hpp.
#include "run/maps_stage.hpp"

#include "run/test_hooks.hpp"
#include "wsi/maps/prediction_map.hpp"

namespace wsi::run {

struct MapMaker::Merged {
  int64_t slide = 0;
  cv::Mat prediction;              // empty: the job has no probabilities
  std::vector<float> fractions;    // class fractions, or empty
  double seconds = 0;
};

MapMaker::MapMaker(const Job& job, JobState& state, CohortFile& file, const Comm& comm, WorkerPool& pool)
    : job_(job), state_(state), file_(file), comm_(comm), pool_(pool), progress_("maps", "slides", 0) {
  units_left_.assign(state.plans.size(), 0);
  for (size_t s = 0; s < state.plans.size(); ++s) slides_done_before_ += state.plans[s].row.status == SlideStatus::done;
  std::vector<int64_t> undone;
  for (size_t u = 0; u < state.units.size(); ++u)
    if (!state.done[u]) undone.push_back(static_cast<int64_t>(u));
  slides_planned(0, undone);
}

void MapMaker::slides_planned(int64_t first_slide, const std::vector<int64_t>& units) {
  for (int64_t u : units) ++units_left_[state_.units[u].slide];
  for (int64_t s = first_slide; s < state_.planned_slides; ++s) {
    if (state_.plans[s].row.status != SlideStatus::pending) continue;
    ++slides_total_;
    if (units_left_[s] == 0) queue(s);
  }
  progress_.set_total(slides_total_);
}

void MapMaker::queue(int64_t slide) {
  if (slide % comm_.size() != comm_.rank()) return;
  const auto start = Clock::now();
  const SlideRow& row = state_.plans[slide].row;
  const MapShape& shape = state_.plans[slide].maps;
  const int classes = job_.wants_probabilities() ? static_cast<int>(state_.classes) : 0;
  // HDF5 stays on this thread: the tiles and probabilities are read here, merged on a worker.
  std::vector<TileBounds> tiles;
  std::vector<float> probabilities;
  if (classes > 0) {
    tiles = file_.read_bounds(row.tile_start, row.tile_count);
    probabilities = file_.read_probabilities(row.tile_start, row.tile_count);
  }
  seconds_ += seconds_since(start);
  const Size slide_size{row.resolution_width, row.resolution_height}, canvas{shape.width, shape.height};
  auto flag = merged_flag_;
  queued_.push_back(pool_.submit([slide, classes, slide_size, canvas, flag, tiles = std::move(tiles),
                                 probabilities = std::move(probabilities), rank = comm_.rank()] {
    const auto start = Clock::now();
    fail_point(rank, "maps");
    auto merged = std::make_shared<Merged>();
    merged->slide = slide;
    if (classes > 0) {
      merged->prediction = merge_predictions(tiles, probabilities.data(), classes, slide_size, canvas);
      merged->fractions = class_fractions(probabilities.data(), static_cast<int64_t>(tiles.size()), classes);
    }
    merged->seconds = seconds_since(start);
    flag->store(true);
    return merged;
  }));
}

void MapMaker::units_done(const std::vector<int64_t>& units) {
  for (int64_t u : units) {
    const int64_t slide = state_.units[u].slide;
    if (--units_left_[slide] == 0 && state_.plans[slide].row.status == SlideStatus::pending) queue(slide);
  }
}

int64_t MapMaker::write_ready(bool wait) {
  std::vector<CohortFile::SlideImages> writes;
  for (auto it = queued_.begin(); it != queued_.end();) {
    if (!wait && it->wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      ++it;
      continue;
    }
    std::shared_ptr<Merged> merged = it->get();
    seconds_ += merged->seconds;
    if (!merged->prediction.empty()) writes.push_back({merged->slide, merged->prediction.data, nullptr, nullptr});
    written_.push_back(std::move(merged));
    it = queued_.erase(it);
  }
  file_.write_maps(writes);
  const int64_t written = comm_.all_reduce_sum(static_cast<int64_t>(written_.size()));
  slides_mapped_ += written;
  if (comm_.rank() == 0 && slides_total_ > 0) progress_.update(slides_mapped_, slides_mapped_ == slides_total_);
  return written;
}

void MapMaker::commit_status() {
  for (const auto& merged : written_) {
    file_.write_slide_status(merged->slide, SlideStatus::done, "", merged->fractions);
    state_.plans[merged->slide].row.status = SlideStatus::done;
  }
  written_.clear();
}

}  // namespace wsi::run
