// The tissue-mask stage: a thumbnail of the whole slide and the mask made from it (TIAToolbox
// OtsuTissueMasker / MorphologicalMasker at 1.25x objective power), or a user's mask image.
#pragma once
#include <string>

#include <opencv2/core.hpp>

#include "wsi/slide/slide_reader.hpp"

namespace wsi {

enum class MaskMethod { otsu, morphological, none };
MaskMethod parse_mask_method(const std::string& text);  // "auto" | "morphological" | "none"
std::string to_string(MaskMethod method);

// Where the automatic mask is computed: 1.25x objective power, or 1/16 of level 0 for a slide
// with neither mpp nor objective power.
Resolution mask_resolution(const SlideProperties& slide);

// The whole slide at `resolution` as RGB (CV_8UC3), read and resized as TIAToolbox's
// slide_thumbnail does, with the same bytes read in strips of bounded memory (16 MiB) where the
// level is bigger than one strip and strips can start on whole level rows.
cv::Mat read_thumbnail(const SlideReader& slide, const Resolution& resolution);

// Otsu threshold of a grey image as scikit-image's threshold_otsu computes it for uint8.
int otsu_threshold(const cv::Mat& grey);

// CV_8UC1 mask (1 = tissue, 0 = background) of an RGB thumbnail. `mask_mpp` (microns per
// thumbnail px) sets the morphological kernel (32 / mpp px).
cv::Mat tissue_mask(const cv::Mat& rgb_thumbnail, MaskMethod method, double mask_mpp);

// A user's mask image (PNG or TIFF, non-zero = tissue) for a slide of the given level-0 size;
// throws if it cannot be read or its aspect ratio differs from the slide's by more than 2 %.
cv::Mat load_mask_image(const std::string& path, Size slide_size);

}  // namespace wsi
