// The output lock (src/run/output_lock.hpp) is keyed on the file, not on the spelling of its
// path: a second lock through another spelling (./, .., a linked folder) is refused naming the
// holder and since when; a link at the output or a file with hard links is refused; the lock
// and its file go with their holder.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <optional>

#include "run/output_lock.hpp"
#include "test_support.hpp"
#include "wsi/run/job_runner.hpp"

using namespace wsi;
namespace fs = std::filesystem;

TEST_CASE("the output lock excludes every spelling of one path, before and after the file exists", "[run]") {
  const fs::path dir = test::scratch_dir("output-lock");
  fs::create_directories(dir / "runs");
  fs::create_directory_symlink(dir / "runs", dir / "alias");
  const std::string output = (dir / "runs" / "cohort.h5").string();
  const std::vector<std::string> spellings = {(dir / "runs" / "." / "cohort.h5").string(),
                                              (dir / "alias" / ".." / "runs" / "cohort.h5").string(),
                                              (dir / "alias" / "cohort.h5").string()};
  for (const bool exists : {false, true}) {
    if (exists) std::ofstream(output) << "x";
    std::optional<run::OutputLock> held(std::in_place, output);
    for (const std::string& other : spellings) {
      INFO(other << (exists ? " (file exists)" : " (no file yet)"));
      char host[256] = {};
      ::gethostname(host, sizeof host - 1);
      CHECK_THROWS_WITH(run::OutputLock(other),
                        Catch::Contains("is being written by another job") &&
                            Catch::Contains(std::string(host) + ":" + std::to_string(::getpid()) + " since "));
    }
    CHECK(fs::exists(output + ".lock"));
    held.reset();
    CHECK_FALSE(fs::exists(output + ".lock"));  // the holder removes it as it ends
    CHECK_NOTHROW(run::OutputLock(spellings.back()));  // released with its holder
  }
}

TEST_CASE("the output lock refuses a link at the output and a file with hard links", "[run]") {
  const fs::path dir = test::scratch_dir("output-lock-links");
  std::ofstream(dir / "cohort.h5") << "x";
  fs::create_symlink(dir / "cohort.h5", dir / "link.h5");
  CHECK_THROWS_AS(run::OutputLock((dir / "link.h5").string()), JobRefused);
  CHECK_THROWS_WITH(run::OutputLock((dir / "link.h5").string()), Catch::Contains("is a symbolic link"));
  fs::create_hard_link(dir / "cohort.h5", dir / "other-name.h5");
  CHECK_THROWS_WITH(run::OutputLock((dir / "other-name.h5").string()),
                    Catch::Contains("has 2 names (hard links)"));
  CHECK_THROWS_WITH(run::OutputLock((dir / "cohort.h5").string()), Catch::Contains("has 2 names (hard links)"));
  fs::remove(dir / "other-name.h5");
  CHECK_NOTHROW(run::OutputLock((dir / "cohort.h5").string()));
}
