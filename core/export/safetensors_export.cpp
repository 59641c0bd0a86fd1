#include "core/export/safetensors_export.h"

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
#include "core/common/text.h"
#include "core/formats/safetensors.h"
#include "core/model/packed_source.h"
#include "core/pipeline/run_options.h"
#include "core/quant/integer_zero.h"
#include "core/quant/quantizer.h"

namespace zp::io {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool is_quantized(const quant::LayerResult* l)
{
    return l && !l->skipped && l->codes.defined();
}

int64_t resolved_group(const quant::LayerResult& l)
{
    return l.group_size <= 0 ? l.in_features : l.group_size;
}

// ceil(in / g): the last group is shorter when g does not divide in (GPTQ's rule).
int64_t group_count(int64_t in, int64_t g)
{
    return (in + g - 1) / g;
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
    const std::string& prefix, const quant::LayerResult& layer, bool with_data)>;

struct Layout {
    at::ScalarType dense = at::kHalf;  // non-quantized tensors (norm gains: F32 always)
    LinearItems linear;
    std::map<std::string, std::string> metadata{{"format", "pt"}};
};

void check_layers(const model::Model& m, const quant::QuantizedModel& qm)
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
                                  ": codes " + shape_str(l.codes.sizes().vec()) +
                                  " do not match [" + std::to_string(l.out_features) + ", " +
                                  std::to_string(l.in_features) + "]");
    }
}

// Writes model.safetensors of a layout into dir: embedding, blocks (quantized linears through
// layout.linear), final norm, lm_head unless tied.
void write_model_file(const model::Model& m, const quant::QuantizedModel& qm,
                      const std::string& dir, const Layout& layout, const ProgressFn& progress,
                      std::vector<std::string>& files)
{
    check_layers(m, qm);
    const model::ModelConfig& c = m.config();
    auto type_of = [&](const std::string& name) {
        return name.find("norm") != std::string::npos ? at::kFloat : layout.dense;
    };
    const model::BlockWeights tmpl = m.block(0);
    for (const model::BlockPart& p : model::block_parts(c)) {
        if (!p.linear || !(tmpl.*p.member).defined())
            continue;
        for (int64_t l = 0; l < c.num_layers; ++l) {
            const quant::LayerResult* r = qm.find(l, p.linear);
            if (!is_quantized(r))
                continue;
            const at::Tensor& w = tmpl.*p.member;
            if (r->out_features != w.size(0) || r->in_features != w.size(1))
                throw InvalidArgument("export: block " + std::to_string(l) + " " + p.linear +
                                      " is [" + std::to_string(r->out_features) + ", " +
                                      std::to_string(r->in_features) +
                                      "] in the quantized model but " + shape_str(w.sizes().vec()) +
                                      " in the model (a session of another model?)");
        }
    }

    auto block_items = [&](int64_t l, const model::BlockWeights& b, bool with_data) {
        std::vector<Item> items;
        for (const model::BlockPart& p : model::block_parts(c)) {
            const at::Tensor& t = b.*p.member;
            if (!t.defined())
                continue;
            const std::string name = model::block_tensor_name(l, p.name);
            const quant::LayerResult* r = p.linear ? qm.find(l, p.linear) : nullptr;
            if (is_quantized(r)) {
                auto more = layout.linear(model::linear_prefix(l, p.linear), *r, with_data);
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

json run_json(const quant::QuantizedModel& qm)
{
    const quant::RunConfig& r = qm.config;
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

// ---- GPTQ encoding -----------------------------------------------------------------------------

GptqEncoding encode_gptq(const quant::LayerResult& layer, bool refit_scale)
{
    const std::string prefix = model::linear_prefix(layer.block, layer.name);
    if (!is_quantized(&layer))
        throw InvalidArgument("GPTQ export: " + prefix + " holds no quantized weights");
    const at::Tensor w_hat = quant::QuantizedModel::dequantize(layer).to(at::kFloat).contiguous();
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
    else if (g <= 0 || g > in)
        why = "group size " + std::to_string(g) + " is not in 1.." + std::to_string(in);
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
        const quant::IntegerZeroGrid r =
            quant::integer_zero_grid(layer, refit_scale, "GPTQ export: " + prefix);
        e.codes = r.codes;
        e.w = r.w;
        e.nearest_added_loss = r.nearest_loss;
        e.zeros_int = r.zeros.to(at::kInt).contiguous();
        e.qweight = gptq_pack(e.codes.t().contiguous(), bits);
        // gptq_pack packs along dim 0: zeros [out, G] -> [out * bits / 32, G] -> transposed.
        e.qzeros = gptq_pack(e.zeros_int, bits).t().contiguous();
        e.scales = r.scale.to(at::kHalf).t().contiguous();
        e.g_idx = at::arange(in, at::TensorOptions().dtype(at::kLong)).div(g, "floor").to(at::kInt);
        const at::Tensor& z = r.zeros;
        const double nearest_loss = r.nearest_loss;
        e.packed = true;
        e.line.type = "int" + std::to_string(bits);
        e.line.codes_changed = (e.codes != layer.codes.to(at::kByte)).sum().item<int64_t>();
        const int64_t zmoved = (z != layer.zero.to(at::kCPU).to(at::kFloat)).sum().item<int64_t>();
        e.line.note = std::to_string(zmoved) + "/" + std::to_string(z.numel()) +
                      " zero-points rounded, " + std::to_string(e.line.codes_changed) +
                      " codes moved";
        if (in % g != 0)
            e.line.note += "; " + std::to_string(in / g) + " groups of " + std::to_string(g) +
                           " + a last group of " + std::to_string(in % g) +
                           " (ceil(in / g) rows of scales and qzeros, g_idx = c / g)";
        if (refit_scale) {
            char buf[96];
            std::snprintf(buf, sizeof buf, "; scale refit (nearest z alone: added loss %.4g)",
                          nearest_loss);
            e.line.note += buf;
        }
    }
    e.line.rel_error = quant::relative_error(e.w, w_hat);
    e.line.added_loss = quant::weighted_loss(e.w, w_hat, layer);
    if (!e.packed)
        e.nearest_added_loss = e.line.added_loss;
    return e;
}

// ---- the three layouts -------------------------------------------------------------------------

SafetensorsExportResult export_dequantized(const model::Model& model,
                                           const quant::QuantizedModel& qm, const std::string& dir,
                                           at::ScalarType dtype, const std::string& tokenizer,
                                           const ProgressFn& progress)
{
    if (dtype != at::kHalf && dtype != at::kBFloat16 && dtype != at::kFloat)
        throw InvalidArgument("safetensors export: dtype must be f16, bf16 or f32");
    SafetensorsExportResult res;
    const char* tname = dtype == at::kHalf ? "F16" : dtype == at::kBFloat16 ? "BF16" : "F32";
    Layout layout;
    layout.dense = dtype;
    layout.linear = [&](const std::string& prefix, const quant::LayerResult& l,
                        bool with_data) -> std::vector<Item> {
        at::Tensor w;
        if (with_data) {
            const at::Tensor w_hat = quant::QuantizedModel::dequantize(l).to(at::kFloat);
            w = w_hat.to(dtype);
            ExportedLayer line;
            line.tensor = prefix;
            line.type = tname;
            line.diag_loss = l.diag_loss;
            line.rel_error = quant::relative_error(w, w_hat);
            line.added_loss = quant::weighted_loss(w.to(at::kFloat), w_hat, l);
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

SafetensorsExportResult export_packed(const model::Model& model, const quant::QuantizedModel& qm,
                                      const std::string& dir, const std::string& tokenizer,
                                      const ProgressFn& progress)
{
    SafetensorsExportResult res;
    Layout layout;
    layout.dense = at::kFloat;
    layout.metadata["zeropoint"] = "packed-" + std::to_string(model::kPackedVersion);
    layout.linear = [&](const std::string& prefix, const quant::LayerResult& l,
                        bool with_data) -> std::vector<Item> {
        const int64_t g = resolved_group(l);
        if (g <= 0 || g > l.in_features)
            throw InvalidArgument("packed export: " + prefix + ": group size " + std::to_string(g) +
                                  " is not in 1.." + std::to_string(l.in_features));
        // ceil(in / g) groups: the last one is shorter when g does not divide in.
        const int64_t groups = group_count(l.in_features, g);
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
        layers.push_back({{"tensor", model::linear_prefix(l.block, l.name)},
                          {"block", l.block},
                          {"name", l.name},
                          {"bits", l.bits},
                          {"group_size", is_quantized(&l) ? resolved_group(l) : l.group_size},
                          {"in_features", l.in_features},
                          {"out_features", l.out_features},
                          {"algorithm", quant::algorithm_name(l.algorithm)},
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
               {"format", model::kPackedFormat},
               {"version", model::kPackedVersion},
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

SafetensorsExportResult export_gptq(const model::Model& model, const quant::QuantizedModel& qm,
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
        plan;                             // prefix -> (packed, (b, g))
    std::vector<std::string> short_last;  // packed layers whose last group is shorter
    for (const auto& l : qm.layers) {
        if (!is_quantized(&l))
            continue;
        // Decide packability the way encode_gptq does, without the work.
        const int64_t g = resolved_group(l), in = l.in_features, out = l.out_features;
        const bool ok = (l.bits == 2 || l.bits == 3 || l.bits == 4 || l.bits == 8) && g > 0 &&
                        g <= in && (in * l.bits) % 32 == 0 && (out * l.bits) % 32 == 0;
        const int64_t gsz = g == in ? -1 : g;
        plan[model::linear_prefix(l.block, l.name)] = {ok, {l.bits, gsz}};
        if (ok)
            ++counts[{l.bits, gsz}];
        if (ok && in % g != 0)
            short_last.push_back(model::linear_prefix(l.block, l.name) + " (" + std::to_string(in) +
                                 " = " + std::to_string(in / g) + " x " + std::to_string(g) +
                                 " + " + std::to_string(in % g) + ")");
    }
    if (counts.empty())
        throw InvalidArgument(
            "gptq export: no layer can be stored as GPTQ (bits 2, 3, 4 or 8 with in_features and "
            "out_features multiples of 32 / gcd(32, bits))");
    if (!short_last.empty())
        // GPTQ's own rule, which GPTQModel's and AutoGPTQ's QuantLinear share (scales and qzeros
        // of ceil(in / g) rows, g_idx = c / g); vLLM's GPTQ layers check in % g == 0 and refuse.
        res.warnings.push_back(
            std::to_string(short_last.size()) + " layer(s) end in a shorter group, e.g. " +
            short_last.front() +
            ": stored with ceil(in / group) groups and g_idx = c / group as GPTQModel and "
            "transformers read them; vLLM refuses a group size that does not divide "
            "in_features");
    auto best = std::max_element(counts.begin(), counts.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
    const int bits = best->first.first;
    const int64_t group = best->first.second;

    Layout layout;
    layout.dense = dtype;
    layout.linear = [&](const std::string& prefix, const quant::LayerResult& l,
                        bool with_data) -> std::vector<Item> {
        const int64_t in = l.in_features, out = l.out_features;
        const auto& [ok, bg] = plan.at(prefix);
        if (!with_data) {
            if (!ok)
                return {{prefix + ".weight", dtype, {out, in}, {}}};
            const int b = bg.first;
            const int64_t g = resolved_group(l);
            return {{prefix + ".qweight", at::kInt, {in * b / 32, out}, {}},
                    {prefix + ".qzeros", at::kInt, {group_count(in, g), out * b / 32}, {}},
                    {prefix + ".scales", at::kHalf, {group_count(in, g), out}, {}},
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
    for (const model::LinearGroup& group : model::linear_input_groups(c)) {
        const std::vector<std::string>& sub = group.layers;
        json names = json::array();
        for (const std::string& n : sub) {
            int64_t packed_blocks = 0;
            for (int64_t l = 0; l < c.num_layers; ++l) {
                auto it = plan.find(model::linear_prefix(l, n));
                if (it != plan.end() && it->second.first)
                    ++packed_blocks;
                else
                    any_excluded = true;
            }
            if (packed_blocks == c.num_layers)
                names.push_back(model::linear_module(n));
            else if (packed_blocks != 0)
                uniform = false;  // quantized in some blocks only: no per-name list describes it
        }
        if (!names.empty())
            in_block.push_back(names);
    }
    // Layers the QuantizedModel does not hold at all are unquantized too.
    for (int64_t l = 0; l < c.num_layers; ++l)
        for (const std::string& n : model::linear_names())
            if (!plan.count(model::linear_prefix(l, n))) {
                std::string escaped;
                for (char ch : model::linear_prefix(l, n))
                    escaped += ch == '.' ? std::string("\\.") : std::string(1, ch);
                dynamic["-:^" + escaped + "$"] = json::object();
                res.warnings.push_back(model::linear_prefix(l, n) +
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
// The layout is read in core/model/packed_source (the model layer serves a packed directory as a
// model); this adds the run record and the per-layer figures the session part carries.

namespace {

using model::packed_field;

// The session part of a layer entry (its placement and storage, p, already parsed).
quant::LayerResult layer_from_json(const json& jl, const model::PackedLinear& p,
                                   const std::string& cfg_path)
{
    const std::string where =
        cfg_path + ": quantization_config.layers entry " + jl["tensor"].dump();
    quant::LayerResult l;
    l.block = p.block;
    l.name = p.name;
    l.bits = p.bits;
    l.group_size = p.group_size;
    l.in_features = p.in_features;
    l.out_features = p.out_features;
    l.skipped = p.skipped;
    try {
        l.algorithm = quant::parse_algorithm(packed_field<std::string>(jl, "algorithm", where));
    } catch (const InvalidArgument& e) {
        throw FormatError(where + ": " + e.what());
    }
    l.param_method = packed_field<std::string>(jl, "param_method", where);
    if (!l.skipped) {
        try {
            quant::parse_method(l.param_method);
        } catch (const InvalidArgument& e) {
            throw FormatError(where + ": 'param_method': " + e.what());
        }
    }
    l.diag_loss = packed_field<double>(jl, "diag_loss", where);
    l.diag_loss_minmax = packed_field<double>(jl, "diag_loss_minmax", where);
    l.proxy_loss = packed_field<double>(jl, "proxy_loss", where);
    l.proxy_loss_rtn_minmax = packed_field<double>(jl, "proxy_loss_rtn_minmax", where);
    l.relative_weight_error = packed_field<double>(jl, "relative_weight_error", where);
    l.seconds = packed_field<double>(jl, "seconds", where);
    return l;
}

}  // namespace

PackedCheckpoint load_packed(const std::string& path)
{
    const fs::path d = model::packed_dir_of(path);
    const std::string cfg_path = (d / "config.json").string();
    const json j = model::read_packed_config(d.string());
    PackedCheckpoint out;
    out.model = std::make_unique<model::Model>(model::open_packed_source(d.string()));
    const json& qc = j["quantization_config"];
    const std::string where = cfg_path + ": quantization_config.run";
    const json run = qc.contains("run") ? qc["run"] : json::object();
    quant::RunConfig& r = out.qm.config;
    r.model_path = packed_field<std::string>(run, "model_path", where);
    r.model_config_hash = packed_field<std::string>(run, "model_config_hash", where);
    r.calibration_source = packed_field<std::string>(run, "calibration_source", where);
    r.calibration_samples = packed_field<int64_t>(run, "calibration_samples", where);
    r.calibration_seqlen = packed_field<int64_t>(run, "calibration_seqlen", where);
    r.seed = packed_field<uint64_t>(run, "seed", where);
    r.method = packed_field<std::string>(run, "method", where);
    r.bits = packed_field<int>(run, "bits", where);
    r.group_size = packed_field<int64_t>(run, "group_size", where);
    r.software_version = packed_field<std::string>(run, "software_version", where);
    r.extra = packed_field<std::map<std::string, std::string>>(run, "extra", where);
    try {  // the run options in it must be what the one table accepts
        pipeline::RunOptions checked;
        pipeline::apply_record(checked, r.extra, where + ".extra");
    } catch (const InvalidArgument& e) {
        throw FormatError(e.what());
    }
    if (qc.contains("perplexity"))
        out.qm.perplexity = packed_field<std::map<std::string, double>>(qc, "perplexity", cfg_path);
    SafetensorsFile f((d / "model.safetensors").string());
    const int64_t nblocks = out.model->config().num_layers;
    for (const json& jl : qc["layers"]) {
        const model::PackedLinear p = model::parse_packed_linear(jl, cfg_path);
        quant::LayerResult l = layer_from_json(jl, p, cfg_path);
        if (l.block < 0 || l.block >= nblocks)
            throw FormatError(cfg_path + ": layer " + model::linear_prefix(l.block, l.name) +
                              " is outside the model's " + std::to_string(nblocks) + " blocks");
        if (!l.skipped) {
            const model::PackedTensors t = model::read_packed_tensors(f, p);
            l.codes = t.codes;
            l.scale = t.scale;
            l.zero = t.zero;
            l.hessian_diag = t.hessian_diag;
        }
        out.qm.layers.push_back(std::move(l));
    }
    return out;
}

}  // namespace zp::io
