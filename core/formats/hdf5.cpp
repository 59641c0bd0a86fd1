#if defined(ZP_HAVE_HDF5)

#include "core/formats/hdf5.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>

#include <hdf5.h>

#include <ATen/ATen.h>

#include "core/common/error.h"

static_assert(sizeof(hid_t) == sizeof(zp::h5::hid), "HDF5 >= 1.10 (64-bit hid_t) expected");

namespace zp::h5 {

namespace {

// HDF5 prints an error stack to stderr on every failed call unless told not to; the workbench
// reports errors itself.
void silence()
{
    static const bool done = [] {
        H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
        return true;
    }();
    (void)done;
}

hid_t native_type(at::ScalarType st)
{
    switch (st) {
        case at::kFloat:
            return H5T_NATIVE_FLOAT;
        case at::kDouble:
            return H5T_NATIVE_DOUBLE;
        case at::kByte:
            return H5T_NATIVE_UINT8;
        case at::kChar:
            return H5T_NATIVE_INT8;
        case at::kInt:
            return H5T_NATIVE_INT32;
        case at::kLong:
            return H5T_NATIVE_INT64;
        default:
            return -1;
    }
}

Handle string_type(size_t size)
{
    Handle t(H5Tcopy(H5T_C_S1), Handle::Kind::datatype);
    if (!t.valid() || H5Tset_size(t.id(), std::max<size_t>(size, 1)) < 0 ||
        H5Tset_strpad(t.id(), H5T_STR_NULLPAD) < 0)
        throw IoError("HDF5: cannot make a string type");
    return t;
}

std::string strip_nul(std::string s)
{
    while (!s.empty() && s.back() == '\0')
        s.pop_back();
    return s;
}

herr_t collect_name(hid_t, const char* name, const H5L_info_t*, void* out)
{
    static_cast<std::vector<std::string>*>(out)->emplace_back(name);
    return 0;
}

}  // namespace

Handle::~Handle()
{
    if (id_ >= 0) {
        try {
            close();
        } catch (...) {
        }
    }
}

Handle::Handle(Handle&& o) noexcept : id_(o.id_), kind_(o.kind_)
{
    o.id_ = -1;
}

Handle& Handle::operator=(Handle&& o) noexcept
{
    if (this != &o) {
        if (id_ >= 0) {
            try {
                close();
            } catch (...) {
            }
        }
        id_ = o.id_;
        kind_ = o.kind_;
        o.id_ = -1;
    }
    return *this;
}

void Handle::close()
{
    if (id_ < 0)
        return;
    herr_t r = 0;
    switch (kind_) {
        case Kind::file:
            r = H5Fclose(id_);
            break;
        case Kind::group:
            r = H5Gclose(id_);
            break;
        case Kind::dataset:
            r = H5Dclose(id_);
            break;
        case Kind::dataspace:
            r = H5Sclose(id_);
            break;
        case Kind::datatype:
            r = H5Tclose(id_);
            break;
        case Kind::attribute:
            r = H5Aclose(id_);
            break;
        case Kind::plist:
            r = H5Pclose(id_);
            break;
        case Kind::none:
            break;
    }
    id_ = -1;
    if (r < 0)
        throw IoError("HDF5: closing an object failed (data may not have reached the disk)");
}

void Location::fail(const std::string& object, const std::string& what) const
{
    throw FormatError(file_ + ": " + object + ": " + what);
}

Location Location::create_group(const std::string& name)
{
    Handle g(H5Gcreate2(id(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
             Handle::Kind::group);
    if (!g.valid())
        throw IoError(file_ + ": " + child(name) + ": cannot create the group");
    return Location(std::move(g), file_, child(name));
}

Location Location::open_group(const std::string& name) const
{
    if (!has(name))
        fail(child(name), "missing group");
    Handle g(H5Gopen2(id(), name.c_str(), H5P_DEFAULT), Handle::Kind::group);
    if (!g.valid())
        fail(child(name), "cannot open as a group (damaged, or not a group)");
    return Location(std::move(g), file_, child(name));
}

bool Location::has(const std::string& name) const
{
    const htri_t r = H5Lexists(id(), name.c_str(), H5P_DEFAULT);
    if (r < 0)
        fail(child(name), "cannot look the link up (damaged file)");
    return r > 0;
}

bool Location::has_attr(const std::string& name) const
{
    const htri_t r = H5Aexists(id(), name.c_str());
    if (r < 0)
        fail(path_ + "@" + name, "cannot look the attribute up (damaged file)");
    return r > 0;
}

std::vector<std::string> Location::children() const
{
    std::vector<std::string> names;
    hsize_t idx = 0;
    if (H5Literate(id(), H5_INDEX_NAME, H5_ITER_INC, &idx, collect_name, &names) < 0)
        fail(path_, "cannot list the group (damaged file)");
    return names;
}

int64_t Location::link_count() const
{
    H5G_info_t info{};
    if (H5Gget_info(id(), &info) < 0)
        fail(path_, "cannot read the group's link count (damaged file)");
    return static_cast<int64_t>(info.nlinks);
}

void Location::set_string(const std::string& attr, const std::string& value)
{
    Handle type = string_type(value.size());
    Handle space(H5Screate(H5S_SCALAR), Handle::Kind::dataspace);
    Handle a(H5Acreate2(id(), attr.c_str(), type.id(), space.id(), H5P_DEFAULT, H5P_DEFAULT),
             Handle::Kind::attribute);
    std::string buf = value.empty() ? std::string(1, '\0') : value;
    if (!a.valid() || H5Awrite(a.id(), type.id(), buf.data()) < 0)
        throw IoError(file_ + ": " + path_ + "@" + attr + ": cannot write the attribute");
}

namespace {
template <typename T>
void write_scalar_attr(Location& loc, const std::string& attr, hid_t type, T value)
{
    Handle space(H5Screate(H5S_SCALAR), Handle::Kind::dataspace);
    Handle a(H5Acreate2(loc.id(), attr.c_str(), type, space.id(), H5P_DEFAULT, H5P_DEFAULT),
             Handle::Kind::attribute);
    if (!a.valid() || H5Awrite(a.id(), type, &value) < 0)
        throw IoError(loc.file() + ": " + loc.path() + "@" + attr + ": cannot write the attribute");
}

template <typename T>
T read_scalar_attr(const Location& loc, const std::string& attr, hid_t mem_type, H5T_class_t want)
{
    const std::string obj = loc.path() + "@" + attr;
    if (!loc.has_attr(attr))
        loc.fail(obj, "missing attribute");
    Handle a(H5Aopen(loc.id(), attr.c_str(), H5P_DEFAULT), Handle::Kind::attribute);
    if (!a.valid())
        loc.fail(obj, "cannot open the attribute");
    Handle type(H5Aget_type(a.id()), Handle::Kind::datatype);
    Handle space(H5Aget_space(a.id()), Handle::Kind::dataspace);
    if (!type.valid() || H5Tget_class(type.id()) != want)
        loc.fail(obj,
                 want == H5T_FLOAT ? "not a floating-point attribute" : "not an integer attribute");
    if (!space.valid() || H5Sget_simple_extent_npoints(space.id()) != 1)
        loc.fail(obj, "not a single value");
    T v{};
    if (H5Aread(a.id(), mem_type, &v) < 0)
        loc.fail(obj, "cannot read the value (out of range or damaged)");
    return v;
}
}  // namespace

void Location::set_i64(const std::string& attr, int64_t value)
{
    write_scalar_attr(*this, attr, H5T_NATIVE_INT64, value);
}
void Location::set_u64(const std::string& attr, uint64_t value)
{
    write_scalar_attr(*this, attr, H5T_NATIVE_UINT64, value);
}
void Location::set_f64(const std::string& attr, double value)
{
    write_scalar_attr(*this, attr, H5T_NATIVE_DOUBLE, value);
}
int64_t Location::get_i64(const std::string& attr) const
{
    return read_scalar_attr<int64_t>(*this, attr, H5T_NATIVE_INT64, H5T_INTEGER);
}
uint64_t Location::get_u64(const std::string& attr) const
{
    return read_scalar_attr<uint64_t>(*this, attr, H5T_NATIVE_UINT64, H5T_INTEGER);
}
double Location::get_f64(const std::string& attr) const
{
    return read_scalar_attr<double>(*this, attr, H5T_NATIVE_DOUBLE, H5T_FLOAT);
}

std::string Location::get_string(const std::string& attr) const
{
    const std::string obj = path_ + "@" + attr;
    if (!has_attr(attr))
        fail(obj, "missing attribute");
    Handle a(H5Aopen(id(), attr.c_str(), H5P_DEFAULT), Handle::Kind::attribute);
    if (!a.valid())
        fail(obj, "cannot open the attribute");
    Handle type(H5Aget_type(a.id()), Handle::Kind::datatype);
    if (!type.valid() || H5Tget_class(type.id()) != H5T_STRING)
        fail(obj, "not a string attribute");
    if (H5Tis_variable_str(type.id()) > 0)
        fail(obj, "variable-length string (this file was not written by ZeroPoint)");
    const size_t n = H5Tget_size(type.id());
    Handle mem = string_type(n);
    std::string buf(std::max<size_t>(n, 1), '\0');
    if (H5Aread(a.id(), mem.id(), buf.data()) < 0)
        fail(obj, "cannot read the string");
    return strip_nul(buf);
}

void Location::write_tensor(const std::string& name, const at::Tensor& t_in)
{
    const std::string obj = child(name);
    at::Tensor t = t_in.to(at::kCPU).contiguous();
    if (t.scalar_type() == at::kBool)
        t = t.to(at::kByte);
    const hid_t type = native_type(t.scalar_type());
    if (type < 0)
        throw InvalidArgument(file_ + ": " + obj + ": tensor dtype " +
                              std::string(c10::toString(t.scalar_type())) +
                              " cannot be stored (float32/64, int8/32/64, uint8)");
    std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
    Handle space(t.dim() == 0
                     ? H5Screate(H5S_SCALAR)
                     : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                 Handle::Kind::dataspace);
    Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), Handle::Kind::plist);
    if (!space.valid() || !dcpl.valid())
        throw IoError(file_ + ": " + obj + ": cannot describe the dataset");
    const size_t bytes = t.nbytes();
    if (t.dim() > 0 && t.numel() > 0) {
        // Chunks of about 1 MiB along the first dimension; deflate (level 1) where HDF5 has it:
        // codes (one small integer per byte) shrink a lot.
        std::vector<hsize_t> chunk = dims;
        const size_t row_bytes = bytes / static_cast<size_t>(dims[0]);
        chunk[0] = std::max<hsize_t>(
            1, std::min<hsize_t>(dims[0], (1u << 20) / std::max<size_t>(row_bytes, 1)));
        if (H5Pset_chunk(dcpl.id(), static_cast<int>(chunk.size()), chunk.data()) < 0)
            throw IoError(file_ + ": " + obj + ": cannot set the chunk size");
        if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0 && H5Pset_deflate(dcpl.id(), 1) < 0)
            throw IoError(file_ + ": " + obj + ": cannot enable deflate");
        // A checksum per chunk: a damaged file is refused instead of read as wrong numbers.
        if (H5Zfilter_avail(H5Z_FILTER_FLETCHER32) > 0 && H5Pset_fletcher32(dcpl.id()) < 0)
            throw IoError(file_ + ": " + obj + ": cannot enable checksums");
    }
    Handle ds(H5Dcreate2(id(), name.c_str(), type, space.id(), H5P_DEFAULT, dcpl.id(), H5P_DEFAULT),
              Handle::Kind::dataset);
    if (!ds.valid())
        throw IoError(file_ + ": " + obj + ": cannot create the dataset");
    if (t.numel() > 0 && H5Dwrite(ds.id(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr()) < 0)
        throw IoError(file_ + ": " + obj + ": cannot write " + std::to_string(bytes) + " bytes");
}

namespace {
const char* dtype_text(at::ScalarType st)
{
    switch (st) {
        case at::kFloat:
            return "float32";
        case at::kDouble:
            return "float64";
        case at::kByte:
            return "uint8";
        case at::kChar:
            return "int8";
        case at::kInt:
            return "int32";
        case at::kLong:
            return "int64";
        default:
            return c10::toString(st);
    }
}

std::string shape_text(const std::vector<int64_t>& s)
{
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i)
        out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}
}  // namespace

at::Tensor Location::read_tensor(const std::string& name,
                                 const std::optional<std::vector<int64_t>>& expect_shape,
                                 std::optional<at::ScalarType> expect_type) const
{
    const std::string obj = child(name);
    if (!has(name))
        fail(obj, "missing dataset");
    Handle ds(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), Handle::Kind::dataset);
    if (!ds.valid())
        fail(obj, "cannot open as a dataset");
    Handle type(H5Dget_type(ds.id()), Handle::Kind::datatype);
    Handle space(H5Dget_space(ds.id()), Handle::Kind::dataspace);
    if (!type.valid() || !space.valid())
        fail(obj, "cannot read the type or shape (damaged)");
    const H5T_class_t cls = H5Tget_class(type.id());
    const size_t size = H5Tget_size(type.id());
    at::ScalarType st;
    if (cls == H5T_FLOAT && size == 4)
        st = at::kFloat;
    else if (cls == H5T_FLOAT && size == 8)
        st = at::kDouble;
    else if (cls == H5T_INTEGER) {
        const bool is_signed = H5Tget_sign(type.id()) == H5T_SGN_2;
        if (size == 1)
            st = is_signed ? at::kChar : at::kByte;
        else if (size == 4 && is_signed)
            st = at::kInt;
        else if (size == 8 && is_signed)
            st = at::kLong;
        else
            fail(obj, "integer type of " + std::to_string(size) +
                          " bytes is not one the workbench writes");
    } else {
        fail(obj, "element type is not a number");
    }
    const int rank = H5Sget_simple_extent_ndims(space.id());
    if (rank < 0 || rank > 8)
        fail(obj, "bad rank");
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    if (rank > 0 && H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr) < 0)
        fail(obj, "cannot read the shape");
    // Shapes are checked before anything is allocated: a declared [2^40, 1] must not become a
    // 4 TB allocation.
    std::vector<int64_t> shape;
    uint64_t numel = 1;
    for (hsize_t d : dims) {
        if (d > static_cast<hsize_t>(INT64_MAX) ||
            (d != 0 && numel > static_cast<uint64_t>(INT64_MAX) / 8 / d))
            fail(obj, "declared dimension " + std::to_string(d) + " is too large (damaged)");
        numel *= d;
        shape.push_back(static_cast<int64_t>(d));
    }
    if (expect_type && st != *expect_type)
        fail(obj, std::string("element type ") + dtype_text(st) + " where " +
                      dtype_text(*expect_type) + " is expected");
    if (expect_shape && shape != *expect_shape)
        fail(obj, "shape " + shape_text(shape) + " contradicts the expected " +
                      shape_text(*expect_shape));
    // Deflate cannot shrink data more than about 1032:1: a dataset whose stored chunks are far
    // smaller than that declares a shape it never held (unallocated chunks read as fill values).
    const uint64_t raw = numel * size;
    const uint64_t stored = H5Dget_storage_size(ds.id());
    if (raw > (uint64_t{1} << 16) && raw / 1100 > stored)
        fail(obj, "declares " + shape_text(shape) + " (" + std::to_string(raw) +
                      " bytes) but the file stores " + std::to_string(stored) +
                      " bytes for it (damaged or forged shape)");
    at::Tensor t = at::empty(shape, st);
    if (t.numel() > 0 &&
        H5Dread(ds.id(), native_type(st), H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr()) < 0)
        fail(obj, "cannot read the data (damaged or truncated file)");
    return t;
}

void Location::write_strings(const std::string& name, const std::vector<std::string>& values)
{
    size_t n = 1;
    for (const auto& v : values)
        n = std::max(n, v.size());
    std::string buf(values.size() * n, '\0');
    for (size_t i = 0; i < values.size(); ++i)
        std::memcpy(&buf[i * n], values[i].data(), values[i].size());
    Handle type = string_type(n);
    hsize_t dim = values.size();
    Handle space(H5Screate_simple(1, &dim, nullptr), Handle::Kind::dataspace);
    Handle ds(H5Dcreate2(id(), name.c_str(), type.id(), space.id(), H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT),
              Handle::Kind::dataset);
    if (!ds.valid() || (!values.empty() && H5Dwrite(ds.id(), type.id(), H5S_ALL, H5S_ALL,
                                                    H5P_DEFAULT, buf.data()) < 0))
        throw IoError(file_ + ": " + child(name) + ": cannot write the strings");
}

std::vector<std::string> Location::read_strings(const std::string& name) const
{
    const std::string obj = child(name);
    if (!has(name))
        fail(obj, "missing dataset");
    Handle ds(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), Handle::Kind::dataset);
    if (!ds.valid())
        fail(obj, "cannot open as a dataset");
    Handle type(H5Dget_type(ds.id()), Handle::Kind::datatype);
    Handle space(H5Dget_space(ds.id()), Handle::Kind::dataspace);
    if (!type.valid() || H5Tget_class(type.id()) != H5T_STRING || H5Tis_variable_str(type.id()) > 0)
        fail(obj, "not a fixed-length string dataset");
    if (!space.valid() || H5Sget_simple_extent_ndims(space.id()) != 1)
        fail(obj, "not a 1-D dataset");
    hsize_t count = 0;
    H5Sget_simple_extent_dims(space.id(), &count, nullptr);
    const size_t n = H5Tget_size(type.id());
    Handle mem = string_type(n);
    std::string buf(static_cast<size_t>(count) * n, '\0');
    if (count > 0 && H5Dread(ds.id(), mem.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0)
        fail(obj, "cannot read the strings (damaged)");
    std::vector<std::string> out;
    for (hsize_t i = 0; i < count; ++i)
        out.push_back(strip_nul(buf.substr(static_cast<size_t>(i) * n, n)));
    return out;
}

File File::create(const std::string& path, uint64_t userblock)
{
    silence();
    Handle fcpl(H5Pcreate(H5P_FILE_CREATE), Handle::Kind::plist);
    if (!fcpl.valid() || (userblock > 0 && H5Pset_userblock(fcpl.id(), userblock) < 0))
        throw IoError(path + ": cannot set up HDF5 file creation (user block " +
                      std::to_string(userblock) + ")");
    // File format of HDF5 1.8 or later: its metadata (object headers, B-trees) carries checksums,
    // so a damaged file is refused rather than misread.
    Handle fapl(H5Pcreate(H5P_FILE_ACCESS), Handle::Kind::plist);
    if (!fapl.valid() || H5Pset_libver_bounds(fapl.id(), H5F_LIBVER_V18, H5F_LIBVER_LATEST) < 0)
        throw IoError(path + ": cannot set up HDF5 file access");
    Handle f(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.id(), fapl.id()), Handle::Kind::file);
    if (!f.valid())
        throw IoError(path + ": cannot create the HDF5 file");
    return File(std::move(f), path, "/");
}

File File::open(const std::string& path)
{
    silence();
    {
        std::ifstream probe(path, std::ios::binary);
        if (!probe)
            throw IoError(path + ": cannot open: " + std::strerror(errno));
    }
    const htri_t is = H5Fis_hdf5(path.c_str());
    if (is == 0)
        throw FormatError(path + ": not an HDF5 file (no HDF5 signature)");
    Handle f(is > 0 ? H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT) : -1, Handle::Kind::file);
    if (!f.valid())
        throw FormatError(path +
                          ": damaged or truncated HDF5 file (the HDF5 library cannot open it)");
    return File(std::move(f), path, "/");
}

void File::close()
{
    if (h_.valid() && H5Fflush(h_.id(), H5F_SCOPE_GLOBAL) < 0)
        throw IoError(file_ + ": cannot flush the HDF5 file");
    try {
        h_.close();
    } catch (const IoError&) {
        throw IoError(file_ + ": cannot close the HDF5 file (disk full?)");
    }
}

}  // namespace zp::h5

#endif  // ZP_HAVE_HDF5
