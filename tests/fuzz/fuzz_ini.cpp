// libFuzzer target: the INI job-file reader (src/cli/options.cpp), with the model options and a
// few of `run`'s, as `wsi-mpi run --job FILE` reads it.
#include <cstddef>
#include <cstdint>
#include <exception>

#include "cli/options.hpp"
#include "fuzz_file_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz_input_file(data, size, ".ini");
  namespace po = wsi::cli::po;
  po::options_description options("fuzz");
  options.add_options()("job", po::value<std::string>(), "")("slides", po::value<std::string>(), "")(
      "output", po::value<std::string>(), "")("patch", po::value<int>()->default_value(224), "")(
      "resolution", po::value<double>()->default_value(0.5), "");
  wsi::cli::add_model_options(options);
  std::string job = "--job", file = path, name = "wsi-mpi";
  char* argv[] = {name.data(), job.data(), file.data()};
  try {
    const auto vm = wsi::cli::parse_with_job_file(3, argv, options, {"slides", "output", "model", "weights"});
    wsi::cli::model_options_from(vm);
  } catch (const std::exception&) {
  }
  return 0;
}
