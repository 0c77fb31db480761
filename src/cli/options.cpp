// Option helpers (see options.hpp) and the CLI's logging and error line (see cli.hpp).
#include "cli/options.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include <spdlog/cfg/env.h>
#include <spdlog/spdlog.h>

#include "cli/cli.hpp"

namespace wsi::cli {

void setup_logging(int rank) {
  const std::string who = rank >= 0 ? "[wsi-mpi rank " + std::to_string(rank) + "] " : "[wsi-mpi] ";
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S " + who + "%l: %v");
  spdlog::set_level(rank > 0 ? spdlog::level::warn : spdlog::level::info);
  spdlog::cfg::load_env_levels();
}

void print_error(const std::string& command, const std::string& message) {
  // One write: the lines of several ranks reach mpirun's output whole, never interleaved.
  const std::string line = "wsi-mpi " + command + ": error: " + message + "\n";
  std::cerr.write(line.data(), static_cast<std::streamsize>(line.size()));
  std::cerr.flush();
}

namespace fs = std::filesystem;

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::string item;
  for (char c : text) {
    if (c == ',') items.push_back(item), item.clear();
    else if (c != ' ') item += c;
  }
  if (!item.empty() || !items.empty()) items.push_back(item);
  return items;
}

std::vector<double> parse_numbers(const std::string& option, const std::string& text) {
  std::vector<double> numbers;
  for (const auto& item : split_list(text)) {
    try {
      size_t used = 0;
      numbers.push_back(std::stod(item, &used));
      if (used != item.size() || !std::isfinite(numbers.back())) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw std::invalid_argument("--" + option + ": '" + item + "' is not a finite number");
    }
  }
  return numbers;
}

namespace {

// Boost reads "nan" and "inf" as doubles; no option of ours means either (a NaN passes every
// "<= 0" check, an infinite interval never comes).
void reject_non_finite(const po::variables_map& vm) {
  for (const auto& [name, value] : vm)
    if (const auto* number = boost::any_cast<double>(&value.value()); number && !std::isfinite(*number))
      throw std::invalid_argument("--" + name + ": must be a finite number, got " + std::to_string(*number));
}

}  // namespace

po::variables_map parse_with_job_file(int argc, char** argv, const po::options_description& options,
                                      const std::vector<std::string>& path_keys) {
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, options), vm);
  if (vm.count("job")) {
    const std::string job = vm["job"].as<std::string>();
    std::ifstream in(job);
    if (!in) throw std::invalid_argument("--job: cannot read " + job);
    po::parsed_options parsed = po::parse_config_file(in, options);
    const fs::path base = fs::absolute(job).parent_path();
    for (auto& option : parsed.options) {
      if (option.value.empty() || std::find(path_keys.begin(), path_keys.end(), option.string_key) == path_keys.end())
        continue;
      std::string& value = option.value.front();
      if (value.empty() || fs::path(value).is_absolute()) continue;
      const fs::path resolved = base / value;
      if (option.string_key != "model" || fs::exists(resolved)) value = resolved.lexically_normal().string();
    }
    po::store(parsed, vm);
  }
  po::notify(vm);
  reject_non_finite(vm);
  return vm;
}

void add_model_options(po::options_description& options) {
  options.add_options()
      ("model", po::value<std::string>()->default_value("resnet18-kather100k"), "built-in name or TorchScript file")
      ("weights", po::value<std::string>(), "state_dict (.pth) for a built-in model")
      ("classes", po::value<std::string>(), "class names A,B,... (override the model's)")
      ("model-output", po::value<std::string>(), "probabilities | logits | features (override the model's)")
      ("mean", po::value<std::string>(), "input mean R,G,B (after scaling to [0,1])")
      ("std", po::value<std::string>(), "input std R,G,B")
      ("pooling", po::value<std::string>(), "cls | mean | cls+mean: a token output [B, T, D] pooled (override the model's)")
      ("prefix-tokens", po::value<int>(), "leading class + register tokens of a token output (override the model's)")
      ("threads", po::value<int>()->default_value(0), "inference threads per rank (0: the rank's share of cores)")
      ("device", po::value<std::string>()->default_value("cpu"), "cpu | cuda | auto")
      ("precision", po::value<std::string>()->default_value("fp32"),
       "fp32 | bf16 | fp16 | auto (CPU: bf16 where the CPU has it natively, else fp32; GPU: fp16)")
      ("channels-last", po::value<std::string>()->default_value("auto"),
       "auto | on | off: NHWC weights and input (auto: on with CUDA and for bf16, off for fp32 on a CPU)")
      ("deterministic", po::bool_switch(), "GPU: deterministic cuDNN algorithms only (slower; CPU results are already)");
}

ModelOptions model_options_from(const po::variables_map& vm) {
  ModelOptions model;
  model.model = vm["model"].as<std::string>();
  if (vm.count("weights")) model.weights = vm["weights"].as<std::string>();
  if (vm.count("classes")) model.classes = split_list(vm["classes"].as<std::string>());
  if (vm.count("model-output")) model.output = vm["model-output"].as<std::string>();
  if (vm.count("mean")) model.mean = parse_numbers("mean", vm["mean"].as<std::string>());
  if (vm.count("std")) model.std = parse_numbers("std", vm["std"].as<std::string>());
  if (vm.count("pooling")) {
    model.pooling = vm["pooling"].as<std::string>();
    try {
      parse_token_pooling(model.pooling);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("--pooling: ") + e.what());
    }
  }
  if (vm.count("prefix-tokens")) {
    model.prefix_tokens = vm["prefix-tokens"].as<int>();
    if (model.prefix_tokens < 1) throw std::invalid_argument("--prefix-tokens must be at least 1 (the class token)");
  }
  model.device = vm["device"].as<std::string>();
  if (model.device != "cpu" && model.device != "cuda" && model.device != "auto")
    throw std::invalid_argument("--device: unknown device '" + model.device + "' (expected cpu, cuda or auto)");
  try {
    model.precision = parse_precision(vm["precision"].as<std::string>());
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("--precision: ") + e.what());
  }
  const std::string channels_last = vm["channels-last"].as<std::string>();
  if (channels_last != "auto" && channels_last != "on" && channels_last != "off")
    throw std::invalid_argument("--channels-last: unknown value '" + channels_last + "' (expected auto, on or off)");
  model.channels_last = channels_last == "auto" ? -1 : channels_last == "on" ? 1 : 0;
  model.threads = vm["threads"].as<int>();
  model.deterministic = vm["deterministic"].as<bool>();
  if (model.threads < 0) throw std::invalid_argument("--threads must not be negative");
  if (model.precision == Precision::fp16 && model.device == "cpu")
    throw std::invalid_argument("--precision fp16 needs --device cuda: LibTorch has no fp16 convolution on the CPU (use bf16)");
  if (!model.mean.empty() && model.mean.size() != 3) throw std::invalid_argument("--mean takes three values R,G,B");
  if (!model.std.empty() && model.std.size() != 3) throw std::invalid_argument("--std takes three values R,G,B");
  return model;
}

int run_subcommand(const char* name, int argc, char** argv, const po::options_description& options,
                   const char* positional, const std::function<int(const po::variables_map&)>& body) {
  setup_logging();
  try {
    po::positional_options_description positionals;
    if (positional) positionals.add(positional, 1);
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(options).positional(positionals).run(), vm);
    po::notify(vm);
    reject_non_finite(vm);
    if (vm.count("help")) {
      std::cout << options << std::endl;
      return kExitOk;
    }
    return body(vm);
  } catch (const po::error& e) {
    print_error(name, e.what());
    return kExitUsage;
  } catch (const UsageError& e) {
    print_error(name, e.what());
    return kExitUsage;
  } catch (const std::invalid_argument& e) {
    print_error(name, e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    print_error(name, e.what());
    return kExitJobFailed;
  }
}

}  // namespace wsi::cli
