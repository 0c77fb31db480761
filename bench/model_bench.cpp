// model_bench: the model-only ceiling (not a test), and how far another device or precision
// moves the probabilities from CPU fp32 on the same batch.
//   model_bench --weights W.pth [--model resnet18-kather100k] [--device cpu|cuda]
//               [--precision fp32|bf16|fp16] [--channels-last -1|0|1] [--batch 8] [--threads 2]
//               [--seconds 8] [--compare-cpu 0|1] [--autotune 0|1]
//   model_bench --matmul 1 [--threads 2] [--seconds 3]   the BLAS's matmul rate
// The model runs the numeric configuration `wsi-mpi run` decides for these options: the rule's,
// or with --autotune 1 the measured one (layout, optimize_for_inference, precision auto) at --batch.
// It sees only wsi/model/model.hpp, so bench/cuda/build.sh can build it with the model stage
// alone against another LibTorch (the one a GPU machine's Python ships).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_args.hpp"
#include "wsi/model/model.hpp"

using namespace wsi;
using namespace wsi::bench;

namespace {

// Largest |difference| of the probabilities, and the share of patches with the same top class.
std::pair<double, double> agreement(const std::vector<float>& p, const std::vector<float>& q, size_t classes) {
  double diff = 0;
  size_t same = 0, n = p.size() / classes;
  for (size_t i = 0; i < p.size(); ++i) diff = std::max(diff, double(std::fabs(p[i] - q[i])));
  for (size_t i = 0; i < n; ++i) {
    const auto top = [&](const std::vector<float>& v) {
      return std::max_element(v.begin() + long(i * classes), v.begin() + long((i + 1) * classes)) - v.begin();
    };
    same += top(p) == top(q);
  }
  return {diff, n ? double(same) / double(n) : 0.0};
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const auto a = parse_options(argc, argv, 1);
    if (get(a, "matmul", "0") == "1") {  // the BLAS behind LibTorch, on a ViT-B MLP-sized product
      const int threads = std::stoi(get(a, "threads", "2"));
      set_blas_threads(threads);
      const BlasBackend blas = blas_backend();
      std::printf("matmul 1576x768 @ 768x3072 fp32, %d threads: %.1f GFLOP/s (BLAS: %s, %s)\n", threads,
                  measure_matmul_gflops(1576, 768, 3072, std::stod(get(a, "seconds", "3"))), blas.name.c_str(),
                  blas.library.c_str());
      return 0;
    }
    ModelOptions o;
    o.model = get(a, "model", "resnet18-kather100k");
    o.weights = get(a, "weights", "");
    o.device = get(a, "device", "cpu");
    o.precision = parse_precision(get(a, "precision", "fp32"));
    o.threads = std::stoi(get(a, "threads", "2"));
    o.channels_last = std::stoi(get(a, "channels-last", "-1"));
    const int batch = std::stoi(get(a, "batch", "8"));
    o.batch_size = batch;
    o.configure = get(a, "autotune", "0") != "1";
    const double seconds = std::stod(get(a, "seconds", "8"));
    auto model = load_model(o);
    if (!o.configure) model->use_configuration(model->measured_configuration(o));
    const NumericConfig c = model->configuration();
    const auto& d = model->description();
    // Smooth random colour fields (not noise): patches whose top class varies.
    // In the model's host memory, as a rank's reader threads fill it (pinned on a GPU).
    HostBuffer data = model->host_buffer(size_t(batch) * d.input_width * d.input_height * 3);
    uint32_t s = 7;
    const auto next = [&s] { return s = s * 1664525u + 1013904223u, double(s >> 8) / double(1u << 24); };
    for (int i = 0; i < batch; ++i) {
      double base[3], wave[3], freq = 0.01 + 0.05 * next();
      for (int c = 0; c < 3; ++c) base[c] = 60 + 160 * next(), wave[c] = 40 * next();
      uint8_t* p = data.data() + size_t(i) * d.input_width * d.input_height * 3;
      for (int y = 0; y < d.input_height; ++y)
        for (int x = 0; x < d.input_width; ++x)
          for (int c = 0; c < 3; ++c)
            *p++ = uint8_t(std::clamp(base[c] + wave[c] * std::sin(freq * (x + 2 * y) + c), 0.0, 255.0));
    }
    const BatchResult first = model->run(data.data(), batch, !d.class_names.empty(), d.class_names.empty());  // warm-up
    int64_t tiles = 0;
    const auto start = Clock::now();
    while (seconds_since(start) < seconds) {
      model->run(data.data(), batch, !d.class_names.empty(), d.class_names.empty());
      tiles += batch;
    }
    const double rate = double(tiles) / seconds_since(start);
    std::printf("model %s device %s precision %s %s%s batch %d threads %d: %.1f tiles/s", o.model.c_str(),
                o.device.c_str(), to_string(c.precision).c_str(), c.channels_last ? "channels-last" : "NCHW",
                c.optimized ? " optimized" : "", batch, o.threads, rate);
    if (get(a, "compare-cpu", "0") == "1") {
      ModelOptions cpu = o;
      cpu.device = "cpu", cpu.precision = Precision::fp32, cpu.channels_last = 0, cpu.configure = true;
      const BatchResult reference = load_model(cpu)->run(data.data(), batch, true, false);
      const auto [diff, same] = agreement(first.probabilities, reference.probabilities, d.class_names.size());
      std::printf("; against CPU fp32: max |dp| %.2g, same top class %.1f %%", diff, 100 * same);
    }
    std::printf("\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "model_bench: %s\n", e.what());
    return 2;
  }
}
