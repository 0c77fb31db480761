// `wsi-mpi aggregate`, see wsi/run/aggregate.hpp.
#include "wsi/run/aggregate.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <numeric>
#include <optional>
#include <stdexcept>

#include "run/agreed_step.hpp"
#include "run/output_lock.hpp"
#include "run/slide_share.hpp"
#include "run/test_hooks.hpp"
#include "util/progress_log.hpp"
#include "util/sha256.hpp"
#include "wsi/cohort/cohort_file.hpp"
#include "wsi/cohort/slide_embeddings.hpp"
#include "wsi/model/model.hpp"
#include "wsi/run/job_runner.hpp"
#include "wsi/schedule/failure.hpp"
#include "wsi/units.hpp"

namespace wsi {
namespace {

// One slide's tiles as the slide step takes them.
struct SlideTiles {
  std::vector<float> features;  // N x D
  std::vector<int64_t> coords;  // N x 2: level-0 top-left, CLAM's coords
};

// What turns a slide's tiles into its embedding.
class SlideAggregator {
 public:
  SlideAggregator(const AggregateOptions& options, int64_t feature_size) : feature_size_(feature_size) {
    if (options.model == "mean") {
      size_ = feature_size;
      id_ = "mean";
      return;
    }
    if (!std::filesystem::is_regular_file(options.model))
      throw std::invalid_argument("--model: '" + options.model + "' is neither \"mean\" nor a TorchScript file");
    encoder_ = load_slide_encoder(options.model, options.threads);
    id_ = "TorchScript " + std::filesystem::path(options.model).filename().string() + " (SHA-256 " +
          sha256_file_hex(options.model) + ")";
    const std::vector<float> zeros(static_cast<size_t>(feature_size), 0.0f);
    const int64_t origin[2] = {0, 0};
    size_ = static_cast<int64_t>(encoder_->encode(zeros.data(), 1, feature_size, origin).size());
    if (size_ == 0) throw std::invalid_argument("--model " + options.model + " returns an empty embedding");
  }

  int64_t size() const { return size_; }
  const std::string& id() const { return id_; }

  std::vector<float> embed(const SlideTiles& t) {
    const int64_t n = static_cast<int64_t>(t.coords.size() / 2);
    if (encoder_) {
      std::vector<float> e = encoder_->encode(t.features.data(), n, feature_size_, t.coords.data());
      if (static_cast<int64_t>(e.size()) != size_)
        throw std::runtime_error("the slide encoder returned " + std::to_string(e.size()) + " values, " +
                                 std::to_string(size_) + " before");
      return e;
    }
    std::vector<double> sum(static_cast<size_t>(feature_size_), 0.0);  // float64: thousands of tiles
    for (int64_t i = 0; i < n; ++i)
      for (int64_t d = 0; d < feature_size_; ++d) sum[d] += t.features[i * feature_size_ + d];
    std::vector<float> mean(sum.size());
    for (size_t d = 0; d < sum.size(); ++d) mean[d] = static_cast<float>(sum[d] / static_cast<double>(n));
    return mean;
  }

 private:
  int64_t feature_size_ = 0, size_ = 0;
  std::string id_;
  std::unique_ptr<SlideEncoder> encoder_;
};

SlideTiles read_tiles(const SlideEmbeddingFile& file, const SlideRow& slide) {
  SlideTiles t;
  t.features = file.read_features(slide.tile_start, slide.tile_count);
  for (const TileBounds& b : file.read_bounds(slide.tile_start, slide.tile_count)) {
    const Level0Box box = level0_box(b.x0, b.y0, b.x1, b.y1, slide.scale);
    t.coords.insert(t.coords.end(), {box.x, box.y});
  }
  return t;
}

std::string default_name(const std::string& model) {
  return model == "mean" ? "mean" : std::filesystem::path(model).stem().string();
}

// Every rank checks the file and loads the model before the collective open, rank 0 after taking
// the output lock (held by `lock` from then on); the ranks agree on the outcome.
std::unique_ptr<SlideAggregator> start(const AggregateOptions& options, const Comm& comm, CohortSummary& summary,
                                       std::optional<run::OutputLock>& lock) {
  std::unique_ptr<SlideAggregator> aggregator;
  run::agreed_step(comm, "start", [&] {
    if (comm.rank() == 0) lock.emplace(options.file);
    summary = read_cohort_summary(options.file);
    if (summary.feature_size <= 0)
      throw std::invalid_argument(options.file + " has no tile features (run with --mode features or both)");
    aggregator = std::make_unique<SlideAggregator>(options, summary.feature_size);
    run::fail_point(comm, "aggregate-start");
  });
  return aggregator;
}

}  // namespace

AggregateResult aggregate_slides(const AggregateOptions& options, const Comm& comm) {
  CohortSummary summary;
  std::optional<run::OutputLock> lock;  // rank 0: no other job writes the file meanwhile
  const std::unique_ptr<SlideAggregator> aggregator = start(options, comm, summary, lock);
  AggregateResult result;
  result.name = options.output_name.empty() ? default_name(options.model) : options.output_name;

  const std::vector<int64_t> done_slides = run::done_slides_with_tiles(summary);
  result.slides = static_cast<int64_t>(done_slides.size());
  result.size = aggregator->size();

  // Every rank finds the same in the same file (nothing to do, an existing dataset of another
  // size): agreed, so that such a file is refused (exit 2) on every rank without an abort.
  std::optional<SlideEmbeddingFile> opened;
  run::agreed_step(comm, "opening /slides/embeddings", [&] {
    if (done_slides.empty()) throw std::invalid_argument(options.file + " has no done slide with tiles to aggregate");
    opened.emplace(SlideEmbeddingFile::open(options.file, result.name, result.size, aggregator->id(), comm));
  });
  SlideEmbeddingFile& file = *opened;
  const std::vector<uint8_t> flags = file.done();
  std::vector<int64_t> todo;
  for (const int64_t s : done_slides)
    if (!flags[static_cast<size_t>(s)]) todo.push_back(s);
  const std::vector<int64_t> mine = run::my_slides(todo, summary, comm);
  const int64_t per_write = std::max(1, options.slides_per_write);
  const int64_t rounds = comm.all_reduce_max((static_cast<int64_t>(mine.size()) + per_write - 1) / per_write);
  if (comm.rank() == 0)
    spdlog::info("aggregate {}: {} of {} done slides left, {} -> /slides/embeddings/{} ({} values each), {} ranks",
                 options.file, todo.size(), done_slides.size(), aggregator->id(), result.name, result.size, comm.size());

  run::TestHooks hooks(comm.rank());
  ProgressLog progress("aggregate", "slides", static_cast<int64_t>(todo.size()));
  size_t next = 0;
  for (int64_t round = 0; round < rounds; ++round) {
    std::vector<int64_t> slides;
    std::vector<float> rows;
    for (; next < mine.size() && static_cast<int64_t>(slides.size()) < per_write; ++next) {
      const std::vector<float> e = aggregator->embed(read_tiles(file, summary.slides[mine[next]]));
      rows.insert(rows.end(), e.begin(), e.end());
      slides.push_back(mine[next]);
      hooks.computed(mine[next]);
    }
    run::fail_point(comm, "aggregate-write");
    file.write(slides, rows);
    const int64_t written = comm.all_reduce_sum(static_cast<int64_t>(slides.size()));
    result.computed += written;
    if (comm.rank() == 0) progress.update(result.computed, round + 1 == rounds);
  }
  file.close();
  return result;
}

}  // namespace wsi
