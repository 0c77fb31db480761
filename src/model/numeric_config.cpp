// The numeric configuration as data (JSON, a log line), the CPU it is decided for, and the rule
// every model without candidates of its own follows. See NumericConfig in wsi/model/model.hpp.
#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "util/json.hpp"
#include "wsi/model/model.hpp"

namespace wsi {

bool CpuFeatures::has(const std::string& flag) const { return std::binary_search(flags.begin(), flags.end(), flag); }

CpuFeatures parse_cpu_features(const std::string& cpuinfo) {
  CpuFeatures cpu;
  std::istringstream lines(cpuinfo);
  std::string line;
  const auto value = [](const std::string& l) {
    const size_t colon = l.find(':');
    std::string v = colon == std::string::npos ? "" : l.substr(colon + 1);
    v.erase(0, v.find_first_not_of(" \t"));
    return v;
  };
  bool have_flags = false;
  while (std::getline(lines, line)) {
    if (cpu.model.empty() && line.rfind("model name", 0) == 0) cpu.model = value(line);
    if (!have_flags && line.rfind("flags", 0) == 0) {
      std::istringstream words(value(line));
      for (std::string w; words >> w;) cpu.flags.push_back(w);
      have_flags = true;
    }
  }
  std::sort(cpu.flags.begin(), cpu.flags.end());
  cpu.flags.erase(std::unique(cpu.flags.begin(), cpu.flags.end()), cpu.flags.end());
  return cpu;
}

CpuFeatures cpu_features() {
  std::ifstream in("/proc/cpuinfo");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_cpu_features(text.str());
}

std::string cpu_isa_class(const CpuFeatures& cpu) {
  const bool avx512_core = cpu.has("avx512f") && cpu.has("avx512bw") && cpu.has("avx512vl") && cpu.has("avx512dq");
  if (avx512_core) {
    if (cpu.has("amx_bf16") && cpu.has("amx_tile")) return "avx512_core_amx";
    if (cpu.has("avx512_bf16")) return "avx512_core_bf16";
    if (cpu.has("avx512_vnni")) return "avx512_core_vnni";
    return "avx512_core";
  }
  if (cpu.has("avx2")) return cpu.has("avx_vnni") ? "avx2_vnni" : "avx2";
  if (cpu.has("avx")) return "avx";
  if (cpu.has("sse4_1")) return "sse41";
  return "baseline";
}

bool cpu_has_native_bf16(const CpuFeatures& cpu) { return cpu.has("amx_bf16") || cpu.has("avx512_bf16"); }

std::string cpu_simd_flags(const CpuFeatures& cpu) {
  std::string out;
  for (const std::string& f : cpu.flags)
    if (f.rfind("avx", 0) == 0 || f.rfind("amx", 0) == 0 || f.rfind("sse", 0) == 0 || f == "fma" || f == "f16c")
      out += (out.empty() ? "" : " ") + f;
  return out;
}

std::string to_json(const NumericConfig& c) {
  return json_text({{"decided_by", c.decided_by},
                    {"device", c.device},
                    {"precision", to_string(c.precision)},
                    {"channels_last", c.channels_last},
                    {"optimize_for_inference", c.optimized},
                    {"batch_size", c.batch_size},
                    {"deterministic", c.deterministic},
                    {"cpu_isa", c.cpu_isa},
                    {"cpu_model", c.cpu_model},
                    {"libtorch", c.libtorch},
                    {"measured_tiles_per_second", c.measured_tiles_per_second},
                    {"measurement", c.measurement}});
}

namespace {

// The value of `key`, of JSON kind `kind`; throws naming the source and the key.
template <class T>
T field(const Json& root, const char* key, Json::value_t kind, const std::string& source) {
  const auto it = root.find(key);
  const bool number = kind == Json::value_t::number_float;
  if (it == root.end() || !(it->type() == kind || (number && it->is_number())))
    throw std::invalid_argument(source + ": \"" + key + "\" is missing or of the wrong kind");
  return it->get<T>();
}

}  // namespace

// long: one check per field, in the order to_json writes them.
NumericConfig parse_numeric_config(const std::string& json, const std::string& source) {
  constexpr size_t kMaxBytes = 16384;  // a configuration is a few hundred bytes
  if (json.size() > kMaxBytes) throw std::invalid_argument(source + ": " + std::to_string(json.size()) + " bytes");
  const Json root = parse_json(json, source);
  if (!root.is_object()) throw std::invalid_argument(source + ": not a JSON object");
  using V = Json::value_t;
  NumericConfig c;
  const auto one_of = [&](const std::string& value, std::initializer_list<const char*> allowed, const char* key) {
    for (const char* a : allowed)
      if (value == a) return value;
    throw std::invalid_argument(source + ": \"" + key + "\" is '" + value + "'");
  };
  c.decided_by = one_of(field<std::string>(root, "decided_by", V::string, source), {"rule", "measured", "tuning cache"},
                        "decided_by");
  c.device = one_of(field<std::string>(root, "device", V::string, source), {"cpu", "cuda"}, "device");
  const std::string precision = field<std::string>(root, "precision", V::string, source);
  c.precision = parse_precision(one_of(precision, {"fp32", "bf16", "fp16"}, "precision"));
  c.channels_last = field<bool>(root, "channels_last", V::boolean, source);
  c.optimized = field<bool>(root, "optimize_for_inference", V::boolean, source);
  const auto integer = [&](const char* key, int64_t low, int64_t high) {
    const auto it = root.find(key);
    if (it == root.end() || !it->is_number_integer() || it->get<int64_t>() < low || it->get<int64_t>() > high)
      throw std::invalid_argument(source + ": \"" + key + "\" is missing or not an integer in " + std::to_string(low) +
                                  ".." + std::to_string(high));
    return static_cast<int>(it->get<int64_t>());
  };
  c.batch_size = integer("batch_size", 1, 65536);
  c.deterministic = field<bool>(root, "deterministic", V::boolean, source);
  c.cpu_isa = field<std::string>(root, "cpu_isa", V::string, source);
  c.cpu_model = field<std::string>(root, "cpu_model", V::string, source);
  c.libtorch = field<std::string>(root, "libtorch", V::string, source);
  c.measured_tiles_per_second = field<double>(root, "measured_tiles_per_second", V::number_float, source);
  c.measurement = field<std::string>(root, "measurement", V::string, source);
  if (!(c.measured_tiles_per_second >= 0)) throw std::invalid_argument(source + ": negative measured rate");
  return c;
}

std::string describe(const NumericConfig& c) {
  std::string text = to_string(c.precision) + (c.channels_last ? " channels-last" : " NCHW") +
                     (c.optimized ? " optimize_for_inference" : "") + ", batch " + std::to_string(c.batch_size);
  if (c.deterministic) text += ", deterministic";
  text += " (" + c.decided_by + (c.cpu_isa.empty() ? "" : ", " + c.cpu_isa) + ")";
  return text;
}

// Models with nothing to choose (the null model): the job's batch size and plain fp32.
NumericConfig Model::rule_configuration(const ModelOptions& options) {
  NumericConfig c;
  c.batch_size = options.batch_size > 0 ? options.batch_size
                                        : default_batch_size(on_gpu(), description().input_width,
                                                             description().input_height);
  return c;
}

}  // namespace wsi
