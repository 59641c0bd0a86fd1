#include "core/model/model.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/common/atomic_file.h"
#include "core/common/error.h"
#include "core/io/safetensors_export.h"
#include "core/model/weight_source.h"
#include "kernels/quantize.h"

namespace zp::model {

namespace fs = std::filesystem;

const std::vector<std::string>& linear_names()
{
    static const std::vector<std::string> names = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                   "gate_proj", "up_proj", "down_proj"};
    return names;
}

std::string block_tensor_name(int64_t layer, const std::string& part)
{
    return "model.layers." + std::to_string(layer) + "." + part;
}

namespace {

// Every tensor of a block: (HF part name, member). One table drives loading, checking and export.
struct Part {
    const char* name;
    at::Tensor BlockWeights::*member;
};

const Part kParts[] = {
    {"input_layernorm.weight", &BlockWeights::input_norm},
    {"self_attn.q_proj.weight", &BlockWeights::q},
    {"self_attn.k_proj.weight", &BlockWeights::k},
    {"self_attn.v_proj.weight", &BlockWeights::v},
    {"self_attn.o_proj.weight", &BlockWeights::o},
    {"self_attn.q_proj.bias", &BlockWeights::q_bias},
    {"self_attn.k_proj.bias", &BlockWeights::k_bias},
    {"self_attn.v_proj.bias", &BlockWeights::v_bias},
    {"self_attn.o_proj.bias", &BlockWeights::o_bias},
    {"self_attn.q_norm.weight", &BlockWeights::q_norm},
    {"self_attn.k_norm.weight", &BlockWeights::k_norm},
    {"post_attention_layernorm.weight", &BlockWeights::post_norm},
    {"mlp.gate_proj.weight", &BlockWeights::gate},
    {"mlp.up_proj.weight", &BlockWeights::up},
    {"mlp.down_proj.weight", &BlockWeights::down},
};

std::optional<std::vector<int64_t>> shape(std::vector<int64_t> s)
{
    return s;
}

// "q_proj" -> "self_attn.q_proj.weight", "gate_proj" -> "mlp.gate_proj.weight"; "" if unknown.
std::string linear_part_name(const std::string& name)
{
    if (name == "q_proj" || name == "k_proj" || name == "v_proj" || name == "o_proj")
        return "self_attn." + name + ".weight";
    if (name == "gate_proj" || name == "up_proj" || name == "down_proj")
        return "mlp." + name + ".weight";
    return "";
}

// The shape the config implies for a part; nullopt when the config says the part is absent.
std::optional<std::vector<int64_t>> expected_shape(const ModelConfig& c, const std::string& part)
{
    const int64_t H = c.hidden_size, I = c.intermediate_size, Q = c.q_dim(), KV = c.kv_dim();
    if (part == "input_layernorm.weight" || part == "post_attention_layernorm.weight")
        return std::vector<int64_t>{H};
    if (part == "self_attn.q_proj.weight")
        return std::vector<int64_t>{Q, H};
    if (part == "self_attn.k_proj.weight" || part == "self_attn.v_proj.weight")
        return std::vector<int64_t>{KV, H};
    if (part == "self_attn.o_proj.weight")
        return std::vector<int64_t>{H, Q};
    if (part == "self_attn.q_proj.bias")
        return c.attention_bias ? shape({Q}) : std::nullopt;
    if (part == "self_attn.k_proj.bias" || part == "self_attn.v_proj.bias")
        return c.attention_bias ? shape({KV}) : std::nullopt;
    if (part == "self_attn.o_proj.bias")
        return c.o_bias ? shape({H}) : std::nullopt;
    if (part == "self_attn.q_norm.weight" || part == "self_attn.k_norm.weight")
        return c.qk_norm ? shape({c.head_dim}) : std::nullopt;
    if (part == "mlp.gate_proj.weight" || part == "mlp.up_proj.weight")
        return std::vector<int64_t>{I, H};
    if (part == "mlp.down_proj.weight")
        return std::vector<int64_t>{H, I};
    return std::nullopt;
}

std::string shape_str(at::IntArrayRef s)
{
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i)
        out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

}  // namespace

at::Tensor& BlockWeights::linear(const std::string& name)
{
    if (name == "q_proj")
        return q;
    if (name == "k_proj")
        return k;
    if (name == "v_proj")
        return v;
    if (name == "o_proj")
        return o;
    if (name == "gate_proj")
        return gate;
    if (name == "up_proj")
        return up;
    if (name == "down_proj")
        return down;
    throw InvalidArgument(
        "unknown linear layer '" + name +
        "' (expected q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)");
}

const at::Tensor& BlockWeights::linear(const std::string& name) const
{
    return const_cast<BlockWeights*>(this)->linear(name);
}

BlockWeights BlockWeights::to(at::Device device, at::ScalarType dtype, bool copy) const
{
    BlockWeights out;
    for (const Part& p : kParts)
        if ((this->*p.member).defined())
            out.*p.member = (this->*p.member).to(device, dtype, /*non_blocking=*/false, copy);
    return out;
}

struct Model::Impl {
    std::unique_ptr<WeightSource> src;
    std::string opened_as;
    mutable std::mutex mu;
    std::map<int64_t, BlockWeights> replaced;
    struct QuantizedLinear {
        at::Tensor codes, scale, zero;
        int64_t group_size = 0;
    };
    std::map<int64_t, std::map<std::string, QuantizedLinear>> quantized;  // overlays on a block
    mutable std::map<int64_t, BlockWeights> kept;
    bool keep = false;
    mutable at::Tensor embed, norm, head;

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
            slot = src->load(name);
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
        for (const Part& p : kParts)
            if (auto want = expected_shape(c, p.name))
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
        // A ZeroPoint packed checkpoint (core/io/safetensors_export.h) reads as its W_hat.
        src = io::is_packed_checkpoint(path) ? io::open_packed_source(path) : open_hf_source(path);
    } else {
        // A file of an HF directory (config.json, the index, a .safetensors shard) stands for the
        // directory; anything else is taken for a llama2.c checkpoint.
        const std::string ext = p.extension().string();
        const bool hf = ext == ".json" || ext == ".safetensors";
        const std::string dir = p.parent_path().empty() ? "." : p.parent_path().string();
        src = !hf                             ? open_llama2c_source(path)
              : io::is_packed_checkpoint(dir) ? io::open_packed_source(dir)
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
    BlockWeights w;
    bool have = false;
    {
        std::lock_guard<std::mutex> lock(impl_->mu);
        if (auto it = impl_->quantized.find(i); it != impl_->quantized.end())
            overlays = it->second;
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
        for (const Part& p : kParts)
            if (expected_shape(c, p.name))
                w.*p.member = impl_->src->load(block_tensor_name(i, p.name));
        std::lock_guard<std::mutex> lock(impl_->mu);
        if (impl_->keep)
            impl_->kept[i] = w.to(at::kCPU, at::kFloat, /*copy=*/true);
    }
    for (const auto& [name, q] : overlays)
        w.linear(name) = kernels::dequantize(q.codes, q.scale, q.zero, q.group_size);
    return w;
}

void Model::set_quantized_linear(int64_t i, const std::string& name, const at::Tensor& codes,
                                 const at::Tensor& scale, const at::Tensor& zero, int64_t group_size)
{
    impl_->check_index(i);
    const std::string where = "block " + std::to_string(i) + " " + name + ": ";
    auto want = expected_shape(config(), linear_part_name(name));
    if (!want)
        throw InvalidArgument(where + "the model has no such linear layer");
    const int64_t out = (*want)[0], in = (*want)[1];
    if (!codes.defined() || codes.scalar_type() != at::kByte || codes.sizes().vec() != *want)
        throw InvalidArgument(where + "codes must be uint8 " + shape_str(*want) + ", got " +
                              (codes.defined() ? shape_str(codes.sizes()) : std::string("(undefined)")));
    if (group_size <= 0 || in % group_size != 0)
        throw InvalidArgument(where + "group size " + std::to_string(group_size) + " does not divide " +
                              std::to_string(in));
    const std::vector<int64_t> pshape{out, in / group_size};
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
    for (const Part& p : kParts) {
        const at::Tensor& t = w.*p.member;
        auto want = expected_shape(c, p.name);
        if (!want) {
            if (t.defined())
                throw InvalidArgument("block " + std::to_string(i) + ": '" + p.name +
                                      "' is given but the model has none");
            continue;
        }
        if (!t.defined() || t.sizes().vec() != *want)
            throw InvalidArgument(
                "block " + std::to_string(i) + ": '" + p.name + "' has shape " +
                (t.defined() ? shape_str(t.sizes()) : std::string("(undefined)")) + ", expected " +
                shape_str(*want));
        stored.*p.member =
            t.detach().to(at::kCPU, at::kFloat, /*non_blocking=*/false, /*copy=*/true).contiguous();
    }
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->replaced[i] = std::move(stored);
    impl_->quantized.erase(i);
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

const at::Tensor& Model::lm_head() const
{
    if (config().tie_word_embeddings)
        return embed_tokens();
    return impl_->global(impl_->head, "lm_head.weight");
}

void export_hf(const Model& model, const std::string& dir, at::ScalarType dtype,
               const ProgressFn& progress)
{
    if (dtype != at::kFloat && dtype != at::kHalf && dtype != at::kBFloat16)
        throw InvalidArgument(dir + ": export dtype must be float32, float16 or bfloat16");
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
        throw IoError(dir + ": cannot create directory: " + ec.message());
    const ModelConfig& c = model.config();
    const char* dtype_name = dtype == at::kFloat ? "F32" : dtype == at::kHalf ? "F16" : "BF16";
    const uint64_t itemsize = dtype == at::kFloat ? 4 : 2;
    // Norm gains stay float32 (as the GGUF export does): they are tiny and precision-sensitive.
    auto type_of = [&](const std::string& name) {
        return name.find("norm") != std::string::npos ? at::kFloat : dtype;
    };

    // The safetensors file is streamed: the header is known from the config alone, then one block
    // at a time is fetched and written, so exporting needs no more memory than loading.
    struct Entry {
        std::string name;
        std::vector<int64_t> shape;
    };
    std::vector<Entry> entries;
    entries.push_back({"model.embed_tokens.weight", {c.vocab_size, c.hidden_size}});
    for (int64_t l = 0; l < c.num_layers; ++l)
        for (const Part& p : kParts)
            if (auto shape = expected_shape(c, p.name))
                entries.push_back({block_tensor_name(l, p.name), *shape});
    entries.push_back({"model.norm.weight", {c.hidden_size}});
    if (!c.tie_word_embeddings)
        entries.push_back({"lm_head.weight", {c.vocab_size, c.hidden_size}});

    nlohmann::json header = nlohmann::json::object();
    header["__metadata__"] = {{"format", "pt"}};
    uint64_t offset = 0;
    for (const Entry& e : entries) {
        const bool f32 = type_of(e.name) == at::kFloat;
        uint64_t bytes = f32 ? 4 : itemsize;
        for (int64_t d : e.shape)
            bytes *= static_cast<uint64_t>(d);
        header[e.name] = {{"dtype", f32 ? "F32" : dtype_name},
                          {"shape", e.shape},
                          {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    unsigned char len[8];
    for (int i = 0; i < 8; ++i)
        len[i] = static_cast<unsigned char>((static_cast<uint64_t>(text.size()) >> (8 * i)) & 0xff);

    const fs::path d(dir);
    AtomicFile out((d / "model.safetensors").string());
    out.write(len, sizeof len);
    out.write(text.data(), text.size());
    auto put = [&](const std::string& name, const at::Tensor& t) {
        at::Tensor x = t.to(at::kCPU, type_of(name)).contiguous();
        out.write(x.data_ptr(), static_cast<size_t>(x.numel()) * x.element_size());
    };
    put("model.embed_tokens.weight", model.embed_tokens());
    for (int64_t l = 0; l < c.num_layers; ++l) {
        report_progress(
            progress, static_cast<double>(l), static_cast<double>(c.num_layers),
            "export block " + std::to_string(l + 1) + "/" + std::to_string(c.num_layers));
        const BlockWeights w = model.block(l);
        for (const Part& p : kParts)
            if (expected_shape(c, p.name))
                put(p.name, w.*p.member);
    }
    put("model.norm.weight", model.final_norm());
    if (!c.tie_word_embeddings)
        put("lm_head.weight", model.lm_head());
    out.commit();

    ModelConfig cfg = c;
    cfg.torch_dtype = dtype == at::kFloat ? "float32" : dtype == at::kHalf ? "float16" : "bfloat16";
    const std::string json = to_hf_config_json(cfg);
    AtomicFile cfg_file((d / "config.json").string());
    cfg_file.write(json.data(), json.size());
    cfg_file.commit();
    report_progress(progress, static_cast<double>(c.num_layers), static_cast<double>(c.num_layers),
                    "export done");
}

}  // namespace zp::model
