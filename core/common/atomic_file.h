// Atomic file writes: write to a temporary next to the target, then rename over it (QSaveFile's
// idea). A crash or an exception leaves either the old file or none, never a half-written one.
#pragma once

#include <cstdio>
#include <string>

namespace zp {

class AtomicFile {
public:
    explicit AtomicFile(std::string path);  // opens "<path>.tmp-XXXXXX" for writing; throws IoError
    ~AtomicFile();                          // removes the temporary unless commit() succeeded
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    void write(const void* data, size_t bytes);  // throws IoError (disk full, ...)
    void commit();                                // flush, fsync, rename onto the target path
    const std::string& path() const { return path_; }

private:
    std::string path_;
    std::string tmp_path_;
    std::FILE* file_ = nullptr;
    bool committed_ = false;
};

}  // namespace zp
