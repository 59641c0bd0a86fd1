// A thin RAII layer over the HDF5 C library for the workbench's own files (session files). Every
// C call is checked; a failure throws IoError (the OS side: create, rename, disk full) or
// FormatError (content: not HDF5, damaged, missing object, wrong type or shape), and each message
// names the file and the object ("run.h5: /layers/000003/codes: ..."). HDF5's own error printing
// is switched off. Internal to core/ (session.cpp): only built with HDF5 (ZP_HAVE_HDF5).
#pragma once

#if defined(ZP_HAVE_HDF5)

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace zp::h5 {

using hid = int64_t;  // hid_t of HDF5 >= 1.10

// One open HDF5 identifier, closed with the matching H5*close on destruction.
class Handle {
public:
    enum class Kind { none, file, group, dataset, dataspace, datatype, attribute, plist };
    Handle() = default;
    Handle(hid id, Kind kind) : id_(id), kind_(kind) {}
    ~Handle();
    Handle(Handle&& o) noexcept;
    Handle& operator=(Handle&& o) noexcept;
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    hid id() const { return id_; }
    bool valid() const { return id_ >= 0; }
    void close();  // throws IoError when the close itself fails (the data may not be on disk)

private:
    hid id_ = -1;
    Kind kind_ = Kind::none;
};

// A file or a group: where groups, attributes and datasets live.
class Location {
public:
    Location(Handle h, std::string file, std::string path)
        : h_(std::move(h)), file_(std::move(file)), path_(std::move(path))
    {
    }
    const std::string& path() const { return path_; }  // "/" or "/layers/000003"
    const std::string& file() const { return file_; }
    std::string child_path(const std::string& name) const { return child(name); }
    hid id() const { return h_.id(); }

    Location create_group(const std::string& name);
    Location open_group(const std::string& name) const;  // FormatError if absent
    bool has(const std::string& name) const;             // a link of that name exists
    bool has_attr(const std::string& name) const;
    std::vector<std::string> children() const;  // link names, in name order
    // How many links the group holds, from its link-info message alone: unlike children(), it
    // does not walk the link storage (on a damaged file libhdf5 can crash walking it).
    int64_t link_count() const;

    void set_string(const std::string& attr, const std::string& value);
    void set_i64(const std::string& attr, int64_t value);
    void set_u64(const std::string& attr, uint64_t value);
    void set_f64(const std::string& attr, double value);
    std::string get_string(const std::string& attr) const;  // FormatError if absent or not a string
    int64_t get_i64(const std::string& attr) const;
    uint64_t get_u64(const std::string& attr) const;
    double get_f64(const std::string& attr) const;

    // A CPU tensor (float32, float64, float16 as raw u16 is not supported; uint8, int8, int32,
    // int64, bool as uint8) as a dataset of the same shape and element type (chunked, deflate
    // when available). Read back with the stored type and shape; where the caller knows what to
    // expect, the declared shape and element type are checked against it before anything is
    // allocated (FormatError naming both). A dataset that declares more bytes than its stored
    // chunks could hold even fully compressed is refused whatever the caller expects.
    void write_tensor(const std::string& name, const at::Tensor& t);
    at::Tensor read_tensor(const std::string& name,
                           const std::optional<std::vector<int64_t>>& expect_shape = std::nullopt,
                           std::optional<at::ScalarType> expect_type = std::nullopt) const;
    void write_strings(const std::string& name, const std::vector<std::string>& values);
    std::vector<std::string> read_strings(const std::string& name) const;

    [[noreturn]] void fail(const std::string& object,
                           const std::string& what) const;  // FormatError

protected:
    Handle h_;
    std::string file_;
    std::string path_;
    std::string child(const std::string& name) const
    {
        return path_ == "/" ? "/" + name : path_ + "/" + name;
    }
};

class File : public Location {
public:
    // Creates (truncating) a file for writing, the HDF5 data starting after `userblock` bytes
    // (0, or a power of two >= 512) that HDF5 leaves to the caller. IoError if it cannot.
    static File create(const std::string& path, uint64_t userblock = 0);
    // Opens for reading. IoError if it cannot be read; FormatError if it is not an HDF5 file or
    // is damaged (truncated).
    static File open(const std::string& path);
    // Flushes and closes; throws IoError on failure. The destructor closes silently.
    void close();

private:
    using Location::Location;
};

}  // namespace zp::h5

#endif  // ZP_HAVE_HDF5
