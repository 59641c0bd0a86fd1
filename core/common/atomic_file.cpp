#include "core/common/atomic_file.h"

#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

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

namespace fs = std::filesystem;

std::string AtomicDir::check_target(const std::string& out, const std::string& what)
{
    fs::path p = fs::path(out).lexically_normal();
    if (p.filename().empty())
        p = p.parent_path();
    if (p.empty() || p == "." || p == "..")
        throw InvalidArgument(what + ": --out '" + out + "' must name a new directory");
    std::error_code ec;
    if (fs::exists(p, ec)) {
        if (!fs::is_directory(p, ec))
            throw InvalidArgument(what + ": " + p.string() +
                                  " exists and is not a directory; this output is a directory");
        const bool empty = fs::is_empty(p, ec);
        if (!empty && !fs::exists(p / "config.json", ec))
            throw InvalidArgument(what + ": " + p.string() +
                                  " is a non-empty directory that holds no config.json (not a "
                                  "previous output): refusing to replace it");
    }
    return p.string();
}

AtomicDir::AtomicDir(const std::string& target, const std::string& what)
    : target_(check_target(target, what))
{
    const fs::path t(target_);
    const fs::path parent = t.parent_path().empty() ? fs::path(".") : t.parent_path();
    std::error_code ec;
    if (!fs::is_directory(parent, ec))
        throw IoError(target_ + ": the parent directory " + parent.string() + " does not exist");
    std::string templ = (parent / ("." + t.filename().string() + ".tmp-XXXXXX")).string();
    if (!::mkdtemp(templ.data()))
        throw IoError(target_ +
                      ": cannot create a temporary directory next to it: " + std::strerror(errno));
    tmp_ = templ;
    // mkdtemp made it 0700: the installed folder gets what mkdir(2) would give.
    try {
        apply_umask_dir_mode(tmp_);
    } catch (...) {
        fs::remove_all(tmp_, ec);
        throw;
    }
}

AtomicDir::~AtomicDir()
{
    if (!committed_ && !tmp_.empty()) {
        std::error_code ec;
        fs::remove_all(tmp_, ec);
    }
}

void AtomicDir::commit()
{
    std::error_code ec;
    fs::path old;
    if (fs::exists(target_, ec)) {
        std::string templ = target_ + ".old-XXXXXX";
        if (!::mkdtemp(templ.data()))
            throw IoError(target_ +
                          ": cannot move the previous output aside: " + std::strerror(errno));
        old = templ;
        fs::remove(old, ec);
        fs::rename(target_, old, ec);
        if (ec)
            throw IoError(target_ + ": cannot move the previous output aside: " + ec.message());
    }
    fs::rename(tmp_, target_, ec);
    if (ec) {
        std::error_code ec2;
        if (!old.empty())
            fs::rename(old, target_, ec2);
        throw IoError(target_ + ": cannot rename the finished output into place: " + ec.message());
    }
    committed_ = true;
    if (!old.empty())
        fs::remove_all(old, ec);
}

}  // namespace zp
