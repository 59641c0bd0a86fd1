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

// The same for a directory of several files: they are written into a temporary sibling folder,
// which commit() renames onto the target; anything else (an exception, a cancel) removes it. A
// multi-file output is all there or not there at all.
class AtomicDir {
public:
    // Checks the target first (check_target) and creates ".<name>.tmp-XXXXXX" next to it.
    // `what` starts error messages ("export", "convert"). Throws InvalidArgument / IoError.
    AtomicDir(const std::string& target, const std::string& what);
    ~AtomicDir();  // removes the temporary folder unless commit() succeeded
    AtomicDir(const AtomicDir&) = delete;
    AtomicDir& operator=(const AtomicDir&) = delete;

    const std::string& path() const { return tmp_; }       // where to write the files
    const std::string& target() const { return target_; }  // normalised target
    // Renames the folder onto the target; a previous output there is moved aside first and
    // removed once the new one is in place (restored if the rename fails).
    void commit();

    // A directory output may replace a previous one (a directory holding config.json) or an
    // empty directory; never a file or an unrelated non-empty directory. Returns the normalised
    // target; InvalidArgument otherwise.
    static std::string check_target(const std::string& out, const std::string& what);

private:
    std::string target_, tmp_;
    bool committed_ = false;
};

}  // namespace zp
