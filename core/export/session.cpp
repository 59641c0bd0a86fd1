#include "core/export/session.h"

#include <fcntl.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <sstream>

#include <ATen/ATen.h>

#include "core/common/atomic_file.h"
#include "core/common/checksum.h"
#include "core/common/error.h"
#include "core/formats/gguf_blocks.h"
#include "core/formats/hdf5.h"
#include "core/pipeline/run_options.h"
#include "core/quant/kquant_search.h"
#include "core/quant/quantizer.h"

namespace zp::session {

std::string summarize(const quant::QuantizedModel& qm)
{
    std::ostringstream o;
    const auto& c = qm.config;
    o << "model:        " << c.model_path << " (config hash " << c.model_config_hash << ")\n"
      << "method:       " << c.method << ", " << c.bits << " bits, group "
      << (c.group_size < 0 ? std::string("channel-wise") : std::to_string(c.group_size)) << "\n"
      << "calibration:  "
      << (c.calibration_source.empty() ? std::string("data-free") : c.calibration_source);
    if (!c.calibration_source.empty())
        o << " (" << c.calibration_samples << " x " << c.calibration_seqlen << " tokens)";
    o << ", seed " << c.seed << "\n"
      << "software:     " << c.software_version << "\n";
    for (const auto& [k, v] : c.extra)
        o << "extra:        " << k << " = " << v << "\n";
    for (const auto& [k, v] : qm.perplexity) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.4f", v);
        o << "perplexity:   " << k << " = " << buf << "\n";
    }
    o << "layers:       " << qm.layers.size() << "\n";
    for (const auto& l : qm.layers) {
        char buf[256];
        std::snprintf(buf, sizeof buf,
                      "  block %3lld %-9s %-4s %-10s %d-bit g%-5lld [%lld x %lld]%s  rel.err %.4g  "
                      "diag %.4g\n",
                      static_cast<long long>(l.block), l.name.c_str(),
                      quant::algorithm_name(l.algorithm), l.param_method.c_str(), l.bits,
                      static_cast<long long>(l.group_size), static_cast<long long>(l.out_features),
                      static_cast<long long>(l.in_features), l.skipped ? " skipped" : "",
                      l.relative_weight_error, l.diag_loss);
        o << buf;
    }
    return o.str();
}

#if !defined(ZP_HAVE_HDF5)

bool available()
{
    return false;
}

void write_session(const quant::QuantizedModel&, const std::string& path)
{
    throw InvalidArgument(path + ": this build has no HDF5 (session files need libhdf5)");
}

quant::QuantizedModel read_session(const std::string& path, ReadInfo*)
{
    throw InvalidArgument(path + ": this build has no HDF5 (session files need libhdf5)");
}

#else

bool available()
{
    return true;
}

namespace {

// The ggml type of a name ("Q4_K"); F32 when there is none (the caller refuses it).
gguf::TensorType gguf_type_by_name(const std::string& name)
{
    for (uint32_t id = 0; id < 64; ++id) {
        const gguf::TypeTraits tt = gguf::tensor_type_traits(id);
        if (tt.name && name == tt.name)
            return static_cast<gguf::TensorType>(id);
    }
    return gguf::TensorType::F32;
}

std::string layer_group_name(size_t i)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%06zu", i);
    return buf;
}

// The user block before the HDF5 data: a text line naming the file's CRC-32 and size, written
// once the HDF5 file is closed and verified before libhdf5 reads a byte of it (libhdf5 trusts
// parts of its own metadata, and a damaged link heap can crash it).
constexpr uint64_t kUserBlock = 512;
constexpr const char* kChecksumMagic = "ZeroPoint session\n";

std::string checksum_block(uint32_t crc, uint64_t size)
{
    char buf[128];
    std::snprintf(buf, sizeof buf, "%scrc32 %08x over bytes %llu..%llu\n", kChecksumMagic,
                  static_cast<unsigned>(crc), static_cast<unsigned long long>(kUserBlock),
                  static_cast<unsigned long long>(size));
    std::string b(buf);
    b.resize(kUserBlock, '\0');
    return b;
}

void write_checksum(const std::string& tmp, const std::string& path)
{
    uint64_t size = 0;
    const uint32_t crc = crc32_of_file(tmp, kUserBlock, &size);
    const std::string block = checksum_block(crc, size);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        throw IoError(
            path + ": cannot reopen the temporary to write its checksum: " + std::strerror(errno));
    const bool ok =
        ::pwrite(fd, block.data(), block.size(), 0) == static_cast<ssize_t>(block.size()) &&
        ::fsync(fd) == 0;
    const int err = errno;
    ::close(fd);
    if (!ok)
        throw IoError(path + ": cannot write the checksum: " + std::strerror(err));
}

// Verifies the checksum block; returns false (and says why in *note) for a file written before
// sessions carried one. FormatError for a damaged file.
bool verify_checksum(const std::string& path, std::string* note)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw IoError(path + ": cannot open: " + std::strerror(errno));
    std::string head(kUserBlock, '\0');
    const ssize_t n = ::pread(fd, head.data(), head.size(), 0);
    ::close(fd);
    if (n < 0)
        throw IoError(path + ": cannot read: " + std::strerror(errno));
    head.resize(static_cast<size_t>(n));
    const std::string magic = kChecksumMagic;
    if (head.compare(0, magic.size(), magic) != 0) {
        if (head.compare(0, 4, "\x89HDF") == 0 && note)
            *note = path +
                    ": written without a checksum (by a ZeroPoint before sessions carried one): "
                    "read unverified; save it again to add one";
        return false;  // not ours, or an older session: HDF5's own checks decide
    }
    unsigned crc_want = 0;
    unsigned long long from = 0, size_want = 0;
    if (std::sscanf(head.c_str() + magic.size(), "crc32 %8x over bytes %llu..%llu", &crc_want,
                    &from, &size_want) != 3 ||
        from != kUserBlock)
        throw FormatError(path + ": checksum block: unreadable line '" +
                          head.substr(magic.size(), 60).c_str() + "' (damaged)");
    uint64_t size = 0;
    const uint32_t crc = crc32_of_file(path, kUserBlock, &size);
    if (size != size_want)
        throw FormatError(path + ": checksum block: the file has " + std::to_string(size) +
                          " bytes, it was written with " + std::to_string(size_want) +
                          " (truncated or appended to); refused");
    if (crc != crc_want) {
        char buf[160];
        std::snprintf(buf, sizeof buf,
                      ": checksum block: CRC-32 of the content is %08x, written as %08x: the file "
                      "is damaged (bytes changed since it was saved); refused",
                      static_cast<unsigned>(crc), crc_want);
        throw FormatError(path + buf);
    }
    return true;
}

// A group's count attribute, checked against the children it holds.
int64_t checked_count(const h5::Location& g, const std::string& path, const char* what)
{
    const int64_t count = g.get_i64("count");
    const int64_t links = g.link_count();
    if (count < 0 || count != links)
        g.fail(path + "@count", std::to_string(count) + ", but the group holds " +
                                    std::to_string(links) + " " + what);
    return count;
}

// The tensors of a GroupTransform the session keeps, by dataset name (written and read alike).
const std::vector<std::pair<const char*, at::Tensor quant::GroupTransform::*> >& transform_tensors()
{
    using T = quant::GroupTransform;
    static const std::vector<std::pair<const char*, at::Tensor T::*> > table = {
        {"smooth", &T::smooth},
        {"r0", &T::r0},
        {"perm", &T::perm},
        {"r1", &T::r1},
        {"householder", &T::householder},
        {"act_max", &T::act_max},
        {"act_max_after", &T::act_max_after}};
    return table;
}

void write_transforms(h5::File& f, const quant::QuantizedModel& qm)
{
    const std::vector<const quant::GroupTransform*> all = qm.transforms.all();
    h5::Location ts = f.create_group("transforms");
    ts.set_i64("count", static_cast<int64_t>(all.size()));
    for (size_t i = 0; i < all.size(); ++i) {
        const quant::GroupTransform& t = *all[i];
        h5::Location g = ts.create_group(layer_group_name(i));
        g.set_i64("block", t.block);
        g.set_string("input", t.input);
        g.set_string("kind", quant::transform_kind_info(t.kind).name);
        g.set_i64("width", t.width);
        g.set_i64("rotation_block", t.rotation_block);
        g.set_i64("tokens", t.tokens);
        g.set_f64("act_error_plain", t.act_error_plain);
        g.set_f64("act_error", t.act_error);
        g.set_f64("seconds", t.seconds);
        g.set_f64("stage2_loss_before", t.stage2_loss_before);
        g.set_f64("stage2_loss_after", t.stage2_loss_after);
        for (const auto& [name, member] : transform_tensors())
            if ((t.*member).defined())
                g.write_tensor(name, (t.*member).contiguous());
    }
}

void read_transforms(const h5::File& f, quant::QuantizedModel& qm, const std::string& path)
{
    const h5::Location ts = f.open_group("transforms");
    const int64_t count = checked_count(ts, "/transforms", "transforms");
    for (int64_t i = 0; i < count; ++i) {
        const h5::Location g = ts.open_group(layer_group_name(static_cast<size_t>(i)));
        quant::GroupTransform t;
        t.block = g.get_i64("block");
        t.input = g.get_string("input");
        const std::string kind = g.get_string("kind");
        try {
            t.kind = quant::parse_transform_kind(kind);
        } catch (const InvalidArgument& e) {
            g.fail(g.path() + "@kind", e.what());
        }
        t.width = g.get_i64("width");
        t.rotation_block = g.get_i64("rotation_block");
        t.tokens = g.get_i64("tokens");
        t.act_error_plain = g.get_f64("act_error_plain");
        t.act_error = g.get_f64("act_error");
        t.seconds = g.get_f64("seconds");
        t.stage2_loss_before = g.get_f64("stage2_loss_before");
        t.stage2_loss_after = g.get_f64("stage2_loss_after");
        for (const auto& [name, member] : transform_tensors())
            if (g.has(name))
                t.*member = g.read_tensor(name);
        bool known = false;
        for (const model::LinearGroup& lg : model::linear_input_groups())
            known = known || t.input == lg.input;
        if (!known)
            g.fail(g.path() + "@input", "'" + t.input + "' is not a linear-input group");
        try {
            t.check(path);
        } catch (const InvalidArgument& e) {
            g.fail(g.path(), e.what());
        }
        if (qm.transforms.find(t.block, t.input))
            g.fail(g.path(),
                   "a second transform for block " + std::to_string(t.block) + " " + t.input);
        qm.transforms.add(std::move(t));
    }
}

void write_contents(h5::File& f, const quant::QuantizedModel& qm)
{
    f.set_string("schema", kSchema);
    // Version 2 only where it matters: a file without transforms stays readable by version-1
    // readers; one with them is refused by those rather than read without its transforms.
    f.set_i64("schema_version",
              qm.transforms.empty() && qm.float_parts.empty() && qm.distill_loss.empty()
                  ? 1
                  : kSchemaVersion);
    f.set_string("software_version", qm.config.software_version);
    {
        h5::Location c = f.create_group("config");
        const auto& rc = qm.config;
        c.set_string("model_path", rc.model_path);
        c.set_string("model_config_hash", rc.model_config_hash);
        c.set_string("calibration_source", rc.calibration_source);
        c.set_string("method", rc.method);
        c.set_string("software_version", rc.software_version);
        c.set_i64("calibration_samples", rc.calibration_samples);
        c.set_i64("calibration_seqlen", rc.calibration_seqlen);
        c.set_i64("bits", rc.bits);
        c.set_i64("group_size", rc.group_size);
        c.set_u64("seed", rc.seed);
        std::vector<std::string> keys, values;
        for (const auto& [k, v] : rc.extra) {
            keys.push_back(k);
            values.push_back(v);
        }
        c.write_strings("extra_keys", keys);
        c.write_strings("extra_values", values);
    }
    {
        h5::Location p = f.create_group("perplexity");
        std::vector<std::string> names;
        std::vector<double> values;
        for (const auto& [k, v] : qm.perplexity) {
            names.push_back(k);
            values.push_back(v);
        }
        p.write_strings("names", names);
        p.write_tensor(
            "values",
            at::tensor(values, at::kDouble).reshape({static_cast<int64_t>(values.size())}));
    }
    h5::Location layers = f.create_group("layers");
    layers.set_i64("count", static_cast<int64_t>(qm.layers.size()));
    for (size_t i = 0; i < qm.layers.size(); ++i) {
        const quant::LayerResult& l = qm.layers[i];
        h5::Location g = layers.create_group(layer_group_name(i));
        g.set_i64("block", l.block);
        g.set_i64("bits", l.bits);
        g.set_i64("group_size", l.group_size);
        g.set_i64("out_features", l.out_features);
        g.set_i64("in_features", l.in_features);
        g.set_i64("skipped", l.skipped ? 1 : 0);
        g.set_string("name", l.name);
        g.set_string("algorithm", quant::algorithm_name(l.algorithm));
        g.set_string("param_method", l.param_method);
        g.set_f64("diag_loss", l.diag_loss);
        g.set_f64("diag_loss_minmax", l.diag_loss_minmax);
        g.set_f64("proxy_loss", l.proxy_loss);
        g.set_f64("proxy_loss_rtn_minmax", l.proxy_loss_rtn_minmax);
        g.set_f64("relative_weight_error", l.relative_weight_error);
        g.set_f64("seconds", l.seconds);
        if (l.scale.defined())
            g.write_tensor("scale", l.scale);
        if (l.zero.defined())
            g.write_tensor("zero", l.zero);
        if (l.codes.defined())
            g.write_tensor("codes", l.codes);
        if (l.hessian_diag.defined())
            g.write_tensor("hessian_diag", l.hessian_diag);
        if (l.encoded.defined()) {
            g.set_string("encoding", gguf::tensor_type_traits(uint32_t(l.encoding)).name);
            g.write_tensor("encoded", l.encoded);
        }
    }
    if (!qm.transforms.empty())
        write_transforms(f, qm);
    if (!qm.float_parts.empty()) {
        h5::Location fp = f.create_group("float_parts");
        std::vector<std::string> names;
        for (const auto& [name, t] : qm.float_parts) {
            fp.write_tensor(layer_group_name(names.size()), t.to(at::kFloat).contiguous());
            names.push_back(name);
        }
        fp.write_strings("names", names);
    }
    if (!qm.distill_loss.empty()) {
        h5::Location d = f.create_group("distill");
        d.write_tensor("loss", at::tensor(qm.distill_loss, at::kDouble)
                                   .reshape({static_cast<int64_t>(qm.distill_loss.size())}));
    }
}

constexpr int64_t kMaxFeatures = int64_t{1} << 24;  // far above any linear layer's width

// One attribute that must lie in lo..hi (read as int64 first: 2^40 must not wrap into range).
int64_t checked_i64(const h5::Location& g, const char* attr, int64_t lo, int64_t hi,
                    const std::string& why)
{
    const int64_t v = g.get_i64(attr);
    if (v < lo || v > hi)
        g.fail(g.path() + "@" + attr, std::to_string(v) + " is outside " + std::to_string(lo) +
                                          ".." + std::to_string(hi) + " (" + why + ")");
    return v;
}

// The first non-finite value of t, as "nan at [3, 17] (2 non-finite values)"; empty when every
// value is finite.
std::string first_non_finite(const at::Tensor& t)
{
    const at::Tensor flat = t.reshape({-1});
    const at::Tensor bad = at::logical_not(at::isfinite(flat));
    const int64_t n_bad = bad.sum().item<int64_t>();
    if (n_bad == 0)
        return {};
    int64_t k = at::argmax(bad.to(at::kInt)).item<int64_t>();
    const double x = flat[k].item<double>();
    std::vector<int64_t> index(static_cast<size_t>(t.dim()));
    for (int64_t d = t.dim() - 1; d >= 0; --d) {
        index[static_cast<size_t>(d)] = k % t.size(d);
        k /= t.size(d);
    }
    std::string at_s = "[";
    for (size_t d = 0; d < index.size(); ++d)
        at_s += (d ? ", " : "") + std::to_string(index[d]);
    return std::string(std::isnan(x) ? "nan"
                       : x > 0       ? "inf"
                                     : "-inf") +
           " at " + at_s + "] (" + std::to_string(n_bad) + " non-finite value" +
           (n_bad > 1 ? "s" : "") + ")";
}

// A layer group, every field checked against what the engine can use: the session must be refused
// here, naming the field and the value, rather than shown, exported or run as garbage.
quant::LayerResult read_layer(const h5::Location& g,
                              std::set<std::pair<int64_t, std::string> >& seen)
{
    quant::LayerResult l;
    l.block = checked_i64(g, "block", 0, 1 << 20, "a decoder block index");
    l.skipped = checked_i64(g, "skipped", 0, 1, "0 or 1") != 0;
    l.out_features = checked_i64(g, "out_features", 1, kMaxFeatures, "a linear layer's rows");
    l.in_features = checked_i64(g, "in_features", 1, kMaxFeatures, "a linear layer's columns");
    l.name = g.get_string("name");
    const auto& names = model::linear_names();
    if (std::find(names.begin(), names.end(), l.name) == names.end()) {
        std::string known;
        for (const std::string& n : names)
            known += (known.empty() ? "" : ", ") + n;
        g.fail(g.path() + "@name", "'" + l.name + "' is not a linear layer (" + known + ")");
    }
    if (!seen.insert({l.block, l.name}).second)
        g.fail(g.path(), "a second entry for block " + std::to_string(l.block) + " " + l.name);
    const std::string alg = g.get_string("algorithm");
    try {
        l.algorithm = quant::parse_algorithm(alg);
    } catch (const InvalidArgument&) {
        g.fail(g.path() + "@algorithm", "'" + alg + "' is neither rtn nor gptq");
    }
    l.param_method = g.get_string("param_method");
    l.diag_loss = g.get_f64("diag_loss");
    l.diag_loss_minmax = g.get_f64("diag_loss_minmax");
    l.proxy_loss = g.get_f64("proxy_loss");
    l.proxy_loss_rtn_minmax = g.get_f64("proxy_loss_rtn_minmax");
    l.relative_weight_error = g.get_f64("relative_weight_error");
    l.seconds = g.get_f64("seconds");
    const int64_t out = l.out_features, in = l.in_features;
    if (l.skipped) {  // left in full precision: no parameters to check, none to read
        l.bits = static_cast<int>(checked_i64(g, "bits", 0, 16, "a skipped layer"));
        l.group_size = g.get_i64("group_size");
        return l;
    }
    // What the quantizers produce (core/quant/quantizer.h): 2..8 bits, a resolved group size of
    // 1..in_features columns (the last group shorter when it does not divide in_features);
    // -1 (channel-wise, unresolved) is read as in_features.
    l.bits =
        static_cast<int>(checked_i64(g, "bits", 2, 8, "the bit widths the engine quantizes to"));
    l.group_size = g.get_i64("group_size");
    if (l.group_size == -1)
        l.group_size = in;
    if (l.group_size < 1 || l.group_size > in)
        g.fail(g.path() + "@group_size", std::to_string(l.group_size) +
                                             " is not a group size for a row of " +
                                             std::to_string(in) + " columns (1.." +
                                             std::to_string(in) + ", or -1 for channel-wise)");
    try {
        quant::parse_method(l.param_method);
    } catch (const InvalidArgument& e) {
        g.fail(g.path() + "@param_method", e.what());
    }
    const int64_t groups = (in + l.group_size - 1) / l.group_size;
    for (const char* name : {"scale", "zero", "codes"})
        if (!g.has(name))
            g.fail(g.child_path(name), "missing: a quantized layer needs scale, zero and codes");
    l.scale = g.read_tensor("scale", std::vector<int64_t>{out, groups}, at::kFloat);
    l.zero = g.read_tensor("zero", std::vector<int64_t>{out, groups}, at::kFloat);
    l.codes = g.read_tensor("codes", std::vector<int64_t>{out, in}, at::kByte);
    for (const char* name : {"scale", "zero"}) {
        const std::string bad = first_non_finite(name[0] == 's' ? l.scale : l.zero);
        if (!bad.empty())
            g.fail(g.child_path(name), bad);
    }
    const int64_t top = l.codes.numel() ? l.codes.max().item<int64_t>() : 0;
    if (top >= (int64_t{1} << l.bits))
        g.fail(g.child_path("codes"), "holds code " + std::to_string(top) + ", out of range for " +
                                          std::to_string(l.bits) + " bits (0.." +
                                          std::to_string((1 << l.bits) - 1) + ")");
    if (g.has("hessian_diag")) {
        l.hessian_diag = g.read_tensor("hessian_diag", std::vector<int64_t>{in}, at::kDouble);
        std::string bad = first_non_finite(l.hessian_diag);
        if (bad.empty() && (l.hessian_diag < 0).any().item<bool>())
            bad = "negative value " + std::to_string(l.hessian_diag.min().item<double>()) +
                  " (a diagonal of X^T X is never negative)";
        if (!bad.empty())
            g.fail(g.child_path("hessian_diag"), bad);
    }
    // A preset's layer: its GGUF bytes (core/quant/result.h), which must be whole rows of a type
    // the engine reads; W_hat is what they dequantize to.
    if (g.has_attr("encoding") || g.has("encoded")) {
        if (!g.has_attr("encoding") || !g.has("encoded"))
            g.fail(g.path(), "an encoded layer needs both @encoding and encoded");
        const std::string type_name = g.get_string("encoding");
        const gguf::TensorType t = gguf_type_by_name(type_name);
        if (!quant::kquant_supported(t))
            g.fail(g.path() + "@encoding", "'" + type_name +
                                               "' is not a block type the engine writes (Q2_K, "
                                               "Q3_K, Q4_K, Q5_K, Q6_K, Q4_0, Q4_1, Q5_0, Q5_1, "
                                               "Q8_0)");
        if (in % quant::kquant_block_elements(t) != 0)
            g.fail(g.path() + "@encoding",
                   type_name + " blocks do not tile a row of " + std::to_string(in) + " columns");
        const int64_t size = out * static_cast<int64_t>(gguf::row_bytes(t, in));
        l.encoded = g.read_tensor("encoded", std::vector<int64_t>{size}, at::kByte);
        l.encoding = t;
    }
    return l;
}

}  // namespace

void write_session(const quant::QuantizedModel& qm, const std::string& path)
{
    std::string tmp = path + ".tmp-XXXXXX";
    const int fd = ::mkstemp(tmp.data());
    if (fd < 0)
        throw IoError(path +
                      ": cannot create a temporary file next to it: " + std::strerror(errno));
    try {
        // mkstemp made it 0600; HDF5 truncates it in place and keeps that mode.
        apply_umask_mode(fd, path);
    } catch (...) {
        ::close(fd);
        ::unlink(tmp.c_str());
        throw;
    }
    ::close(fd);
    try {
        h5::File f = h5::File::create(tmp, kUserBlock);
        write_contents(f, qm);
        f.close();
        write_checksum(tmp, path);
        const int sfd = ::open(tmp.c_str(), O_RDONLY);
        if (sfd < 0 || ::fsync(sfd) != 0) {
            if (sfd >= 0)
                ::close(sfd);
            throw IoError(path +
                          ": cannot flush the session file to disk: " + std::strerror(errno));
        }
        ::close(sfd);
        if (std::rename(tmp.c_str(), path.c_str()) != 0)
            throw IoError(path +
                          ": cannot rename the temporary into place: " + std::strerror(errno));
    } catch (...) {
        ::unlink(tmp.c_str());
        throw;
    }
}

quant::QuantizedModel read_session(const std::string& path, ReadInfo* info)
{
    std::string note;
    const bool verified = verify_checksum(path, &note);
    if (info) {
        info->checksum_verified = verified;
        info->note = note;
    }
    h5::File f = h5::File::open(path);
    if (!f.has_attr("schema"))
        throw FormatError(
            path +
            ": /@schema: missing: an HDF5 file, but not a ZeroPoint session (no schema attribute)");
    const std::string schema = f.get_string("schema");
    if (schema != kSchema)
        throw FormatError(path + ": /@schema: '" + schema + "' is not '" + kSchema + "'");
    const int64_t version = f.get_i64("schema_version");
    if (version < 1 || version > kSchemaVersion)
        throw FormatError(path + ": /@schema_version: " + std::to_string(version) +
                          " (this build reads 1.." + std::to_string(kSchemaVersion) +
                          "; a newer ZeroPoint wrote it)");
    quant::QuantizedModel qm;
    {
        const h5::Location c = f.open_group("config");
        auto& rc = qm.config;
        rc.model_path = c.get_string("model_path");
        rc.model_config_hash = c.get_string("model_config_hash");
        rc.calibration_source = c.get_string("calibration_source");
        rc.method = c.get_string("method");
        rc.software_version = c.get_string("software_version");
        rc.calibration_samples = c.get_i64("calibration_samples");
        rc.calibration_seqlen = c.get_i64("calibration_seqlen");
        rc.bits =
            static_cast<int>(checked_i64(c, "bits", 0, 8, "a run's bit width; 0: none recorded"));
        if (rc.bits == 1)
            c.fail("/config@bits", "1 is not a bit width the engine quantizes to (2..8)");
        rc.group_size = c.get_i64("group_size");
        if (rc.group_size != -1 && (rc.group_size < 1 || rc.group_size > kMaxFeatures))
            c.fail("/config@group_size", std::to_string(rc.group_size) +
                                             " is neither -1 (channel-wise) nor a group size 1.." +
                                             std::to_string(kMaxFeatures));
        rc.seed = c.get_u64("seed");
        const auto keys = c.read_strings("extra_keys");
        const auto values = c.read_strings("extra_values");
        if (keys.size() != values.size())
            c.fail("/config/extra_values", std::to_string(values.size()) + " values for " +
                                               std::to_string(keys.size()) + " keys");
        for (size_t i = 0; i < keys.size(); ++i)
            rc.extra[keys[i]] = values[i];
        try {  // the run options in it must be what the one table accepts
            pipeline::RunOptions checked;
            pipeline::apply_record(checked, rc.extra, "/config/extra_values");
        } catch (const InvalidArgument& e) {
            c.fail("/config/extra_values", e.what());
        }
    }
    {
        const h5::Location p = f.open_group("perplexity");
        const auto names = p.read_strings("names");
        const at::Tensor values = p.read_tensor("values");
        if (values.scalar_type() != at::kDouble || values.dim() != 1 ||
            values.size(0) != static_cast<int64_t>(names.size()))
            p.fail("/perplexity/values", "expected float64 [" + std::to_string(names.size()) + "]");
        for (size_t i = 0; i < names.size(); ++i)
            qm.perplexity[names[i]] = values[static_cast<int64_t>(i)].item<double>();
    }
    const h5::Location layers = f.open_group("layers");
    const int64_t count = checked_count(layers, "/layers", "layers");
    std::set<std::pair<int64_t, std::string> > seen;
    for (int64_t i = 0; i < count; ++i) {
        const h5::Location g = layers.open_group(layer_group_name(static_cast<size_t>(i)));
        qm.layers.push_back(read_layer(g, seen));
    }
    if (version >= 2 && f.has("transforms"))
        read_transforms(f, qm, path);
    if (version >= 2 && f.has("float_parts")) {
        const h5::Location fp = f.open_group("float_parts");
        const auto names = fp.read_strings("names");
        for (size_t i = 0; i < names.size(); ++i) {
            const at::Tensor t = fp.read_tensor(layer_group_name(i));
            if (t.scalar_type() != at::kFloat || t.dim() != 1 || !t.isfinite().all().item<bool>())
                fp.fail("/float_parts/" + layer_group_name(i),
                        "'" + names[i] + "' must be a finite float32 vector");
            qm.float_parts[names[i]] = t;
        }
    }
    if (version >= 2 && f.has("distill")) {
        const h5::Location d = f.open_group("distill");
        const at::Tensor loss = d.read_tensor("loss");
        if (loss.scalar_type() != at::kDouble || loss.dim() != 1)
            d.fail("/distill/loss", "expected float64 [steps]");
        const at::Tensor lc = loss.contiguous();
        qm.distill_loss.assign(lc.data_ptr<double>(), lc.data_ptr<double>() + lc.numel());
    }
    return qm;
}

#endif  // ZP_HAVE_HDF5

}  // namespace zp::session
