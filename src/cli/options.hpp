// Shared option handling for the subcommands: comma lists, and INI job files whose relative
// paths are taken relative to the file.
#pragma once
#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace wsi::cli {

namespace po = boost::program_options;

std::vector<std::string> split_list(const std::string& text);
// "R,G,B" style numbers; throws std::invalid_argument naming the option.
std::vector<double> parse_numbers(const std::string& option, const std::string& text);

// Parses argv (command line wins) and, when `--job` names one, the INI file; values of
// `path_keys` from the INI that are relative paths (existing files for "model") are resolved
// against the INI's folder. Throws po::error for unknown or malformed options.
po::variables_map parse_with_job_file(int argc, char** argv, const po::options_description& options,
                                      const std::vector<std::string>& path_keys);

}  // namespace wsi::cli
