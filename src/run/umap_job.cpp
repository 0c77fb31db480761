// `wsi-mpi umap`, see wsi/run/umap.hpp.
#include "wsi/run/umap.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "run/agreed_step.hpp"
#include "run/output_lock.hpp"
#include "run/slide_share.hpp"
#include "run/test_hooks.hpp"
#include "util/process_clock.hpp"
#include "util/progress_log.hpp"
#include "wsi/cohort/cohort_file.hpp"
#include "wsi/cohort/tile_umap.hpp"
#include "wsi/comm/message.hpp"
#include "wsi/run/job_runner.hpp"
#include "wsi/schedule/failure.hpp"

namespace wsi {
namespace {

// Streams of --seed (umap_stream_seed): the cohort sample's, then one per slide from here on.
constexpr uint64_t kSampleStream = 3, kFirstSlideStream = 16;

const char* scope_name(UmapScope scope) { return scope == UmapScope::slide ? "slide" : "cohort"; }

// The attribute `parameters` of /tiles/umap: what decides the embedding, a and b as fitted.
std::string parameters_json(const UmapJobOptions& o) {
  const UmapParameters& p = o.umap;
  const UmapCurve curve = fit_umap_curve(p.spread, p.min_dist);
  nlohmann::ordered_json j = {{"n_neighbors", p.n_neighbors}, {"n_components", p.n_components},
                              {"metric", umap_metric_name(p.metric)}, {"spread", p.spread},
                              {"min_dist", p.min_dist}, {"a", curve.a}, {"b", curve.b}, {"seed", p.seed}};
  if (o.scope == UmapScope::cohort) j["sample_size"] = o.sample_size;
  return j.dump();
}

// Rank 0 takes the output lock; every rank reads and checks the file; the ranks agree.
CohortSummary start(const UmapJobOptions& options, const Comm& comm, std::optional<run::OutputLock>& lock) {
  CohortSummary summary;
  run::agreed_step(comm, "start", [&] {
    if (comm.rank() == 0) lock.emplace(options.file);
    check_umap_parameters(options.umap);
    summary = read_cohort_summary(options.file);
    if (summary.feature_size <= 0)
      throw std::invalid_argument(options.file + " has no tile features (run with --mode features or both)");
    if (run::done_slides_with_tiles(summary).empty())
      throw std::invalid_argument(options.file + " has no done slide with tiles to embed");
    run::fail_point(comm, "umap-start");
  });
  return summary;
}

// Scope cohort: the sample (tile rows, ascending), its features and its embedding.
struct CohortFit {
  std::vector<int64_t> rows;
  std::vector<float> features, embedding;
};

// Rank 0: the sample drawn over the done slides' tiles, read slide by slide, and its fit.
CohortFit fit_sample(const TileUmapFile& file, const CohortSummary& summary, const std::vector<int64_t>& done,
                     const UmapJobOptions& options) {
  std::vector<int64_t> starts;  // position of each done slide's first tile among all done tiles
  int64_t population = 0;
  for (const int64_t s : done) starts.push_back(population), population += summary.slides[s].tile_count;
  const std::vector<int64_t> picked =
      umap_sample(population, options.sample_size, umap_stream_seed(options.umap.seed, kSampleStream));
  CohortFit fit;
  const int64_t dim = summary.feature_size;
  auto next = picked.begin();
  for (size_t i = 0; i < done.size(); ++i) {
    const SlideRow& slide = summary.slides[done[i]];
    const auto end = std::lower_bound(next, picked.end(), starts[i] + slide.tile_count);
    if (next == end) continue;
    const std::vector<float> features = file.read_features(slide.tile_start, slide.tile_count);
    for (; next != end; ++next) {
      const int64_t row = *next - starts[i];
      fit.rows.push_back(slide.tile_start + row);
      fit.features.insert(fit.features.end(), features.begin() + row * dim, features.begin() + (row + 1) * dim);
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  fit.embedding = umap_fit(fit.features.data(), static_cast<int64_t>(fit.rows.size()), dim, options.umap);
  spdlog::info("umap: fitted the cohort sample of {} of {} tiles in {:.1f} s", fit.rows.size(), population,
               seconds_since(t0));
  return fit;
}

// Collective: rank 0 fits and sends every rank "ok\n<fit>" or "error\n<why>" (the others wait
// without spinning, so they leave the cores to the fit); the ranks agree on the outcome.
CohortFit share_fit(const TileUmapFile& file, const CohortSummary& summary, const std::vector<int64_t>& done,
                    const UmapJobOptions& options, const Comm& comm) {
  CohortFit fit;
  std::string bytes;
  if (comm.rank() == 0) {
    MessageWriter w;
    try {
      run::fail_point(0, "umap-fit");
      fit = fit_sample(file, summary, done, options);
      w << uint8_t{1} << fit.rows << fit.features << fit.embedding;
    } catch (const std::exception& e) {
      w = MessageWriter();
      w << uint8_t{0} << std::string(e.what());
    }
    bytes = w.take();
  }
  bytes = comm.broadcast_quietly(bytes, 0);
  MessageReader r(bytes, "cohort fit");
  uint8_t fitted = 0;
  std::string why;
  r >> fitted;
  if (fitted && comm.rank() != 0) r >> fit.rows >> fit.features >> fit.embedding;
  if (!fitted) r >> why;
  agree_on(comm, "cohort fit", fitted ? StepResult::ok : StepResult::failed, why);
  const auto rows = fit.rows.size();
  if (fit.features.size() != rows * static_cast<size_t>(summary.feature_size) ||
      fit.embedding.size() != rows * static_cast<size_t>(options.umap.n_components))
    throw std::runtime_error("umap: the cohort fit arrived with sizes that do not match its rows");
  return fit;
}

// One slide's rows of /tiles/umap: its own fit, or the cohort fit's rows for its sampled tiles and
// the transform of the others.
std::vector<float> embed_slide(const TileUmapFile& file, const SlideRow& slide, int64_t index,
                               const UmapJobOptions& options, const CohortFit* cohort) {
  UmapParameters p = options.umap;
  p.seed = umap_stream_seed(options.umap.seed, kFirstSlideStream + static_cast<uint64_t>(index));
  const int64_t n = slide.tile_count, dim = file.feature_size(), c = p.n_components;
  const std::vector<float> features = file.read_features(slide.tile_start, n);
  if (!cohort) {
    if (n <= p.n_neighbors)
      spdlog::warn("umap: slide {} has {} tiles, not more than n_neighbors {}: every tile is a neighbour of every other",
                   slide.id, n, p.n_neighbors);
    return umap_fit(features.data(), n, dim, p);
  }
  std::vector<float> out(static_cast<size_t>(n * c), 0.0f);
  std::vector<int64_t> others;  // slide rows not in the sample
  std::vector<float> other_features;
  auto sampled = std::lower_bound(cohort->rows.begin(), cohort->rows.end(), slide.tile_start);
  for (int64_t r = 0; r < n; ++r) {
    if (sampled != cohort->rows.end() && *sampled == slide.tile_start + r) {
      const auto k = static_cast<size_t>(sampled - cohort->rows.begin());
      std::copy_n(cohort->embedding.begin() + k * c, c, out.begin() + r * c);
      ++sampled;
      continue;
    }
    others.push_back(r);
    other_features.insert(other_features.end(), features.begin() + r * dim, features.begin() + (r + 1) * dim);
  }
  const std::vector<float> placed =
      umap_transform(other_features.data(), static_cast<int64_t>(others.size()), cohort->features.data(),
                     cohort->embedding.data(), static_cast<int64_t>(cohort->rows.size()), dim, p);
  for (size_t i = 0; i < others.size(); ++i) std::copy_n(placed.begin() + i * c, c, out.begin() + others[i] * c);
  return out;
}

}  // namespace

UmapJobResult umap_tiles(const UmapJobOptions& options, const Comm& comm) {
  std::optional<run::OutputLock> lock;  // rank 0: no other job writes the file meanwhile
  const CohortSummary summary = start(options, comm, lock);
  const std::vector<int64_t> done = run::done_slides_with_tiles(summary);
  UmapJobResult result;
  result.slides = static_cast<int64_t>(done.size());

  TileUmapMeta meta{options.umap.n_components, parameters_json(options), scope_name(options.scope)};
  // Every rank finds the same in the same file (/tiles/umap of other parameters, a cohort too
  // small for the sample): agreed, so that it is refused (exit 2) on every rank without an abort.
  std::optional<TileUmapFile> opened;
  run::agreed_step(comm, "opening /tiles/umap", [&] {
    if (options.scope == UmapScope::cohort) {
      int64_t population = 0;
      for (const int64_t s : done) population += summary.slides[s].tile_count;
      const int64_t fitted = std::min(population, options.sample_size);
      if (fitted <= options.umap.n_neighbors)
        throw std::invalid_argument("umap: the cohort sample holds " + std::to_string(fitted) +
                                    " tiles; n_neighbors (" + std::to_string(options.umap.n_neighbors) +
                                    ") must be fewer");
    }
    opened.emplace(TileUmapFile::open(options.file, meta, comm));
  });
  TileUmapFile& file = *opened;
  const std::vector<uint8_t> flags = file.done();
  std::vector<int64_t> todo;
  for (const int64_t s : done)
    if (!flags[static_cast<size_t>(s)]) todo.push_back(s);
  if (comm.rank() == 0)
    spdlog::info("umap {}: {} of {} done slides left, scope {}, {} -> /tiles/umap, {} ranks", options.file, todo.size(),
                 done.size(), meta.scope, meta.parameters, comm.size());
  std::optional<CohortFit> cohort;
  if (options.scope == UmapScope::cohort && !todo.empty()) {
    cohort = share_fit(file, summary, done, options, comm);
    result.fitted = static_cast<int64_t>(cohort->rows.size());
  }

  const std::vector<int64_t> mine = run::my_slides(todo, summary, comm);
  const int64_t per_write = std::max(1, options.slides_per_write);
  const int64_t rounds = comm.all_reduce_max((static_cast<int64_t>(mine.size()) + per_write - 1) / per_write);
  run::TestHooks hooks(comm.rank());
  ProgressLog progress("umap", "slides", static_cast<int64_t>(todo.size()));
  size_t next = 0;
  for (int64_t round = 0; round < rounds; ++round) {
    std::vector<TileUmapFile::SlideRows> slides;
    for (; next < mine.size() && static_cast<int64_t>(slides.size()) < per_write; ++next) {
      const SlideRow& slide = summary.slides[mine[next]];
      slides.push_back({mine[next], slide.tile_start, slide.tile_count,
                        embed_slide(file, slide, mine[next], options, cohort ? &*cohort : nullptr)});
      hooks.computed(mine[next]);
    }
    run::fail_point(comm, "umap-write");
    file.write(slides);
    result.computed += comm.all_reduce_sum(static_cast<int64_t>(slides.size()));
    if (comm.rank() == 0) progress.update(result.computed, round + 1 == rounds);
  }
  file.close();
  return result;
}

}  // namespace wsi
