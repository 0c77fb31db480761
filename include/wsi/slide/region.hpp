// Reading a box of a slide exactly as TIAToolbox 1.4.1's read_bounds does: read RGBA at the
// chosen level, replace what lies outside the level with a constant, resize with its
// "optimise" interpolation rule, composite over white, drop alpha. Patches and thumbnails both
// come through here, so the pixels the model sees match TIAToolbox's.
#pragma once
#include <cstdint>
#include <functional>

#include <opencv2/core.hpp>

#include "wsi/slide/slide_reader.hpp"
#include "wsi/units.hpp"

namespace wsi {

// A patch given by bounds at the requested resolution; the result is (x1-x0) x (y1-y0) RGB.
// Outside the slide every channel is set to `pad` before resizing (255: white).
cv::Mat read_bounds_at_resolution(const SlideReader& slide, const Resolution& resolution, int64_t x0, int64_t y0,
                                  int64_t x1, int64_t y1, uint8_t pad = 255);

// A box given in level-0 pixels, returned at `resolution` (TIAToolbox's slide_thumbnail path;
// outside the slide is transparent, hence white).
cv::Mat read_bounds_at_baseline(const SlideReader& slide, const Resolution& resolution, int64_t x0, int64_t y0,
                                int64_t x1, int64_t y1);

// The building blocks, exposed for tests and for planned (multi-tile) reads.
// Sets every channel of the pixels of `region` (read at `read`) outside the level to `pad`.
void pad_outside_level(cv::Mat& region, const RegionRead& read, const Level& level, uint8_t pad);
// TIAToolbox imresize: no-op when the factor is 1 on both axes; INTER_CUBIC when any factor > 1,
// else INTER_AREA. `factor` is output/input when given as a scale, input/output for a size.
cv::Mat tiatoolbox_resize(const cv::Mat& image, cv::Size output, Scale2 factor);
// tiatoolbox_resize of a region that shrinks (output no larger on either axis) without holding
// it: `rows(first, count)` returns rows [first, first + count) of the `source`-sized image,
// count <= strip_rows (or one whole factor), asked for in increasing order. Gives the bytes of
// the one-piece resize: OpenCV's INTER_AREA either takes its integer path (whole factors; then
// strips of whole factors are resized alone) or weighs source rows into each output row on its
// own (then the same weights, OpenCV's computeResizeAreaTab, are applied here as rows arrive).
cv::Mat shrink_in_strips(cv::Size source, cv::Size output, int64_t strip_rows,
                         const std::function<cv::Mat(int64_t first, int64_t count)>& rows);
// PIL's Image.alpha_composite of RGBA over opaque white, then RGB (its integer arithmetic).
cv::Mat composite_over_white(const cv::Mat& rgba);

// The steps of read_bounds_at_resolution after the OpenSlide read: `region` is the RGBA that
// SlideReader::read_region returned for `read` (it is padded in place), the result is `output`
// px of RGB. Planned (multi-tile) reads cut each tile's region out of a bigger read and finish
// it here, so that they give the same pixels as one read per tile.
cv::Mat finish_read_at_resolution(cv::Mat& region, const RegionRead& read, const SlideProperties& slide,
                                  cv::Size output, uint8_t pad = 255);

}  // namespace wsi
