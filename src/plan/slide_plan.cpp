// Planning one slide, see wsi/plan/slide_plan.hpp.
#include "wsi/plan/slide_plan.hpp"


#include <opencv2/imgproc.hpp>
#include <stdexcept>

#include <spdlog/spdlog.h>

namespace wsi {

namespace {

// The automatic mask reads a thumbnail at mask_resolution(); the job's thumbnail is that one
// shrunk (INTER_AREA, as a thumbnail read at a coarser resolution resizes) when it is no finer.
cv::Mat thumbnail_for_maps(const SlideReader& slide, const Job& job, const cv::Mat& mask_thumbnail) {
  if (!job.keep_thumbnail) return {};
  const Size size = size_at_resolution(slide.properties(), job.thumbnail);
  if (size.width <= 0 || size.height <= 0)
    throw SlideError(slide.path() + ": the slide is too small for a thumbnail at " + to_string(job.thumbnail));
  if (static_cast<double>(size.width) * static_cast<double>(size.height) > double(kMaxMapPixels))
    throw SlideError(slide.path() + ": a thumbnail at " + to_string(job.thumbnail) + " would be " +
                     std::to_string(size.width) + "x" + std::to_string(size.height) + " px, too large");
  if (mask_thumbnail.empty() || size.width > mask_thumbnail.cols || size.height > mask_thumbnail.rows)
    return read_thumbnail(slide, job.thumbnail);
  if (size.width == mask_thumbnail.cols && size.height == mask_thumbnail.rows) return mask_thumbnail;
  cv::Mat out;
  cv::resize(mask_thumbnail, out, cv::Size(static_cast<int>(size.width), static_cast<int>(size.height)), 0, 0,
             cv::INTER_AREA);
  return out;
}

// The job's tissue mask: the manifest's mask image, or the automatic one from a thumbnail at
// mask_resolution() (returned in `mask_thumbnail`). Throws SlideError.
cv::Mat slide_tissue_mask(const SlideReader& slide, const std::string& mask_path, const Job& job,
                          cv::Mat& mask_thumbnail) {
  const SlideProperties& props = slide.properties();
  if (!mask_path.empty()) {
    try {
      return load_mask_image(mask_path, props.size());
    } catch (const SlideError& e) {
      throw SlideError(slide.path() + ": " + e.what());
    }
  }
  const Resolution at = mask_resolution(props);
  mask_thumbnail = read_thumbnail(slide, at);
  const double mask_mpp = at.units == Units::power ? mpp_at_power(at.value) : 0.0;
  return tissue_mask(mask_thumbnail, job.tissue_mask, mask_mpp);
}

// A slide whose metadata asks for absurd sizes (mpp 1e6, a forged level size) fails alone,
// before any allocation follows its numbers.
void check_caps(const std::string& path, const Job& job, Size at_resolution, Size at_overview) {
  const auto steps = [&](int64_t side) { return (side + job.stride - 1) / job.stride; };
  const double tiles = static_cast<double>(steps(at_resolution.width)) * static_cast<double>(steps(at_resolution.height));
  if (tiles > static_cast<double>(kMaxTilesPerSlide))
    throw SlideError(path + ": " + std::to_string(at_resolution.width) + "x" + std::to_string(at_resolution.height) +
                     " px at " + to_string(job.resolution) + " would be " + std::to_string(int64_t(tiles)) +
                     " grid tiles, more than the " + std::to_string(kMaxTilesPerSlide) + " accepted per slide");
  if (static_cast<double>(at_overview.width) * static_cast<double>(at_overview.height) > double(kMaxMapPixels))
    throw SlideError(path + ": a prediction map of " + std::to_string(at_overview.width) + "x" +
                     std::to_string(at_overview.height) + " px at " + to_string(job.overview) + " is more than the " +
                     std::to_string(kMaxMapPixels) + " px accepted");
}

}  // namespace

SlidePlan failed_plan(const ManifestEntry& entry, const std::string& error) {
  SlidePlan plan;
  plan.row.id = entry.id, plan.row.key = entry.key, plan.row.path = entry.path;
  plan.mask_path = entry.mask;
  plan.row.status = SlideStatus::failed;
  plan.row.error = error;
  return plan;
}

SlidePlan plan_slide(const ManifestEntry& entry, const Job& job, PlannedImages* images) {
  SlidePlan plan = failed_plan(entry, "");
  plan.row.status = SlideStatus::pending;
  try {
    // Planning reads the thumbnail level in strips: a strip's tiles are all the cache must hold.
    const auto slide = open_slide(entry.path, {job.mpp_override, size_t{16} << 20});
    const SlideProperties& props = slide->properties();
    plan.row.width = props.size().width, plan.row.height = props.size().height;
    plan.row.mpp = props.mpp, plan.row.objective_power = props.objective_power;
    Size at_resolution, at_overview;
    try {
      plan.row.scale = baseline_per_requested(props, job.resolution).x;
      at_resolution = size_at_resolution(props, job.resolution);
      at_overview = size_at_resolution(props, job.overview);
    } catch (const std::invalid_argument& e) {
      throw SlideError(entry.path + ": " + e.what());
    }
    plan.row.resolution_width = at_resolution.width, plan.row.resolution_height = at_resolution.height;
    check_caps(entry.path, job, at_resolution, at_overview);
    if (at_resolution.width < job.patch || at_resolution.height < job.patch)
      throw SlideError(entry.path + ": the slide is " + std::to_string(at_resolution.width) + "x" +
                       std::to_string(at_resolution.height) + " px at " + to_string(job.resolution) +
                       ", smaller than one " + std::to_string(job.patch) + " px patch");
    cv::Mat mask_thumbnail;
    const cv::Mat mask = slide_tissue_mask(*slide, entry.mask, job, mask_thumbnail);
    plan.tiles = filter_by_mask(patch_grid(at_resolution, job.patch, job.stride), mask, at_resolution, job.tile_rule);
    if (plan.tiles.empty())
      throw SlideError(entry.path + ": no tissue found" + (entry.mask.empty() ? "" : " in the mask " + entry.mask));
    cv::Mat thumbnail;
    try {
      thumbnail = thumbnail_for_maps(*slide, job, mask_thumbnail);
    } catch (const std::invalid_argument& e) {
      throw SlideError(entry.path + ": " + e.what());
    }
    plan.maps = {at_overview.height, at_overview.width, thumbnail.rows, thumbnail.cols, mask.rows, mask.cols};
    if (images) *images = {mask, thumbnail};
  } catch (const std::exception& e) {
    spdlog::warn("slide {} failed in planning: {}", entry.id, e.what());
    SlidePlan failed = failed_plan(entry, e.what());
    failed.row.width = plan.row.width, failed.row.height = plan.row.height;
    failed.row.mpp = plan.row.mpp, failed.row.objective_power = plan.row.objective_power;
    return failed;
  }
  return plan;
}

int64_t number_tiles(std::vector<SlidePlan>& plans, int64_t first_tile) {
  int64_t next = first_tile;
  for (SlidePlan& plan : plans) {
    plan.row.tile_start = next;
    next += plan.row.tile_count;
  }
  return next;
}

std::vector<WorkUnit> make_units(const std::vector<SlidePlan>& plans, int64_t first_slide, int64_t unit_tiles) {
  std::vector<WorkUnit> units;
  for (size_t s = 0; s < plans.size(); ++s)
    for (int64_t first = 0; first < plans[s].row.tile_count; first += unit_tiles)
      units.push_back({first_slide + static_cast<int64_t>(s), plans[s].row.tile_start + first,
                       std::min(unit_tiles, plans[s].row.tile_count - first)});
  return units;
}

namespace {

// Every field of a plan, for the message encoding (wsi/comm/message.hpp).
template <typename Stream, typename Plan>
void visit(Stream& s, Plan& p) {
  auto& r = p.row;
  s & r.id & r.key & r.path & r.status & r.error & r.tile_start & r.tile_count & r.width & r.height & r.mpp;
  s & r.objective_power & r.scale & r.resolution_width & r.resolution_height & p.mask_path & p.maps & p.tiles;
}

struct Encoder {
  MessageWriter& w;
  template <typename T>
  Encoder& operator&(const T& v) {
    w << v;
    return *this;
  }
};
struct Decoder {
  MessageReader& r;
  template <typename T>
  Decoder& operator&(T& v) {
    r >> v;
    return *this;
  }
};

}  // namespace

void encode(MessageWriter& w, const SlidePlan& plan) {
  Encoder e{w};
  visit(e, plan);
}

void decode(MessageReader& r, SlidePlan& plan) {
  Decoder d{r};
  visit(d, plan);
}

}  // namespace wsi
