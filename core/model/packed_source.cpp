#include "core/model/packed_source.h"

#include <filesystem>
#include <map>
#include <set>

#include <ATen/ATen.h>

#include "core/common/json_strict.h"
#include "core/common/text.h"
#include "core/formats/bitpack.h"
#include "core/model/config.h"
#include "core/model/model.h"
#include "kernels/quantize.h"

namespace zp::model {

namespace fs = std::filesystem;
using nlohmann::json;

std::string packed_dir_of(const std::string& path)
{
    std::error_code ec;
    fs::path p(path);
    if (!fs::is_directory(p, ec))
        p = p.parent_path().empty() ? fs::path(".") : p.parent_path();
    return p.string();
}

json read_packed_config(const std::string& dir_path)
{
    const fs::path cfg = fs::path(dir_path) / "config.json";
    json j;
    try {
        j = parse_json_strict(read_file(cfg.string()), cfg.string());
    } catch (const json::exception& e) {
        throw FormatError(cfg.string() + ": not valid JSON: " + e.what());
    }
    if (!j.is_object() || !j.contains("quantization_config") ||
        !j["quantization_config"].is_object())
        throw FormatError(cfg.string() + ": field 'quantization_config' is missing");
    const json& qc = j["quantization_config"];
    if (qc.value("format", std::string()) != kPackedFormat)
        throw FormatError(cfg.string() + ": quantization_config.format is not '" +
                          std::string(kPackedFormat) + "'");
    if (!qc.contains("version") || !qc["version"].is_number_integer() ||
        qc["version"].get<int>() != kPackedVersion)
        throw FormatError(
            cfg.string() + ": quantization_config.version " +
            (qc.contains("version") ? qc["version"].dump() : std::string("(missing)")) +
            " is not " + std::to_string(kPackedVersion));
    if (!qc.contains("layers") || !qc["layers"].is_array())
        throw FormatError(cfg.string() + ": quantization_config.layers is missing or not an array");
    return j;
}

PackedLinear parse_packed_linear(const json& jl, const std::string& cfg_path)
{
    const std::string where = cfg_path + ": quantization_config.layers entry " +
                              (jl.is_object() && jl.contains("tensor") ? jl["tensor"].dump() : "?");
    PackedLinear l;
    l.block = packed_field<int64_t>(jl, "block", where);
    l.name = packed_field<std::string>(jl, "name", where);
    l.bits = packed_field<int>(jl, "bits", where);
    l.group_size = packed_field<int64_t>(jl, "group_size", where);
    l.in_features = packed_field<int64_t>(jl, "in_features", where);
    l.out_features = packed_field<int64_t>(jl, "out_features", where);
    l.skipped = packed_field<bool>(jl, "skipped", where);
    std::string prefix;
    try {
        prefix = linear_prefix(l.block, l.name);
    } catch (const InvalidArgument&) {
        throw FormatError(where + ": 'name' " + jl["name"].dump() + " is not a linear layer");
    }
    if (packed_field<std::string>(jl, "tensor", where) != prefix)
        throw FormatError(where + ": 'tensor' does not match block and name");
    if (!l.skipped && (l.bits < 1 || l.bits > 8 || l.in_features <= 0 || l.out_features <= 0 ||
                       l.group_size <= 0 || l.group_size > l.in_features))
        throw FormatError(where + ": bits " + std::to_string(l.bits) + ", group_size " +
                          std::to_string(l.group_size) + ", in_features " +
                          std::to_string(l.in_features) + " cannot describe a layer");
    return l;
}

PackedTensors read_packed_tensors(const io::SafetensorsFile& f, const PackedLinear& l)
{
    const std::string p = linear_prefix(l.block, l.name);
    auto get = [&](const std::string& name, at::ScalarType type,
                   const std::vector<int64_t>& shape) {
        const io::SafetensorInfo& info =
            f.info(name);  // FormatError naming file + tensor if absent
        if (info.scalar_type != type || info.shape != shape)
            throw FormatError(f.path() + ": tensor '" + name + "' is " + info.dtype + " " +
                              shape_str(info.shape) + ", expected " +
                              io::SafetensorsWriter::dtype_name(type) + " " + shape_str(shape));
        return f.tensor(name);
    };
    // ceil(in / g): the last group is shorter when g does not divide in.
    const int64_t groups = kernels::group_count(l.in_features, l.group_size);
    PackedTensors t;
    t.codes = io::unpack_codes(
        get(p + ".qcodes", at::kByte, {l.out_features, (l.in_features * l.bits + 7) / 8}), l.bits,
        l.in_features);
    t.scale = get(p + ".scales", at::kFloat, {l.out_features, groups});
    t.zero = get(p + ".zeros", at::kFloat, {l.out_features, groups});
    if (f.contains(p + ".hessian_diag"))
        t.hessian_diag = get(p + ".hessian_diag", at::kDouble, {l.in_features});
    // Garbage parameters would load "fine" and generate <unk> only: refused here, by tensor.
    for (const auto& [suffix, v] : {std::pair<const char*, const at::Tensor*>{".scales", &t.scale},
                                    {".zeros", &t.zero},
                                    {".hessian_diag", &t.hessian_diag}}) {
        if (!v->defined())
            continue;
        const int64_t bad = at::logical_not(at::isfinite(*v)).sum().item<int64_t>();
        if (bad > 0)
            throw FormatError(f.path() + ": tensor '" + p + suffix + "' holds " +
                              std::to_string(bad) + " NaN/Inf values");
        if (v == &t.hessian_diag && (*v < 0).any().item<bool>())
            throw FormatError(f.path() + ": tensor '" + p + suffix + "' holds negative values (" +
                              std::to_string(v->min().item<double>()) + ")");
    }
    return t;
}

namespace {

class PackedSource final : public WeightSource {
public:
    explicit PackedSource(const std::string& path) : dir_(packed_dir_of(path))
    {
        const fs::path d(dir_);
        cfg_path_ = (d / "config.json").string();
        const json j = read_packed_config(d);
        config_ = parse_hf_config(cfg_path_);
        file_ = std::make_unique<io::SafetensorsFile>((d / "model.safetensors").string());
        check_block_count(file_->names(), config_.num_layers, cfg_path_, file_->path());
        std::set<std::string> seen;
        for (const json& jl : j["quantization_config"]["layers"]) {
            PackedLinear l = parse_packed_linear(jl, cfg_path_);
            const std::string prefix = linear_prefix(l.block, l.name);
            if (!seen.insert(prefix).second)
                throw FormatError(cfg_path_ + ": quantization_config.layers lists '" + prefix +
                                  "' twice");
            if (l.block < 0 || l.block >= config_.num_layers)
                throw FormatError(cfg_path_ + ": quantization_config.layers entry '" + prefix +
                                  "': block " + std::to_string(l.block) + " outside the model's " +
                                  std::to_string(config_.num_layers));
            if (!l.skipped)
                layers_[prefix + ".weight"] = l;
        }
    }

    const ModelConfig& config() const override { return config_; }
    const std::string& path() const override { return dir_; }
    const std::string& format() const override { return format_; }
    bool has(const std::string& name) const override
    {
        return layers_.count(name) != 0 || file_->contains(name);
    }
    std::vector<int64_t> shape(const std::string& name) const override
    {
        auto it = layers_.find(name);
        if (it != layers_.end())
            return {it->second.out_features, it->second.in_features};
        return file_->info(name).shape;
    }
    at::Tensor load(const std::string& name) const override
    {
        auto it = layers_.find(name);
        if (it != layers_.end()) {
            const PackedLinear& l = it->second;
            const PackedTensors t = read_packed_tensors(*file_, l);
            return kernels::dequantize(t.codes, t.scale, t.zero, l.group_size)
                .to(at::kFloat)
                .contiguous();
        }
        const io::SafetensorInfo& info = file_->info(name);
        if (info.scalar_type != at::kFloat && info.scalar_type != at::kHalf &&
            info.scalar_type != at::kBFloat16)
            throw FormatError(file_->path() + ": tensor '" + name + "' has dtype " + info.dtype +
                              "; model weights must be F32, F16 or BF16");
        at::Tensor t = file_->tensor(name);
        return t.scalar_type() == at::kFloat ? t : t.to(at::kFloat);
    }
    std::string file_of(const std::string&) const override { return file_->path(); }

    const io::SafetensorsFile& file() const { return *file_; }

private:
    std::string dir_, cfg_path_;
    std::string format_ = kPackedFormat;
    ModelConfig config_;
    std::unique_ptr<io::SafetensorsFile> file_;
    std::map<std::string, PackedLinear> layers_;  // "<prefix>.weight" -> layer (no tensors)
};

}  // namespace

bool is_packed_checkpoint(const std::string& path)
{
    std::error_code ec;
    const fs::path cfg = fs::path(packed_dir_of(path)) / "config.json";
    if (!fs::is_regular_file(cfg, ec))
        return false;
    try {
        const json j = json::parse(read_file(cfg.string()));
        return j.is_object() && j.contains("quantization_config") &&
               j["quantization_config"].is_object() &&
               j["quantization_config"].value("format", std::string()) == kPackedFormat;
    } catch (const json::exception&) {
        return false;  // not ours; the HF loader reports the bad JSON
    }
}

std::unique_ptr<WeightSource> open_packed_source(const std::string& dir)
{
    return std::make_unique<PackedSource>(dir);
}

}  // namespace zp::model
