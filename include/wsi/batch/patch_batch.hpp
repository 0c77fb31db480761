// The batch stage: reading, resizing and packing tile patches into model-ready batches
// (n x H x W x 3 uint8), with reader threads that run while the model works on the last batch.
#pragma once
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "wsi/grid/tile_grid.hpp"
#include "wsi/model/model.hpp"
#include "wsi/slide/slide_reader.hpp"

namespace wsi {


struct BatchGeometry {
  Resolution resolution;
  int input_width = 224;   // what the model takes; patches of another size are resized
  int input_height = 224;
  uint8_t pad = 255;  // every channel outside the slide, before resizing (Job::patch_padding)
};

// One batch's pixels, owned, in memory from the reader's HostAllocator.
struct PatchBatch {
  HostBuffer pixels;  // n x H x W x 3
  int count = 0;
};

// Thread-safety: read() may be called from one thread at a time; it uses `readers` threads
// internally. The slide must outlive the returned future. Reads are planned (see plan_reads);
// a region at an integer position of a level the slide reads from its TIFF tiles
// (SlideReader::reads_level_tiles) is read so, the rest through SlideReader::read_region.
class PatchBatchReader {
 public:
  // `allocate` gives each batch's memory (Model::host_buffer: pinned when the model is on a GPU).
  explicit PatchBatchReader(int readers, HostAllocator allocate = HostBuffer::plain)
      : readers_(readers < 1 ? 1 : readers), allocate_(std::move(allocate)) {}
  // Starts reading tiles[0, count) in the background.
  std::future<PatchBatch> read(const SlideReader& slide, const BatchGeometry& geometry, const TileBounds* tiles,
                               int count) const;
  int readers() const { return readers_; }

 private:
  int readers_;
  HostAllocator allocate_;
};

// Planned reads: one SlideReader::read_region covers a run of neighbouring tiles (one grid row,
// same read level and rows) and each tile's level region is cut out of it, then padded,
// resized and composited exactly as read_bounds_at_resolution does for that tile alone.
// OpenSlide 3.4.1 paints a level at the fractional position x / downsample (cairo, bilinear),
// so a tile is merged only when its level-0 origin divided by the downsample has the same
// fractional part, in double, as the run's first tile (always true at level 0): its pixels are
// then those of the big read at an integer offset. Other tiles get a read of their own.
// Regions stay within 4096 level px per side (OpenSlide cuts bigger reads into 4096-px pieces
// whose origins it truncates).
struct PlannedRead {
  RegionRead region;               // handed to SlideReader::read_region
  std::vector<int> tiles;          // indices into the tile list, in order
  std::vector<int64_t> offset_x;   // each tile's column in the region (level px)
};
struct ReadPlanOptions {
  int max_region = 4096;  // level px per side of one read
  int max_gap = 64;       // level px of unused columns tolerated between two merged tiles
  int max_tiles = 0;      // tiles per read, 0 = no limit
};
std::vector<PlannedRead> plan_reads(const SlideProperties& slide, const Resolution& resolution,
                                    const TileBounds* tiles, int count, const ReadPlanOptions& options = {});
// Performs one planned read (from the TIFF tiles where the slide can, see PatchBatchReader); the
// patch of tiles[plan.tiles[i]] goes to out + patch_bytes * plan.tiles[i].
void read_planned(const SlideReader& slide, const BatchGeometry& geometry, const TileBounds* tiles,
                  const PlannedRead& plan, uint8_t* out);

// An RGB image resized to the model's input (INTER_AREA to shrink, INTER_CUBIC to enlarge),
// copied to out (H x W x 3).
void fit_to_input(const cv::Mat& rgb, int width, int height, uint8_t* out);

}  // namespace wsi
