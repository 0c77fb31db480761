// Catch2's main, alone in its file (it is slow to compile). Every run fails when it matched no
// test case or a test case asserted nothing, so that no ctest entry can pass having checked
// nothing (a ';' in a name splits it in discovery; Catch2 2.x takes only one --warn option).
// A passing run removes its scratch folder (scratch.hpp); a failing one leaves it to look at.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <system_error>

#include "scratch.hpp"

int main(int argc, char** argv) {
  Catch::Session session;
  if (const int status = session.applyCommandLine(argc, argv)) return status;
  session.configData().warnings =
      static_cast<Catch::WarnAbout::What>(Catch::WarnAbout::NoAssertions | Catch::WarnAbout::NoTests);
  const int failed = session.run();
  if (failed == 0) {
    std::error_code ignored;
    std::filesystem::remove_all(wsi::test::scratch_root(), ignored);
  }
  return failed;
}
