// The cohort file: one parallel-HDF5 file holding a whole job (layout in docs/cohort-file.md).
// Created as OUT.partial with the job and one row per manifest slide, and renamed; it then grows
// as slides are planned (append_slides: the tile and unit tables are chunked and extendible),
// and the run writes raw data in place. A kill at any moment leaves a file that can be resumed.
// Only src/cohort/h5_*.cpp include hdf5.h.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wsi/comm/comm.hpp"
#include "wsi/grid/cohort_records.hpp"
#include "wsi/grid/tile_grid.hpp"

namespace wsi {

inline constexpr const char* kCohortFormat = "wsi-mpi cohort";
// 2: compressed maps, a thumbnail of its own resolution, sizes at the resolution, 8 stats columns.
// 3: 13 stats columns (the model configuration each rank measured and ran with).
// 4: /job/numeric_config, the configuration decided once for the job.
// 5: the file grows as slides are planned: extendible tile and unit tables, /progress/planned.
inline constexpr int kCohortFormatVersion = 5;

// What the file is created with. `slides` holds every slide of the manifest; the first
// maps.size() of them are planned (their tiles in tile_slide/tile_bounds, their units in
// units), the rest are appended later with CohortFile::append_slides.
struct CohortPlan {
  std::string job_json;       // /job/config
  std::string fingerprint;    // /job/fingerprint
  std::string numeric_config;  // /job/numeric_config: JSON, or "" (decided by the first run)
  std::vector<std::string> class_names;  // /job/class_names (empty: features only)
  int64_t feature_size = 0;   // D of /tiles/features (0: no features dataset)
  bool features_float16 = false;
  bool probabilities = true;  // whether /tiles/probabilities exists
  std::vector<SlideRow> slides;
  std::vector<MapShape> maps;  // one per planned slide
  std::vector<int32_t> tile_slide;      // /tiles/slide
  std::vector<TileBounds> tile_bounds;  // /tiles/bounds
  std::vector<WorkUnit> units;          // /progress/units
  int stats_ranks = 1;                  // rows of /stats/ranks
};

// Per-rank figures of /stats/ranks (one row per rank).
struct RankStats {
  double tiles = 0, seconds_total = 0, seconds_reading = 0, seconds_inferring = 0, seconds_waiting = 0,
         seconds_writing = 0, seconds_planning = 0, seconds_maps = 0;
  // The job's numeric configuration as the rank ran it: layout 1 = channels-last,
  // optimized 1 = optimize_for_inference, precision 0 fp32 / 1 bf16 / 2 fp16, the batch size,
  // and the model-only rate measured with --autotune (0: decided by the rule).
  double channels_last = 0, optimized = 0, precision = 0, batch_size = 0, probe_tiles_per_second = 0;
};

// The columns of /stats/ranks, in order. Times and tiles add up over the runs of a resumed job;
// the configuration is the latest run's.
struct StatsColumn {
  const char* name;
  double RankStats::*field;
  bool summed;
};
inline constexpr StatsColumn kStatsColumns[] = {
    {"tiles", &RankStats::tiles, true},
    {"seconds_total", &RankStats::seconds_total, true},
    {"seconds_reading", &RankStats::seconds_reading, true},
    {"seconds_inferring", &RankStats::seconds_inferring, true},
    {"seconds_waiting", &RankStats::seconds_waiting, true},
    {"seconds_writing", &RankStats::seconds_writing, true},
    {"seconds_planning", &RankStats::seconds_planning, true},
    {"seconds_maps", &RankStats::seconds_maps, true},
    {"channels_last", &RankStats::channels_last, false},
    {"optimized", &RankStats::optimized, false},
    {"precision", &RankStats::precision, false},
    {"batch_size", &RankStats::batch_size, false},
    {"probe_tiles_per_second", &RankStats::probe_tiles_per_second, false},
};

enum class EndState : int8_t { running = 0, complete = 1, incomplete = 2 };

// An upper bound of the size of the file made from `plan` (maps counted uncompressed, metadata
// generously): what a rank must be allowed to write (ulimit -f) before the job starts.
uint64_t cohort_file_bytes_bound(const CohortPlan& plan);
// The same for slides appended to a file: their rows, tiles (`classes` probabilities and
// `feature_bytes` per tile), maps and `units` units.
uint64_t slides_bytes_bound(const std::vector<SlideRow>& rows, const std::vector<MapShape>& maps, size_t units,
                            int64_t classes, int64_t feature_bytes);

// Rows of /tiles/slide and /tiles/bounds from `first` on.
struct TileTable {
  int64_t first = 0;
  std::vector<int32_t> slide;
  std::vector<TileBounds> bounds;
};

// The slides planned since the file last grew: the next ones in manifest order, from the
// file's planned count on, numbered to continue its tiles and units.
struct PlannedSlides {
  int64_t first = 0;               // the file's planned slides before
  std::vector<SlideRow> rows;      // slides first, first + 1, ...
  std::vector<MapShape> maps;      // one per row
  std::vector<WorkUnit> units;     // theirs, appended to /progress/units in this order
  std::vector<TileTable> tiles;    // this rank's share of their tile rows (any split)
};

// How far a file has grown: the first `slides` slides are planned, and hold the first `tiles`
// rows of /tiles and the first `units` units.
struct PlannedCounts {
  int64_t slides = 0, tiles = 0, units = 0;
};

// Thread-safety: none; one thread per rank makes HDF5 calls. Methods marked collective must be
// called by every rank of the communicator with the same arguments where stated.
class CohortFile {
 public:
  // Collective. Writes `path`.partial: the job, every slide's row (pending), the planned slides
  // of `plan` with their tiles and units (done flags 0), end state running; calls `fill`
  // (collective: e.g. the thumbnails and tissue masks planning made) on it, flushes, and renames
  // it to `path`.
  static void create(const std::string& path, const CohortPlan& plan, const Comm& comm,
                     const std::function<void(CohortFile&)>& fill = {});
  // Collective. Opens an existing cohort file for writing raw data in place.
  static CohortFile open(const std::string& path, const Comm& comm);
  const std::string& path() const;
  const PlannedCounts& planned() const;

  // Collective, every rank with the same rows, maps and units and its own tile rows: grows the
  // tile and unit tables, makes the slides' /maps groups, writes their rows (units not done),
  // calls `fill` (collective: e.g. their tissue masks and thumbnails), flushes, and only then
  // records the new planned counts and flushes again. A kill before that record leaves the
  // file as it was planned before (rows past it are written again when the job resumes).
  // `before_record` runs between the two (tests kill there).
  void append_slides(const PlannedSlides& slides, const std::function<void(CohortFile&)>& fill = {},
                     const std::function<void()>& before_record = {});
  ~CohortFile();
  CohortFile(CohortFile&&) noexcept;
  CohortFile& operator=(CohortFile&&) noexcept;

  // Collective: every rank calls it, with its own (possibly empty) rows. Rows are given as
  // contiguous row ranges [first, first + count) of /tiles; probabilities (count x C) and/or
  // features (count x D, float32; stored as float16 if the file says so) are row-major. Every
  // range carries the pointer of each dataset the file has; ranges may come in any order but must
  // not overlap. float16 is rounded here (nearest even), so the transfer stays collective.
  struct TileRows {
    int64_t first = 0, count = 0;
    const float* probabilities = nullptr;
    const float* features = nullptr;
  };
  void write_tile_rows(const std::vector<TileRows>& rows);
  // Collective: marks the given units done by `rank` (each rank passes its own units).
  void write_done(const std::vector<int64_t>& units, int rank);
  // Collective H5Fflush.
  void flush();
  // Independent: rows [first, first + count) of /tiles/probabilities (count x C, row-major),
  // e.g. to merge a slide's map on one rank. Rows written by other ranks are seen once their
  // epoch's flush is done (flush, done flags, flush). Throws when the file has no probabilities.
  std::vector<float> read_probabilities(int64_t first, int64_t count) const;
  // Independent: rows [first, first + count) of /tiles/bounds.
  std::vector<TileBounds> read_bounds(int64_t first, int64_t count) const;
  // Collective. Closes the file, throwing on failure (the destructor closes too, but only logs).
  void close();

  // One slide's /maps/<key> images, sizes as in its MapShape (prediction H x W, thumbnail
  // thumbnail_height x thumbnail_width x 3, tissue mask_height x mask_width, row-major). A null
  // pointer leaves that dataset as it is.
  struct SlideImages {
    int64_t slide = 0;
    const uint8_t* prediction = nullptr;
    const uint8_t* thumbnail_rgb = nullptr;
    const uint8_t* tissue = nullptr;
  };
  // Collective: every rank passes its own slides (possibly none). The maps are chunked and
  // compressed, which parallel HDF5 writes only collectively, so the ranks first learn every
  // rank's list and then all join each dataset's write. Writes no status: call
  // write_slide_status after a flush, so that status "done" implies the maps are on disk.
  // A slide without maps (zero MapShape), or one given by two ranks, throws on every rank.
  void write_maps(const std::vector<SlideImages>& mine);
  // Independent: the class fractions of one slide (when given: exactly C values), its error
  // (cut to 511 bytes), then its status -- in that order, so the status row commits the others.
  void write_slide_status(int64_t slide, SlideStatus status, const std::string& error,
                          const std::vector<float>& class_fractions = {});

  // Independent, rank 0 only: /job/numeric_config of a file planned without one (`wsi-mpi plan`);
  // the next flush makes it durable. Throws when the JSON does not fit.
  void write_numeric_config(const std::string& json);

  // Independent, rank 0 only in practice: /stats/ranks rows and /progress/state. Rows beyond
  // the plan's stats_ranks are dropped with a warning.
  void write_stats(const std::vector<RankStats>& per_rank);
  void write_end_state(EndState state);

 private:
  struct Impl;
  explicit CohortFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Serial reading of a cohort file (inspect, render, export, resume checks). Opens read-only
// with the default (non-MPI) driver.
struct CohortSummary {
  std::string format;
  int format_version = 0;
  std::string software_version;
  std::string job_json, fingerprint;
  std::string numeric_config;  // "" until a run decided it
  std::vector<std::string> class_names;
  int64_t feature_size = 0;
  std::vector<SlideRow> slides;
  std::vector<WorkUnit> units;
  std::vector<uint8_t> done;
  std::vector<int32_t> unit_rank;
  EndState end_state = EndState::running;
  std::vector<RankStats> stats;
  std::vector<MapShape> maps;        // one per slide, zeros where the slide has no /maps group
  int64_t planned_slides = 0;        // slides [0, planned_slides) are planned; the rest read as pending, no tiles
  int64_t tile_count = 0;            // N, the planned rows of /tiles/* (the datasets may hold more)
  bool has_probabilities = false;    // /tiles/probabilities exists
  bool features_float16 = false;     // /tiles/features stored as float16
};
CohortSummary read_cohort_summary(const std::string& path);
// The index of the slide whose id is `id_or_key`, else whose key is; none when neither.
std::optional<size_t> find_slide(const CohortSummary& summary, const std::string& id_or_key);

// One slide's maps and tiles, read serially.
struct SlideMaps {
  MapShape shape;
  std::vector<uint8_t> prediction, thumbnail, tissue;
};
// A key that is no slide's throws; a slide without maps gives a zero shape and empty vectors, one
// kept without a thumbnail an empty thumbnail.
SlideMaps read_slide_maps(const std::string& path, const std::string& key);
std::vector<TileBounds> read_tile_bounds(const std::string& path, int64_t first, int64_t count);
std::vector<float> read_tile_probabilities(const std::string& path, int64_t first, int64_t count);  // count x C
std::vector<float> read_tile_features(const std::string& path, int64_t first, int64_t count);       // count x D

}  // namespace wsi
