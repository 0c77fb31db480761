// The batch stage: reading, resizing and packing tile patches into model-ready batches
// (n x H x W x 3 uint8), with reader threads that run while the model works on the last batch.
#pragma once
#include <cstdint>
#include <future>
#include <vector>

#include "wsi/grid/tile_grid.hpp"
#include "wsi/slide/slide_reader.hpp"

namespace wsi {

struct BatchGeometry {
  Resolution resolution;
  int input_width = 224;   // what the model takes; patches of another size are resized
  int input_height = 224;
};

// One batch's pixels, owned.
struct PatchBatch {
  std::vector<uint8_t> pixels;  // n x H x W x 3
  int count = 0;
};

// Thread-safety: read() may be called from one thread at a time; it uses `readers` threads
// internally. The slide must outlive the returned future.
class PatchBatchReader {
 public:
  explicit PatchBatchReader(int readers) : readers_(readers < 1 ? 1 : readers) {}
  // Starts reading tiles[0, count) in the background.
  std::future<PatchBatch> read(const SlideReader& slide, const BatchGeometry& geometry, const TileBounds* tiles,
                               int count) const;
  int readers() const { return readers_; }

 private:
  int readers_;
};

// One patch, as the model sees it (exposed for tests and patch mode).
void read_patch(const SlideReader& slide, const BatchGeometry& geometry, const TileBounds& tile, uint8_t* out);

// An RGB image resized to the model's input (INTER_AREA to shrink, INTER_CUBIC to enlarge),
// copied to out (H x W x 3).
void fit_to_input(const cv::Mat& rgb, int width, int height, uint8_t* out);

}  // namespace wsi
