#include "core/model/model.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "core/common/atomic_file.h"
#include "core/common/error.h"
#include "core/common/text.h"
#include "core/formats/gguf_blocks.h"
#include "core/model/gguf_source.h"
#include "core/model/packed_source.h"
#include "core/model/weight_source.h"
#include "kernels/quantize.h"

namespace zp::model {

namespace fs = std::filesystem;

namespace {

// Every tensor is checked as it is read: a NaN or Inf weight would otherwise run through
// evaluation (perplexity nan), generation (<unk> only) and quantization (a session of garbage).
at::Tensor load_finite(const WeightSource& s, const std::string& name)
{
    at::Tensor t = s.load(name);
    if (t.is_floating_point() && !at::isfinite(t).all().item<bool>()) {
        const at::Tensor flat = t.reshape({-1});
        const at::Tensor bad = at::logical_not(at::isfinite(flat));
        const int64_t first = at::argmax(bad.to(at::kInt)).item<int64_t>();
        const double v = flat[first].item<double>();
        throw NumericError(s.file_of(name) + ": tensor '" + name + "' holds " +
                           std::to_string(bad.sum().item<int64_t>()) +
                           " non-finite values (the first, " +
                           (std::isnan(v) ? "nan"
                            : v > 0       ? "inf"
                                          : "-inf") +
                           ", at element " + std::to_string(first) + "); refused");
    }
    return t;
}

// [out, in] of a linear layer of the config; InvalidArgument (prefixed by where) if none.
std::vector<int64_t> linear_shape(const ModelConfig& c, const std::string& name,
                                  const std::string& where)
{
    auto want = part_shape(c, linear_module(name) + ".weight");
    if (!want)
        throw InvalidArgument(where + "the model has no such linear layer");
    return *want;
}

}  // namespace

struct Model::Impl {
    std::unique_ptr<WeightSource> src;
    std::string opened_as;
    mutable std::mutex mu;
    std::map<int64_t, BlockWeights> replaced;
    struct QuantizedLinear {
        at::Tensor codes, scale, zero;
        int64_t group_size = 0;
        gguf::TensorType type = gguf::TensorType::F32;  // set_encoded_linear: bytes of this type
        at::Tensor encoded;                             // uint8 [row_bytes * out]
        int64_t out = 0, in = 0;
    };
    std::map<int64_t, std::map<std::string, QuantizedLinear>> quantized;  // overlays on a block
    std::map<int64_t, std::map<std::string, at::Tensor>> parts;  // float part overlays (trained)
    mutable std::map<int64_t, BlockWeights> kept;
    bool keep = false;
    mutable at::Tensor embed, norm, head;
    std::shared_ptr<const ActivationHooks> hooks;

    void check_index(int64_t i) const
    {
        if (i < 0 || i >= src->config().num_layers)
            throw InvalidArgument(src->path() + ": block index " + std::to_string(i) +
                                  " outside 0.." + std::to_string(src->config().num_layers - 1));
    }

    const at::Tensor& global(at::Tensor& slot, const char* name) const
    {
        std::lock_guard<std::mutex> lock(mu);
        if (!slot.defined())
            slot = load_finite(*src, name);
        return slot;
    }
};

Model::Model(std::unique_ptr<WeightSource> source) : impl_(std::make_unique<Impl>())
{
    impl_->src = std::move(source);
    impl_->opened_as = impl_->src->path();
    const WeightSource& s = *impl_->src;
    const ModelConfig& c = s.config();
    // Check every tensor the config implies against the headers now, so that a bad checkpoint fails
    // at open and not halfway through a long quantization run.
    auto check = [&](const std::string& name, const std::vector<int64_t>& want) {
        if (!s.has(name))
            throw FormatError(s.file_of(name) + ": tensor '" + name + "' is missing");
        auto got = s.shape(name);
        if (got != want)
            throw FormatError(s.file_of(name) + ": tensor '" + name + "' has shape " +
                              shape_str(got) + ", config implies " + shape_str(want));
    };
    check("model.embed_tokens.weight", {c.vocab_size, c.hidden_size});
    check("model.norm.weight", {c.hidden_size});
    if (!c.tie_word_embeddings)
        check("lm_head.weight", {c.vocab_size, c.hidden_size});
    for (int64_t l = 0; l < c.num_layers; ++l)
        for (const BlockPart& p : block_parts(c))
            if (auto want = part_shape(c, p.name))
                check(block_tensor_name(l, p.name), *want);
}

Model::~Model() = default;

std::unique_ptr<Model> Model::open(const std::string& path)
{
    std::error_code ec;
    const fs::path p(path);
    if (!fs::exists(p, ec))
        throw IoError(path + ": no such file or directory");
    std::unique_ptr<WeightSource> src;
    if (fs::is_directory(p, ec)) {
        // A ZeroPoint packed checkpoint (core/model/packed_source.h) reads as its W_hat.
        src = is_packed_checkpoint(path) ? open_packed_source(path) : open_hf_source(path);
    } else {
        // A file of an HF directory (config.json, the index, a .safetensors shard) stands for the
        // directory; a file that begins with "GGUF" (or is named .gguf) is llama.cpp's; anything
        // else is taken for a llama2.c checkpoint.
        const std::string ext = p.extension().string();
        const bool hf = ext == ".json" || ext == ".safetensors";
        const std::string dir = p.parent_path().empty() ? "." : p.parent_path().string();
        src = !hf && (ext == ".gguf" || is_gguf_file(path)) ? open_gguf_source(path)
              : !hf                                         ? open_llama2c_source(path)
              : is_packed_checkpoint(dir)                   ? open_packed_source(dir)
                                                            : open_hf_source(dir);
    }
    auto m = std::make_unique<Model>(std::move(src));
    m->impl_->opened_as = path;
    return m;
}

const ModelConfig& Model::config() const
{
    return impl_->src->config();
}

const std::string& Model::path() const
{
    return impl_->opened_as;
}

const std::string& Model::format() const
{
    return impl_->src->format();
}

BlockWeights Model::block(int64_t i) const
{
    impl_->check_index(i);
    std::map<std::string, Impl::QuantizedLinear> overlays;
    std::map<std::string, at::Tensor> part_overlays;
    BlockWeights w;
    bool have = false;
    {
        std::lock_guard<std::mutex> lock(impl_->mu);
        if (auto it = impl_->quantized.find(i); it != impl_->quantized.end())
            overlays = it->second;
        if (auto it = impl_->parts.find(i); it != impl_->parts.end())
            part_overlays = it->second;
        // Copies, so that a caller editing its block in place cannot change the model's.
        if (auto it = impl_->replaced.find(i); it != impl_->replaced.end()) {
            w = it->second.to(at::kCPU, at::kFloat, /*copy=*/true);
            have = true;
        } else if (auto it = impl_->kept.find(i); it != impl_->kept.end()) {
            w = it->second.to(at::kCPU, at::kFloat, /*copy=*/true);
            have = true;
        }
    }
    if (!have) {
        const ModelConfig& c = config();
        for (const BlockPart& p : block_parts(config()))
            if (part_shape(c, p.name))
                w.*p.member = load_finite(*impl_->src, block_tensor_name(i, p.name));
        std::lock_guard<std::mutex> lock(impl_->mu);
        if (impl_->keep)
            impl_->kept[i] = w.to(at::kCPU, at::kFloat, /*copy=*/true);
    }
    for (const auto& [name, q] : overlays)
        w.linear(name) =
            q.encoded.defined()
                ? gguf::dequantize(q.encoded.data_ptr<uint8_t>(),
                                   static_cast<uint64_t>(q.encoded.numel()), q.type, q.out, q.in)
                : kernels::dequantize(q.codes, q.scale, q.zero, q.group_size);
    for (const auto& [name, t] : part_overlays)
        for (const BlockPart& p : block_parts(config()))
            if (name == p.name)
                w.*p.member = t.clone();
    return w;
}

void Model::set_encoded_linear(int64_t i, const std::string& name, gguf::TensorType type,
                               const at::Tensor& bytes)
{
    impl_->check_index(i);
    const std::string where = "block " + std::to_string(i) + " " + name + ": ";
    const std::vector<int64_t> want = linear_shape(config(), name, where);
    const int64_t out = want[0], in = want[1];
    if (!gguf::can_dequantize(type))
        throw InvalidArgument(where + "block type " + std::to_string(static_cast<uint32_t>(type)) +
                              " cannot be read");
    const gguf::TypeTraits tt = gguf::tensor_type_traits(static_cast<uint32_t>(type));
    if (in % static_cast<int64_t>(tt.block_elements) != 0)
        throw InvalidArgument(where + "row length " + std::to_string(in) + " is not whole " +
                              tt.name + " blocks");
    const int64_t size = out * static_cast<int64_t>(gguf::row_bytes(type, in));
    if (!bytes.defined() || bytes.scalar_type() != at::kByte || bytes.numel() != size)
        throw InvalidArgument(where + tt.name + " " + shape_str(want) + " needs " +
                              std::to_string(size) + " bytes, got " +
                              (bytes.defined() ? std::to_string(bytes.numel()) : "none"));
    Impl::QuantizedLinear q;
    q.type = type;
    q.encoded = bytes.to(at::kCPU).contiguous().reshape({-1});
    q.out = out;
    q.in = in;
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->quantized[i][name] = std::move(q);
}

void Model::set_block_part(int64_t i, const std::string& part, const at::Tensor& value)
{
    impl_->check_index(i);
    const std::string where = "block " + std::to_string(i) + " " + part + ": ";
    const BlockPart* bp = nullptr;
    for (const BlockPart& p : block_parts(config()))
        if (part == p.name)
            bp = &p;
    if (!bp)
        throw InvalidArgument(where + "not a part of a decoder block");
    if (bp->linear)
        throw InvalidArgument(where + "a linear weight (use set_linear / set_quantized_linear)");
    auto want = part_shape(config(), part);
    if (!want)
        throw InvalidArgument(where + "the model has no such tensor");
    if (!value.defined() || value.sizes().vec() != *want || !value.is_floating_point())
        throw InvalidArgument(where + "expected a float tensor " + shape_str(*want));
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->parts[i][part] = value.detach().to(at::kCPU, at::kFloat).contiguous().clone();
}

void Model::set_final_norm(const at::Tensor& value)
{
    const std::vector<int64_t> want{config().hidden_size};
    if (!value.defined() || value.sizes().vec() != want || !value.is_floating_point())
        throw InvalidArgument(path() + ": final norm: expected a float tensor " + shape_str(want));
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->norm = value.detach().to(at::kCPU, at::kFloat).contiguous().clone();
}

void Model::set_quantized_linear(int64_t i, const std::string& name, const at::Tensor& codes,
                                 const at::Tensor& scale, const at::Tensor& zero,
                                 int64_t group_size)
{
    impl_->check_index(i);
    const std::string where = "block " + std::to_string(i) + " " + name + ": ";
    const std::vector<int64_t> want = linear_shape(config(), name, where);
    const int64_t out = want[0], in = want[1];
    if (!codes.defined() || codes.scalar_type() != at::kByte || codes.sizes().vec() != want)
        throw InvalidArgument(
            where + "codes must be uint8 " + shape_str(want) + ", got " +
            (codes.defined() ? shape_str(codes.sizes().vec()) : std::string("(undefined)")));
    if (group_size <= 0 || group_size > in)
        throw InvalidArgument(where + "group size " + std::to_string(group_size) +
                              " is not in 1.." + std::to_string(in));
    // ceil(in / g) groups: the last one is shorter when g does not divide in.
    const std::vector<int64_t> pshape{out, kernels::group_count(in, group_size)};
    for (const at::Tensor* t : {&scale, &zero})
        if (!t->defined() || t->sizes().vec() != pshape)
            throw InvalidArgument(where + "scale and zero must be " + shape_str(pshape));
    Impl::QuantizedLinear q;
    q.codes = codes.device().is_cpu() ? codes.contiguous() : codes.to(at::kCPU).contiguous();
    q.scale = scale.to(at::kCPU, at::kFloat).contiguous();
    q.zero = zero.to(at::kCPU, at::kFloat).contiguous();
    q.group_size = group_size;
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->quantized[i][name] = std::move(q);
}

void Model::set_block(int64_t i, const BlockWeights& w)
{
    impl_->check_index(i);
    const ModelConfig& c = config();
    BlockWeights stored;
    for (const BlockPart& p : block_parts(config())) {
        const at::Tensor& t = w.*p.member;
        auto want = part_shape(c, p.name);
        if (!want) {
            if (t.defined())
                throw InvalidArgument("block " + std::to_string(i) + ": '" + p.name +
                                      "' is given but the model has none");
            continue;
        }
        if (!t.defined() || t.sizes().vec() != *want)
            throw InvalidArgument(
                "block " + std::to_string(i) + ": '" + p.name + "' has shape " +
                (t.defined() ? shape_str(t.sizes().vec()) : std::string("(undefined)")) +
                ", expected " + shape_str(*want));
        stored.*p.member =
            t.detach().to(at::kCPU, at::kFloat, /*non_blocking=*/false, /*copy=*/true).contiguous();
    }
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->replaced[i] = std::move(stored);
    impl_->quantized.erase(i);
    impl_->parts.erase(i);
}

void Model::set_linear(int64_t i, const std::string& name, const at::Tensor& weight)
{
    BlockWeights w = block(i);
    w.linear(name) = weight;
    set_block(i, w);
}

bool Model::is_replaced(int64_t i) const
{
    std::lock_guard<std::mutex> lock(impl_->mu);
    return impl_->replaced.count(i) != 0 || impl_->quantized.count(i) != 0;
}

void Model::reset_block(int64_t i)
{
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->replaced.erase(i);
    impl_->quantized.erase(i);
    impl_->parts.erase(i);
}

void Model::set_keep_blocks(bool keep)
{
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->keep = keep;
    if (!keep)
        impl_->kept.clear();
}

const at::Tensor& Model::embed_tokens() const
{
    return impl_->global(impl_->embed, "model.embed_tokens.weight");
}

const at::Tensor& Model::final_norm() const
{
    return impl_->global(impl_->norm, "model.norm.weight");
}

void Model::check_outer_tensors() const
{
    std::vector<std::string> names = {"model.embed_tokens.weight", "model.norm.weight"};
    if (!config().tie_word_embeddings)
        names.push_back("lm_head.weight");
    for (const std::string& n : names)
        (void)load_finite(*impl_->src, n);  // read, checked and dropped (not kept)
}

const at::Tensor& Model::lm_head() const
{
    if (config().tie_word_embeddings)
        return embed_tokens();
    return impl_->global(impl_->head, "lm_head.weight");
}

void Model::set_activation_hooks(std::shared_ptr<const ActivationHooks> hooks)
{
    impl_->hooks = std::move(hooks);
}

const ActivationHooks* Model::activation_hooks() const
{
    return impl_->hooks.get();
}

}  // namespace zp::model
