#include "core/formats/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include <ATen/ops/empty.h>
#include <nlohmann/json.hpp>

#include "core/common/atomic_file.h"
#include "core/common/error.h"
#include "core/common/json_strict.h"
#include "core/common/text.h"

namespace zp::io {

namespace {

struct DtypeEntry {
    const char* name;
    at::ScalarType type;
    size_t itemsize;
};

// Only dtypes ATen can hold; F8_*, U16/U32/U64 are refused as unsupported rather than misread.
const DtypeEntry kDtypes[] = {
    {"F64", at::kDouble, 8},    {"F32", at::kFloat, 4}, {"F16", at::kHalf, 2},
    {"BF16", at::kBFloat16, 2}, {"I64", at::kLong, 8},  {"I32", at::kInt, 4},
    {"I16", at::kShort, 2},     {"I8", at::kChar, 1},   {"U8", at::kByte, 1},
    {"BOOL", at::kBool, 1},
};

const DtypeEntry* find_dtype(const std::string& name)
{
    for (const auto& d : kDtypes)
        if (name == d.name)
            return &d;
    return nullptr;
}

const DtypeEntry* find_dtype(at::ScalarType t)
{
    for (const auto& d : kDtypes)
        if (t == d.type)
            return &d;
    return nullptr;
}

// Keeps an error message readable when the bad value is a large JSON blob.
std::string shorten(const std::string& s)
{
    return s.size() <= 80 ? s : s.substr(0, 77) + "...";
}

}  // namespace

struct SafetensorsFile::Impl {
    std::string path;
    int fd = -1;
    void* map = MAP_FAILED;
    size_t map_size = 0;
    uint64_t data_start = 0;  // 8 + header length
    std::map<std::string, SafetensorInfo> tensors;
    std::map<std::string, std::string> metadata;

    ~Impl()
    {
        if (map != MAP_FAILED)
            ::munmap(map, map_size);
        if (fd >= 0)
            ::close(fd);
    }

    [[noreturn]] void fail(const std::string& what) const { throw FormatError(path + ": " + what); }

    void parse_header(const char* text, uint64_t len, uint64_t data_size);
    void parse_entry(const std::string& name, const nlohmann::json& entry, uint64_t data_size);
};

void SafetensorsFile::Impl::parse_entry(const std::string& name, const nlohmann::json& e,
                                        uint64_t data_size)
{
    const std::string where = "tensor '" + name + "'";
    if (!e.is_object())
        fail(where + ": entry is not a JSON object: " + shorten(e.dump()));
    for (const char* key : {"dtype", "shape", "data_offsets"})
        if (!e.contains(key))
            fail(where + ": missing field '" + key + "'");
    const auto& jd = e["dtype"];
    if (!jd.is_string())
        fail(where + ": field 'dtype' is not a string: " + shorten(jd.dump()));
    SafetensorInfo info;
    info.name = name;
    info.dtype = jd.get<std::string>();
    const DtypeEntry* dt = find_dtype(info.dtype);
    if (!dt)
        fail(where + ": unknown or unsupported dtype '" + info.dtype + "'");
    info.scalar_type = dt->type;

    const auto& js = e["shape"];
    if (!js.is_array())
        fail(where + ": field 'shape' is not an array: " + shorten(js.dump()));
    // numel * itemsize computed with overflow checks: a lying shape must not wrap around.
    uint64_t bytes = dt->itemsize;
    bool overflow = false;
    for (const auto& d : js) {
        if (!d.is_number_integer() || d.get<int64_t>() < 0)
            fail(where + ": field 'shape' holds a non-integer or negative dimension: " +
                 shorten(js.dump()));
        uint64_t v = d.get<uint64_t>();
        if (v != 0 && bytes > std::numeric_limits<uint64_t>::max() / v)
            overflow = true;
        else
            bytes *= v;
        info.shape.push_back(static_cast<int64_t>(v));
    }

    const auto& jo = e["data_offsets"];
    if (!jo.is_array() || jo.size() != 2 || !jo[0].is_number_unsigned() ||
        !jo[1].is_number_unsigned())
        fail(where + ": field 'data_offsets' is not a pair of non-negative integers: " +
             shorten(jo.dump()));
    info.begin = jo[0].get<uint64_t>();
    info.end = jo[1].get<uint64_t>();
    if (info.begin > info.end)
        fail(where + ": data_offsets [" + std::to_string(info.begin) + ", " +
             std::to_string(info.end) + "] end before they begin");
    if (info.end > data_size)
        fail(where + ": data_offsets [" + std::to_string(info.begin) + ", " +
             std::to_string(info.end) + "] lie outside the data area of " +
             std::to_string(data_size) + " bytes (file truncated?)");
    if (overflow || bytes != info.end - info.begin)
        fail(where + ": shape " + js.dump() + " x " + info.dtype + " needs " +
             (overflow ? std::string("more than 2^64") : std::to_string(bytes)) +
             " bytes but data_offsets span " + std::to_string(info.end - info.begin));
    tensors.emplace(name, std::move(info));
}

void SafetensorsFile::Impl::parse_header(const char* text, uint64_t len, uint64_t data_size)
{
    nlohmann::json header;
    try {
        header = parse_json_strict(std::string_view(text, len), path);
    } catch (const nlohmann::json::exception& e) {
        fail(std::string("header is not valid JSON: ") + e.what());
    }
    if (!header.is_object())
        fail("header is not a JSON object");
    for (auto it = header.begin(); it != header.end(); ++it) {
        if (it.key() == "__metadata__") {
            if (!it.value().is_object())
                fail("field '__metadata__' is not an object");
            for (auto m = it.value().begin(); m != it.value().end(); ++m) {
                if (!m.value().is_string())
                    fail("__metadata__ field '" + m.key() +
                         "' is not a string: " + shorten(m.value().dump()));
                metadata[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        parse_entry(it.key(), it.value(), data_size);
    }
    // Overlaps: sort by begin; every tensor must start at or after the previous one's end.
    std::vector<const SafetensorInfo*> order;
    for (const auto& kv : tensors)
        if (kv.second.end > kv.second.begin)
            order.push_back(&kv.second);
    std::sort(order.begin(), order.end(),
              [](const SafetensorInfo* a, const SafetensorInfo* b) { return a->begin < b->begin; });
    for (size_t i = 1; i < order.size(); ++i)
        if (order[i]->begin < order[i - 1]->end)
            fail("tensors '" + order[i - 1]->name + "' [" + std::to_string(order[i - 1]->begin) +
                 ", " + std::to_string(order[i - 1]->end) + ") and '" + order[i]->name + "' [" +
                 std::to_string(order[i]->begin) + ", " + std::to_string(order[i]->end) +
                 ") overlap in the data area");
}

SafetensorsFile::SafetensorsFile(const std::string& path) : impl_(std::make_unique<Impl>())
{
    Impl& d = *impl_;
    d.path = path;
    d.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (d.fd < 0)
        throw IoError(path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(d.fd, &st) != 0)
        throw IoError(path + ": cannot stat: " + std::strerror(errno));
    if (S_ISDIR(st.st_mode))
        throw IoError(path + ": is a directory, not a safetensors file");
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    if (size < 8)
        d.fail("truncated: " + std::to_string(size) +
               " bytes, too short for the 8-byte header length");
    d.map_size = size;
    d.map = ::mmap(nullptr, d.map_size, PROT_READ, MAP_PRIVATE, d.fd, 0);
    if (d.map == MAP_FAILED)
        throw IoError(path + ": cannot memory-map: " + std::strerror(errno));
    const auto* bytes = static_cast<const unsigned char*>(d.map);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i)
        header_len = (header_len << 8) | bytes[i];
    if (header_len > size - 8)
        d.fail("header length " + std::to_string(header_len) + " runs past the end of the file (" +
               std::to_string(size) + " bytes; truncated or not a safetensors file)");
    d.data_start = 8 + header_len;
    d.parse_header(reinterpret_cast<const char*>(bytes + 8), header_len, size - d.data_start);
}

SafetensorsFile::~SafetensorsFile() = default;

const std::string& SafetensorsFile::path() const
{
    return impl_->path;
}

bool SafetensorsFile::contains(const std::string& name) const
{
    return impl_->tensors.count(name) != 0;
}

std::vector<std::string> SafetensorsFile::names() const
{
    std::vector<std::string> out;
    out.reserve(impl_->tensors.size());
    for (const auto& kv : impl_->tensors)
        out.push_back(kv.first);
    return out;
}

const SafetensorInfo& SafetensorsFile::info(const std::string& name) const
{
    auto it = impl_->tensors.find(name);
    if (it == impl_->tensors.end())
        impl_->fail("no tensor named '" + name + "'");
    return it->second;
}

const std::map<std::string, std::string>& SafetensorsFile::metadata() const
{
    return impl_->metadata;
}

at::Tensor SafetensorsFile::tensor(const std::string& name) const
{
    const SafetensorInfo& in = info(name);
    at::Tensor t = at::empty(in.shape, at::TensorOptions().dtype(in.scalar_type));
    const auto* src = static_cast<const char*>(impl_->map) + impl_->data_start + in.begin;
    if (in.end > in.begin)
        std::memcpy(t.data_ptr(), src, in.end - in.begin);
    return t;
}

struct SafetensorsWriter::Impl {
    struct Entry {
        std::string name;
        at::ScalarType type;
        std::vector<int64_t> shape;
    };
    std::string path;
    std::vector<Entry> entries;
    std::map<std::string, size_t> index;
    size_t next = 0;
    std::unique_ptr<AtomicFile> file;
};

SafetensorsWriter::SafetensorsWriter(std::string path) : impl_(std::make_unique<Impl>())
{
    impl_->path = std::move(path);
}

SafetensorsWriter::~SafetensorsWriter() = default;

const char* SafetensorsWriter::dtype_name(at::ScalarType t)
{
    const DtypeEntry* dt = find_dtype(t);
    if (!dt)
        throw InvalidArgument("dtype " + std::string(c10::toString(t)) +
                              " cannot be stored in safetensors");
    return dt->name;
}

void SafetensorsWriter::plan(const std::string& name, at::ScalarType type,
                             std::vector<int64_t> shape)
{
    const std::string& path = impl_->path;
    if (impl_->file)
        throw InvalidArgument(path + ": tensor '" + name +
                              "' planned after the header was written");
    if (name.empty() || name == "__metadata__")
        throw InvalidArgument(path + ": invalid tensor name '" + name + "'");
    if (impl_->index.count(name))
        throw InvalidArgument(path + ": tensor '" + name + "' given twice");
    if (!find_dtype(type))
        throw InvalidArgument(path + ": tensor '" + name + "' has dtype " +
                              std::string(c10::toString(type)) +
                              ", which safetensors export does not support");
    impl_->index[name] = impl_->entries.size();
    impl_->entries.push_back({name, type, std::move(shape)});
}

void SafetensorsWriter::open(const std::map<std::string, std::string>& metadata)
{
    nlohmann::json header = nlohmann::json::object();
    if (!metadata.empty())
        header["__metadata__"] = metadata;
    uint64_t offset = 0;
    for (const Impl::Entry& e : impl_->entries) {
        uint64_t bytes = find_dtype(e.type)->itemsize;
        for (int64_t d : e.shape)
            bytes *= static_cast<uint64_t>(d);
        header[e.name] = {{"dtype", find_dtype(e.type)->name},
                          {"shape", e.shape},
                          {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string text = header.dump();
    // Readers that mmap like to find the data area 8-byte aligned; the format allows space padding.
    text.append((8 - text.size() % 8) % 8, ' ');
    unsigned char len[8];
    for (int i = 0; i < 8; ++i)
        len[i] = static_cast<unsigned char>((static_cast<uint64_t>(text.size()) >> (8 * i)) & 0xff);
    impl_->file = std::make_unique<AtomicFile>(impl_->path);
    impl_->file->write(len, sizeof len);
    impl_->file->write(text.data(), text.size());
}

void SafetensorsWriter::put(const std::string& name, const at::Tensor& t)
{
    const std::string& path = impl_->path;
    if (!impl_->file)
        throw InvalidArgument(path + ": tensor '" + name + "' written before the header");
    if (impl_->next >= impl_->entries.size() || impl_->entries[impl_->next].name != name)
        throw InvalidArgument(path + ": tensor '" + name + "' written out of the planned order");
    const Impl::Entry& e = impl_->entries[impl_->next++];
    if (!t.defined())
        throw InvalidArgument(path + ": tensor '" + name + "' is undefined");
    if (t.sizes().vec() != e.shape)
        throw InvalidArgument(path + ": tensor '" + name + "' has shape " +
                              shape_str(t.sizes().vec()) + ", expected " + shape_str(e.shape));
    const at::Tensor c = t.detach().to(at::kCPU).to(e.type).contiguous();
    impl_->file->write(c.data_ptr(), static_cast<size_t>(c.numel()) * c.element_size());
}

void SafetensorsWriter::commit()
{
    if (!impl_->file || impl_->next != impl_->entries.size())
        throw InvalidArgument(impl_->path + ": " +
                              std::to_string(impl_->entries.size() - impl_->next) +
                              " planned tensors not written");
    impl_->file->commit();
}

void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata)
{
    SafetensorsWriter out(path);
    for (const auto& [name, t] : tensors) {
        if (!t.defined() && !name.empty() && name != "__metadata__")
            throw InvalidArgument(path + ": tensor '" + name + "' is undefined");
        out.plan(name, t.defined() ? t.scalar_type() : at::kFloat,
                 t.defined() ? t.sizes().vec() : std::vector<int64_t>{});
    }
    out.open(metadata);
    for (const auto& [name, t] : tensors)
        out.put(name, t);
    out.commit();
}

}  // namespace zp::io
