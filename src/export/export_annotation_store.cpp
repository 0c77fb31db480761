// The SQLite annotation store of `export --format annotation-store`, in the layout of
// TIAToolbox's SQLiteStore (see wsi/export/tiatoolbox_export.hpp). The table definitions are
// SQLiteStore's text (tiatoolbox/annotation/storage.py, BSD-3-Clause) to the whitespace: its
// readers compare nothing, but tools that diff `sqlite_master` then see the same schema.
#include <sqlite3.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "util/exclusive_file.hpp"
#include "util/json.hpp"
#include "wsi/export/tiatoolbox_export.hpp"

namespace wsi {

namespace {

constexpr const char* kCreateMetadata = "CREATE TABLE metadata (key TEXT UNIQUE, value TEXT)";
constexpr const char* kCreateRtree = R"(CREATE VIRTUAL TABLE rtree USING rtree(
                id,                      -- Integer primary key
                min_x, max_x,            -- 1st dimension min, max
                min_y, max_y             -- 2nd dimension min, max
            ))";
constexpr const char* kCreateAnnotations = R"(CREATE TABLE annotations(
                id INTEGER PRIMARY KEY,  -- Integer primary key
                key TEXT UNIQUE,         -- Unique identifier (UUID)
                objtype TEXT,            -- Object type
                cx FLOAT NOT NULL,       -- X of centroid/representative point
                cy FLOAT NOT NULL,       -- Y of centroid/representative point
                geometry BLOB,           -- Detailed geometry
                properties TEXT,         -- JSON properties
                area FLOAT NOT NULL      -- Area (for ordering)
            ))";
// The store format SQLiteStore 2.0.x writes and reads; zlib level 9 is how it compresses WKB.
constexpr const char* kMetadataRows =
    R"(INSERT INTO metadata VALUES ('version', '"1.0.1"'), ('compression', '"zlib"'), ('compression_level', '9'))";
constexpr int kZlibLevel = 9;

// An open database; every failure throws naming the file and SQLite's message.
class Database {
 public:
  explicit Database(const std::string& path) : path_(path) {
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, nullptr);
    db_.reset(db);
    if (rc != SQLITE_OK) fail("open");
  }
  void check(int result) const {
    if (result != SQLITE_OK) fail("write");
  }
  void exec(const char* sql) {
    if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail("write");
  }
  sqlite3_stmt* prepare(const char* sql) {
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db_.get(), sql, -1, &statement, nullptr) != SQLITE_OK) fail("write");
    return statement;
  }
  void step(sqlite3_stmt* statement) {
    if (sqlite3_step(statement) != SQLITE_DONE) fail("write");
    sqlite3_reset(statement);
  }
  [[noreturn]] void fail(const char* what) const {
    throw std::runtime_error(std::string("cannot ") + what + " the annotation store '" + path_ + "': " +
                             (db_ ? sqlite3_errmsg(db_.get()) : "out of memory"));
  }

 private:
  struct Closer {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  std::string path_;
  std::unique_ptr<sqlite3, Closer> db_;
};

struct Finalizer {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};
using Statement = std::unique_ptr<sqlite3_stmt, Finalizer>;

std::string zlib_compressed(const std::string& bytes) {
  uLongf size = compressBound(bytes.size());
  std::string out(size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(out.data()), &size, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size(),
                kZlibLevel) != Z_OK)
    throw std::runtime_error("zlib could not compress a tile's geometry");
  out.resize(size);
  return out;
}

// {"prob_<class>": p, ..., "type": "<argmax class>"}: the keys and order of TIAToolbox's
// dict_to_store_patch_predictions; each p is the float32 as a double, as numpy hands it to json.
// Then "umap_rgb": [r, g, b] when the tile has a UMAP colour (`rgb` not null).
std::string tile_properties(const float* p, const std::vector<std::string>& class_names, const uint8_t* rgb) {
  Json properties = Json::object();
  for (size_t c = 0; c < class_names.size(); ++c) properties["prob_" + class_names[c]] = static_cast<double>(p[c]);
  properties["type"] = class_names[static_cast<size_t>(std::max_element(p, p + class_names.size()) - p)];
  if (rgb) properties["umap_rgb"] = {rgb[0], rgb[1], rgb[2]};
  return json_text(properties);
}

}  // namespace

std::string rectangle_wkb(double x0, double y0, double x1, double y1) {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "WKB is written in the host's byte order (1: little)");
  std::string wkb;
  const auto put = [&wkb](const auto& value) { wkb.append(reinterpret_cast<const char*>(&value), sizeof value); };
  put(uint8_t{1});   // little-endian
  put(uint32_t{3});  // Polygon
  put(uint32_t{1});  // one ring
  put(uint32_t{5});  // closed: the first point again
  for (const double v : {x0, y0, x0, y1, x1, y1, x1, y0, x0, y0}) put(v);
  return wkb;
}

void write_annotation_store(const std::string& target, const SlideTileRows& rows,
                            const std::vector<std::string>& class_names, double scale) {
  if (rows.classes <= 0 || static_cast<size_t>(rows.classes) != class_names.size())
    throw std::invalid_argument("an annotation store needs the class probabilities and one name per class");
  if (!rows.umap_rgb.empty() && rows.umap_rgb.size() != 3 * rows.tiles.size())
    throw std::invalid_argument("an annotation store needs one UMAP colour per tile, or none");
  AtomicOutput output(target);
  {
    Database db(output.path());
    // The rollback journal stays in memory: no second file beside the partial one, which is
    // discarded anyway when the export fails.
    db.exec("PRAGMA journal_mode = MEMORY");
    db.exec("BEGIN");
    db.exec(kCreateMetadata);
    db.exec(kMetadataRows);
    db.exec(kCreateRtree);
    db.exec(kCreateAnnotations);
    const Statement annotation(db.prepare("INSERT INTO annotations VALUES (NULL, ?, 'Polygon', ?, ?, ?, ?, ?)"));
    const Statement box(db.prepare("INSERT INTO rtree VALUES (last_insert_rowid(), ?, ?, ?, ?)"));
    for (size_t t = 0; t < rows.tiles.size(); ++t) {
      const TileBounds& b = rows.tiles[t];
      const double x0 = b.x0 * scale, y0 = b.y0 * scale, x1 = b.x1 * scale, y1 = b.y1 * scale;
      const std::string key = std::to_string(t);
      const std::string geometry = zlib_compressed(rectangle_wkb(x0, y0, x1, y1));
      const std::string properties = tile_properties(rows.probabilities.data() + t * class_names.size(), class_names,
                                                     rows.umap_rgb.empty() ? nullptr : rows.umap_rgb.data() + 3 * t);
      db.check(sqlite3_bind_text(annotation.get(), 1, key.c_str(), -1, SQLITE_TRANSIENT));
      // Centre and area as arithmetic: GEOS's centroid and area of the same ring (what SQLiteStore
      // stores) differ from them by a few ulp at most.
      db.check(sqlite3_bind_double(annotation.get(), 2, (x0 + x1) / 2));
      db.check(sqlite3_bind_double(annotation.get(), 3, (y0 + y1) / 2));
      db.check(sqlite3_bind_blob(annotation.get(), 4, geometry.data(), static_cast<int>(geometry.size()),
                                 SQLITE_TRANSIENT));
      db.check(sqlite3_bind_text(annotation.get(), 5, properties.c_str(), -1, SQLITE_TRANSIENT));
      db.check(sqlite3_bind_double(annotation.get(), 6, (x1 - x0) * (y1 - y0)));
      db.step(annotation.get());
      const double bounds[] = {x0, x1, y0, y1};  // the R*Tree's column order
      for (int c = 0; c < 4; ++c) db.check(sqlite3_bind_double(box.get(), c + 1, bounds[c]));
      db.step(box.get());
    }
    db.exec("COMMIT");
  }
  output.commit();
}

}  // namespace wsi
