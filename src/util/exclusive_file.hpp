// Files the job makes next to its output (OUT.h5.partial, the progress file's .tmp, export's
// .partial): a leftover is removed (a symlink itself, never what it points to) and the file is
// made anew with O_CREAT | O_EXCL | O_NOFOLLOW, so that a link planted there cannot make the
// job overwrite another file.
#pragma once
#include <string>

namespace wsi {

// Removes `path` if it is there (a link is removed, not followed). Throws naming the file.
void remove_leftover(const std::string& path);

// remove_leftover(path), then creates it empty and exclusively; returns the open descriptor
// (write-only, 0644). Throws std::runtime_error naming the file and the cause.
int create_exclusive(const std::string& path);

// Writes `text` to a new file at `path` through create_exclusive, then renames it to `target`
// (atomic on one file system). Throws naming the file.
void write_file_atomically(const std::string& path, const std::string& target, const std::string& text);

}  // namespace wsi
