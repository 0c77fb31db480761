// `wsi-mpi umap`: a UMAP of the tile features of a cohort file (wsi/embed/umap.hpp) into
// /tiles/umap (wsi/cohort/tile_umap.hpp). Scope slide: one embedding per done slide, the slides
// spread over the ranks (largest first, each to the least loaded rank), each fitted with its own
// seed (a stream of --seed and the slide's index). Scope cohort: rank 0 fits a sample of tiles
// drawn uniformly over the done slides (a stream of --seed) and hands the sample and its
// embedding to every rank; each rank then transforms its slides' other tiles into it (again
// seeded per slide). The result is the same whatever the rank count; a killed umap resumes with
// the slides not flagged done.
#pragma once
#include <cstdint>
#include <string>

#include "wsi/comm/comm.hpp"
#include "wsi/embed/umap.hpp"

namespace wsi {

enum class UmapScope { slide, cohort };

struct UmapJobOptions {
  std::string file;  // the cohort file, written by `run --mode features|both`
  UmapParameters umap;
  UmapScope scope = UmapScope::slide;
  int64_t sample_size = 20000;  // scope cohort: tiles in the fit
  int slides_per_write = 8;     // a rank's slides between two writes (and done flags)
};

struct UmapJobResult {
  int64_t slides = 0;    // done slides with tiles in the file
  int64_t computed = 0;  // slides embedded by this run, all ranks
  int64_t fitted = 0;    // rows of the fit (scope cohort: the sample; 0 when nothing was left)
};

// Collective. Rank 0 holds the output lock throughout. Throws std::invalid_argument for a file or
// options that cannot be used (no features, no done slide, /tiles/umap made otherwise, a cohort
// sample of no more tiles than n_neighbors), std::runtime_error otherwise.
UmapJobResult umap_tiles(const UmapJobOptions& options, const Comm& comm);

}  // namespace wsi
