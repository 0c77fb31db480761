// The cohort planned over the ranks, see src/plan/cohort_planning.hpp.
#include "plan/cohort_planning.hpp"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <future>
#include <stdexcept>

#include <opencv2/imgcodecs.hpp>

#include "util/fail_point.hpp"
#include "util/progress_log.hpp"
#include "wsi/comm/message.hpp"

namespace wsi {
namespace {

namespace fs = std::filesystem;

void write_image(const std::string& path, const cv::Mat& image) {
  if (!cv::imwrite(path, image, {cv::IMWRITE_PNG_COMPRESSION, 1}))
    throw std::runtime_error("cannot write planning scratch file '" + path + "'");
}

cv::Mat take_image(const std::string& path, int flags) {
  cv::Mat image = cv::imread(path, flags);
  if (image.empty()) throw std::runtime_error("cannot read planning scratch file '" + path + "'");
  fs::remove(path);
  return image;
}

fs::path make_scratch_folder(int rank) {
  std::string name = (fs::temp_directory_path() / ("wsi-mpi-plan-rank" + std::to_string(rank) + "-XXXXXX")).string();
  if (!::mkdtemp(name.data()))
    throw std::runtime_error("cannot make the planning scratch folder '" + name + "': " + std::strerror(errno));
  return name;
}

// This rank's share (slides rank, rank + size, ...), planned on the pool, in manifest order.
std::vector<SlidePlan> plan_share(const Job& job, const std::vector<ManifestEntry>& manifest, const Comm& comm,
                                  WorkerPool& pool, const PlanScratch& scratch) {
  const auto duplicates = duplicate_of(manifest);
  std::vector<std::future<SlidePlan>> pending;
  for (size_t i = comm.rank(); i < manifest.size(); i += comm.size()) {
    const ManifestEntry& entry = manifest[i];
    if (duplicates[i] >= 0) {
      std::promise<SlidePlan> failed;
      failed.set_value(failed_plan(entry, "duplicate slide id '" + entry.id + "' (also slide " +
                                              std::to_string(duplicates[i] + 1) + " of the manifest)"));
      pending.push_back(failed.get_future());
      continue;
    }
    pending.push_back(pool.submit([&job, &entry, &scratch, i, rank = comm.rank()] {
      PlannedImages images;
      SlidePlan plan = plan_slide(entry, job, &images);
      fail_point(rank, "planning");
      if (plan.row.status == SlideStatus::pending) scratch.put(i, images);
      return plan;
    }));
  }
  ProgressLog progress(comm.size() > 1 ? "planning (rank 0's share)" : "planning", "slides",
                       static_cast<int64_t>(pending.size()));
  std::vector<SlidePlan> mine;
  for (auto& future : pending) {
    while (future.wait_for(std::chrono::milliseconds(200)) != std::future_status::ready)
      progress.update(static_cast<int64_t>(mine.size()));
    mine.push_back(future.get());
    progress.update(static_cast<int64_t>(mine.size()));
  }
  progress.update(static_cast<int64_t>(mine.size()), true);
  return mine;
}

}  // namespace

PlanScratch::PlanScratch(int rank) : dir_(make_scratch_folder(rank)) {}

PlanScratch::~PlanScratch() {
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

void PlanScratch::put(size_t slide, const PlannedImages& images) const {
  write_image(name(slide, "tissue"), images.tissue);
  if (!images.thumbnail.empty()) write_image(name(slide, "thumbnail"), images.thumbnail);
}

PlannedImages PlanScratch::take(size_t slide, bool thumbnail) const {
  PlannedImages images{take_image(name(slide, "tissue"), cv::IMREAD_GRAYSCALE), {}};
  if (thumbnail) images.thumbnail = take_image(name(slide, "thumbnail"), cv::IMREAD_COLOR);
  return images;
}

std::string PlanScratch::name(size_t slide, const char* what) const {
  return (dir_ / (std::to_string(slide) + "." + what + ".png")).string();
}

std::vector<SlidePlan> plan_cohort(const Job& job, const std::vector<ManifestEntry>& manifest, const Comm& comm,
                                   WorkerPool& pool, const PlanScratch& scratch) {
  auto parts = all_gather_message(comm, plan_share(job, manifest, comm, pool, scratch), "slide plans");
  std::vector<SlidePlan> plans(manifest.size());
  for (size_t r = 0; r < parts.size(); ++r) {
    auto planned = std::move(parts[r]);
    for (size_t k = 0; k < planned.size(); ++k) plans[r + k * parts.size()] = std::move(planned[k]);
  }
  number_tiles(plans);
  return plans;
}

}  // namespace wsi
