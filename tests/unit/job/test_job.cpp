// The job: modes, validation (a table of one bad setting each and the option its message
// must name), its JSON form and the fingerprint that decides whether a run may resume a file.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "util/json.hpp"
#include "wsi/job/job.hpp"

using namespace wsi;

namespace {

Job good_job() {
  Job job;
  job.slides = "manifest.csv";
  job.output = "cohort.h5";
  return job;
}

// One setting of a job by its option name, from text (the validation table below is data).
void set(Job& job, const std::string& option, const std::string& value) {
  if (option == "slides") job.slides = value;
  else if (option == "output") job.output = value;
  else if (option == "patch") job.patch = std::stoi(value);
  else if (option == "stride") job.stride = std::stoi(value);
  else if (option == "resolution") job.resolution.value = std::stod(value);
  else if (option == "overview-resolution") job.overview.value = std::stod(value);
  else if (option == "thumbnail-resolution") job.thumbnail.value = std::stod(value);
  else if (option == "cpu-workers") job.cpu_workers = std::stoi(value);
  else if (option == "unit-tiles") job.unit_tiles = std::stoll(value);
  else if (option == "checkpoint-interval") job.checkpoint_interval = std::stod(value);
  else if (option == "batch-size") job.batch_size = std::stoi(value);
  else if (option == "readers") job.readers = std::stoi(value);
  else if (option == "threads") job.model.threads = std::stoi(value);
  else if (option == "mpp-override") job.mpp_override = std::stod(value);
  else if (option == "precision") job.model.precision = parse_precision(value);
  else if (option == "mean") job.model.mean.assign(std::stoul(value), 0.5);
  else if (option == "std") job.model.std.assign(std::stoul(value), 0.2);
  else FAIL("no such option in the table: " << option);
}

struct BadSetting {
  const char* option;
  const char* value;
  const char* message;
};

const BadSetting kBadSettings[] = {
    {"slides", "", "--slides is required"},
    {"output", "", "--output is required"},
    {"patch", "0", "--patch must be positive, got 0"},
    {"stride", "-3", "--stride must be positive, got -3"},
    {"resolution", "0", "--resolution must be positive"},
    {"overview-resolution", "-1", "--overview-resolution must be positive"},
    {"thumbnail-resolution", "0", "--thumbnail-resolution must be positive"},
    {"cpu-workers", "-1", "--cpu-workers must not be negative"},
    {"unit-tiles", "0", "--unit-tiles must be positive"},
    {"checkpoint-interval", "0", "--checkpoint-interval must be positive"},
    // NaN passes every "<= 0" test and an infinite interval disables checkpoints: both refused.
    {"checkpoint-interval", "nan", "--checkpoint-interval must be positive"},
    {"checkpoint-interval", "inf", "--checkpoint-interval must be positive"},
    {"resolution", "nan", "--resolution must be positive"},
    {"overview-resolution", "inf", "--overview-resolution must be positive"},
    {"mpp-override", "nan", "--mpp-override must be positive"},
    {"batch-size", "-1", "--batch-size must not be negative"},
    {"readers", "-2", "--readers must not be negative"},
    {"threads", "-1", "--threads must not be negative"},
    {"mpp-override", "-0.5", "--mpp-override must be positive"},
    {"precision", "fp16", "--precision fp16 needs --device cuda"},
    {"mean", "2", "--mean takes three values"},
    {"std", "4", "--std takes three values"},
};

}  // namespace

TEST_CASE("job modes parse and print, and unknown modes name the option", "[job]") {
  for (const JobMode mode : {JobMode::classify, JobMode::features, JobMode::both})
    CHECK(parse_job_mode(to_string(mode)) == mode);
  CHECK_THROWS_WITH(parse_job_mode("segment"), Catch::Contains("--mode") && Catch::Contains("segment"));
  Job job;
  job.mode = JobMode::features;
  CHECK_FALSE(job.wants_probabilities());
  CHECK(job.wants_features());
  job.mode = JobMode::both;
  CHECK(job.wants_probabilities());
  CHECK(job.wants_features());
}

TEST_CASE("tile rules: auto is the extractor's for features alone, and padding follows the rule", "[job]") {
  CHECK(parse_tile_rule("auto", JobMode::features) == TileRule::extractor);
  CHECK(parse_tile_rule("auto", JobMode::classify) == TileRule::predictor);
  CHECK(parse_tile_rule("auto", JobMode::both) == TileRule::predictor);  // one pass, the predictor's tiles
  for (const JobMode mode : {JobMode::classify, JobMode::features, JobMode::both}) {
    CHECK(parse_tile_rule("predictor", mode) == TileRule::predictor);
    CHECK(parse_tile_rule("extractor", mode) == TileRule::extractor);
  }
  CHECK(to_string(TileRule::extractor) == "extractor");
  CHECK_THROWS_WITH(parse_tile_rule("segmentor", JobMode::features),
                    Catch::Contains("--tile-rule") && Catch::Contains("segmentor"));
  Job job;
  job.tile_rule = TileRule::extractor;
  CHECK(job.patch_padding() == 0);
  job.tile_rule = TileRule::predictor;
  CHECK(job.patch_padding() == 255);
}

TEST_CASE("job validation refuses each bad setting, naming its option", "[job]") {
  CHECK_NOTHROW(validate(good_job()));
  for (const BadSetting& bad : kBadSettings) {
    INFO("--" << bad.option << " " << bad.value);
    Job job = good_job();
    set(job, bad.option, bad.value);
    CHECK_THROWS_AS(validate(job), std::invalid_argument);
    CHECK_THROWS_WITH(validate(job), Catch::Contains(bad.message));
  }
  // Level resolutions may be 0 (level 0); a thumbnail that is not kept is not checked.
  Job level = good_job();
  level.resolution = {0, Units::level};
  CHECK_NOTHROW(validate(level));
  Job no_thumbnail = good_job();
  no_thumbnail.keep_thumbnail = false;
  no_thumbnail.thumbnail.value = 0;
  CHECK_NOTHROW(validate(no_thumbnail));
}

TEST_CASE("job JSON holds every setting", "[job]") {
  Job job = good_job();
  job.mode = JobMode::both;
  job.model.classes = {"tumour", "stroma"};
  job.resolution = {0.25, Units::mpp};
  job.keep_thumbnail = false;
  job.features_float16 = true;
  const std::string json = to_json(job);
  INFO(json);
  const Json tree = parse_json(json, "job JSON");
  CHECK(tree.at("slides") == "manifest.csv");
  CHECK(tree.at("output") == "cohort.h5");
  CHECK(tree.at("mode") == "both");
  CHECK(tree.at("resolution").at("value").get<double>() == 0.25);
  CHECK(tree.at("resolution").at("units") == "mpp");
  CHECK(tree.at("patch").get<int>() == 224);
  CHECK(tree.at("feature_dtype") == "float16");
  CHECK(tree.at("model").at("channels_last") == "auto");
  CHECK(tree.at("software_version") == WSI_MPI_VERSION);
  CHECK(tree.at("model").at("classes").get<std::vector<std::string>>() == job.model.classes);
  CHECK(tree.at("thumbnail").is_null());  // not kept
  CHECK(tree.at("tile_rule") == "predictor");
}

TEST_CASE("the fingerprint follows what is computed, not how fast", "[job]") {
  const Job job = good_job();
  const std::string base = fingerprint(job, {"slide=abc"});
  CHECK(base.find("slide=abc\n") != std::string::npos);
  CHECK(base.find("resolution=0.5 mpp\n") != std::string::npos);
  Job faster = job;  // batch size, readers, threads, device and output leave it as it is
  faster.batch_size = 64, faster.readers = 8, faster.model.threads = 16, faster.model.device = "cuda";
  faster.output = "elsewhere.h5", faster.cpu_workers = 3, faster.checkpoint_interval = 5;
  CHECK(fingerprint(faster, {"slide=abc"}) == base);
  Job other = job;
  other.resolution.value = 1.0;
  CHECK(fingerprint(other, {"slide=abc"}) != base);
  other = job;
  other.stride = 112;
  CHECK(fingerprint(other, {"slide=abc"}) != base);
  other = job;
  other.tile_rule = other.tile_rule == TileRule::predictor ? TileRule::extractor : TileRule::predictor;
  CHECK(fingerprint(other, {"slide=abc"}) != base);
  CHECK(fingerprint(job, {"slide=abd"}) != base);
}
