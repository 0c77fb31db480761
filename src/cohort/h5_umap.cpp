// TileUmapFile: /tiles/umap and /progress/umap of a cohort file, written in parallel by `wsi-mpi
// umap`, and their serial reading for render (see wsi/cohort/tile_umap.hpp).
#include <stdexcept>

#include "cohort/h5_layout.hpp"
#include "cohort/h5_parallel.hpp"
#include "wsi/cohort/tile_umap.hpp"

namespace wsi {

using h5::Handle;
using h5::Where;
namespace n = h5::names;

namespace {

constexpr const char* kUmapRows = "/tiles/umap";
constexpr const char* kUmapDone = "/progress/umap";
constexpr const char* kAttrParameters = "parameters";
constexpr const char* kAttrScope = "scope";

// The meta of an existing /tiles/umap, its shape checked against the file: N rows, C >= 1.
TileUmapMeta read_meta(hid_t file, const Handle& rows, const std::string& path) {
  const Where at{path, kUmapRows};
  const std::vector<hsize_t> dims = h5::dims_of(rows.id(), path, kUmapRows);
  Handle tile_slide = h5::open_dataset(file, n::kTileSlide, path);
  const hsize_t tiles = h5::dims_of(tile_slide.id(), path, n::kTileSlide).at(0);
  if (dims.size() != 2 || dims[0] != tiles || dims[1] < 1 || dims[1] > 64)
    throw std::runtime_error(path + ": " + kUmapRows + " is not " + std::to_string(tiles) + " x C (C in 1..64)");
  TileUmapMeta meta;
  meta.components = static_cast<int64_t>(dims[1]);
  meta.parameters = h5::read_string_attribute(rows.id(), kAttrParameters, at);
  meta.scope = h5::read_string_attribute(rows.id(), kAttrScope, at);
  return meta;
}

// /progress/umap: one flag per slide, else the file is refused.
std::vector<uint8_t> read_done(hid_t file, const std::string& path) {
  Handle done = h5::open_dataset(file, kUmapDone, path);
  Handle keys = h5::open_dataset(file, n::kSlideKey, path);
  const std::vector<hsize_t> dims = h5::dims_of(done.id(), path, kUmapDone);
  const hsize_t slides = h5::dims_of(keys.id(), path, n::kSlideKey).at(0);
  if (dims.size() != 1 || dims[0] != slides)
    throw std::runtime_error(path + ": " + kUmapDone + " does not hold one flag per slide (" + std::to_string(slides) + ")");
  std::vector<uint8_t> flags(static_cast<size_t>(slides));
  h5::read_all(done.id(), H5T_NATIVE_UINT8, flags.data(), {path, kUmapDone});
  return flags;
}

// The file opened serially, read-only, its format checked.
Handle open_serial(const std::string& path) {
  h5::quiet_errors();
  Handle fapl = h5::serial_file_access(path);
  Handle file = h5::make(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.id()), {path, "/"}, "opening the file");
  h5::check_format(file.id(), path);
  return file;
}

}  // namespace

struct TileUmapFile::Impl {
  std::string path;
  h5::ParallelFileOpen parallel;
  Handle file;  // declared first: closed last
  Handle independent, rows, done, features;
  int64_t slides = 0, tiles = 0, feature_size = 0;
  TileUmapMeta meta;
  std::vector<uint8_t> done_flags;

  void close_all() {
    for (Handle* h : {&rows, &done, &features, &independent}) h->reset();
  }
  void flush() { h5::check(H5Fflush(file.id(), H5F_SCOPE_GLOBAL), {path, "/"}, "flushing"); }

  // Collective: the two datasets, created and flushed when absent, checked when present.
  void open_datasets() {
    const hid_t f = file.id();
    if (!h5::exists(f, kUmapRows)) {
      rows = h5::create_dataset(f, kUmapRows, H5T_IEEE_F32LE,
                                {static_cast<hsize_t>(tiles), static_cast<hsize_t>(meta.components)}, path);
      h5::write_string_attribute(rows.id(), kAttrParameters, meta.parameters, {path, kUmapRows});
      h5::write_string_attribute(rows.id(), kAttrScope, meta.scope, {path, kUmapRows});
      done = h5::create_dataset(f, kUmapDone, H5T_STD_U8LE, {static_cast<hsize_t>(slides)}, path);
      flush();
    } else {
      rows = h5::open_dataset(f, kUmapRows, path);
      done = h5::open_dataset(f, kUmapDone, path);
      const TileUmapMeta there = read_meta(f, rows, path);
      if (there.components != meta.components || there.parameters != meta.parameters || there.scope != meta.scope)
        throw std::invalid_argument(path + ": " + kUmapRows + " was made with scope " + there.scope + " and " +
                                    there.parameters + "; this run asks scope " + meta.scope + " and " +
                                    meta.parameters + " (run with the same options, or on a copy without it)");
    }
    done_flags = read_done(f, path);
  }
};

TileUmapFile::TileUmapFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TileUmapFile::~TileUmapFile() {
  if (impl_) impl_->close_all();
}
TileUmapFile::TileUmapFile(TileUmapFile&&) noexcept = default;
TileUmapFile& TileUmapFile::operator=(TileUmapFile&&) noexcept = default;

TileUmapFile TileUmapFile::open(const std::string& path, const TileUmapMeta& meta, const Comm& comm) {
  if (meta.components < 1 || meta.components > 64) throw std::invalid_argument("UMAP: n_components must be in 1..64");
  h5::quiet_errors();
  auto m = std::make_unique<Impl>();
  m->path = path;
  m->meta = meta;
  Handle fapl = h5::mpio_file_access(comm, false, path);
  m->file = h5::make(H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.id()), {path, "/"}, "opening the file");
  const hid_t f = m->file.id();
  h5::check_format(f, path);
  m->independent = h5::mpio_transfer(false, path);
  if (!h5::exists(f, n::kTileFeatures))
    throw std::invalid_argument(path + " has no tile features (run with --mode features or both)");
  m->features = h5::open_dataset(f, n::kTileFeatures, path);
  const std::vector<hsize_t> dims = h5::dims_of(m->features.id(), path, n::kTileFeatures);
  if (dims.size() != 2 || dims[1] < 1) throw std::runtime_error(path + ": " + n::kTileFeatures + " is not N x D");
  m->tiles = static_cast<int64_t>(dims[0]);
  m->feature_size = static_cast<int64_t>(dims[1]);
  Handle keys = h5::open_dataset(f, n::kSlideKey, path);
  m->slides = static_cast<int64_t>(h5::dims_of(keys.id(), path, n::kSlideKey).at(0));
  m->open_datasets();
  return TileUmapFile(std::move(m));
}

std::vector<uint8_t> TileUmapFile::done() const { return impl_->done_flags; }
int64_t TileUmapFile::feature_size() const { return impl_->feature_size; }

std::vector<float> TileUmapFile::read_features(int64_t first, int64_t count) const {
  const Impl& m = *impl_;
  std::vector<float> out(static_cast<size_t>(count * m.feature_size));
  if (count > 0)  // float16 files are widened by HDF5
    h5::read_rows(m.features.id(), H5T_NATIVE_FLOAT, first, count, out.data(), {m.path, n::kTileFeatures});
  return out;
}

void TileUmapFile::write(const std::vector<SlideRows>& slides) {
  Impl& m = *impl_;
  for (const SlideRows& s : slides) {
    if (s.slide < 0 || s.slide >= m.slides) throw std::out_of_range("UMAP: no slide " + std::to_string(s.slide));
    if (s.first < 0 || s.count < 0 || s.first + s.count > m.tiles ||
        s.rows.size() != static_cast<size_t>(s.count * m.meta.components))
      throw std::invalid_argument("UMAP: slide " + std::to_string(s.slide) + " rows do not fit " + kUmapRows);
    h5::write_rows(m.rows.id(), H5T_NATIVE_FLOAT, static_cast<hsize_t>(s.first), static_cast<hsize_t>(s.count),
                   s.rows.data(), m.independent.id(), {m.path, kUmapRows});
  }
  m.flush();  // the rows are on disk before any of their flags
  const uint8_t one = 1;
  for (const SlideRows& s : slides) {
    h5::write_rows(m.done.id(), H5T_NATIVE_UINT8, static_cast<hsize_t>(s.slide), 1, &one, m.independent.id(),
                   {m.path, kUmapDone});
    m.done_flags[static_cast<size_t>(s.slide)] = 1;
  }
  m.flush();
}

void TileUmapFile::close() {
  if (!impl_ || !impl_->file) return;
  impl_->close_all();
  impl_->file.close(impl_->path, "/");
}

std::optional<TileUmapMeta> read_tile_umap_meta(const std::string& path) {
  Handle file = open_serial(path);
  if (!h5::exists(file.id(), kUmapRows)) return std::nullopt;
  Handle rows = h5::open_dataset(file.id(), kUmapRows, path);
  return read_meta(file.id(), rows, path);
}

std::vector<uint8_t> read_tile_umap_done(const std::string& path) {
  Handle file = open_serial(path);
  return read_done(file.id(), path);
}

std::vector<float> read_tile_umap(const std::string& path, int64_t first, int64_t count) {
  Handle file = open_serial(path);
  Handle rows = h5::open_dataset(file.id(), kUmapRows, path);
  const TileUmapMeta meta = read_meta(file.id(), rows, path);
  if (first < 0 || count < 0) throw std::out_of_range(path + ": negative rows of " + kUmapRows);
  std::vector<float> out(static_cast<size_t>(count * meta.components));
  h5::read_rows(rows.id(), H5T_NATIVE_FLOAT, static_cast<hsize_t>(first), static_cast<hsize_t>(count), out.data(),
                {path, kUmapRows});
  return out;
}

}  // namespace wsi
