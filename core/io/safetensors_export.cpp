#include "core/io/safetensors_export.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <set>
#include <sstream>

#include <ATen/TensorOperators.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros.h>
#include <nlohmann/json.hpp>

#include "core/common/atomic_file.h"
#include "core/common/error.h"
#include "core/io/safetensors.h"
#include "core/model/weight_source.h"
#include "kernels/quantize.h"

namespace zp::io {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kPackedFormat = "zeropoint-packed";
constexpr int kPackedVersion = 1;

// Every tensor of a decoder block in the HF layout, in the order model::export_hf writes them.
struct Part {
    const char* name;
    at::Tensor model::BlockWeights::*member;
    const char* linear;  // the linear layer whose weight this is, or nullptr
};

const Part kParts[] = {
    {"input_layernorm.weight", &model::BlockWeights::input_norm, nullptr},
    {"self_attn.q_proj.weight", &model::BlockWeights::q, "q_proj"},
    {"self_attn.k_proj.weight", &model::BlockWeights::k, "k_proj"},
    {"self_attn.v_proj.weight", &model::BlockWeights::v, "v_proj"},
    {"self_attn.o_proj.weight", &model::BlockWeights::o, "o_proj"},
    {"self_attn.q_proj.bias", &model::BlockWeights::q_bias, nullptr},
    {"self_attn.k_proj.bias", &model::BlockWeights::k_bias, nullptr},
    {"self_attn.v_proj.bias", &model::BlockWeights::v_bias, nullptr},
    {"self_attn.o_proj.bias", &model::BlockWeights::o_bias, nullptr},
    {"self_attn.q_norm.weight", &model::BlockWeights::q_norm, nullptr},
    {"self_attn.k_norm.weight", &model::BlockWeights::k_norm, nullptr},
    {"post_attention_layernorm.weight", &model::BlockWeights::post_norm, nullptr},
    {"mlp.gate_proj.weight", &model::BlockWeights::gate, "gate_proj"},
    {"mlp.up_proj.weight", &model::BlockWeights::up, "up_proj"},
    {"mlp.down_proj.weight", &model::BlockWeights::down, "down_proj"},
};

std::string module_path(const std::string& linear)
{
    const bool attn =
        linear == "q_proj" || linear == "k_proj" || linear == "v_proj" || linear == "o_proj";
    return (attn ? "self_attn." : "mlp.") + linear;
}

std::string layer_prefix(int64_t block, const std::string& linear)
{
    return model::block_tensor_name(block, module_path(linear));
}

bool is_quantized(const pipeline::LayerResult* l)
{
    return l && !l->skipped && l->codes.defined();
}

int64_t resolved_group(const pipeline::LayerResult& l)
{
    return l.group_size <= 0 ? l.in_features : l.group_size;
}

std::string shape_str(at::IntArrayRef s)
{
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i)
        out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

const char* hf_dtype_name(at::ScalarType t)
{
    return t == at::kFloat ? "float32" : t == at::kHalf ? "float16" : "bfloat16";
}

// One tensor of the output: planned from (name, type, shape) and, when writing, given a value.
struct Item {
    std::string name;
    at::ScalarType type;
    std::vector<int64_t> shape;
    at::Tensor value;  // undefined while planning
};

// Produces the items of one quantized linear (prefix P); `weight` is the model's weight (shape
// template while planning). Non-quantized tensors are handled by the driver.
using LinearItems = std::function<std::vector<Item>(
    const std::string& prefix, const pipeline::LayerResult& layer, bool with_data)>;

struct Layout {
    at::ScalarType dense = at::kHalf;  // non-quantized tensors (norm gains: F32 always)
    LinearItems linear;
    std::map<std::string, std::string> metadata{{"format", "pt"}};
};

void check_layers(const model::Model& m, const pipeline::QuantizedModel& qm)
{
    const model::ModelConfig& c = m.config();
    for (const auto& l : qm.layers) {
        if (l.block < 0 || l.block >= c.num_layers)
            throw InvalidArgument("export: the quantized model's layer block " +
                                  std::to_string(l.block) + " " + l.name +
                                  " is outside the model's " + std::to_string(c.num_layers) +
                                  " blocks (a session of another model?)");
        if (!is_quantized(&l))
            continue;
        if (l.codes.dim() != 2 || l.codes.size(0) != l.out_features ||
            l.codes.size(1) != l.in_features)
            throw InvalidArgument("export: block " + std::to_string(l.block) + " " + l.name +
                                  ": codes " + shape_str(l.codes.sizes()) + " do not match [" +
                                  std::to_string(l.out_features) + ", " +
                                  std::to_string(l.in_features) + "]");
    }
}

// Writes model.safetensors of a layout into dir: embedding, blocks (quantized linears through
// layout.linear), final norm, lm_head unless tied.
void write_model_file(const model::Model& m, const pipeline::QuantizedModel& qm,
                      const std::string& dir, const Layout& layout, const ProgressFn& progress,
                      std::vector<std::string>& files)
{
    check_layers(m, qm);
    const model::ModelConfig& c = m.config();
    auto type_of = [&](const std::string& name) {
        return name.find("norm") != std::string::npos ? at::kFloat : layout.dense;
    };
    const model::BlockWeights tmpl = m.block(0);
    for (const Part& p : kParts) {
        if (!p.linear || !(tmpl.*p.member).defined())
            continue;
        for (int64_t l = 0; l < c.num_layers; ++l) {
            const pipeline::LayerResult* r = qm.find(l, p.linear);
            if (!is_quantized(r))
                continue;
            const at::Tensor& w = tmpl.*p.member;
            if (r->out_features != w.size(0) || r->in_features != w.size(1))
                throw InvalidArgument("export: block " + std::to_string(l) + " " + p.linear +
                                      " is [" + std::to_string(r->out_features) + ", " +
                                      std::to_string(r->in_features) +
                                      "] in the quantized model but " + shape_str(w.sizes()) +
                                      " in the model (a session of another model?)");
        }
    }

    auto block_items = [&](int64_t l, const model::BlockWeights& b, bool with_data) {
        std::vector<Item> items;
        for (const Part& p : kParts) {
            const at::Tensor& t = b.*p.member;
            if (!t.defined())
                continue;
            const std::string name = model::block_tensor_name(l, p.name);
            const pipeline::LayerResult* r = p.linear ? qm.find(l, p.linear) : nullptr;
            if (is_quantized(r)) {
                auto more = layout.linear(layer_prefix(l, p.linear), *r, with_data);
                for (auto& it : more)
                    items.push_back(std::move(it));
                continue;
            }
            items.push_back({name, type_of(name), t.sizes().vec(), with_data ? t : at::Tensor()});
        }
        return items;
    };

    const std::string path = (fs::path(dir) / "model.safetensors").string();
    SafetensorsWriter out(path);
    out.plan("model.embed_tokens.weight", layout.dense, {c.vocab_size, c.hidden_size});
    for (int64_t l = 0; l < c.num_layers; ++l)
        for (const Item& it : block_items(l, tmpl, false))
            out.plan(it.name, it.type, it.shape);
    out.plan("model.norm.weight", at::kFloat, {c.hidden_size});
    if (!c.tie_word_embeddings)
        out.plan("lm_head.weight", layout.dense, {c.vocab_size, c.hidden_size});

    report_progress(progress, 0, static_cast<double>(c.num_layers + 1), "embedding");
    out.open(layout.metadata);
    out.put("model.embed_tokens.weight", m.embed_tokens());
    for (int64_t l = 0; l < c.num_layers; ++l) {
        report_progress(progress, static_cast<double>(l), static_cast<double>(c.num_layers + 1),
                        "block " + std::to_string(l + 1) + "/" + std::to_string(c.num_layers));
        const model::BlockWeights b = m.block(l);
        for (const Item& it : block_items(l, b, true))
            out.put(it.name, it.value);
    }
    out.put("model.norm.weight", m.final_norm());
    if (!c.tie_word_embeddings)
        out.put("lm_head.weight", m.lm_head());
    report_progress(progress, static_cast<double>(c.num_layers),
                    static_cast<double>(c.num_layers + 1), "writing");
    out.commit();
    files.push_back(path);
}

void write_text(const std::string& path, const std::string& text, std::vector<std::string>& files)
{
    AtomicFile f(path);
    f.write(text.data(), text.size());
    f.commit();
    files.push_back(path);
}

// config.json: the model's HF config with torch_dtype and extra top-level fields.
void write_config(const model::Model& m, const std::string& dir, at::ScalarType dtype,
                  const json& extra, std::vector<std::string>& files)
{
    model::ModelConfig cfg = m.config();
    cfg.torch_dtype = hf_dtype_name(dtype);
    json j = json::parse(model::to_hf_config_json(cfg));
    for (auto it = extra.begin(); it != extra.end(); ++it)
        j[it.key()] = it.value();
    write_text((fs::path(dir) / "config.json").string(), j.dump(2) + "\n", files);
}

void copy_file_into(const fs::path& src, const fs::path& dir, std::vector<std::string>& files)
{
    const fs::path dst = dir / src.filename();
    std::ifstream in(src, std::ios::binary);
    if (!in)
        throw IoError(src.string() + ": cannot open the tokenizer file");
    std::stringstream ss;
    ss << in.rdbuf();
    write_text(dst.string(), ss.str(), files);
}

// A tokenizer file is copied under its own name; from a directory, the HF tokenizer files found.
void copy_tokenizer(const std::string& tokenizer, const std::string& dir,
                    std::vector<std::string>& files)
{
    if (tokenizer.empty())
        return;
    std::error_code ec;
    const fs::path t(tokenizer);
    if (!fs::exists(t, ec))
        throw InvalidArgument(tokenizer + ": no such tokenizer file or directory");
    if (!fs::is_directory(t, ec)) {
        copy_file_into(t, dir, files);
        return;
    }
    int n = 0;
    for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json",
                             "special_tokens_map.json", "generation_config.json", "tokenizer.bin"})
        if (fs::is_regular_file(t / name, ec)) {
            copy_file_into(t / name, dir, files);
            ++n;
        }
    if (n == 0)
        throw InvalidArgument(tokenizer +
                              ": the directory holds no tokenizer.json, tokenizer.model or "
                              "tokenizer.bin");
}

json run_json(const pipeline::QuantizedModel& qm)
{
    const pipeline::RunConfig& r = qm.config;
    return {{"model_path", r.model_path},
            {"model_config_hash", r.model_config_hash},
            {"calibration_source", r.calibration_source},
            {"calibration_samples", r.calibration_samples},
            {"calibration_seqlen", r.calibration_seqlen},
            {"seed", r.seed},
            {"method", r.method},
            {"bits", r.bits},
            {"group_size", r.group_size},
            {"software_version", r.software_version},
            {"extra", r.extra}};
}

const char* algorithm_name(pipeline::Algorithm a)
{
    return a == pipeline::Algorithm::GPTQ ? "gptq" : "rtn";
}

std::string read_text_file(const fs::path& p)
{
    std::ifstream in(p, std::ios::binary);
    if (!in)
        throw IoError(p.string() + ": cannot open");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The directory a packed checkpoint path names (the directory itself, or a file inside it).
fs::path packed_dir_of(const std::string& path)
{
    std::error_code ec;
    fs::path p(path);
    if (!fs::is_directory(p, ec))
        p = p.parent_path().empty() ? fs::path(".") : p.parent_path();
    return p;
}

}  // namespace

at::ScalarType parse_export_dtype(const std::string& name)
{
    if (name == "f16" || name == "float16" || name == "fp16")
        return at::kHalf;
    if (name == "bf16" || name == "bfloat16")
        return at::kBFloat16;
    if (name == "f32" || name == "float32" || name == "fp32")
        return at::kFloat;
    throw InvalidArgument("export dtype '" + name + "' is not one of f16, bf16, f32");
}

// ---- bit packing -------------------------------------------------------------------------------

at::Tensor pack_codes(const at::Tensor& codes_in, int bits)
{
    if (codes_in.dim() != 2 || bits < 1 || bits > 8)
        throw InvalidArgument("pack_codes: codes must be 2-D and bits in 1..8");
    const at::Tensor codes = codes_in.to(at::kCPU).to(at::kByte).contiguous();
    const int64_t rows = codes.size(0), cols = codes.size(1);
    const int64_t row_bytes = (cols * bits + 7) / 8;
    at::Tensor out = at::zeros({rows, row_bytes}, at::TensorOptions().dtype(at::kByte));
    const uint8_t* src = codes.data_ptr<uint8_t>();
    uint8_t* dst = out.data_ptr<uint8_t>();
    const uint32_t mask = (1u << bits) - 1;
    for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* s = src + r * cols;
        uint8_t* d = dst + r * row_bytes;
        uint64_t acc = 0;
        int n = 0;
        int64_t b = 0;
        for (int64_t c = 0; c < cols; ++c) {
            acc |= static_cast<uint64_t>(s[c] & mask) << n;
            n += bits;
            while (n >= 8) {
                d[b++] = static_cast<uint8_t>(acc & 0xff);
                acc >>= 8;
                n -= 8;
            }
        }
        if (n > 0)
            d[b++] = static_cast<uint8_t>(acc & 0xff);
    }
    return out;
}

at::Tensor unpack_codes(const at::Tensor& packed_in, int bits, int64_t cols)
{
    const at::Tensor packed = packed_in.to(at::kCPU).contiguous();
    const int64_t rows = packed.size(0), row_bytes = packed.size(1);
    if (packed.scalar_type() != at::kByte || row_bytes != (cols * bits + 7) / 8)
        throw InvalidArgument("unpack_codes: expected U8 [rows, " +
                              std::to_string((cols * bits + 7) / 8) + "], got " +
                              shape_str(packed.sizes()));
    at::Tensor out = at::empty({rows, cols}, at::TensorOptions().dtype(at::kByte));
    const uint8_t* src = packed.data_ptr<uint8_t>();
    uint8_t* dst = out.data_ptr<uint8_t>();
    const uint32_t mask = (1u << bits) - 1;
    for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* s = src + r * row_bytes;
        uint8_t* d = dst + r * cols;
        uint64_t acc = 0;
        int n = 0;
        int64_t b = 0;
        for (int64_t c = 0; c < cols; ++c) {
            while (n < bits) {
                acc |= static_cast<uint64_t>(s[b++]) << n;
                n += 8;
            }
            d[c] = static_cast<uint8_t>(acc & mask);
            acc >>= bits;
            n -= bits;
        }
    }
    return out;
}

at::Tensor gptq_pack(const at::Tensor& values_in, int bits)
{
    if (values_in.dim() != 2 || bits < 1 || bits > 8)
        throw InvalidArgument("gptq_pack: values must be 2-D and bits in 1..8");
    const at::Tensor v = values_in.to(at::kCPU).to(at::kInt).contiguous();
    const int64_t n = v.size(0), m = v.size(1);
    if ((n * bits) % 32 != 0)
        throw InvalidArgument("gptq_pack: " + std::to_string(n) + " values x " +
                              std::to_string(bits) + " bits do not fill whole int32 words");
    at::Tensor out = at::zeros({n * bits / 32, m}, at::TensorOptions().dtype(at::kInt));
    const int32_t* src = v.data_ptr<int32_t>();
    auto* dst = reinterpret_cast<uint32_t*>(out.data_ptr<int32_t>());
    const uint32_t mask = (1u << bits) - 1;
    for (int64_t i = 0; i < n; ++i) {
        const int64_t pos = i * bits, word = pos / 32;
        const int off = static_cast<int>(pos % 32);
        for (int64_t c = 0; c < m; ++c) {
            const uint32_t x = static_cast<uint32_t>(src[i * m + c]) & mask;
            dst[word * m + c] |= x << off;
            if (off + bits > 32)
                dst[(word + 1) * m + c] |= x >> (32 - off);
        }
    }
    return out;
}

at::Tensor gptq_unpack(const at::Tensor& packed_in, int bits, int64_t n)
{
    const at::Tensor p = packed_in.to(at::kCPU).contiguous();
    if (p.dim() != 2 || p.scalar_type() != at::kInt || p.size(0) * 32 != n * bits)
        throw InvalidArgument("gptq_unpack: expected int32 [" + std::to_string(n * bits / 32) +
                              ", m], got " + shape_str(p.sizes()));
    const int64_t m = p.size(1);
    at::Tensor out = at::empty({n, m}, at::TensorOptions().dtype(at::kInt));
    const auto* src = reinterpret_cast<const uint32_t*>(p.data_ptr<int32_t>());
    int32_t* dst = out.data_ptr<int32_t>();
    const uint32_t mask = (1u << bits) - 1;
    for (int64_t i = 0; i < n; ++i) {
        const int64_t pos = i * bits, word = pos / 32;
        const int off = static_cast<int>(pos % 32);
        for (int64_t c = 0; c < m; ++c) {
            uint32_t x = src[word * m + c] >> off;
            if (off + bits > 32)
                x |= src[(word + 1) * m + c] << (32 - off);
            dst[i * m + c] = static_cast<int32_t>(x & mask);
        }
    }
    return out;
}

// ---- GPTQ encoding -----------------------------------------------------------------------------

GptqEncoding encode_gptq(const pipeline::LayerResult& layer, bool refit_scale)
{
    const std::string prefix = layer_prefix(layer.block, layer.name);
    if (!is_quantized(&layer))
        throw InvalidArgument("GPTQ export: " + prefix + " holds no quantized weights");
    const at::Tensor w_hat =
        pipeline::QuantizedModel::dequantize(layer).to(at::kFloat).contiguous();
    const int64_t out = w_hat.size(0), in = w_hat.size(1);
    const int bits = layer.bits;
    const int64_t g = resolved_group(layer);
    GptqEncoding e;
    e.bits = bits;
    e.group_size = g;
    e.line.tensor = prefix;
    e.line.diag_loss = layer.diag_loss;

    std::string why;
    if (bits != 2 && bits != 3 && bits != 4 && bits != 8)
        why = std::to_string(bits) + "-bit codes have no GPTQ packing (2, 3, 4, 8 bits)";
    else if (g <= 0 || in % g != 0)
        why = "group size " + std::to_string(g) + " does not divide in_features " +
              std::to_string(in);
    else if ((in * bits) % 32 != 0)
        why = "in_features " + std::to_string(in) + " x " + std::to_string(bits) +
              " bits does not fill whole int32 words (qweight)";
    else if ((out * bits) % 32 != 0)
        why = "out_features " + std::to_string(out) + " x " + std::to_string(bits) +
              " bits does not fill whole int32 words (qzeros)";
    if (!why.empty()) {
        e.packed = false;
        e.w = w_hat.to(at::kHalf).to(at::kFloat);
        e.line.type = "F16";
        e.line.note = why + ": stored unquantized (F16 W_hat)";
    } else {
        const int64_t levels = (int64_t{1} << bits) - 1;
        const at::Tensor z_real = layer.zero.to(at::kCPU).to(at::kFloat);
        at::Tensor s = layer.scale.to(at::kCPU).to(at::kFloat).to(at::kHalf).to(at::kFloat);
        at::Tensor z = z_real.round().clamp(0, static_cast<double>(levels));
        if (!(s > 0).all().item<bool>())
            throw NumericError("GPTQ export: " + prefix +
                               ": a scale is zero or negative after rounding to fp16");
        const int64_t G = in / g;
        const at::Tensor h = layer.hessian_diag.defined() && layer.hessian_diag.numel() == in
                                 ? layer.hessian_diag.to(at::kDouble).reshape({1, G, g})
                                 : at::ones({1, G, g}, at::TensorOptions().dtype(at::kDouble));
        const at::Tensor target = w_hat.to(at::kDouble).reshape({out, G, g});
        // Per-(row, group) loss sum h (w - W_hat)^2 of the grid (s, z) [out, G].
        auto group_loss = [&](const at::Tensor& sc, const at::Tensor& zc) {
            const at::Tensor c = kernels::quantize(w_hat, sc, zc, bits, g);
            const at::Tensor d =
                kernels::dequantize(c, sc, zc, g).to(at::kDouble).reshape({out, G, g}) - target;
            return (d * d * h).sum(-1);
        };
        const double nearest_loss = group_loss(s, z).sum().item<double>();
        if (refit_scale) {
            // For each integer neighbour of the real zero-point: the codes it gives, then the
            // weighted least-squares scale for those codes, rounded to fp16; a group takes it
            // only where its loss drops.
            at::Tensor best = group_loss(s, z);
            for (const at::Tensor& zc : {z_real.floor().clamp(0, static_cast<double>(levels)),
                                         z_real.ceil().clamp(0, static_cast<double>(levels))}) {
                at::Tensor sc = s;
                for (int iter = 0; iter < 2; ++iter) {
                    const at::Tensor c = kernels::quantize(w_hat, sc, zc, bits, g)
                                             .to(at::kDouble)
                                             .reshape({out, G, g}) -
                                         zc.to(at::kDouble).reshape({out, G, 1});
                    const at::Tensor num = (h * target * c).sum(-1), den = (h * c * c).sum(-1);
                    at::Tensor ls = (num / den.clamp_min(1e-300)).to(at::kFloat);
                    ls = at::where((den > 0) & (ls > 0), ls, sc).to(at::kHalf).to(at::kFloat);
                    // fp16 underflow or overflow keeps the previous scale.
                    ls = at::where((ls > 0) & (ls < 65504.0), ls, sc);
                    const at::Tensor loss = group_loss(ls, zc);
                    const at::Tensor take = loss < best;
                    s = at::where(take, ls, s);
                    z = at::where(take, zc, z);
                    best = at::where(take, loss, best);
                    sc = ls;
                }
            }
        }
        const at::Tensor s16 = s.to(at::kHalf);
        e.codes = kernels::quantize(w_hat, s, z, bits, g).to(at::kByte).contiguous();
        e.w = kernels::dequantize(e.codes, s, z, g);
        e.nearest_added_loss = nearest_loss;
        e.zeros_int = z.to(at::kInt).contiguous();
        e.qweight = gptq_pack(e.codes.t().contiguous(), bits);
        // gptq_pack packs along dim 0: zeros [out, G] -> [out * bits / 32, G] -> transposed.
        e.qzeros = gptq_pack(e.zeros_int, bits).t().contiguous();
        e.scales = s16.t().contiguous();
        e.g_idx = at::arange(in, at::TensorOptions().dtype(at::kLong)).div(g, "floor").to(at::kInt);
        e.packed = true;
        e.line.type = "int" + std::to_string(bits);
        e.line.codes_changed = (e.codes != layer.codes.to(at::kByte)).sum().item<int64_t>();
        const int64_t zmoved = (z != layer.zero.to(at::kCPU).to(at::kFloat)).sum().item<int64_t>();
        e.line.note = std::to_string(zmoved) + "/" + std::to_string(z.numel()) +
                      " zero-points rounded, " + std::to_string(e.line.codes_changed) +
                      " codes moved";
        if (refit_scale) {
            char buf[96];
            std::snprintf(buf, sizeof buf, "; scale refit (nearest z alone: added loss %.4g)",
                          nearest_loss);
            e.line.note += buf;
        }
    }
    e.line.rel_error = pipeline::relative_error(e.w, w_hat);
    e.line.added_loss = pipeline::weighted_loss(e.w, w_hat, layer);
    if (!e.packed)
        e.nearest_added_loss = e.line.added_loss;
    return e;
}

// ---- the three layouts -------------------------------------------------------------------------

SafetensorsExportResult export_dequantized(const model::Model& model,
                                           const pipeline::QuantizedModel& qm,
                                           const std::string& dir, at::ScalarType dtype,
                                           const std::string& tokenizer, const ProgressFn& progress)
{
    if (dtype != at::kHalf && dtype != at::kBFloat16 && dtype != at::kFloat)
        throw InvalidArgument("safetensors export: dtype must be f16, bf16 or f32");
    SafetensorsExportResult res;
    const char* tname = dtype == at::kHalf ? "F16" : dtype == at::kBFloat16 ? "BF16" : "F32";
    Layout layout;
    layout.dense = dtype;
    layout.linear = [&](const std::string& prefix, const pipeline::LayerResult& l,
                        bool with_data) -> std::vector<Item> {
        at::Tensor w;
        if (with_data) {
            const at::Tensor w_hat = pipeline::QuantizedModel::dequantize(l).to(at::kFloat);
            w = w_hat.to(dtype);
            ExportedLayer line;
            line.tensor = prefix;
            line.type = tname;
            line.diag_loss = l.diag_loss;
            line.rel_error = pipeline::relative_error(w, w_hat);
            line.added_loss = pipeline::weighted_loss(w.to(at::kFloat), w_hat, l);
            line.note = "dequantized W_hat";
            res.layers.push_back(line);
        }
        return {{prefix + ".weight", dtype, {l.out_features, l.in_features}, w}};
    };
    write_model_file(model, qm, dir, layout, progress, res.files);
    write_config(model, dir, dtype, json::object(), res.files);
    copy_tokenizer(tokenizer, dir, res.files);
    return res;
}

SafetensorsExportResult export_packed(const model::Model& model, const pipeline::QuantizedModel& qm,
                                      const std::string& dir, const std::string& tokenizer,
                                      const ProgressFn& progress)
{
    SafetensorsExportResult res;
    Layout layout;
    layout.dense = at::kFloat;
    layout.metadata["zeropoint"] = "packed-" + std::to_string(kPackedVersion);
    layout.linear = [&](const std::string& prefix, const pipeline::LayerResult& l,
                        bool with_data) -> std::vector<Item> {
        const int64_t g = resolved_group(l);
        if (g <= 0 || l.in_features % g != 0)
            throw InvalidArgument("packed export: " + prefix + ": group size " + std::to_string(g) +
                                  " does not divide in_features " + std::to_string(l.in_features));
        const int64_t groups = l.in_features / g;
        std::vector<Item> items;
        items.push_back({prefix + ".qcodes",
                         at::kByte,
                         {l.out_features, (l.in_features * l.bits + 7) / 8},
                         with_data ? pack_codes(l.codes, l.bits) : at::Tensor()});
        items.push_back({prefix + ".scales",
                         at::kFloat,
                         {l.out_features, groups},
                         with_data ? l.scale.to(at::kFloat) : at::Tensor()});
        items.push_back({prefix + ".zeros",
                         at::kFloat,
                         {l.out_features, groups},
                         with_data ? l.zero.to(at::kFloat) : at::Tensor()});
        if (l.hessian_diag.defined())
            items.push_back({prefix + ".hessian_diag",
                             at::kDouble,
                             {l.in_features},
                             with_data ? l.hessian_diag.to(at::kDouble).reshape({l.in_features})
                                       : at::Tensor()});
        if (with_data) {
            ExportedLayer line;
            line.tensor = prefix;
            line.type = "packed" + std::to_string(l.bits);
            line.diag_loss = l.diag_loss;
            line.note = "exact (codes, F32 scales and real zero-points)";
            res.layers.push_back(line);
        }
        return items;
    };
    write_model_file(model, qm, dir, layout, progress, res.files);

    json layers = json::array();
    for (const auto& l : qm.layers)
        layers.push_back({{"tensor", layer_prefix(l.block, l.name)},
                          {"block", l.block},
                          {"name", l.name},
                          {"bits", l.bits},
                          {"group_size", is_quantized(&l) ? resolved_group(l) : l.group_size},
                          {"in_features", l.in_features},
                          {"out_features", l.out_features},
                          {"algorithm", algorithm_name(l.algorithm)},
                          {"param_method", l.param_method},
                          {"skipped", !is_quantized(&l)},
                          {"diag_loss", l.diag_loss},
                          {"diag_loss_minmax", l.diag_loss_minmax},
                          {"proxy_loss", l.proxy_loss},
                          {"proxy_loss_rtn_minmax", l.proxy_loss_rtn_minmax},
                          {"relative_weight_error", l.relative_weight_error},
                          {"seconds", l.seconds}});
    json perplexity = json::object();
    for (const auto& [k, v] : qm.perplexity)
        perplexity[k] = v;
    json qc = {{"quant_method", "zeropoint"},
               {"format", kPackedFormat},
               {"version", kPackedVersion},
               {"bits", qm.config.bits},
               {"group_size", qm.config.group_size},
               {"method", qm.config.method},
               {"run", run_json(qm)},
               {"perplexity", perplexity},
               {"layers", layers}};
    write_config(model, dir, at::kFloat, json{{"quantization_config", qc}}, res.files);
    copy_tokenizer(tokenizer, dir, res.files);
    return res;
}

SafetensorsExportResult export_gptq(const model::Model& model, const pipeline::QuantizedModel& qm,
                                    const std::string& dir, at::ScalarType dtype,
                                    const std::string& tokenizer, const ProgressFn& progress,
                                    bool refit_scale)
{
    if (dtype != at::kHalf && dtype != at::kBFloat16)
        throw InvalidArgument("gptq export: dtype must be f16 or bf16");
    check_layers(model, qm);
    SafetensorsExportResult res;
    // The checkpoint's bits and group size: the most common among the layers that pack.
    std::map<std::pair<int, int64_t>, int> counts;
    std::map<std::string, std::pair<bool, std::pair<int, int64_t>>>
        plan;  // prefix -> (packed, (b, g))
    for (const auto& l : qm.layers) {
        if (!is_quantized(&l))
            continue;
        // Decide packability the way encode_gptq does, without the work.
        const int64_t g = resolved_group(l), in = l.in_features, out = l.out_features;
        const bool ok = (l.bits == 2 || l.bits == 3 || l.bits == 4 || l.bits == 8) && g > 0 &&
                        in % g == 0 && (in * l.bits) % 32 == 0 && (out * l.bits) % 32 == 0;
        const int64_t gsz = g == in ? -1 : g;
        plan[layer_prefix(l.block, l.name)] = {ok, {l.bits, gsz}};
        if (ok)
            ++counts[{l.bits, gsz}];
    }
    if (counts.empty())
        throw InvalidArgument(
            "gptq export: no layer can be stored as GPTQ (bits 2, 3, 4 or 8 with in_features and "
            "out_features multiples of 32 / gcd(32, bits) and a group size dividing in_features)");
    auto best = std::max_element(counts.begin(), counts.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
    const int bits = best->first.first;
    const int64_t group = best->first.second;

    Layout layout;
    layout.dense = dtype;
    layout.linear = [&](const std::string& prefix, const pipeline::LayerResult& l,
                        bool with_data) -> std::vector<Item> {
        const int64_t in = l.in_features, out = l.out_features;
        const auto& [ok, bg] = plan.at(prefix);
        if (!with_data) {
            if (!ok)
                return {{prefix + ".weight", dtype, {out, in}, {}}};
            const int b = bg.first;
            const int64_t g = resolved_group(l);
            return {{prefix + ".qweight", at::kInt, {in * b / 32, out}, {}},
                    {prefix + ".qzeros", at::kInt, {in / g, out * b / 32}, {}},
                    {prefix + ".scales", at::kHalf, {in / g, out}, {}},
                    {prefix + ".g_idx", at::kInt, {in}, {}}};
        }
        GptqEncoding e = encode_gptq(l, refit_scale);
        if (e.packed != ok)
            throw Error("gptq export: internal error: packability of " + prefix + " disagrees");
        res.layers.push_back(e.line);
        if (!ok) {
            res.warnings.push_back(prefix + ": " + e.line.note);
            return {{prefix + ".weight", dtype, {out, in}, e.w}};
        }
        return {{prefix + ".qweight", at::kInt, e.qweight.sizes().vec(), e.qweight},
                {prefix + ".qzeros", at::kInt, e.qzeros.sizes().vec(), e.qzeros},
                {prefix + ".scales", at::kHalf, e.scales.sizes().vec(), e.scales},
                {prefix + ".g_idx", at::kInt, e.g_idx.sizes().vec(), e.g_idx}};
    };
    write_model_file(model, qm, dir, layout, progress, res.files);

    // Per-module rules (GPTQModel "dynamic"): "-:" leaves a module unquantized, "+:" overrides.
    json dynamic = json::object();
    std::map<std::string, std::set<int64_t>> excluded;  // module path -> blocks
    for (const auto& [prefix, pb] : plan) {
        std::string re = prefix;
        std::string escaped;
        for (char ch : re)
            escaped += ch == '.' ? std::string("\\.") : std::string(1, ch);
        if (!pb.first) {
            dynamic["-:^" + escaped + "$"] = json::object();
        } else if (pb.second != best->first) {
            dynamic["+:^" + escaped + "$"] = {{"bits", pb.second.first},
                                              {"group_size", pb.second.second}};
            res.warnings.push_back(prefix + ": " + std::to_string(pb.second.first) +
                                   "-bit / group " + std::to_string(pb.second.second) +
                                   " differs from the checkpoint's " + std::to_string(bits) +
                                   "-bit / group " + std::to_string(group) +
                                   ": described by a GPTQModel \"dynamic\" override only");
        }
    }
    // Modules left unquantized (not in the QuantizedModel, skipped, or not packable), per name.
    const model::ModelConfig& c = model.config();
    json in_block = json::array();
    bool uniform = true, any_excluded = false;
    for (const auto& sub : std::vector<std::vector<std::string>>{
             {"q_proj", "k_proj", "v_proj"}, {"o_proj"}, {"gate_proj", "up_proj"}, {"down_proj"}}) {
        json names = json::array();
        for (const std::string& n : sub) {
            int64_t packed_blocks = 0;
            for (int64_t l = 0; l < c.num_layers; ++l) {
                auto it = plan.find(layer_prefix(l, n));
                if (it != plan.end() && it->second.first)
                    ++packed_blocks;
                else
                    any_excluded = true;
            }
            if (packed_blocks == c.num_layers)
                names.push_back(module_path(n));
            else if (packed_blocks != 0)
                uniform = false;  // quantized in some blocks only: no per-name list describes it
        }
        if (!names.empty())
            in_block.push_back(names);
    }
    // Layers the QuantizedModel does not hold at all are unquantized too.
    for (int64_t l = 0; l < c.num_layers; ++l)
        for (const std::string& n : model::linear_names())
            if (!plan.count(layer_prefix(l, n))) {
                std::string escaped;
                for (char ch : layer_prefix(l, n))
                    escaped += ch == '.' ? std::string("\\.") : std::string(1, ch);
                dynamic["-:^" + escaped + "$"] = json::object();
                res.warnings.push_back(layer_prefix(l, n) +
                                       ": not quantized in the session: stored unquantized");
            }

    json qc = {{"quant_method", "gptq"},
               {"bits", bits},
               {"group_size", group},
               {"desc_act", false},
               {"sym", false},
               {"static_groups", false},
               {"true_sequential", true},
               {"damp_percent", 0.01},
               {"checkpoint_format", "gptq_v2"},
               {"meta",
                {{"quantizer",
                  {std::string("zeropoint:") + (qm.config.software_version.empty()
                                                    ? std::string("unknown")
                                                    : qm.config.software_version)}},
                 {"zeropoint_method", qm.config.method}}}};
    if (!dynamic.empty())
        qc["dynamic"] = dynamic;
    if (any_excluded && uniform)
        qc["modules_in_block_to_quantize"] = in_block;
    else if (any_excluded)
        res.warnings.push_back(
            "some modules are unquantized in only some blocks: only GPTQModel's \"dynamic\" rules "
            "describe them (plain transformers/AutoGPTQ would expect them quantized)");
    write_config(model, dir, dtype, json{{"quantization_config", qc}}, res.files);
    write_text((fs::path(dir) / "quantize_config.json").string(), qc.dump(2) + "\n", res.files);
    copy_tokenizer(tokenizer, dir, res.files);
    return res;
}

// ---- loading a packed checkpoint ---------------------------------------------------------------

namespace {

json read_packed_config(const fs::path& dir)
{
    const fs::path cfg = dir / "config.json";
    json j;
    try {
        j = json::parse(read_text_file(cfg));
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

template <typename T>
T field(const json& o, const char* key, const std::string& where)
{
    if (!o.is_object() || !o.contains(key))
        throw FormatError(where + ": field '" + key + "' is missing");
    try {
        return o[key].get<T>();
    } catch (const json::exception&) {
        throw FormatError(where + ": field '" + key + "' has a wrong type: " + o[key].dump());
    }
}

pipeline::LayerResult layer_from_json(const json& jl, const std::string& cfg_path)
{
    const std::string where = cfg_path + ": quantization_config.layers entry " +
                              (jl.is_object() && jl.contains("tensor") ? jl["tensor"].dump() : "?");
    pipeline::LayerResult l;
    l.block = field<int64_t>(jl, "block", where);
    l.name = field<std::string>(jl, "name", where);
    l.bits = field<int>(jl, "bits", where);
    l.group_size = field<int64_t>(jl, "group_size", where);
    l.in_features = field<int64_t>(jl, "in_features", where);
    l.out_features = field<int64_t>(jl, "out_features", where);
    l.algorithm = field<std::string>(jl, "algorithm", where) == "gptq" ? pipeline::Algorithm::GPTQ
                                                                       : pipeline::Algorithm::RTN;
    l.param_method = field<std::string>(jl, "param_method", where);
    l.skipped = field<bool>(jl, "skipped", where);
    l.diag_loss = field<double>(jl, "diag_loss", where);
    l.diag_loss_minmax = field<double>(jl, "diag_loss_minmax", where);
    l.proxy_loss = field<double>(jl, "proxy_loss", where);
    l.proxy_loss_rtn_minmax = field<double>(jl, "proxy_loss_rtn_minmax", where);
    l.relative_weight_error = field<double>(jl, "relative_weight_error", where);
    l.seconds = field<double>(jl, "seconds", where);
    if (field<std::string>(jl, "tensor", where) != layer_prefix(l.block, l.name))
        throw FormatError(where + ": 'tensor' does not match block and name");
    if (!l.skipped && (l.bits < 1 || l.bits > 8 || l.in_features <= 0 || l.out_features <= 0 ||
                       l.group_size <= 0 || l.in_features % l.group_size != 0))
        throw FormatError(where + ": bits " + std::to_string(l.bits) + ", group_size " +
                          std::to_string(l.group_size) + ", in_features " +
                          std::to_string(l.in_features) + " cannot describe a layer");
    return l;
}

// Reads codes, scales, zeros (and the Hessian diagonal) of one layer from the file.
void read_layer_tensors(const SafetensorsFile& f, pipeline::LayerResult& l)
{
    const std::string p = layer_prefix(l.block, l.name);
    auto get = [&](const std::string& name, at::ScalarType type,
                   const std::vector<int64_t>& shape) {
        const SafetensorInfo& info = f.info(name);  // FormatError naming file + tensor if absent
        if (info.scalar_type != type || info.shape != shape)
            throw FormatError(f.path() + ": tensor '" + name + "' is " + info.dtype + " " +
                              shape_str(info.shape) + ", expected " + SafetensorsWriter::dtype_name(type) + " " +
                              shape_str(shape));
        return f.tensor(name);
    };
    const int64_t groups = l.in_features / l.group_size;
    l.codes = unpack_codes(
        get(p + ".qcodes", at::kByte, {l.out_features, (l.in_features * l.bits + 7) / 8}), l.bits,
        l.in_features);
    l.scale = get(p + ".scales", at::kFloat, {l.out_features, groups});
    l.zero = get(p + ".zeros", at::kFloat, {l.out_features, groups});
    if (f.contains(p + ".hessian_diag"))
        l.hessian_diag = get(p + ".hessian_diag", at::kDouble, {l.in_features});
}

class PackedSource final : public model::WeightSource {
public:
    explicit PackedSource(const std::string& path) : dir_(packed_dir_of(path).string())
    {
        const fs::path d(dir_);
        cfg_path_ = (d / "config.json").string();
        const json j = read_packed_config(d);
        config_ = model::parse_hf_config(cfg_path_);
        file_ = std::make_unique<SafetensorsFile>((d / "model.safetensors").string());
        for (const json& jl : j["quantization_config"]["layers"]) {
            pipeline::LayerResult l = layer_from_json(jl, cfg_path_);
            if (!l.skipped)
                layers_[layer_prefix(l.block, l.name) + ".weight"] = l;
        }
    }

    const model::ModelConfig& config() const override { return config_; }
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
            pipeline::LayerResult l = it->second;
            read_layer_tensors(*file_, l);
            return pipeline::QuantizedModel::dequantize(l).to(at::kFloat).contiguous();
        }
        const SafetensorInfo& info = file_->info(name);
        if (info.scalar_type != at::kFloat && info.scalar_type != at::kHalf &&
            info.scalar_type != at::kBFloat16)
            throw FormatError(file_->path() + ": tensor '" + name + "' has dtype " + info.dtype +
                              "; model weights must be F32, F16 or BF16");
        at::Tensor t = file_->tensor(name);
        return t.scalar_type() == at::kFloat ? t : t.to(at::kFloat);
    }
    std::string file_of(const std::string&) const override { return file_->path(); }

    const SafetensorsFile& file() const { return *file_; }

private:
    std::string dir_, cfg_path_;
    std::string format_ = kPackedFormat;
    model::ModelConfig config_;
    std::unique_ptr<SafetensorsFile> file_;
    std::map<std::string, pipeline::LayerResult>
        layers_;  // "<prefix>.weight" -> layer (no tensors)
};

}  // namespace

bool is_packed_checkpoint(const std::string& path)
{
    std::error_code ec;
    const fs::path cfg = packed_dir_of(path) / "config.json";
    if (!fs::is_regular_file(cfg, ec))
        return false;
    try {
        const json j = json::parse(read_text_file(cfg));
        return j.is_object() && j.contains("quantization_config") &&
               j["quantization_config"].is_object() &&
               j["quantization_config"].value("format", std::string()) == kPackedFormat;
    } catch (const json::exception&) {
        return false;  // not ours; the HF loader reports the bad JSON
    }
}

std::unique_ptr<model::WeightSource> open_packed_source(const std::string& dir)
{
    return std::make_unique<PackedSource>(dir);
}

PackedCheckpoint load_packed(const std::string& path)
{
    const fs::path d = packed_dir_of(path);
    const std::string cfg_path = (d / "config.json").string();
    const json j = read_packed_config(d);
    PackedCheckpoint out;
    out.model = std::make_unique<model::Model>(open_packed_source(d.string()));
    const json& qc = j["quantization_config"];
    const std::string where = cfg_path + ": quantization_config.run";
    const json run = qc.contains("run") ? qc["run"] : json::object();
    pipeline::RunConfig& r = out.qm.config;
    r.model_path = field<std::string>(run, "model_path", where);
    r.model_config_hash = field<std::string>(run, "model_config_hash", where);
    r.calibration_source = field<std::string>(run, "calibration_source", where);
    r.calibration_samples = field<int64_t>(run, "calibration_samples", where);
    r.calibration_seqlen = field<int64_t>(run, "calibration_seqlen", where);
    r.seed = field<uint64_t>(run, "seed", where);
    r.method = field<std::string>(run, "method", where);
    r.bits = field<int>(run, "bits", where);
    r.group_size = field<int64_t>(run, "group_size", where);
    r.software_version = field<std::string>(run, "software_version", where);
    r.extra = field<std::map<std::string, std::string>>(run, "extra", where);
    if (qc.contains("perplexity"))
        out.qm.perplexity = field<std::map<std::string, double>>(qc, "perplexity", cfg_path);
    SafetensorsFile f((d / "model.safetensors").string());
    const int64_t nblocks = out.model->config().num_layers;
    for (const json& jl : qc["layers"]) {
        pipeline::LayerResult l = layer_from_json(jl, cfg_path);
        if (l.block < 0 || l.block >= nblocks)
            throw FormatError(cfg_path + ": layer " + layer_prefix(l.block, l.name) +
                              " is outside the model's " + std::to_string(nblocks) + " blocks");
        if (!l.skipped)
            read_layer_tensors(f, l);
        out.qm.layers.push_back(std::move(l));
    }
    return out;
}

}  // namespace zp::io
