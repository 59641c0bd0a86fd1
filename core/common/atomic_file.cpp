#include "core/common/atomic_file.h"

#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/common/error.h"

namespace zp {

namespace {
mode_t current_umask()
{
    const mode_t mask = ::umask(0);
    ::umask(mask);
    return mask;
}
}  // namespace

void apply_umask_mode(int fd, const std::string& what)
{
    if (::fchmod(fd, 0666 & ~current_umask()) != 0)
        throw IoError(what + ": cannot set the file's permissions: " + std::strerror(errno));
}

void apply_umask_dir_mode(const std::string& dir)
{
    if (::chmod(dir.c_str(), 0777 & ~current_umask()) != 0)
        throw IoError(dir + ": cannot set the folder's permissions: " + std::strerror(errno));
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path))
{
    std::string templ = path_ + ".tmp-XXXXXX";
    int fd = ::mkstemp(templ.data());
    if (fd < 0)
        throw IoError(path_ +
                      ": cannot create a temporary file next to it: " + std::strerror(errno));
    tmp_path_ = templ;
    // mkstemp creates the file 0600; a written file gets the usual 0666 minus the umask.
    try {
        apply_umask_mode(fd, path_);
    } catch (...) {
        ::close(fd);
        ::unlink(tmp_path_.c_str());
        throw;
    }
    file_ = ::fdopen(fd, "wb");
    if (!file_) {
        ::close(fd);
        ::unlink(tmp_path_.c_str());
        throw IoError(path_ + ": cannot open temporary file: " + std::strerror(errno));
    }
}

AtomicFile::~AtomicFile()
{
    if (file_)
        std::fclose(file_);
    if (!committed_ && !tmp_path_.empty())
        ::unlink(tmp_path_.c_str());
}

void AtomicFile::write(const void* data, size_t bytes)
{
    if (bytes == 0)
        return;
    if (std::fwrite(data, 1, bytes, file_) != bytes)
        throw IoError(path_ + ": write failed: " + std::strerror(errno));
}

void AtomicFile::commit()
{
    if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0)
        throw IoError(path_ + ": flush failed: " + std::strerror(errno));
    if (std::fclose(file_) != 0) {
        file_ = nullptr;
        throw IoError(path_ + ": close failed: " + std::strerror(errno));
    }
    file_ = nullptr;
    if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0)
        throw IoError(path_ + ": cannot rename temporary into place: " + std::strerror(errno));
    committed_ = true;
}

}  // namespace zp
