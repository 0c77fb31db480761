// SlideEmbeddingFile: /slides/embeddings/<name> and /progress/embeddings/<name> of a cohort
// file, written in parallel by `wsi-mpi aggregate` (see wsi/cohort/slide_embeddings.hpp).
#include <algorithm>
#include <stdexcept>

#include "cohort/h5_layout.hpp"
#include "cohort/h5_parallel.hpp"
#include "cohort/h5_validate.hpp"
#include "wsi/cohort/slide_embeddings.hpp"

namespace wsi {

using h5::Handle;
using h5::Where;
namespace n = h5::names;

namespace {

constexpr const char* kEmbeddingsGroup = "/slides/embeddings";
constexpr const char* kEmbeddingsDoneGroup = "/progress/embeddings";
constexpr const char* kAttrModel = "model";

// A name that is one HDF5 link: no '/', not "." or "..", printable.
void check_name(const std::string& name) {
  const bool printable = std::all_of(name.begin(), name.end(), [](char c) { return c > ' ' && c < 127; });
  if (name.empty() || name.size() > 128 || name.find('/') != std::string::npos || name == "." || name == ".." ||
      !printable)
    throw std::invalid_argument("--output-name '" + name + "': use 1-128 printable characters without '/'");
}

}  // namespace

struct SlideEmbeddingFile::Impl {
  std::string path, rows_name, done_name;
  h5::ParallelFileOpen parallel;
  Handle file;  // declared first: closed last
  std::unique_ptr<h5::CheckedFile> checked;  // every dataset opened through it
  Handle independent, rows, done, features, bounds;
  int64_t slides = 0, size = 0, feature_size = 0;
  std::vector<uint8_t> done_flags;

  Where at(const std::string& object) const { return {path, object}; }
  void close_all() {
    for (Handle* h : {&rows, &done, &features, &bounds, &independent}) h->reset();
  }
  void flush() { h5::check(H5Fflush(file.id(), H5F_SCOPE_GLOBAL), at("/"), "flushing"); }

  // Collective: the two datasets, created and flushed when absent, checked when present.
  void open_datasets(const std::string& model) {
    const hid_t f = file.id();
    if (checked->has(rows_name) != checked->has(done_name))
      checked->refuse(rows_name + " and " + done_name + " do not both exist");
    if (!checked->has(rows_name)) {
      if (!h5::exists(f, kEmbeddingsGroup)) h5::create_group(f, kEmbeddingsGroup, path);
      if (!h5::exists(f, kEmbeddingsDoneGroup)) h5::create_group(f, kEmbeddingsDoneGroup, path);
      rows = h5::create_dataset(f, rows_name, H5T_IEEE_F32LE,
                                {static_cast<hsize_t>(slides), static_cast<hsize_t>(size)}, path);
      h5::write_string_attribute(rows.id(), kAttrModel, model, at(rows_name));
      done = h5::create_dataset(f, done_name, H5T_STD_U8LE, {static_cast<hsize_t>(slides)}, path);
      flush();
    } else {
      rows = checked->open(rows_name);  // S x E, checked
      done = checked->open(done_name);  // S, checked
      const std::vector<hsize_t> dims = h5::dims_of(rows.id(), path, rows_name);
      const std::string made_by = h5::read_string_attribute(rows.id(), kAttrModel, at(rows_name));
      if (dims[1] != static_cast<hsize_t>(size) || made_by != model)
        throw std::invalid_argument(path + ": " + rows_name + " holds embeddings of size " + std::to_string(dims[1]) +
                                    " made by " + made_by + "; this aggregate makes size " + std::to_string(size) +
                                    " with " + model + " (give another --output-name)");
    }
    done_flags.resize(static_cast<size_t>(slides));
    h5::read_all(done.id(), H5T_NATIVE_UINT8, done_flags.data(), at(done_name));
  }
};

SlideEmbeddingFile::SlideEmbeddingFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SlideEmbeddingFile::~SlideEmbeddingFile() {
  if (impl_) impl_->close_all();
}
SlideEmbeddingFile::SlideEmbeddingFile(SlideEmbeddingFile&&) noexcept = default;
SlideEmbeddingFile& SlideEmbeddingFile::operator=(SlideEmbeddingFile&&) noexcept = default;

SlideEmbeddingFile SlideEmbeddingFile::open(const std::string& path, const std::string& name, int64_t size,
                                            const std::string& model, const Comm& comm) {
  check_name(name);
  if (size <= 0) throw std::invalid_argument("embedding size must be positive");
  h5::quiet_errors();
  auto m = std::make_unique<Impl>();
  m->path = path;
  m->rows_name = std::string(kEmbeddingsGroup) + "/" + name;
  m->done_name = std::string(kEmbeddingsDoneGroup) + "/" + name;
  m->size = size;
  Handle fapl = h5::mpio_file_access(comm, false, path);
  m->file = h5::make(H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.id()), {path, "/"}, "opening the file");
  m->checked = std::make_unique<h5::CheckedFile>(m->file.id(), path);
  const h5::Counts& counts = m->checked->counts();
  m->independent = h5::mpio_transfer(false, path);
  if (counts.features == 0)
    throw std::invalid_argument(path + " has no tile features (run with --mode features or both)");
  m->features = m->checked->open(n::kTileFeatures);
  m->feature_size = static_cast<int64_t>(counts.features);
  m->bounds = m->checked->open(n::kTileBounds);
  m->slides = static_cast<int64_t>(counts.slides);
  m->open_datasets(model);
  return SlideEmbeddingFile(std::move(m));
}

std::vector<uint8_t> SlideEmbeddingFile::done() const { return impl_->done_flags; }
int64_t SlideEmbeddingFile::feature_size() const { return impl_->feature_size; }

std::vector<float> SlideEmbeddingFile::read_features(int64_t first, int64_t count) const {
  const Impl& m = *impl_;  // float16 files are widened by HDF5
  return m.checked->rows<float>(m.features, n::kTileFeatures, H5T_NATIVE_FLOAT, first, count);
}

std::vector<TileBounds> SlideEmbeddingFile::read_bounds(int64_t first, int64_t count) const {
  const Impl& m = *impl_;
  return h5::to_tile_bounds(m.checked->rows<int32_t>(m.bounds, n::kTileBounds, H5T_NATIVE_INT32, first, count));
}

void SlideEmbeddingFile::write(const std::vector<int64_t>& slides, const std::vector<float>& rows) {
  Impl& m = *impl_;
  if (rows.size() != slides.size() * static_cast<size_t>(m.size))
    throw std::invalid_argument("embeddings: " + std::to_string(rows.size()) + " values for " +
                                std::to_string(slides.size()) + " slides of size " + std::to_string(m.size));
  for (size_t i = 0; i < slides.size(); ++i) {
    if (slides[i] < 0 || slides[i] >= m.slides) throw std::out_of_range("embeddings: no slide " + std::to_string(slides[i]));
    h5::write_rows(m.rows.id(), H5T_NATIVE_FLOAT, static_cast<hsize_t>(slides[i]), 1, rows.data() + i * m.size,
                   m.independent.id(), m.at(m.rows_name));
  }
  m.flush();  // the rows are on disk before any of their flags
  const uint8_t one = 1;
  for (const int64_t slide : slides) {
    h5::write_rows(m.done.id(), H5T_NATIVE_UINT8, static_cast<hsize_t>(slide), 1, &one, m.independent.id(),
                   m.at(m.done_name));
    m.done_flags[static_cast<size_t>(slide)] = 1;
  }
  m.flush();
}

void SlideEmbeddingFile::close() {
  if (!impl_ || !impl_->file) return;
  impl_->close_all();
  impl_->file.close(impl_->path, "/");
}

}  // namespace wsi
