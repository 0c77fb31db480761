// TileUmapFile: /tiles/umap and /progress/umap of a cohort file, written in parallel by `wsi-mpi
// umap`, and their serial reading for render (see wsi/cohort/tile_umap.hpp).
#include <memory>
#include <stdexcept>

#include "cohort/h5_layout.hpp"
#include "cohort/h5_parallel.hpp"
#include "cohort/h5_validate.hpp"
#include "wsi/cohort/tile_umap.hpp"

namespace wsi {

using h5::Handle;
using h5::Where;
namespace n = h5::names;

namespace {

constexpr const char* kAttrParameters = "parameters";
constexpr const char* kAttrScope = "scope";

// The meta of an existing /tiles/umap (its shape checked by the validation layer: N x C).
TileUmapMeta read_meta(const h5::CheckedFile& checked, const Handle& rows) {
  const Where at{checked.path(), n::kTileUmap};
  TileUmapMeta meta;
  meta.components = static_cast<int64_t>(h5::dims_of(rows.id(), checked.path(), n::kTileUmap).at(1));
  meta.parameters = h5::read_string_attribute(rows.id(), kAttrParameters, at);
  meta.scope = h5::read_string_attribute(rows.id(), kAttrScope, at);
  return meta;
}

// The file opened serially, read-only, and checked as it is read.
struct SerialFile {
  Handle file;
  std::unique_ptr<h5::CheckedFile> checked;
  explicit SerialFile(const std::string& path) {
    h5::quiet_errors();
    Handle fapl = h5::serial_file_access(path);
    file = h5::make(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.id()), {path, "/"}, "opening the file");
    checked = std::make_unique<h5::CheckedFile>(file.id(), path);
  }
};

}  // namespace

struct TileUmapFile::Impl {
  std::string path;
  h5::ParallelFileOpen parallel;
  Handle file;  // declared first: closed last
  std::unique_ptr<h5::CheckedFile> checked;  // every dataset opened through it
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
    if (!checked->has(n::kTileUmap)) {
      rows = h5::create_dataset(f, n::kTileUmap, H5T_IEEE_F32LE,
                                {static_cast<hsize_t>(tiles), static_cast<hsize_t>(meta.components)}, path);
      h5::write_string_attribute(rows.id(), kAttrParameters, meta.parameters, {path, n::kTileUmap});
      h5::write_string_attribute(rows.id(), kAttrScope, meta.scope, {path, n::kTileUmap});
      done = h5::create_dataset(f, n::kUmapDone, H5T_STD_U8LE, {static_cast<hsize_t>(slides)}, path);
      flush();
    } else {
      rows = checked->open(n::kTileUmap);
      done = checked->open(n::kUmapDone);
      const TileUmapMeta there = read_meta(*checked, rows);
      if (there.components != meta.components || there.parameters != meta.parameters || there.scope != meta.scope)
        throw std::invalid_argument(path + ": " + n::kTileUmap + " was made with scope " + there.scope + " and " +
                                    there.parameters + "; this run asks scope " + meta.scope + " and " +
                                    meta.parameters + " (run with the same options, or on a copy without it)");
    }
    done_flags = checked->all<uint8_t>(n::kUmapDone, H5T_NATIVE_UINT8);
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
  m->checked = std::make_unique<h5::CheckedFile>(m->file.id(), path);
  m->independent = h5::mpio_transfer(false, path);
  if (!m->checked->has(n::kTileFeatures))
    throw std::invalid_argument(path + " has no tile features (run with --mode features or both)");
  m->features = m->checked->open(n::kTileFeatures);
  const h5::Counts& counts = m->checked->counts();
  m->tiles = static_cast<int64_t>(counts.tiles);
  m->feature_size = static_cast<int64_t>(counts.features);
  m->slides = static_cast<int64_t>(counts.slides);
  m->open_datasets();
  return TileUmapFile(std::move(m));
}

std::vector<uint8_t> TileUmapFile::done() const { return impl_->done_flags; }
int64_t TileUmapFile::feature_size() const { return impl_->feature_size; }

std::vector<float> TileUmapFile::read_features(int64_t first, int64_t count) const {
  const Impl& m = *impl_;
  // float16 files are widened by HDF5
  return m.checked->rows<float>(m.features, n::kTileFeatures, H5T_NATIVE_FLOAT, first, count);
}

void TileUmapFile::write(const std::vector<SlideRows>& slides) {
  Impl& m = *impl_;
  for (const SlideRows& s : slides) {
    if (s.slide < 0 || s.slide >= m.slides) throw std::out_of_range("UMAP: no slide " + std::to_string(s.slide));
    if (s.first < 0 || s.count < 0 || s.first + s.count > m.tiles ||
        s.rows.size() != static_cast<size_t>(s.count * m.meta.components))
      throw std::invalid_argument("UMAP: slide " + std::to_string(s.slide) + " rows do not fit " + n::kTileUmap);
    h5::write_rows(m.rows.id(), H5T_NATIVE_FLOAT, static_cast<hsize_t>(s.first), static_cast<hsize_t>(s.count),
                   s.rows.data(), m.independent.id(), {m.path, n::kTileUmap});
  }
  m.flush();  // the rows are on disk before any of their flags
  const uint8_t one = 1;
  for (const SlideRows& s : slides) {
    h5::write_rows(m.done.id(), H5T_NATIVE_UINT8, static_cast<hsize_t>(s.slide), 1, &one, m.independent.id(),
                   {m.path, n::kUmapDone});
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
  const SerialFile f(path);
  if (!f.checked->has(n::kTileUmap)) return std::nullopt;
  return read_meta(*f.checked, f.checked->open(n::kTileUmap));
}

std::vector<uint8_t> read_tile_umap_done(const std::string& path) {
  return SerialFile(path).checked->all<uint8_t>(n::kUmapDone, H5T_NATIVE_UINT8);
}

std::vector<float> read_tile_umap(const std::string& path, int64_t first, int64_t count) {
  return SerialFile(path).checked->rows<float>(n::kTileUmap, H5T_NATIVE_FLOAT, first, count);
}

}  // namespace wsi
