// The command-line interface: one function per subcommand, each parsing its own options and
// returning the process exit status. The CLI alone turns outcomes into exit statuses and
// aborts an MPI job.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

namespace wsi::cli {

// Exit statuses shared by every command.
enum ExitStatus : int {
  kExitOk = 0,
  kExitJobFailed = 1,
  kExitUsage = 2,
  kExitSomeSlidesFailed = 3,
  kExitResumable = 75,
};

// Bad usage (exit 2); the message names the option or file.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

int run_command(int argc, char** argv);
int plan_command(int argc, char** argv);
int synth_command(int argc, char** argv);
int patches_command(int argc, char** argv);
int render_command(int argc, char** argv);
int inspect_command(int argc, char** argv);
int export_command(int argc, char** argv);
int aggregate_command(int argc, char** argv);
int umap_command(int argc, char** argv);

// Logging: "[wsi-mpi rank N]" prefix; SPDLOG_LEVEL in the environment overrides the level.
void setup_logging(int rank = -1);

// Prints "wsi-mpi <command>: error: <message>" to stderr.
void print_error(const std::string& command, const std::string& message);

}  // namespace wsi::cli
