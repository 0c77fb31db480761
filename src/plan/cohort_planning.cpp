// The cohort planned over the ranks beside inference (CohortPlanner, wsi/plan/job_plan.hpp), and
// the scratch its images wait in (src/plan/cohort_planning.hpp).
#include "plan/cohort_planning.hpp"

#include <sys/resource.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <future>
#include <map>
#include <set>
#include <stdexcept>

#include <opencv2/imgcodecs.hpp>
#include <spdlog/spdlog.h>

#include "util/fail_point.hpp"
#include "util/process_clock.hpp"
#include "util/progress_log.hpp"
#include "wsi/comm/message.hpp"
#include "wsi/plan/job_plan.hpp"
#include "wsi/schedule/failure.hpp"

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

// Collective: each rank writes the masks and thumbnails of its slides (slide, has a thumbnail),
// a few per round, so that memory holds a few images at a time.
void write_planned_images(CohortFile& file, const std::vector<std::pair<int64_t, bool>>& mine,
                          const PlanScratch& scratch, const Comm& comm) {
  constexpr size_t kSlidesPerRound = 8;
  const int64_t rounds = comm.all_reduce_max(static_cast<int64_t>((mine.size() + kSlidesPerRound - 1) / kSlidesPerRound));
  for (int64_t round = 0; round < rounds; ++round) {
    std::vector<PlannedImages> images;
    std::vector<CohortFile::SlideImages> writes;
    const size_t first = round * kSlidesPerRound, last = std::min(mine.size(), first + kSlidesPerRound);
    for (size_t k = first; k < last; ++k) images.push_back(scratch.take(mine[k].first, mine[k].second));
    for (size_t k = first; k < last; ++k) {
      const PlannedImages& image = images[k - first];
      writes.push_back({mine[k].first, nullptr, image.thumbnail.empty() ? nullptr : image.thumbnail.data,
                        image.tissue.data});
    }
    file.write_maps(writes);
  }
}

}  // namespace

void check_file_size_limit(const std::string& output, uint64_t bytes, const Comm& comm) {
  rlimit limit{};
  std::string message;
  if (getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < bytes)
    message = "this rank may write files of at most " + std::to_string(limit.rlim_cur) + " bytes (ulimit -f), and " +
              output + " may grow to " + std::to_string(bytes) + " bytes: raise the limit";
  agree_on(comm, "file size limit", message.empty() ? StepResult::ok : StepResult::failed, message);
}

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

struct CohortPlanner::Impl {
  struct Planned {
    SlidePlan plan;
    double seconds = 0;
  };

  Impl(const Job& j, const std::vector<ManifestEntry>& m, const JobState& state, const Comm& c, WorkerPool& p)
      : job(j), manifest(m), comm(c), pool(p), scratch(c.rank()), duplicates(duplicate_of(m)),
        planned(state.planned_slides), look_ahead(std::max<size_t>(16, 4 * static_cast<size_t>(p.size()))),
        progress("planning", "slides", static_cast<int64_t>(m.size())) {
    next = static_cast<int64_t>(planned) + ((comm.rank() - planned % comm.size()) + comm.size()) % comm.size();
    submit_more();
  }

  // Slides of this rank, in order, while fewer than look_ahead wait for the file.
  void submit_more() {
    for (; next < static_cast<int64_t>(manifest.size()) && in_flight.size() + ready.size() < look_ahead;
         next += comm.size()) {
      const ManifestEntry& entry = manifest[next];
      if (duplicates[next] >= 0) {
        ready[next] = failed_plan(entry, "duplicate slide id '" + entry.id + "' (also slide " +
                                             std::to_string(duplicates[next] + 1) + " of the manifest)");
        continue;
      }
      in_flight[next] = pool.submit([this, &entry, slide = next] {
        const auto start = std::chrono::steady_clock::now();
        PlannedImages images;
        Planned out{plan_slide(entry, job, &images), 0};
        fail_point(comm.rank(), "planning");
        test_pause("WSI_TEST_PLAN_PAUSE");
        out.plan.row.tile_count = static_cast<int64_t>(out.plan.tiles.size());
        if (out.plan.row.status == SlideStatus::pending) scratch.put(static_cast<size_t>(slide), images);
        out.seconds = seconds_since(start);
        return out;
      });
    }
  }

  // Collective: the end of the slides ready on any rank that continue the file's prefix.
  int64_t prefix_end() const {
    std::vector<int64_t> mine;
    for (const auto& entry : ready) mine.push_back(entry.first);
    const std::vector<int64_t> all = all_gather_concat(comm, mine, "slides planned");
    const std::set<int64_t> anywhere(all.begin(), all.end());
    int64_t end = planned;
    while (end < static_cast<int64_t>(manifest.size()) && anywhere.count(end)) ++end;
    return end;
  }

  // Plans finished on the workers move to `ready` (a failed task throws here).
  void collect(bool wait) {
    for (auto it = in_flight.begin(); it != in_flight.end();) {
      if (!wait && it->second.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
        ++it;
        continue;
      }
      Planned done = it->second.get();
      seconds += done.seconds;
      ready[it->first] = std::move(done.plan);
      it = in_flight.erase(it);
    }
  }

  const Job& job;
  const std::vector<ManifestEntry>& manifest;
  Comm comm;
  WorkerPool& pool;
  PlanScratch scratch;
  std::vector<int64_t> duplicates;
  int64_t planned;  // the file's planned slides
  size_t look_ahead;
  int64_t next = 0;  // this rank's next slide to submit
  std::map<int64_t, std::future<Planned>> in_flight;
  std::map<int64_t, SlidePlan> ready;
  size_t offered = 0;  // ready plans the last append saw (and could not append: a gap before them)
  double seconds = 0;
  ProgressLog progress;
};

CohortPlanner::CohortPlanner(const Job& job, const std::vector<ManifestEntry>& manifest, const JobState& state,
                             const Comm& comm, WorkerPool& pool)
    : impl_(std::make_unique<Impl>(job, manifest, state, comm, pool)) {}

CohortPlanner::~CohortPlanner() {
  for (auto& [slide, future] : impl_->in_flight)
    if (future.valid()) future.wait();
}

bool CohortPlanner::finished() const { return impl_->planned == static_cast<int64_t>(impl_->manifest.size()); }

bool CohortPlanner::has_ready() {
  impl_->collect(false);
  return impl_->ready.size() > impl_->offered;
}

bool CohortPlanner::full() {
  impl_->collect(false);
  return impl_->in_flight.empty() && impl_->ready.size() >= impl_->look_ahead;
}

void CohortPlanner::wait_all() { impl_->collect(true); }

double CohortPlanner::seconds() const { return impl_->seconds; }

std::vector<int64_t> CohortPlanner::append_ready(CohortFile& file, JobState& state,
                                                 const std::function<void()>& before_record) {
  Impl& m = *impl_;
  m.collect(false);
  const Comm& comm = m.comm;
  const int64_t end = m.prefix_end();
  if (end == m.planned) {
    m.offered = m.ready.size();
    return {};
  }
  // Every rank learns the rows and map shapes; tile bounds stay with the rank that planned them.
  std::vector<SlidePlan> share;
  for (auto it = m.ready.begin(); it != m.ready.end() && it->first < end; ++it)
    share.push_back({it->second.row, it->second.mask_path, {}, it->second.maps});
  const auto parts = all_gather_message(comm, share, "slide plans");
  std::vector<SlidePlan> plans(static_cast<size_t>(end - m.planned));
  for (size_t r = 0; r < parts.size(); ++r) {
    // Rank r's slides are r, r + size, ...: its first one at or after the prefix, then every size-th.
    const int64_t first = m.planned + ((static_cast<int64_t>(r) - m.planned % comm.size()) + comm.size()) % comm.size();
    for (size_t k = 0; k < parts[r].size(); ++k) plans.at(first - m.planned + k * comm.size()) = parts[r][k];
  }
  number_tiles(plans, file.planned().tiles);
  PlannedSlides append;
  append.first = m.planned;
  append.units = make_units(plans, m.planned, m.job.unit_tiles);
  std::vector<std::pair<int64_t, bool>> images;
  for (size_t i = 0; i < plans.size(); ++i) {
    append.rows.push_back(plans[i].row);
    append.maps.push_back(plans[i].maps);
    const int64_t slide = m.planned + static_cast<int64_t>(i);
    auto it = m.ready.find(slide);
    if (it == m.ready.end()) continue;
    const SlideRow& row = plans[i].row;
    append.tiles.push_back({row.tile_start, std::vector<int32_t>(it->second.tiles.size(), static_cast<int32_t>(slide)),
                            std::move(it->second.tiles)});
    if (row.status == SlideStatus::pending && has_maps(plans[i].maps))
      images.push_back({slide, plans[i].maps.thumbnail_height > 0});
  }
  check_file_size_limit(file.path(), std::filesystem::file_size(file.path()) +
                                         slides_bytes_bound(append.rows, append.maps, append.units.size(),
                                                            state.classes, state.tile_feature_bytes),
                        comm);
  file.append_slides(append, [&](CohortFile& f) { write_planned_images(f, images, m.scratch, comm); }, before_record);

  std::vector<int64_t> new_units;
  for (size_t u = 0; u < append.units.size(); ++u) new_units.push_back(static_cast<int64_t>(state.units.size() + u));
  state.units.insert(state.units.end(), append.units.begin(), append.units.end());
  state.done.resize(state.units.size(), 0);
  for (size_t i = 0; i < plans.size(); ++i) state.plans[m.planned + i] = std::move(plans[i]);
  m.ready.erase(m.ready.begin(), m.ready.lower_bound(end));
  m.offered = m.ready.size();
  m.planned = state.planned_slides = end;
  if (comm.rank() == 0) m.progress.update(m.planned, finished());
  if (comm.rank() == 0 && finished())
    spdlog::info("planned {} slides: {} tiles in {} units", m.planned, file.planned().tiles, state.units.size());
  m.submit_more();
  return new_units;
}

}  // namespace wsi
