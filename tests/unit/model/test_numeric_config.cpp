// The numeric configuration as data: the CPU classes it is decided for, its JSON (validated like
// any file field), and the tuning cache: hits, misses on any key field, hostile files ignored.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "test_support.hpp"
#include "wsi/model/model.hpp"
#include "wsi/model/tuning_cache.hpp"

namespace {

const char* kEpycCpuinfo =
    "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n"
    "flags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2\n\nprocessor\t: 1\n"
    "model name\t: AMD EPYC 7B13\nflags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2\n";
const char* kSapphireRapidsCpuinfo =
    "model name\t: Intel(R) Xeon(R) Platinum 8481C\nflags\t\t: sse sse4_1 avx avx2 fma avx512f avx512dq avx512bw "
    "avx512vl avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8\n";
const char* kSkylakeCpuinfo =
    "model name\t: Intel(R) Xeon(R) CPU @ 2.00GHz\nflags\t\t: sse4_1 avx avx2 fma avx512f avx512dq avx512bw avx512vl\n";

wsi::NumericConfig sample_config() {
  wsi::NumericConfig c;
  c.decided_by = "measured";
  c.precision = wsi::Precision::bf16;
  c.channels_last = true;
  c.batch_size = 16;
  c.cpu_isa = "avx512_core_amx";
  c.cpu_model = "Intel(R) Xeon(R) Platinum 8481C";
  c.libtorch = "1.13.0";
  c.measured_tiles_per_second = 295.5;
  c.measurement = "bf16 channels-last batch 16 296; ";
  return c;
}

wsi::TuningKey sample_key() {
  wsi::TuningKey k;
  k.cpu_model = "AMD EPYC 7B13";
  k.cpu_flags = "avx avx2 f16c fma sse sse2 sse4_1";
  k.device = "cpu";
  k.threads = 2;
  k.libtorch = "1.13.0";
  k.model_sha256 = "ab12";
  k.input_width = k.input_height = 224;
  k.asked = "precision=auto channels_last=-1 batch_size=0 deterministic=0";
  return k;
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

}  // namespace

TEST_CASE("CPU features give oneDNN's instruction-set class and the bf16 rule", "[model]") {
  const wsi::CpuFeatures epyc = wsi::parse_cpu_features(kEpycCpuinfo);
  CHECK(epyc.model == "AMD EPYC 7B13");
  CHECK(wsi::cpu_isa_class(epyc) == "avx2");
  CHECK_FALSE(wsi::cpu_has_native_bf16(epyc));
  CHECK(wsi::cpu_simd_flags(epyc) == "avx avx2 f16c fma sse sse2 sse4_1 sse4_2");
  const wsi::CpuFeatures spr = wsi::parse_cpu_features(kSapphireRapidsCpuinfo);
  CHECK(wsi::cpu_isa_class(spr) == "avx512_core_amx");
  CHECK(wsi::cpu_has_native_bf16(spr));
  CHECK(wsi::cpu_isa_class(wsi::parse_cpu_features(kSkylakeCpuinfo)) == "avx512_core");
  CHECK(wsi::cpu_isa_class(wsi::parse_cpu_features("")) == "baseline");
  CHECK_FALSE(wsi::cpu_features().model.empty());  // this machine's /proc/cpuinfo
}

TEST_CASE("a numeric configuration reads back from its JSON, and a bad one is refused", "[model]") {
  const wsi::NumericConfig c = sample_config();
  const std::string json = wsi::to_json(c);
  CHECK(wsi::to_json(wsi::parse_numeric_config(json, "test")) == json);
  CHECK(wsi::describe(c) == "bf16 channels-last, batch 16 (measured, avx512_core_amx)");
  const auto refused = [&](const std::string& from, const std::string& to) {
    std::string bad = json;
    REQUIRE(bad.find(from) != std::string::npos);
    bad.replace(bad.find(from), from.size(), to);
    CHECK_THROWS_AS(wsi::parse_numeric_config(bad, "test"), std::invalid_argument);
  };
  refused("\"batch_size\":16", "\"batch_size\":0");
  refused("\"batch_size\":16", "\"batch_size\":1e9");
  refused("\"batch_size\":16", "\"batch_size\":\"16\"");
  refused("\"precision\":\"bf16\"", "\"precision\":\"auto\"");
  refused("\"device\":\"cpu\"", "\"device\":\"tpu\"");
  refused("\"channels_last\":true", "\"channels_last\":1");
  refused("\"decided_by\":\"measured\"", "\"decided_by\":\"guess\"");
  refused("\"measured_tiles_per_second\":295.5", "\"measured_tiles_per_second\":-1");
  refused("\"cpu_isa\":\"avx512_core_amx\",", "");
  CHECK_THROWS_AS(wsi::parse_numeric_config("[1,2]", "test"), std::invalid_argument);
  CHECK_THROWS_AS(wsi::parse_numeric_config("{\"decided_by\":", "test"), std::invalid_argument);
  CHECK_THROWS_AS(wsi::parse_numeric_config(std::string(20000, ' '), "test"), std::invalid_argument);
}

TEST_CASE("the tuning cache returns an entry only for an equal key", "[model]") {
  const auto dir = wsi::test::scratch_dir("tuning-cache");
  const std::string path = (dir / "sub" / "tuning.json").string();  // its folder is made
  const wsi::TuningKey key = sample_key();
  CHECK_FALSE(wsi::find_tuned(path, key));  // no file: a miss, silently
  wsi::store_tuned(path, key, sample_config());
  const auto hit = wsi::find_tuned(path, key);
  REQUIRE(hit);
  CHECK(hit->decided_by == "tuning cache");
  CHECK(hit->batch_size == 16);
  CHECK(hit->measured_tiles_per_second == 295.5);
  const auto miss_with = [&](auto change) {
    wsi::TuningKey other = key;
    change(other);
    return !wsi::find_tuned(path, other);
  };
  CHECK(miss_with([](wsi::TuningKey& k) { k.cpu_flags += " avx512f"; }));
  CHECK(miss_with([](wsi::TuningKey& k) { k.cpu_model = "AMD EPYC 9654"; }));
  CHECK(miss_with([](wsi::TuningKey& k) { k.model_sha256 = "cd34"; }));
  CHECK(miss_with([](wsi::TuningKey& k) { k.threads = 1; }));
  CHECK(miss_with([](wsi::TuningKey& k) { k.libtorch = "2.1.0"; }));
  CHECK(miss_with([](wsi::TuningKey& k) { k.input_width = 256; }));
  CHECK(miss_with([](wsi::TuningKey& k) { k.asked = "precision=fp32"; }));

  wsi::NumericConfig replaced = sample_config();  // the same key again replaces its entry
  replaced.batch_size = 8;
  wsi::store_tuned(path, key, replaced);
  CHECK(wsi::find_tuned(path, key)->batch_size == 8);
  for (int t = 100; t < 100 + int(wsi::kMaxTuningEntries); ++t) {  // only the newest entries stay
    wsi::TuningKey k = key;
    k.threads = t;
    wsi::store_tuned(path, k, sample_config());
  }
  CHECK_FALSE(wsi::find_tuned(path, key));
  wsi::TuningKey newest = key;
  newest.threads = 100 + int(wsi::kMaxTuningEntries) - 1;
  CHECK(wsi::find_tuned(path, newest));
  std::filesystem::remove_all(dir);
}

TEST_CASE("a corrupt or hostile tuning cache is ignored with a warning, never a crash", "[model]") {
  const auto dir = wsi::test::scratch_dir("tuning-cache-hostile");
  const std::string path = (dir / "tuning.json").string();
  const wsi::TuningKey key = sample_key();
  wsi::store_tuned(path, key, sample_config());
  std::ifstream in(path);
  const std::string valid((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto replaced = [&](const std::string& from, const std::string& to) {
    std::string text = valid;
    REQUIRE(text.find(from) != std::string::npos);
    return text.replace(text.find(from), from.size(), to);
  };
  const std::vector<std::string> hostile = {
      "",
      "\x89PNG\r\n\x1a\n",
      "[]",
      "{\"format\": \"wsi-mpi tuning cache\", \"version\": 1, \"entries\": 7}",
      replaced("\"version\": 1", "\"version\": \"1\""),
      replaced("\"version\": 1", "\"version\": 2"),
      replaced("\"batch_size\": 16", "\"batch_size\": -3"),
      replaced("\"precision\": \"bf16\"", "\"precision\": null"),
      replaced("\"config\": {", "\"config\": [{") + "]",
      std::string(200, '[') + std::string(200, ']'),
      std::string((size_t{1} << 20) + 10, ' '),
  };
  for (const std::string& text : hostile) {
    write_text(path, text);
    wsi::test::LogCapture log;
    CHECK_NOTHROW(wsi::find_tuned(path, key));
    CHECK_FALSE(wsi::find_tuned(path, key));
    CHECK_THAT(log.text(), Catch::Contains("tuning cache") && Catch::Contains("ignored"));
  }
  std::filesystem::remove(path);
  std::filesystem::create_directory(path);  // a folder where the file should be
  CHECK_FALSE(wsi::find_tuned(path, key));
  CHECK_NOTHROW(wsi::store_tuned(path, key, sample_config()));
  std::filesystem::remove_all(path);
  write_text(path, "garbage");  // storing over a corrupt file replaces it
  wsi::store_tuned(path, key, sample_config());
  CHECK(wsi::find_tuned(path, key));
  std::filesystem::remove_all(dir);
}
