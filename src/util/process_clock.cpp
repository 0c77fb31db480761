// See process_clock.hpp.
#include "util/process_clock.hpp"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace wsi {

double seconds_since_process_start() {
  std::ifstream stat_file("/proc/self/stat"), uptime_file("/proc/uptime");
  std::string stat;
  double uptime = 0;
  if (!std::getline(stat_file, stat) || !(uptime_file >> uptime)) return 0;
  // Field 22 (starttime, in clock ticks since boot) counts from after the command name, which
  // is in parentheses and may hold spaces.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i)
    if (i == 22) return uptime - std::stod(field) / static_cast<double>(sysconf(_SC_CLK_TCK));
  return 0;
}

}  // namespace wsi
