// Option helpers, see options.hpp.
#include "cli/options.hpp"

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace wsi::cli {

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
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw std::invalid_argument("--" + option + ": '" + item + "' is not a number");
    }
  }
  return numbers;
}

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
  return vm;
}

}  // namespace wsi::cli
