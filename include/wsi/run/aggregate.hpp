// `wsi-mpi aggregate`: one embedding per done slide of a cohort file, from its tile features and
// their level-0 coordinates, into /slides/embeddings/<name> (wsi/cohort/slide_embeddings.hpp).
// The slides are spread over the ranks (largest first, each to the least loaded rank); a
// killed aggregate resumes where it stopped (a slide's embedding is written once).
#pragma once
#include <cstdint>
#include <string>

#include "wsi/comm/comm.hpp"

namespace wsi {

struct AggregateOptions {
  std::string file;            // the cohort file, written by `run --mode features|both`
  std::string model = "mean";  // "mean" (of the tile features) or a TorchScript slide encoder
  std::string output_name;     // default: "mean", or the encoder file's stem
  int threads = 0;             // LibTorch threads per rank (0: its default)
  int slides_per_write = 8;    // a rank's slides between two writes (and done flags)
};

struct AggregateResult {
  int64_t slides = 0;    // done slides in the file
  int64_t computed = 0;  // embeddings computed by this run, all ranks
  int64_t size = 0;      // E
  std::string name;      // the dataset's name under /slides/embeddings
};

// Collective. Rank 0 holds the same output lock as `run` throughout (another job writing the file
// refuses this one, and the other way round). Throws std::invalid_argument for a file or model
// that cannot be aggregated (no features, no done slide, embeddings of that name made otherwise),
// std::runtime_error otherwise.
AggregateResult aggregate_slides(const AggregateOptions& options, const Comm& comm);

}  // namespace wsi
