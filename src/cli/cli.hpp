// The command-line interface: one function per subcommand, each parsing its own options and
// returning the process exit status (see ExitStatus in wsi/run/job_runner.hpp).
#pragma once
#include <string>
#include <vector>

namespace wsi::cli {

int run_command(int argc, char** argv);
int plan_command(int argc, char** argv);
int synth_command(int argc, char** argv);
int patches_command(int argc, char** argv);
int render_command(int argc, char** argv);
int inspect_command(int argc, char** argv);
int export_command(int argc, char** argv);

// Logging: "[wsi-mpi rank N]" prefix; SPDLOG_LEVEL in the environment overrides the level.
void setup_logging(int rank = -1);

// Prints "wsi-mpi <command>: error: <message>" to stderr.
void print_error(const std::string& command, const std::string& message);

}  // namespace wsi::cli
