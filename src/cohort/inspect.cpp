// `wsi-mpi inspect` summaries, see wsi/cohort/inspect.hpp.
#include "wsi/cohort/inspect.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "util/enum_names.hpp"
#include "util/json.hpp"
#include "wsi/model/model.hpp"

namespace wsi {
namespace {

constexpr EnumName<SlideStatus> kStatusNames[] = {
    {SlideStatus::pending, "pending"}, {SlideStatus::done, "done"}, {SlideStatus::failed, "failed"}};
constexpr EnumName<EndState> kEndStateNames[] = {
    {EndState::running, "running"}, {EndState::complete, "complete"}, {EndState::incomplete, "incomplete"}};

std::string format_number(double value, const char* format = "%g") {
  char text[32];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

// The member `key` of `node` if it is a string, else "unknown".
std::string text_or_unknown(const Json& node, const char* key) {
  const auto it = node.find(key);
  return it != node.end() && it->is_string() ? it->get<std::string>() : "unknown";
}

// mode, model and resolution from /job/config; "unknown" for what is missing or unreadable.
void read_job(const std::string& json, CohortInspection& out) {
  out.mode = out.model = out.resolution = "unknown";
  Json root;
  try {
    root = parse_json(json, "/job/config");
  } catch (const std::exception&) {
    return;
  }
  out.mode = text_or_unknown(root, "mode");
  const auto model = root.find("model");
  if (model != root.end()) out.model = text_or_unknown(*model, "model");
  const auto resolution = root.find("resolution");
  if (resolution == root.end()) return;
  const auto value = resolution->find("value");
  const std::string units = text_or_unknown(*resolution, "units");
  if (value != resolution->end() && value->is_number() && units != "unknown")
    out.resolution = format_number(value->get<double>()) + " " + units;
}

void read_numerics(const std::string& json, CohortInspection& out) {
  if (json.empty()) {
    out.numerics = "not decided yet (the first run decides it)";
    return;
  }
  try {
    const NumericConfig c = parse_numeric_config(json, "/job/numeric_config");
    out.numerics = describe(c) + " on " + (c.device == "cpu" ? c.cpu_model : c.device) + ", LibTorch " + c.libtorch;
    out.numerics_json = to_json(c);
  } catch (const std::invalid_argument& e) {
    out.numerics = std::string("unreadable: ") + e.what();
  }
}

// Six significant digits, as the text form shows them.
double json_fraction(double value) { return std::stod(format_number(value, "%.6g")); }

}  // namespace

CohortInspection inspect_cohort(const CohortSummary& s, const std::string& path, size_t top_classes) {
  CohortInspection out;
  out.path = path;
  out.format_version = s.format_version;
  out.software_version = s.software_version;
  read_job(s.job_json, out);
  read_numerics(s.numeric_config, out);
  out.class_names = s.class_names;
  out.end_state = enum_name(kEndStateNames, s.end_state);
  out.tiles_total = s.tile_count;
  out.slides_planned = s.planned_slides;
  out.ranks = static_cast<int>(s.stats.size());
  for (const RankStats& r : s.stats) out.seconds_total = std::max(out.seconds_total, r.seconds_total);

  for (const SlideRow& row : s.slides) {
    SlideInspection slide;
    slide.id = row.id;
    slide.key = row.key;
    slide.status = enum_name(kStatusNames, row.status);
    if (row.status == SlideStatus::failed) slide.error = row.error;
    slide.tile_count = row.tile_count;
    if (row.status == SlideStatus::done) {
      std::vector<ClassShare> shares;
      for (size_t k = 0; k < row.class_fractions.size() && k < s.class_names.size(); ++k)
        if (row.class_fractions[k] > 0) shares.push_back({s.class_names[k], row.class_fractions[k]});
      std::stable_sort(shares.begin(), shares.end(),
                       [](const ClassShare& a, const ClassShare& b) { return a.fraction > b.fraction; });
      if (shares.size() > top_classes) shares.resize(top_classes);
      slide.top_classes = std::move(shares);
    }
    switch (row.status) {
      case SlideStatus::done: ++out.slides_done; break;
      case SlideStatus::failed: ++out.slides_failed; break;
      default: ++out.slides_pending; break;
    }
    out.slides.push_back(std::move(slide));
  }

  out.units_total = static_cast<int64_t>(s.units.size());
  for (size_t u = 0; u < s.units.size(); ++u) {
    const bool done = u < s.done.size() && s.done[u] != 0;
    const WorkUnit& unit = s.units[u];
    if (unit.slide >= 0 && unit.slide < static_cast<int64_t>(out.slides.size())) {
      ++out.slides[static_cast<size_t>(unit.slide)].units_total;
      if (done) ++out.slides[static_cast<size_t>(unit.slide)].units_done;
    }
    if (!done) continue;
    ++out.units_done;
    out.tiles_done += unit.tile_count;
  }
  out.resumable = s.end_state != EndState::complete &&
                  (out.units_done < out.units_total || out.slides_planned < static_cast<int64_t>(s.slides.size()));
  return out;
}

std::string inspection_text(const CohortInspection& c) {
  std::ostringstream out;
  out << "cohort file:  " << c.path << "\n"
      << "format:       wsi-mpi cohort version " << c.format_version << " (written by wsi-mpi "
      << c.software_version << ")\n"
      << "job:          mode " << c.mode << ", model " << c.model << ", resolution " << c.resolution << "\n";
  if (!c.class_names.empty()) {
    out << "classes:      ";
    for (size_t k = 0; k < c.class_names.size(); ++k) out << (k ? ", " : "") << c.class_names[k];
    out << "\n";
  }
  out << "numerics:     " << c.numerics << "\n";
  out << "end state:    " << c.end_state;
  if (c.end_state == "running") out << " (still running, or stopped before it finished)";
  out << "\n\nslides:\n";
  size_t id_width = 2;
  for (const SlideInspection& s : c.slides) id_width = std::max(id_width, s.id.size());
  for (const SlideInspection& s : c.slides) {
    out << "  " << s.id << std::string(id_width - s.id.size(), ' ') << "  " << s.status
        << std::string(8 - std::min<size_t>(8, s.status.size()), ' ') << s.tile_count << " tiles, units "
        << s.units_done << "/" << s.units_total;
    if (!s.top_classes.empty()) {
      out << ", top classes ";
      for (size_t k = 0; k < s.top_classes.size(); ++k)
        out << (k ? ", " : "") << s.top_classes[k].name << " " << format_number(100 * s.top_classes[k].fraction, "%.1f")
            << "%";
    }
    if (!s.error.empty()) out << "\n" << std::string(id_width + 4, ' ') << "error: " << s.error;
    out << "\n";
  }
  out << "\ntotals:\n"
      << "  slides:     " << c.slides_done << " done, " << c.slides_failed << " failed, " << c.slides_pending
      << " pending (of " << c.slides.size() << "); " << c.slides_planned << " planned\n"
      << "  units:      " << c.units_done << " of " << c.units_total << " done\n"
      << "  tiles:      " << c.tiles_done << " of " << c.tiles_total << " done\n";
  if (c.seconds_total > 0)
    out << "  run time:   " << format_number(c.seconds_total, "%.1f") << " s over " << c.ranks << " rank(s)\n";
  out << "  resumable:  "
      << (c.resumable ? "yes (run the same job again to finish it)"
                      : c.end_state == "complete" ? "no (complete)" : "no (every unit is done)")
      << "\n";
  return out.str();
}

std::string inspection_json(const CohortInspection& c) {
  Json slides = Json::array();
  for (const SlideInspection& s : c.slides) {
    Json top = Json::array();
    for (const ClassShare& share : s.top_classes)
      top.push_back({{"class", share.name}, {"fraction", json_fraction(share.fraction)}});
    slides.push_back({{"id", s.id},
                      {"key", s.key},
                      {"status", s.status},
                      {"error", s.error},
                      {"tile_count", s.tile_count},
                      {"units_done", s.units_done},
                      {"units_total", s.units_total},
                      {"top_classes", top}});
  }
  const Json totals = {{"slides", static_cast<int64_t>(c.slides.size())},
                       {"slides_done", c.slides_done},
                       {"slides_failed", c.slides_failed},
                       {"slides_pending", c.slides_pending},
                       {"slides_planned", c.slides_planned},
                       {"units_done", c.units_done},
                       {"units_total", c.units_total},
                       {"tiles_done", c.tiles_done},
                       {"tiles_total", c.tiles_total}};
  const Json job = {{"mode", c.mode},
                    {"model", c.model},
                    {"resolution", c.resolution},
                    {"class_names", c.class_names},
                    {"numeric_config", c.numerics_json.empty() ? Json(nullptr) : parse_json(c.numerics_json, "")}};
  return json_text({{"path", c.path},
                    {"format_version", c.format_version},
                    {"software_version", c.software_version},
                    {"job", job},
                    {"end_state", c.end_state},
                    {"resumable", c.resumable},
                    {"totals", totals},
                    {"slides", slides},
                    {"ranks", c.ranks},
                    {"seconds_total", c.seconds_total}});
}

}  // namespace wsi
