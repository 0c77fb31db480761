// Shared option handling for the subcommands: comma lists, and INI job files whose relative
// paths are taken relative to the file.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "wsi/model/model.hpp"

namespace wsi::cli {

namespace po = boost::program_options;

std::vector<std::string> split_list(const std::string& text);
// "R,G,B" style numbers; throws std::invalid_argument naming the option.
std::vector<double> parse_numbers(const std::string& option, const std::string& text);

// Parses argv (command line wins) and, when `--job` names one, the INI file; values of
// `path_keys` from the INI that are relative paths (existing files for "model") are resolved
// against the INI's folder. Throws po::error for unknown or malformed options,
// std::invalid_argument naming the option for a number that is NaN or infinite (run_subcommand
// refuses those too).
po::variables_map parse_with_job_file(int argc, char** argv, const po::options_description& options,
                                      const std::vector<std::string>& path_keys);

// The model options shared by the commands that run a model: --model, --weights, --classes,
// --model-output, --mean, --std, --threads, --device, --precision.
void add_model_options(po::options_description& options);

// ModelOptions from those options. Throws std::invalid_argument naming the option for a bad
// value (unknown device or precision, mean/std without three values, negative threads, fp16 on
// the CPU).
ModelOptions model_options_from(const po::variables_map& vm);

// Parses a subcommand's options (`positional`, when given, names the option its one positional
// argument fills), prints --help, runs `body`, and turns every exception into one error line
// and an exit status: bad options, UsageError and std::invalid_argument 2, anything else 1.
int run_subcommand(const char* name, int argc, char** argv, const po::options_description& options,
                   const char* positional, const std::function<int(const po::variables_map&)>& body);

}  // namespace wsi::cli
