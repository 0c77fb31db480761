// The model stage: a plain C++ interface over LibTorch. Only src/model/torch_*.cpp see torch.
// A Model turns a batch of RGB uint8 patches into class probabilities and/or feature vectors.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace wsi {

enum class ModelOutput { probabilities, logits, features };
ModelOutput parse_model_output(const std::string& text);  // throws std::invalid_argument
std::string to_string(ModelOutput output);

// How a feature extractor's token output [B, T, D] becomes one vector per patch: the class token
// (token 0), the mean of the patch tokens (those after the prefix tokens: class and register
// tokens), or both concatenated (Virchow's embedding, 2D). Outputs [B, D] are used as they are.
enum class TokenPooling { cls, mean, cls_mean };
TokenPooling parse_token_pooling(const std::string& text);  // "cls" | "mean" | "cls+mean"
std::string to_string(TokenPooling pooling);

// automatic ("auto", opt-in): the user allows reduced precision. By rule: on a CPU bf16 where
// the CPU computes it natively (AMX or AVX-512-BF16), else fp32; on a GPU fp16. With --autotune the
// measured faster of those and fp32.
enum class Precision { fp32, bf16, fp16, automatic };
Precision parse_precision(const std::string& text);
std::string to_string(Precision precision);

// What a model expects and produces. Built-ins know theirs; a TorchScript file may carry it as
// the extra file `wsi_model.json`; command-line options override either.
struct ModelDescription {
  std::vector<std::string> class_names;  // empty for a pure feature extractor
  int feature_size = 0;                  // 0 when the model gives no features
  ModelOutput output = ModelOutput::probabilities;
  int input_width = 224;
  int input_height = 224;
  double scale = 1.0 / 255.0;  // x = (uint8 * scale - mean) / std, per RGB channel
  std::array<double, 3> mean{0.0, 0.0, 0.0};
  std::array<double, 3> std{1.0, 1.0, 1.0};
  TokenPooling pooling = TokenPooling::cls;  // for token outputs [B, T, D]
  int prefix_tokens = 1;                     // leading class + register tokens (>= 1)
};

// How the user asked for the model (CLI / job file). Unset optionals keep the model's own values.
struct ModelOptions {
  std::string model = "resnet18-kather100k";  // built-in name or TorchScript file
  std::string weights;                        // state_dict (.pth) for a built-in
  std::vector<std::string> classes;           // --classes
  std::string output;                         // --model-output, "" = model's own
  std::vector<double> mean, std;              // --mean / --std, empty = model's own
  std::string pooling;                        // --pooling, "" = model's own
  int prefix_tokens = 0;                      // --prefix-tokens, 0 = model's own
  std::string device = "cpu";                 // cpu | cuda | auto
  Precision precision = Precision::fp32;
  int threads = 0;                            // intra-op threads, 0 = library default
  int local_rank = 0;                         // this rank's place on its node: picks its GPU
  // Weights and input in channels-last (NHWC) memory: -1 = auto (the rule: on with CUDA and for
  // bf16 on a CPU, off for fp32 on a CPU), 0 = never, 1 = always.
  int channels_last = -1;
  int batch_size = 0;   // the job's --batch-size; 0 = default_batch_size()
  bool deterministic = false;  // --deterministic: deterministic algorithms only (cuDNN)
  // load_model applies rule_configuration(); false: the caller calls use_configuration() (the
  // job's decided configuration), or only the description is needed (planning).
  bool configure = true;
};

// How a model computes its numbers: everything that can change a result bit. A job decides it
// once, before its first tile (src/run/numeric_stage.cpp), records it in the cohort file and
// runs every rank and every resume with it (docs/numerics.md). Intra-op threads are not part of
// it: results were measured not to depend on them (each rank uses its share of the cores).
struct NumericConfig {
  std::string decided_by = "rule";  // "rule" | "measured" | "tuning cache"
  std::string device = "cpu";       // "cpu" | "cuda"
  Precision precision = Precision::fp32;  // never automatic
  bool channels_last = false;
  bool optimized = false;  // torch.jit.optimize_for_inference after freezing
  int batch_size = 8;      // patches per forward pass: batch composition changes the last bits
  bool deterministic = false;  // GPU: cuDNN deterministic algorithms
  // The CPU instruction-set class oneDNN dispatches on (cpu_isa_class()); "" where the numbers
  // do not depend on it (the null model). A rank of another class cannot run the configuration.
  std::string cpu_isa;
  std::string cpu_model;  // for information
  std::string libtorch;   // LibTorch version the numbers came from
  double measured_tiles_per_second = 0;  // model-only rate of the choice; 0: not measured
  std::string measurement;               // every measured candidate's rate
};
// Human-readable JSON (/job/numeric_config), and back; parsing validates every field and throws
// std::invalid_argument naming `source` and the field.
std::string to_json(const NumericConfig& config);
NumericConfig parse_numeric_config(const std::string& json, const std::string& source);
// One line for logs: "fp32 NCHW optimize_for_inference, batch 8 (rule, avx2)".
std::string describe(const NumericConfig& config);

// The CPU this process runs on, from /proc/cpuinfo (or `cpuinfo` text, for tests).
struct CpuFeatures {
  std::string model;
  std::vector<std::string> flags;  // sorted
  bool has(const std::string& flag) const;
};
CpuFeatures cpu_features();
CpuFeatures parse_cpu_features(const std::string& cpuinfo);
// The instruction-set class oneDNN picks its kernels by, best first: avx512_core_amx,
// avx512_core_bf16, avx512_core_vnni, avx512_core, avx2_vnni, avx2, avx, sse41, baseline.
std::string cpu_isa_class(const CpuFeatures& cpu);
// AMX or AVX-512-BF16: where oneDNN computes bf16 natively (elsewhere it is emulated and slow).
bool cpu_has_native_bf16(const CpuFeatures& cpu);
// The SIMD flags (avx*, amx*, fma, f16c, sse*) joined: part of the tuning cache key.
std::string cpu_simd_flags(const CpuFeatures& cpu);

// Bytes in host memory where batches are assembled. A model on a GPU gives pinned memory, so
// that the reader threads write straight into what the GPU copies from (no staging copy on
// the inference thread).
class HostBuffer {
 public:
  HostBuffer() = default;
  HostBuffer(std::shared_ptr<uint8_t> data, size_t size) : data_(std::move(data)), size_(size) {}
  static HostBuffer plain(size_t size) {
    return {std::shared_ptr<uint8_t>(new uint8_t[size], std::default_delete<uint8_t[]>()), size};
  }
  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  std::shared_ptr<uint8_t> data_;
  size_t size_ = 0;
};
using HostAllocator = std::function<HostBuffer(size_t bytes)>;

// One forward pass over n patches (n x H x W x 3, uint8, row-major). probabilities: n x C
// (softmax applied when the model gives logits); features: n x D. Each is filled only if asked.
struct BatchResult {
  std::vector<float> probabilities;
  std::vector<float> features;
};

// Not thread-safe: one inference thread owns a Model.
class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelDescription& description() const = 0;
  virtual BatchResult run(const uint8_t* patches, int n, bool want_probabilities, bool want_features) = 0;
  // Which tiles the next run() covers: the slide's index and the global row of its first patch.
  // Only the null model looks at it (its outputs encode them).
  virtual void set_tile_origin(int64_t /*slide*/, int64_t /*first_row*/) {}
  // True when run() computes on a GPU.
  virtual bool on_gpu() const { return false; }
  // Memory for batches given to run(): pinned on a GPU. Thread-safe.
  virtual HostBuffer host_buffer(size_t bytes) const { return HostBuffer::plain(bytes); }
  // The configuration the rule gives for `options` on this machine: a fixed function of the CPU
  // or GPU, the model and the options; nothing is timed.
  virtual NumericConfig rule_configuration(const ModelOptions& options);
  // The fastest candidate measured on this rank (--autotune): warm-up, repeated timings, median; a
  // candidate must beat the simpler one before it by a margin; candidates whose results differ
  // from plain fp32 beyond the tolerance are dropped. Models without candidates give the rule's.
  virtual NumericConfig measured_configuration(const ModelOptions& options) { return rule_configuration(options); }
  // Runs with `config` from now on. Throws std::invalid_argument when this rank cannot run it
  // (another device kind or CPU instruction-set class), naming both.
  virtual void use_configuration(const NumericConfig& config) { configuration_ = config; }
  const NumericConfig& configuration() const { return configuration_; }

 protected:
  NumericConfig configuration_;
};

// Patches per batch when the job does not say. CPU: 8. GPU: 256 patches of 224 x 224, scaled by the input's pixels and
// kept within 1..1024: enough to keep a GPU busy, with inference activations of a ResNet-50 in
// fp32 under about 2 GB. A rule of thumb, not measured on a GPU here; --batch-size overrides it.
int default_batch_size(bool gpu, int input_width, int input_height);

// Throws std::runtime_error naming the model/weights file and the cause.
std::unique_ptr<Model> load_model(const ModelOptions& options);

// Names accepted by --model besides a file path.
std::vector<std::string> builtin_model_names();

// The demo colour model that `wsi-mpi synth` writes: a small TorchScript module that tells the
// synthetic classes apart by their mean colour, saved with its wsi_model.json description.
struct DemoClass {
  std::string name;
  std::array<uint8_t, 3> rgb;
};
void write_demo_model(const std::string& path, const std::vector<DemoClass>& classes);

// A slide-level model (`wsi-mpi aggregate`): a TorchScript module whose forward takes one slide's
// (features [N, D] float32, coords [N, 2] int64, level-0 top-left of each tile) and returns its
// embedding [E] (or [1, E]). Runs on the CPU; not thread-safe.
class SlideEncoder {
 public:
  virtual ~SlideEncoder() = default;
  virtual std::vector<float> encode(const float* features, int64_t tiles, int64_t feature_size,
                                    const int64_t* coords) = 0;
};
// Throws std::runtime_error naming the file and the cause.
std::unique_ptr<SlideEncoder> load_slide_encoder(const std::string& path, int threads);

// --- additions -------------------------------------------------------------------------------
// How load_model reads the names and files it is given:
// - `<arch>-kather100k` / `<arch>` (resnet18, resnet34, resnet50, resnet101, resnext50_32x4d,
//   wide_resnet50_2): TIAToolbox CNNModel from the state_dict in ModelOptions::weights (default:
//   $WSI_MODEL_DIR/<name>.pth, then ~/.tiatoolbox/models/<name>.pth). Keys may also be
//   torchvision's (conv1, layer1..4, fc) or carry DataParallel's "module."; a checkpoint
//   {"state_dict": ...} is unwrapped. description().output is `logits` (probabilities are their
//   softmax) or `features` when asked; both outputs come from one forward pass.
// - `null`: no network, for measuring reading, scheduling and writing, and for proving that every
//   row lands where it belongs: its two "classes" are the slide index and the global tile row
//   (exact as float32 below 2^24 rows), its features the mean RGB / 255 (3 values).
// - anything else: a TorchScript file. Its forward returns one tensor (read as `output` says) or
//   a tuple (features, class scores), class scores read as `output` says (logits -> softmax).
// Built-ins and files are frozen; how they run is a NumericConfig.

// Class order of TIAToolbox's *-kather100k models: BACK NORM DEB TUM ADI MUC MUS STR LYM.
const std::vector<std::string>& kather100k_classes();

// The `wsi_model.json` text of a description, and back. Parsing throws std::invalid_argument
// naming `source` and the bad key; absent keys keep ModelDescription's defaults.
std::string to_json(const ModelDescription& description);
ModelDescription parse_model_description(const std::string& json, const std::string& source = "wsi_model.json");

// Applies --classes / --model-output / --mean / --std to a model's own description.
// Throws std::invalid_argument for a bad value (mean/std need exactly 3 numbers, std > 0).
void apply_model_options(ModelDescription& description, const ModelOptions& options);

// The LibTorch version this binary was built against, e.g. "1.13.0".
std::string libtorch_version();

// The BLAS library behind LibTorch's matrix products (convolutions go through oneDNN instead).
struct BlasBackend {
  std::string name;      // e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ...", "reference BLAS (netlib)"
  std::string library;   // the resolved file
  bool reference = false;  // the slow reference implementation
};
BlasBackend blas_backend();
// OpenBLAS runs a thread pool of its own (one thread per core unless told): a rank's matmuls
// get the rank's inference threads, as its convolutions do. No effect with other BLAS.
void set_blas_threads(int threads);

// GFLOP/s of an fp32 M x K by K x N matrix product through LibTorch for about `seconds`, with
// the threads LibTorch has (for bench/: the rate a transformer's layers run at).
double measure_matmul_gflops(int m, int k, int n, double seconds);

}  // namespace wsi
