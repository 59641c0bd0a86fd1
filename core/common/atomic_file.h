// Atomic file writes: write to a temporary next to the target, then rename over it (QSaveFile's
// idea). A crash or an exception leaves either the old file or none, never a half-written one.
#pragma once

#include <cstdio>
#include <string>

namespace zp {

// The mode a plain open(2)/mkdir(2) would give under the current umask (0666 / 0777 minus it):
// mkstemp and mkdtemp create their files 0600 and folders 0700, which would make every output
// private by accident. Throws IoError naming `what` when chmod fails.
void apply_umask_mode(int fd, const std::string& what);
void apply_umask_dir_mode(const std::string& dir);

class AtomicFile {
public:
    explicit AtomicFile(std::string path);  // opens "<path>.tmp-XXXXXX" for writing; throws IoError
    ~AtomicFile();                          // removes the temporary unless commit() succeeded
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    void write(const void* data, size_t bytes);  // throws IoError (disk full, ...)
    void commit();                               // flush, fsync, rename onto the target path
    const std::string& path() const { return path_; }

private:
    std::string path_;
    std::string tmp_path_;
    std::FILE* file_ = nullptr;
    bool committed_ = false;
};

}  // namespace zp
