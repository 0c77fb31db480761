// Patch batches, see include/wsi/batch/patch_batch.hpp.
#include "wsi/batch/patch_batch.hpp"

#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

#include <opencv2/imgproc.hpp>

#include "wsi/slide/region.hpp"

namespace wsi {

void fit_to_input(const cv::Mat& rgb, int width, int height, uint8_t* out) {
  cv::Mat target(height, width, CV_8UC3, out);
  if (rgb.cols == width && rgb.rows == height) {
    rgb.copyTo(target);
    return;
  }
  const bool shrink = rgb.cols > width || rgb.rows > height;
  cv::resize(rgb, target, target.size(), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_CUBIC);
}

void read_patch(const SlideReader& slide, const BatchGeometry& g, const TileBounds& t, uint8_t* out) {
  const cv::Mat rgb = read_bounds_at_resolution(slide, g.resolution, t.x0, t.y0, t.x1, t.y1);
  fit_to_input(rgb, g.input_width, g.input_height, out);
}

std::future<PatchBatch> PatchBatchReader::read(const SlideReader& slide, const BatchGeometry& geometry,
                                               const TileBounds* tiles, int count) const {
  return std::async(std::launch::async, [&slide, geometry, tiles, count, readers = readers_] {
    PatchBatch batch;
    batch.count = count;
    const size_t patch_bytes = static_cast<size_t>(geometry.input_width) * geometry.input_height * 3;
    batch.pixels.resize(patch_bytes * count);
    std::atomic<int> next{0};
    std::exception_ptr error;
    std::mutex error_mutex;
    const auto work = [&] {
      for (int i = next++; i < count; i = next++) {
        try {
          read_patch(slide, geometry, tiles[i], batch.pixels.data() + patch_bytes * i);
        } catch (...) {
          std::lock_guard<std::mutex> lock(error_mutex);
          if (!error) error = std::current_exception();
          next = count;
        }
      }
    };
    std::vector<std::thread> threads;
    for (int r = 1; r < std::min(readers, count); ++r) threads.emplace_back(work);
    work();
    for (auto& t : threads) t.join();
    if (error) std::rethrow_exception(error);
    return batch;
  });
}

}  // namespace wsi
