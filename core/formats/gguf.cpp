#include "core/formats/gguf.h"

#include <cstdio>
#include <cstring>
#include <limits>
#include <set>

#include "core/common/atomic_file.h"
#include "core/common/error.h"

namespace zp::gguf {

namespace {

uint64_t pad_to(uint64_t n, uint64_t alignment)
{
    return (n + alignment - 1) / alignment * alignment;
}

// Size in bytes of one scalar of a value type; 0 for string/array (variable) and unknown ids.
uint64_t scalar_bytes(uint32_t t)
{
    switch (t) {
        case 0:
        case 1:
        case 7:
            return 1;
        case 2:
        case 3:
            return 2;
        case 4:
        case 5:
        case 6:
            return 4;
        case 10:
        case 11:
        case 12:
            return 8;
        default:
            return 0;
    }
}

bool valid_value_type(uint32_t t)
{
    return t <= 12;
}

// ---- writing ----

class ByteSink {
public:
    std::vector<uint8_t> buf;
    template <typename T>
    void put(T v)
    {
        const auto* p = reinterpret_cast<const uint8_t*>(&v);
        buf.insert(buf.end(), p, p + sizeof(T));
    }
    void put_string(const std::string& s)
    {
        put<uint64_t>(s.size());
        buf.insert(buf.end(), s.begin(), s.end());
    }
};

void put_scalar(ByteSink& out, ValueType t, const Value& v, size_t index, bool in_array)
{
    const uint64_t u = in_array ? (index < v.au.size() ? v.au[index] : 0) : v.u;
    const int64_t i = in_array ? (index < v.ai.size() ? v.ai[index] : 0) : v.i;
    const double f = in_array ? (index < v.af.size() ? v.af[index] : 0.0) : v.f;
    switch (t) {
        case ValueType::u8:
            out.put<uint8_t>(static_cast<uint8_t>(u));
            break;
        case ValueType::i8:
            out.put<int8_t>(static_cast<int8_t>(i));
            break;
        case ValueType::u16:
            out.put<uint16_t>(static_cast<uint16_t>(u));
            break;
        case ValueType::i16:
            out.put<int16_t>(static_cast<int16_t>(i));
            break;
        case ValueType::u32:
            out.put<uint32_t>(static_cast<uint32_t>(u));
            break;
        case ValueType::i32:
            out.put<int32_t>(static_cast<int32_t>(i));
            break;
        case ValueType::f32:
            out.put<float>(static_cast<float>(f));
            break;
        case ValueType::boolean:
            out.put<uint8_t>(in_array ? (index < v.au.size() && v.au[index] ? 1 : 0)
                                      : (v.b ? 1 : 0));
            break;
        case ValueType::string:
            out.put_string(in_array ? v.as.at(index) : v.s);
            break;
        case ValueType::u64:
            out.put<uint64_t>(u);
            break;
        case ValueType::i64:
            out.put<int64_t>(i);
            break;
        case ValueType::f64:
            out.put<double>(f);
            break;
        case ValueType::array:
            throw InvalidArgument("GGUF: arrays of arrays are not allowed");
    }
}

// ---- reading ----

class Reader {
public:
    Reader(std::string path) : path_(std::move(path))
    {
        f_ = std::fopen(path_.c_str(), "rb");
        if (!f_)
            throw IoError(path_ + ": cannot open: " + std::strerror(errno));
        const long end = std::fseek(f_, 0, SEEK_END) == 0 ? std::ftell(f_) : -1;
        if (end < 0) {
            std::fclose(f_);  // the destructor does not run for a constructor that throws
            throw IoError(path_ + ": cannot seek to the end to tell the file size");
        }
        size_ = static_cast<uint64_t>(end);
        std::rewind(f_);
    }
    ~Reader()
    {
        if (f_)
            std::fclose(f_);
    }
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;

    uint64_t size() const { return size_; }
    uint64_t pos() const { return pos_; }
    uint64_t left() const { return size_ - pos_; }
    [[noreturn]] void fail(const std::string& field, const std::string& what) const
    {
        throw FormatError(path_ + ": " + field + ": " + what);
    }
    void bytes(void* dst, uint64_t n, const std::string& field)
    {
        if (n > left())
            fail(field, "truncated (needs " + std::to_string(n) + " bytes at offset " +
                            std::to_string(pos_) + ", the file has " + std::to_string(left()) +
                            " left)");
        if (n && std::fread(dst, 1, n, f_) != n)
            throw IoError(path_ + ": read error at offset " + std::to_string(pos_));
        pos_ += n;
    }
    template <typename T>
    T get(const std::string& field)
    {
        T v;
        bytes(&v, sizeof(T), field);
        return v;
    }
    std::string string(const std::string& field)
    {
        const uint64_t n = get<uint64_t>(field + " (string length)");
        if (n > left())
            fail(field, "string length " + std::to_string(n) + " runs past the end of the file (" +
                            std::to_string(left()) + " bytes left)");
        std::string s(n, '\0');
        bytes(s.data(), n, field);
        return s;
    }

private:
    std::string path_;
    std::FILE* f_ = nullptr;
    uint64_t size_ = 0;
    uint64_t pos_ = 0;
};

void read_scalar_into(Reader& r, uint32_t t, Value& v, bool in_array, const std::string& field)
{
    auto push_u = [&](uint64_t x) {
        if (in_array)
            v.au.push_back(x);
        else
            v.u = x;
    };
    auto push_i = [&](int64_t x) {
        if (in_array)
            v.ai.push_back(x);
        else
            v.i = x;
    };
    auto push_f = [&](double x) {
        if (in_array)
            v.af.push_back(x);
        else
            v.f = x;
    };
    switch (t) {
        case 0:
            push_u(r.get<uint8_t>(field));
            break;
        case 1:
            push_i(r.get<int8_t>(field));
            break;
        case 2:
            push_u(r.get<uint16_t>(field));
            break;
        case 3:
            push_i(r.get<int16_t>(field));
            break;
        case 4:
            push_u(r.get<uint32_t>(field));
            break;
        case 5:
            push_i(r.get<int32_t>(field));
            break;
        case 6:
            push_f(r.get<float>(field));
            break;
        case 7: {
            const uint8_t b = r.get<uint8_t>(field);
            if (b > 1)
                r.fail(field, "bool value " + std::to_string(b) + " is neither 0 nor 1");
            if (in_array)
                v.au.push_back(b);
            else
                v.b = b != 0;
            break;
        }
        case 8: {
            std::string s = r.string(field);
            if (in_array)
                v.as.push_back(std::move(s));
            else
                v.s = std::move(s);
            break;
        }
        case 10:
            push_u(r.get<uint64_t>(field));
            break;
        case 11:
            push_i(r.get<int64_t>(field));
            break;
        case 12:
            push_f(r.get<double>(field));
            break;
        default:
            r.fail(field, "value type " + std::to_string(t) + " is not a GGUF type (0..12)");
    }
}

}  // namespace

const char* value_type_name(ValueType t)
{
    static const char* names[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                  "bool", "string", "array", "u64", "i64", "f64"};
    const auto i = static_cast<uint32_t>(t);
    return i <= 12 ? names[i] : "unknown";
}

TypeTraits tensor_type_traits(uint32_t id)
{
    // Block geometry of every type llama.cpp's ggml defines (ggml.c type_traits); ids 4, 5
    // (removed Q4_2/Q4_3) and 31..33 (removed Q4_0_4_4...) are not types any more.
    switch (id) {
        case 0:
            return {"F32", 1, 4};
        case 1:
            return {"F16", 1, 2};
        case 2:
            return {"Q4_0", 32, 18};
        case 3:
            return {"Q4_1", 32, 20};
        case 6:
            return {"Q5_0", 32, 22};
        case 7:
            return {"Q5_1", 32, 24};
        case 8:
            return {"Q8_0", 32, 34};
        case 9:
            return {"Q8_1", 32, 36};
        case 10:
            return {"Q2_K", 256, 84};
        case 11:
            return {"Q3_K", 256, 110};
        case 12:
            return {"Q4_K", 256, 144};
        case 13:
            return {"Q5_K", 256, 176};
        case 14:
            return {"Q6_K", 256, 210};
        case 15:
            return {"Q8_K", 256, 292};
        case 16:
            return {"IQ2_XXS", 256, 66};
        case 17:
            return {"IQ2_XS", 256, 74};
        case 18:
            return {"IQ3_XXS", 256, 98};
        case 19:
            return {"IQ1_S", 256, 50};
        case 20:
            return {"IQ4_NL", 32, 18};
        case 21:
            return {"IQ3_S", 256, 110};
        case 22:
            return {"IQ2_S", 256, 82};
        case 23:
            return {"IQ4_XS", 256, 136};
        case 24:
            return {"I8", 1, 1};
        case 25:
            return {"I16", 1, 2};
        case 26:
            return {"I32", 1, 4};
        case 27:
            return {"I64", 1, 8};
        case 28:
            return {"F64", 1, 8};
        case 29:
            return {"IQ1_M", 256, 56};
        case 30:
            return {"BF16", 1, 2};
        case 34:
            return {"TQ1_0", 256, 54};
        case 35:
            return {"TQ2_0", 256, 66};
        case 39:
            return {"MXFP4", 32, 17};
        default:
            return {};
    }
}

uint64_t row_bytes(TensorType type, uint64_t n)
{
    const TypeTraits tt = tensor_type_traits(static_cast<uint32_t>(type));
    if (!tt.name)
        throw InvalidArgument("GGUF: unknown tensor type id " +
                              std::to_string(static_cast<uint32_t>(type)));
    if (n % tt.block_elements != 0)
        throw InvalidArgument(std::string("GGUF: a row of ") + std::to_string(n) +
                              " elements is not a whole number of " + tt.name + " blocks (" +
                              std::to_string(tt.block_elements) + ")");
    return n / tt.block_elements * tt.block_bytes;
}

Value Value::of_u32(uint32_t v)
{
    Value x;
    x.type = ValueType::u32;
    x.u = v;
    return x;
}
Value Value::of_i32(int32_t v)
{
    Value x;
    x.type = ValueType::i32;
    x.i = v;
    return x;
}
Value Value::of_u64(uint64_t v)
{
    Value x;
    x.type = ValueType::u64;
    x.u = v;
    return x;
}
Value Value::of_f32(float v)
{
    Value x;
    x.type = ValueType::f32;
    x.f = v;
    return x;
}
Value Value::of_bool(bool v)
{
    Value x;
    x.type = ValueType::boolean;
    x.b = v;
    return x;
}
Value Value::of_string(std::string v)
{
    Value x;
    x.type = ValueType::string;
    x.s = std::move(v);
    return x;
}
Value Value::of_strings(std::vector<std::string> v)
{
    Value x;
    x.type = ValueType::array;
    x.array_type = ValueType::string;
    x.as = std::move(v);
    return x;
}
Value Value::of_f32s(const std::vector<float>& v)
{
    Value x;
    x.type = ValueType::array;
    x.array_type = ValueType::f32;
    x.af.assign(v.begin(), v.end());
    return x;
}
Value Value::of_i32s(const std::vector<int32_t>& v)
{
    Value x;
    x.type = ValueType::array;
    x.array_type = ValueType::i32;
    x.ai.assign(v.begin(), v.end());
    return x;
}

size_t Value::array_size() const
{
    if (type != ValueType::array)
        return 0;
    switch (array_type) {
        case ValueType::string:
            return as.size();
        case ValueType::f32:
        case ValueType::f64:
            return af.size();
        case ValueType::i8:
        case ValueType::i16:
        case ValueType::i32:
        case ValueType::i64:
            return ai.size();
        default:
            return au.size();
    }
}

uint64_t TensorInfo::elements() const
{
    uint64_t n = 1;
    for (uint64_t d : ne)
        n *= d;
    return n;
}

void Writer::set(const std::string& key, Value v)
{
    if (key.empty())
        throw InvalidArgument("GGUF: empty metadata key");
    if (v.type == ValueType::array && v.array_type == ValueType::array)
        throw InvalidArgument("GGUF: " + key + ": arrays of arrays are not allowed");
    if (key == "general.alignment") {
        if (v.type != ValueType::u32 || v.u == 0 || (v.u & (v.u - 1)) != 0)
            throw InvalidArgument("GGUF: general.alignment must be a u32 power of two");
    }
    for (auto& kv : kv_)
        if (kv.first == key) {
            kv.second = std::move(v);
            return;
        }
    kv_.emplace_back(key, std::move(v));
}

TensorInfo Writer::make_info(const std::string& name, std::vector<uint64_t> ne,
                             TensorType type) const
{
    if (name.empty() || name.size() > kMaxNameBytes)
        throw InvalidArgument("GGUF: tensor name '" + name + "' must have 1.." +
                              std::to_string(kMaxNameBytes) + " bytes");
    if (ne.empty() || ne.size() > kMaxDims)
        throw InvalidArgument("GGUF: tensor " + name + ": " + std::to_string(ne.size()) +
                              " dims (1..4 allowed)");
    for (const TensorInfo& t : tensors_)
        if (t.name == name)
            throw InvalidArgument("GGUF: tensor " + name + " added twice");
    TensorInfo info;
    info.name = name;
    info.ne = std::move(ne);
    info.type = type;
    uint64_t rows = 1;
    for (size_t d = 1; d < info.ne.size(); ++d)
        rows *= info.ne[d];
    info.bytes = row_bytes(type, info.ne[0]) * rows;
    return info;
}

void Writer::add_tensor(const std::string& name, std::vector<uint64_t> ne, TensorType type,
                        std::vector<uint8_t> data)
{
    TensorInfo info = make_info(name, std::move(ne), type);
    if (info.bytes != data.size())
        throw InvalidArgument("GGUF: tensor " + name + ": " + std::to_string(data.size()) +
                              " bytes of data, the shape needs " + std::to_string(info.bytes));
    tensors_.push_back(std::move(info));
    data_.push_back(std::move(data));
    producers_.emplace_back();
}

void Writer::add_tensor(const std::string& name, std::vector<uint64_t> ne, TensorType type,
                        TensorProducer produce)
{
    if (!produce)
        throw InvalidArgument("GGUF: tensor " + name + ": no data producer");
    TensorInfo info = make_info(name, std::move(ne), type);
    tensors_.push_back(std::move(info));
    data_.emplace_back();
    producers_.push_back(std::move(produce));
}

uint64_t Writer::write(const std::string& path, const ProgressFn& progress) const
{
    uint64_t alignment = kDefaultAlignment;
    for (const auto& kv : kv_)
        if (kv.first == "general.alignment")
            alignment = kv.second.u;
    ByteSink h;
    h.buf.insert(h.buf.end(), {'G', 'G', 'U', 'F'});
    h.put<uint32_t>(kVersion);
    h.put<uint64_t>(tensors_.size());
    h.put<uint64_t>(kv_.size());
    for (const auto& kv : kv_) {
        h.put_string(kv.first);
        h.put<uint32_t>(static_cast<uint32_t>(kv.second.type));
        const Value& v = kv.second;
        if (v.type == ValueType::array) {
            h.put<uint32_t>(static_cast<uint32_t>(v.array_type));
            const size_t n = v.array_size();
            h.put<uint64_t>(n);
            for (size_t i = 0; i < n; ++i)
                put_scalar(h, v.array_type, v, i, true);
        } else {
            put_scalar(h, v.type, v, 0, false);
        }
    }
    uint64_t offset = 0;
    for (const TensorInfo& t : tensors_) {
        h.put_string(t.name);
        h.put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
        for (uint64_t d : t.ne)
            h.put<uint64_t>(d);
        h.put<uint32_t>(static_cast<uint32_t>(t.type));
        h.put<uint64_t>(offset);
        offset += pad_to(t.bytes, alignment);
    }
    h.buf.resize(pad_to(h.buf.size(), alignment), 0);
    const double n_tensors = static_cast<double>(tensors_.size());
    AtomicFile out(path);  // removes the temporary if anything below throws
    out.write(h.buf.data(), h.buf.size());
    uint64_t total = h.buf.size();
    h.buf.clear();
    h.buf.shrink_to_fit();
    static const std::vector<uint8_t> zeros(4096, 0);
    for (size_t i = 0; i < tensors_.size(); ++i) {
        const TensorInfo& t = tensors_[i];
        report_progress(progress, static_cast<double>(i), n_tensors, t.name);
        std::vector<uint8_t> produced;
        if (producers_[i]) {
            produced = producers_[i]();
            if (produced.size() != t.bytes)
                throw InvalidArgument("GGUF: tensor " + t.name + ": the producer gave " +
                                      std::to_string(produced.size()) + " bytes, the shape needs " +
                                      std::to_string(t.bytes));
        }
        const std::vector<uint8_t>& data = producers_[i] ? produced : data_[i];
        out.write(data.data(), data.size());
        uint64_t pad = pad_to(data.size(), alignment) - data.size();
        total += data.size() + pad;
        while (pad > 0) {
            const uint64_t n = std::min<uint64_t>(pad, zeros.size());
            out.write(zeros.data(), n);
            pad -= n;
        }
    }
    report_progress(progress, n_tensors, n_tensors, "written");
    out.commit();
    return total;
}

const Value* File::find(const std::string& key) const
{
    for (const auto& kv : this->kv)
        if (kv.first == key)
            return &kv.second;
    return nullptr;
}

const TensorInfo* File::tensor(const std::string& name) const
{
    for (const TensorInfo& t : tensors)
        if (t.name == name)
            return &t;
    return nullptr;
}

std::vector<uint8_t> File::read_data(const TensorInfo& t) const
{
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f)
        throw IoError(path + ": cannot open: " + std::strerror(errno));
    std::vector<uint8_t> data(t.bytes);
    const uint64_t at = data_offset + t.offset;
    const bool ok = std::fseek(f, static_cast<long>(at), SEEK_SET) == 0 &&
                    (t.bytes == 0 || std::fread(data.data(), 1, t.bytes, f) == t.bytes);
    std::fclose(f);
    if (!ok)
        throw IoError(path + ": tensor " + t.name + ": cannot read " + std::to_string(t.bytes) +
                      " bytes at offset " + std::to_string(at));
    return data;
}

File read(const std::string& path)
{
    Reader r(path);
    File file;
    file.path = path;
    file.file_size = r.size();

    char magic[4];
    r.bytes(magic, 4, "magic");
    if (std::memcmp(magic, "GGUF", 4) != 0)
        r.fail("magic", "not a GGUF file (the first 4 bytes are not \"GGUF\")");
    file.version = r.get<uint32_t>("version");
    if (file.version != kVersion)
        r.fail("version", "version " + std::to_string(file.version) +
                              " is not supported (only GGUF version 3)");
    const uint64_t n_tensors = r.get<uint64_t>("tensor_count");
    const uint64_t n_kv = r.get<uint64_t>("kv_count");
    // Smallest possible entries: a kv is key length (8) + 1 byte of key... + type (4) + 1 byte of
    // value; a tensor info is name length (8) + n_dims (4) + type (4) + offset (8).
    if (n_kv > r.left() / 13)
        r.fail("kv_count", std::to_string(n_kv) + " key/value pairs cannot fit in the " +
                               std::to_string(r.left()) + " bytes left in the file");
    if (n_tensors > r.left() / 24)
        r.fail("tensor_count", std::to_string(n_tensors) + " tensor infos cannot fit in the " +
                                   std::to_string(r.left()) + " bytes left in the file");

    std::set<std::string> keys;
    for (uint64_t k = 0; k < n_kv; ++k) {
        const std::string where = "key/value #" + std::to_string(k);
        std::string key = r.string(where + " key");
        if (key.empty())
            r.fail(where, "empty key");
        if (!keys.insert(key).second)
            r.fail(key, "duplicate key");
        Value v;
        const uint32_t t = r.get<uint32_t>(key + " (type)");
        if (!valid_value_type(t))
            r.fail(key, "value type " + std::to_string(t) + " is not a GGUF type (0..12)");
        v.type = static_cast<ValueType>(t);
        if (v.type == ValueType::array) {
            const uint32_t et = r.get<uint32_t>(key + " (array element type)");
            if (et == static_cast<uint32_t>(ValueType::array))
                r.fail(key, "array of arrays (not allowed in GGUF)");
            if (!valid_value_type(et))
                r.fail(key,
                       "array element type " + std::to_string(et) + " is not a GGUF type (0..12)");
            v.array_type = static_cast<ValueType>(et);
            const uint64_t n = r.get<uint64_t>(key + " (array length)");
            const uint64_t min_bytes = et == 8 ? 8 : scalar_bytes(et);
            if (n > r.left() / min_bytes)
                r.fail(key, "array of " + std::to_string(n) + " " + value_type_name(v.array_type) +
                                " elements runs past the end of the file");
            for (uint64_t i = 0; i < n; ++i)
                read_scalar_into(r, et, v, true, key + "[" + std::to_string(i) + "]");
        } else {
            read_scalar_into(r, t, v, false, key);
        }
        if (key == "general.alignment") {
            if (v.type != ValueType::u32)
                r.fail(key, std::string("type ") + value_type_name(v.type) + ", expected u32");
            if (v.u == 0 || (v.u & (v.u - 1)) != 0)
                r.fail(key, std::to_string(v.u) + " is not a power of two");
            file.alignment = v.u;
        }
        file.kv.emplace_back(std::move(key), std::move(v));
    }

    std::set<std::string> names;
    for (uint64_t ti = 0; ti < n_tensors; ++ti) {
        TensorInfo t;
        t.name = r.string("tensor #" + std::to_string(ti) + " name");
        const std::string field = "tensor " + t.name;
        if (t.name.empty())
            r.fail("tensor #" + std::to_string(ti) + " name", "empty name");
        if (t.name.size() > kMaxNameBytes)
            r.fail(field, "name has " + std::to_string(t.name.size()) + " bytes (at most " +
                              std::to_string(kMaxNameBytes) + ")");
        if (!names.insert(t.name).second)
            r.fail(field, "duplicate tensor name");
        const uint32_t n_dims = r.get<uint32_t>(field + " n_dims");
        if (n_dims == 0 || n_dims > kMaxDims)
            r.fail(field + " n_dims",
                   std::to_string(n_dims) + " (1.." + std::to_string(kMaxDims) + " allowed)");
        uint64_t elements = 1;
        for (uint32_t d = 0; d < n_dims; ++d) {
            const uint64_t n = r.get<uint64_t>(field + " ne[" + std::to_string(d) + "]");
            if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
                r.fail(field + " ne[" + std::to_string(d) + "]",
                       std::to_string(n) + " is negative as int64");
            if (n != 0 && elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / n)
                r.fail(field + " ne", "the element count overflows int64");
            elements *= n;
            t.ne.push_back(n);
        }
        const uint32_t type_id = r.get<uint32_t>(field + " type");
        const TypeTraits tt = tensor_type_traits(type_id);
        if (!tt.name)
            r.fail(field + " type", "type id " + std::to_string(type_id) + " is not a ggml type");
        t.type = static_cast<TensorType>(type_id);
        if (t.ne[0] % tt.block_elements != 0)
            r.fail(field + " ne[0]", "row length " + std::to_string(t.ne[0]) +
                                         " is not a multiple of the " + tt.name + " block (" +
                                         std::to_string(tt.block_elements) + " elements)");
        const uint64_t blocks = elements / tt.block_elements;
        if (blocks != 0 && tt.block_bytes > std::numeric_limits<uint64_t>::max() / 2 / blocks)
            r.fail(field, "the data size overflows");
        t.bytes = blocks * tt.block_bytes;
        t.offset = r.get<uint64_t>(field + " offset");
        file.tensors.push_back(std::move(t));
    }

    file.data_offset = pad_to(r.pos(), file.alignment);
    if (file.data_offset > file.file_size && n_tensors > 0)
        r.fail("data section", "the padding to the alignment runs past the end of the file");
    uint64_t expected = 0;
    for (const TensorInfo& t : file.tensors) {
        if (t.offset % file.alignment != 0)
            r.fail("tensor " + t.name + " offset", std::to_string(t.offset) +
                                                       " is not a multiple of the alignment " +
                                                       std::to_string(file.alignment));
        if (t.offset != expected)
            r.fail("tensor " + t.name + " offset",
                   std::to_string(t.offset) + ", expected " + std::to_string(expected) +
                       " (the running sum of the padded sizes of the tensors before it)");
        if (t.bytes > std::numeric_limits<uint64_t>::max() - expected - file.alignment)
            r.fail("tensor " + t.name, "the data size overflows");
        expected += pad_to(t.bytes, file.alignment);
    }
    // Nothing may follow the last tensor but its padding (nothing but the header's padding in a
    // file of no tensors): bytes the counts do not account for mean the counts lie, and a file
    // declaring n_kv = 0 or n_tensors = 0 in front of real content would read as empty.
    const uint64_t end =
        n_tensors == 0 ? pad_to(r.pos(), file.alignment) : file.data_offset + expected;
    if (file.file_size > end)
        r.fail(n_tensors == 0 ? "tensor_count" : "data section",
               std::to_string(file.file_size - end) + " bytes follow the " +
                   (n_tensors == 0 ? "header" : "last tensor") + " (kv_count " +
                   std::to_string(n_kv) + ", tensor_count " + std::to_string(n_tensors) +
                   "): the counts do not describe the file");
    for (const TensorInfo& t : file.tensors) {
        if (file.data_offset + t.offset + t.bytes > file.file_size)
            r.fail("tensor " + t.name + " data",
                   "bytes " + std::to_string(file.data_offset + t.offset) + ".." +
                       std::to_string(file.data_offset + t.offset + t.bytes) +
                       " lie past the end of the file (" + std::to_string(file.file_size) +
                       " bytes)");
    }
    return file;
}

}  // namespace zp::gguf
