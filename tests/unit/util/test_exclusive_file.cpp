// New files beside their final name (src/util/exclusive_file.hpp): a link planted at the final
// name is replaced, never written through; the partial file is fresh, and removed when the
// writer gives up; a partial file swapped for a link is not renamed into place.
#include <catch2/catch.hpp>

#include <iterator>

#include "test_support.hpp"
#include "util/exclusive_file.hpp"

using namespace wsi;
namespace fs = std::filesystem;

namespace {

std::string text_of(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_CASE("a new file replaces a link planted at its name, and leaves the link's target alone", "[util]") {
  const fs::path dir = test::scratch_dir("atomic-link");
  std::ofstream(dir / "victim") << "not yours\n";
  fs::create_symlink(dir / "victim", dir / "out.txt");
  write_file_atomically((dir / "out.txt").string(), "new\n");
  CHECK(text_of(dir / "victim") == "not yours\n");
  CHECK_FALSE(fs::is_symlink(dir / "out.txt"));
  CHECK(text_of(dir / "out.txt") == "new\n");
  CHECK(names_in(dir) == std::vector<std::string>{"out.txt", "victim"});  // no partial file left
}

TEST_CASE("an output never committed leaves nothing, and one whose partial file was swapped is refused", "[util]") {
  const fs::path dir = test::scratch_dir("atomic-abandon");
  const std::string target = (dir / "out.bin").string();
  std::string first;
  {
    AtomicOutput output(target);
    first = output.path();
    CHECK(first.rfind(target + ".", 0) == 0);
    CHECK(fs::is_regular_file(first));
    AtomicOutput second(target);
    CHECK(second.path() != first);  // every writer its own fresh name
    output.write("half");
  }
  CHECK(names_in(dir).empty());

  std::ofstream(dir / "victim") << "not yours\n";
  AtomicOutput output(target);
  output.write("data");
  fs::remove(output.path());
  fs::create_symlink(dir / "victim", output.path());  // what a library reopening the name would follow
  CHECK_THROWS_WITH(output.commit(), Catch::Contains("was replaced while it was written"));
  CHECK_FALSE(fs::exists(target));
  CHECK(text_of(dir / "victim") == "not yours\n");
}

TEST_CASE("a new folder replaces what is at its name as a whole, never writing through a link", "[util]") {
  const fs::path dir = test::scratch_dir("atomic-folder");
  fs::create_directories(dir / "victim");
  std::ofstream(dir / "victim" / "kept") << "not yours\n";
  fs::create_symlink(dir / "victim", dir / "store");
  {
    AtomicFolder store((dir / "store").string());
    std::ofstream(fs::path(store.path()) / "a") << "one\n";
    store.commit();
  }
  CHECK_FALSE(fs::is_symlink(dir / "store"));
  CHECK(text_of(dir / "store" / "a") == "one\n");
  CHECK(text_of(dir / "victim" / "kept") == "not yours\n");
  {
    AtomicFolder store((dir / "store").string());  // an older store of other files is swapped out whole
    std::ofstream(fs::path(store.path()) / "b") << "two\n";
    store.commit();
  }
  CHECK(names_in(dir / "store") == std::vector<std::string>{"b"});
  {
    AtomicFolder abandoned((dir / "store").string());  // never committed: removed, the store stays
    std::ofstream(fs::path(abandoned.path()) / "c") << "three\n";
  }
  CHECK(names_in(dir) == std::vector<std::string>{"store", "victim"});
  CHECK(names_in(dir / "store") == std::vector<std::string>{"b"});
}
