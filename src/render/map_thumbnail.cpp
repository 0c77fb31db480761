// The thumbnail under a prediction map, see include/wsi/render/map_thumbnail.hpp.
#include "wsi/render/map_thumbnail.hpp"

#include <opencv2/imgproc.hpp>

#include "wsi/mask/tissue_mask.hpp"

namespace wsi {

bool keeps_thumbnail(const MapShape& shape) { return shape.thumbnail_height > 0 && shape.thumbnail_width > 0; }

std::vector<uint8_t> thumbnail_at_map_size(const SlideMaps& maps, const SlideRow& slide,
                                           const std::string& slide_file) {
  const cv::Size size(static_cast<int>(maps.shape.width), static_cast<int>(maps.shape.height));
  cv::Mat source;
  if (keeps_thumbnail(maps.shape)) {
    source = cv::Mat(static_cast<int>(maps.shape.thumbnail_height), static_cast<int>(maps.shape.thumbnail_width),
                     CV_8UC3, const_cast<uint8_t*>(maps.thumbnail.data()));
  } else {
    const auto reader = open_slide(slide_file, {});
    source = read_thumbnail(*reader, {static_cast<double>(maps.shape.width) / slide.width, Units::baseline});
  }
  cv::Mat out;
  if (source.size() == size) out = source.clone();
  else
    cv::resize(source, out, size, 0, 0, source.cols >= size.width ? cv::INTER_AREA : cv::INTER_LINEAR);
  return std::vector<uint8_t>(out.data, out.data + out.total() * 3);
}

}  // namespace wsi
