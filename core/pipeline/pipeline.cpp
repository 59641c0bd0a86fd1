#include "core/pipeline/pipeline.h"

#include "core/pipeline/run_options.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <utility>

#include "core/common/error.h"
#include "core/model/forward.h"
#include "core/quant/act_quant.h"
#include "core/quant/gguf_presets.h"
#include "core/quant/gptq.h"
#include "core/quant/gram.h"
#include "core/quant/kquant_search.h"
#include "core/quant/ruquant_finetune.h"

#ifndef ZP_VERSION
#define ZP_VERSION "unknown"
#endif

namespace zp::pipeline {

const std::vector<PipelineMethod>& pipeline_methods()
{
    static const std::vector<PipelineMethod> table = {
        {"rtn-minmax", quant::Algorithm::RTN, quant::Method::MinMax, "RTN + Min-Max"},
        {"rtn-neuqi", quant::Algorithm::RTN, quant::Method::NeUQI, "RTN + NeUQI"},
        {"rtn-neuqi-int", quant::Algorithm::RTN, quant::Method::NeUQIInt,
         "RTN + NeUQI (integer z)"},
        {"gptq-minmax", quant::Algorithm::GPTQ, quant::Method::MinMax, "GPTQ + Min-Max"},
        {"gptq-neuqi", quant::Algorithm::GPTQ, quant::Method::NeUQI, "GPTQ + NeUQI"},
        {"gptq-neuqi-int", quant::Algorithm::GPTQ, quant::Method::NeUQIInt,
         "GPTQ + NeUQI (integer z)"},
    };
    return table;
}

const PipelineMethod& parse_pipeline_method(const std::string& name)
{
    std::string names;
    for (const PipelineMethod& m : pipeline_methods()) {
        if (name == m.name)
            return m;
        names += (names.empty() ? "" : ", ") + std::string(m.name);
    }
    throw InvalidArgument("unknown pipeline method '" + name + "' (choose one of: " + names + ")");
}

std::string config_hash(const model::ModelConfig& config)
{
    const std::string text = model::to_hf_config_json(config);
    uint64_t h = 1469598103934665603ULL;
    for (unsigned char ch : text) {
        h ^= ch;
        h *= 1099511628211ULL;
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

namespace {

// Largest calibration input of one group the pipeline keeps to collect H from it without a second
// forward (the activation side runs a statistics pass first).
constexpr int64_t kKeepInputsBytes = int64_t(1) << 30;

int64_t in_features(const model::ModelConfig& c, const std::string& name)
{
    return model::group_in_features(c, name);
}

bool is_linear_name(const std::string& n)
{
    for (const std::string& l : model::linear_names())
        if (l == n)
            return true;
    return false;
}

// Checks every override key: "<block>.<name>", "*.<name>", "<block>.*".
void check_override_keys(const model::ModelConfig& c, const PipelineOptions& o)
{
    for (const auto& [key, ov] : o.overrides) {
        const size_t dot = key.find('.');
        bool ok = dot != std::string::npos && dot > 0 && dot + 1 < key.size();
        if (ok) {
            const std::string b = key.substr(0, dot), n = key.substr(dot + 1);
            if (b != "*") {
                ok = b.find_first_not_of("0123456789") == std::string::npos && b.size() < 10 &&
                     std::stoll(b) < c.num_layers;
            }
            ok = ok && (n == "*" || is_linear_name(n)) && !(b == "*" && n == "*");
        }
        if (!ok)
            throw InvalidArgument(
                "per-layer override '" + key +
                "': expected <block>.<layer>, *.<layer> or "
                "<block>.* with block in 0.." +
                std::to_string(c.num_layers - 1) +
                " and layer one of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj");
        if (!ov.method.empty())
            parse_pipeline_method(ov.method);
    }
}

const LayerOverride* find_override(const PipelineOptions& o, int64_t block, const std::string& name)
{
    for (const std::string& key :
         {std::to_string(block) + "." + name, std::to_string(block) + ".*", "*." + name}) {
        auto it = o.overrides.find(key);
        if (it != o.overrides.end())
            return &it->second;
    }
    return nullptr;
}

// Thrown by the observer once it has the input it needs: the rest of the block is not computed.
struct StopForward {};

double seconds_since(std::chrono::steady_clock::time_point t0)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Adds the wall time of its scope to a stage's total (the run record's seconds_* entries).
struct StageTimer {
    explicit StageTimer(double& total) : total_(total) {}
    ~StageTimer() { total_ += seconds_since(t0_); }
    StageTimer(const StageTimer&) = delete;
    StageTimer& operator=(const StageTimer&) = delete;

private:
    double& total_;
    std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
};

// --protect auto without calibration decides once for the model: the data-free remedy in every
// layer of a model with super-weights, the plain search in every layer of a model without
// (quant/quantizer.h, ProtectSetting). Measured per model because the remedy's reason, inputs
// with large non-zero means on a few channels, is a property of the model, not of the layer:
// on SmolLM2-135M (super-weights up to 51 standard deviations) deciding layer by layer left its
// light-tailed layers to the plain search and lost to Min-Max (README "Super-weights").
void resolve_auto_protect(const model::Model& model, bool have_data, std::vector<LayerPlan>* plan)
{
    bool needed = false;
    for (const LayerPlan& p : *plan)
        needed |= !p.skip && p.config.protect.mode == quant::ProtectSetting::Mode::Auto &&
                  p.config.method != quant::Method::MinMax;
    if (!needed || have_data)
        return;
    bool heavy = false;
    for (int64_t b = 0; b < model.config().num_layers && !heavy; ++b) {
        const model::BlockWeights w = model.block(b);
        for (const std::string& name : model::linear_names())
            if (quant::has_heavy_tail(w.linear(name))) {
                heavy = true;
                break;
            }
    }
    for (LayerPlan& p : *plan)
        p.config.protect.model_heavy_tail = heavy;
}

}  // namespace

std::vector<LayerPlan> plan_layers(const model::ModelConfig& c, const PipelineOptions& o)
{
    const PipelineMethod& run_method = parse_pipeline_method(o.method);
    check_override_keys(c, o);
    const bool have_data = o.calibration.defined();
    std::optional<gguf::PresetPlan> preset;
    if (!o.preset.empty()) {
        if (o.transform.kind != quant::TransformKind::None || o.abits < 16)
            throw InvalidArgument("preset " + o.preset +
                                  ": a llama.cpp file holds weights only; run it without a "
                                  "transform and with 16-bit activations");
        preset = gguf::plan_preset(o.preset, c, have_data);
    }
    std::vector<LayerPlan> plan;
    for (int64_t b = 0; b < c.num_layers; ++b) {
        for (const std::string& name : model::linear_names()) {
            LayerPlan p;
            p.block = b;
            p.name = name;
            p.method = &run_method;
            p.config = o.search;
            p.config.bits = o.bits;
            p.config.group_size = o.group_size;
            if (const LayerOverride* ov = find_override(o, b, name)) {
                p.skip = ov->skip;
                if (ov->bits != 0)
                    p.config.bits = ov->bits;
                if (ov->group_size != 0)
                    p.config.group_size = ov->group_size;
                if (!ov->method.empty())
                    p.method = &parse_pipeline_method(ov->method);
            }
            p.config.method = p.method->params;
            if (preset && !p.skip) {
                const gguf::TensorChoice& ch = preset->linear(b, name);
                auto lt = o.layer_types.find(std::to_string(b) + "." + name);
                if (quant::kquant_supported(ch.type) && lt != o.layer_types.end()) {
                    if (!quant::kquant_supported(lt->second) ||
                        in_features(c, name) % quant::kquant_block_elements(lt->second) != 0)
                        throw InvalidArgument(
                            "block " + std::to_string(b) + " " + name + ": type " +
                            gguf::tensor_type_traits(uint32_t(lt->second)).name +
                            " does not tile a row of " + std::to_string(in_features(c, name)));
                    p.encoding = lt->second;
                    p.encoding_rule = "size budget";
                } else if (quant::kquant_supported(ch.type)) {
                    p.encoding = ch.type;
                    p.encoding_rule = ch.rule;
                } else {
                    p.skip = true;  // llama-quantize writes it F16: kept in full precision
                }
            }
            const std::string what = "block " + std::to_string(b) + " " + name;
            if (o.transform.kind != quant::TransformKind::None && !have_data)
                throw InvalidArgument(std::string("transform ") +
                                      quant::transform_kind_info(o.transform.kind).name +
                                      " needs calibration data (--calib)");
            if (o.transform.finetune_epochs > 0 &&
                o.transform.kind != quant::TransformKind::RUQuant)
                throw InvalidArgument(
                    "stage 2 (finetune epochs) tunes RUQuant's Householder vectors: it needs "
                    "transform ruquant");
            if (p.skip && o.transform.kind != quant::TransformKind::None)
                throw InvalidArgument(what +
                                      ": a skipped layer cannot share a transformed input "
                                      "(transform " +
                                      quant::transform_kind_info(o.transform.kind).name +
                                      "); quantize it or run without a transform");
            if (!p.skip) {
                if (p.method->algorithm == quant::Algorithm::GPTQ && !have_data)
                    throw InvalidArgument(
                        what + ": method " + p.method->name +
                        " needs calibration data (only rtn-* methods run data-free)");
                if (p.encoding == gguf::TensorType::F32)
                    quant::validate_config(p.config, in_features(c, name), what);
            }
            plan.push_back(std::move(p));
        }
    }
    if (o.transform.kind == quant::TransformKind::DuQuant ||
        o.transform.kind == quant::TransformKind::RUQuant) {
        for (const model::LinearGroup& g : model::linear_input_groups()) {
            const int64_t width = in_features(c, g.input);
            const int64_t rb =
                o.transform.block > 0 ? o.transform.block : quant::default_rotation_block(width);
            if (width % rb != 0)
                throw InvalidArgument("rotation block " + std::to_string(rb) +
                                      " does not divide the width " + std::to_string(width) +
                                      " of the " + g.input +
                                      " input (--rot-block 0 picks the "
                                      "largest power of two up to 128 that divides each width)");
        }
    }
    return plan;
}

BudgetPlan plan_budget(model::Model& model, const PipelineOptions& o)
{
    if (o.preset.empty())
        throw InvalidArgument("--bpw chooses among a preset's GGUF types: give --preset too");
    if (!o.calibration.defined())
        throw InvalidArgument(
            "--bpw ranks the layers by their loss under each type, which needs calibration data "
            "(--calib)");
    if (!(o.bpw > 0.0))
        throw InvalidArgument("--bpw must be > 0");
    const model::ModelConfig& c = model.config();
    // Pass 1: every layer's damped diag H, as the real run will see it (earlier blocks
    // quantized), from a Min-Max run on the preset's types that leaves the model alone.
    PipelineOptions m = o;
    m.bpw = 0.0;
    m.layer_types.clear();
    m.method = "rtn-minmax";
    m.write_back = false;
    std::map<std::string, at::Tensor> hdiag;
    m.on_layer = [&](const quant::LayerResult& r) {
        if (!r.skipped)
            hdiag[std::to_string(r.block) + "." + r.name] = r.hessian_diag;
    };
    m.progress = [&](double done, double total, const std::string& what) {
        report_progress(o.progress, 0.5 * done / std::max(total, 1.0), 1.0,
                        "size budget, measuring H: " + what);
        return true;
    };
    quantize_model(model, m);

    // Pass 2: every candidate type of every layer, searched with that H diagonal.
    static const gguf::TensorType kCandidates[] = {gguf::TensorType::Q2_K, gguf::TensorType::Q3_K,
                                                   gguf::TensorType::Q4_0, gguf::TensorType::Q4_1,
                                                   gguf::TensorType::Q4_K, gguf::TensorType::Q5_0,
                                                   gguf::TensorType::Q5_1, gguf::TensorType::Q5_K,
                                                   gguf::TensorType::Q6_K, gguf::TensorType::Q8_0};
    BudgetPlan plan;
    uint64_t weights = 0;
    size_t done = 0;
    for (int64_t b = 0; b < c.num_layers; ++b) {
        const model::BlockWeights w = model.block(b);
        for (const std::string& name : model::linear_names()) {
            auto it = hdiag.find(std::to_string(b) + "." + name);
            if (it == hdiag.end())
                continue;  // kept in full precision by the preset or an override
            report_progress(o.progress, 0.5 + 0.5 * static_cast<double>(done++) / hdiag.size(), 1.0,
                            "size budget: block " + std::to_string(b) + " " + name);
            const at::Tensor W = w.linear(name);
            BudgetChoice ch;
            ch.block = b;
            ch.name = name;
            ch.weights = W.numel();
            const at::Tensor h = it->second.to(at::kFloat);
            for (gguf::TensorType t : kCandidates)
                if (W.size(1) % quant::kquant_block_elements(t) == 0)
                    ch.losses.push_back({t, quant::kquant_quantize(W, h, t).loss});
            weights += static_cast<uint64_t>(W.numel());
            plan.layers.push_back(std::move(ch));
        }
    }
    plan.budget = static_cast<uint64_t>(o.bpw * static_cast<double>(weights) / 8.0);

    // The choice: per layer the lower convex hull of (bytes, loss); everyone at its cheapest
    // point, then the upgrade with the largest loss decrease per byte while it fits.
    struct Point {
        gguf::TensorType type;
        uint64_t bytes;
        double loss;
    };
    std::vector<std::vector<Point>> hulls;
    for (const BudgetChoice& l : plan.layers) {
        const int64_t cols = in_features(c, l.name), rows = l.weights / cols;
        std::vector<Point> pts;
        for (const auto& [t, loss] : l.losses)
            pts.push_back(
                {t, static_cast<uint64_t>(rows) * gguf::row_bytes(t, static_cast<uint64_t>(cols)),
                 loss});
        std::sort(pts.begin(), pts.end(), [](const Point& a, const Point& b) {
            return a.bytes < b.bytes || (a.bytes == b.bytes && a.loss < b.loss);
        });
        std::vector<Point> hull;
        for (const Point& p : pts) {
            if (!hull.empty() && p.loss >= hull.back().loss)
                continue;  // more bytes, no less loss
            while (hull.size() >= 2) {
                const Point& a = hull[hull.size() - 2];
                const Point& bq = hull.back();
                // bq is above the segment a-p: drop it.
                const double cross = (static_cast<double>(bq.bytes) - a.bytes) * (p.loss - a.loss) -
                                     (bq.loss - a.loss) * (static_cast<double>(p.bytes) - a.bytes);
                if (cross <= 0.0)
                    hull.pop_back();
                else
                    break;
            }
            hull.push_back(p);
        }
        hulls.push_back(std::move(hull));
    }
    std::vector<size_t> at(hulls.size(), 0);
    uint64_t bytes = 0;
    for (const auto& h : hulls)
        bytes += h.front().bytes;
    if (bytes > plan.budget)
        throw InvalidArgument("--bpw " + std::to_string(o.bpw) + ": even the cheapest types need " +
                              std::to_string(8.0 * bytes / weights) + " bits per weight");
    while (true) {
        size_t best = hulls.size();
        double best_slope = 0.0;
        for (size_t i = 0; i < hulls.size(); ++i) {
            if (at[i] + 1 >= hulls[i].size())
                continue;
            const Point& a = hulls[i][at[i]];
            const Point& n = hulls[i][at[i] + 1];
            if (bytes - a.bytes + n.bytes > plan.budget)
                continue;
            const double slope = (a.loss - n.loss) / static_cast<double>(n.bytes - a.bytes);
            if (best == hulls.size() || slope > best_slope) {
                best = i;
                best_slope = slope;
            }
        }
        if (best == hulls.size())
            break;
        bytes += hulls[best][at[best] + 1].bytes - hulls[best][at[best]].bytes;
        ++at[best];
    }
    plan.bytes = bytes;
    for (size_t i = 0; i < hulls.size(); ++i) {
        plan.layers[i].type = hulls[i][at[i]].type;
        plan.layers[i].bytes = hulls[i][at[i]].bytes;
        plan.loss += hulls[i][at[i]].loss;
    }
    return plan;
}

quant::QuantizedModel quantize_model(model::Model& model, const PipelineOptions& o)
{
    if (o.bpw > 0.0 && o.layer_types.empty()) {
        const BudgetPlan bp = plan_budget(model, o);
        PipelineOptions o2 = o;
        for (const BudgetChoice& l : bp.layers)
            o2.layer_types[std::to_string(l.block) + "." + l.name] = l.type;
        quant::QuantizedModel r = quantize_model(model, o2);
        r.config.extra["bpw_linear_bytes"] = std::to_string(bp.bytes);
        r.config.extra["bpw_linear_budget"] = std::to_string(bp.budget);
        return r;
    }
    const auto t_start = std::chrono::steady_clock::now();
    const model::ModelConfig& c = model.config();
    if (o.calibration.defined()) {
        if (o.calibration.dim() != 2 || o.calibration.size(0) < 1 || o.calibration.size(1) < 1)
            throw InvalidArgument("calibration ids must be [N, L] with N, L >= 1");
        const int64_t mx = o.calibration.max().item<int64_t>(),
                      mn = o.calibration.min().item<int64_t>();
        if (mn < 0 || mx >= c.vocab_size)
            throw InvalidArgument("calibration token id " + std::to_string(mn < 0 ? mn : mx) +
                                  " is outside the model's vocabulary of " +
                                  std::to_string(c.vocab_size));
    }
    if (o.batch < 1)
        throw InvalidArgument("calibration batch must be >= 1, got " + std::to_string(o.batch));
    std::vector<LayerPlan> plan = plan_layers(c, o);  // every check before any work
    resolve_auto_protect(model, o.calibration.defined(), &plan);
    const at::Device dev = model::compute_device(o.device).first;
    const at::Device store = o.activations_on_cpu ? at::Device(at::kCPU) : dev;
    const bool have_data = o.calibration.defined();

    quant::QuantizedModel result;
    quant::RunConfig& rc = result.config;
    rc.model_path = model.path();
    rc.model_config_hash = config_hash(c);
    rc.calibration_source = have_data ? o.calibration_source : "";
    rc.calibration_samples = have_data ? o.calibration.size(0) : 0;
    rc.calibration_seqlen = have_data ? o.calibration.size(1) : 0;
    rc.seed = o.seed;
    rc.method = o.method;
    rc.bits = o.bits;
    rc.group_size = o.group_size;
    rc.software_version = ZP_VERSION;
    rc.extra = run_record(o);  // the run options, as the one table writes them

    // The activation side: transforms built group by group into `transforms`, which the run's
    // hooks read as it grows (a group not built yet passes unchanged; Q, K, V are quantized).
    const bool act_side = o.abits < 16 || o.transform.kind != quant::TransformKind::None;
    auto transforms = std::make_shared<quant::TransformSet>();
    const quant::ActivationQuantConfig aq = activation_config(o.abits, o.aclip, c.head_dim);
    const std::shared_ptr<const model::ActivationHooks> run_hooks =
        act_side ? quant::activation_quant_hooks(aq, c.head_dim, transforms, false) : nullptr;
    const model::ActivationHooks* hooks = act_side ? run_hooks.get() : model.activation_hooks();

    const double total = static_cast<double>(plan.size());
    double done = 0.0;
    auto report = [&](int64_t b, const std::string& what) {
        report_progress(
            o.progress, done, total,
            "block " + std::to_string(b + 1) + "/" + std::to_string(c.num_layers) + " " + what);
    };

    // Blocks replaced so far, with what to restore on failure (the earlier replacement, if any).
    std::vector<std::pair<int64_t, std::optional<model::BlockWeights>>> touched;
    auto restore = [&]() {
        for (auto& [b, prev] : touched) {
            if (prev)
                model.set_block(b, *prev);
            else
                model.reset_block(b);
        }
    };

    // Wall time per stage: embedding, reading the blocks, block forwards (the calibration
    // activations through each block, group by group), H (and activation statistics), the
    // per-layer work (search, GPTQ, diagnostics), the next block's inputs, write-back.
    double t_embed = 0.0, t_load = 0.0, t_forward = 0.0, t_hessian = 0.0, t_layers = 0.0,
           t_propagate = 0.0, t_install = 0.0;
    try {
        const int64_t N = have_data ? o.calibration.size(0) : 0;
        at::Tensor X;  // [N, L, hidden] inputs of the current block
        if (have_data) {
            StageTimer st(t_embed);
            report_progress(o.progress, 0.0, total, "embedding the calibration tokens");
            X = model::embed_tokens(model, o.calibration, store, at::kFloat);
        }
        auto forward_chunks = [&](const model::BlockWeights& w,
                                  const model::LinearObserver& observe, bool keep_output,
                                  int64_t block) {
            at::Tensor Y;
            if (keep_output)
                Y = at::empty_like(X);
            for (int64_t s = 0; s < N; s += o.batch) {
                const int64_t n = std::min(o.batch, N - s);
                at::Tensor h = X.narrow(0, s, n).to(dev);
                try {
                    at::Tensor y = model::block_forward(c, w, h, 0, nullptr, observe, hooks, block);
                    if (keep_output)
                        Y.narrow(0, s, n).copy_(y);
                } catch (const StopForward&) {
                }
            }
            return Y;
        };

        // H's float64 copy of each chunk's inputs (GramAccumulator::add), in one buffer reused by
        // every chunk, group and block (the same values as x.to(kDouble), without a fresh 50 MB
        // allocation each time).
        at::Tensor xd_buffer;

        size_t pi = 0;
        double stage2_seconds = 0.0;
        // One block forward per block, group by group (model::BlockStepper), when the chunks'
        // block inputs, residuals and widest group inputs fit in stage_cache_bytes; else one
        // partial forward per group.
        const int64_t widest = std::max({c.intermediate_size, c.q_dim(), c.hidden_size});
        const bool staged = have_data && o.calibration.size(0) * o.calibration.size(1) *
                                                 (2 * c.hidden_size + widest) * 4 <=
                                             o.stage_cache_bytes;
        const bool stage2 = o.transform.finetune_epochs > 0 && have_data &&
                            o.transform.kind == quant::TransformKind::RUQuant;
        for (int64_t b = 0; b < c.num_layers; ++b) {
            const auto t_block = std::chrono::steady_clock::now();
            const model::BlockWeights w_orig = model.block(b).to(dev, at::kFloat, /*copy=*/true);
            t_load += seconds_since(t_block);
            model::BlockWeights w;
            bool any = false;
            // With stage 2 the block runs twice: pass 0 builds the transforms and quantizes as
            // stage 1 does (so each group sees the earlier ones quantized), stage 2 tunes the
            // Householder vectors, and pass 1 quantizes the block again with the tuned transforms.
            const size_t pi_block = pi, layers_block = result.layers.size();
            const double done_block = done;
            std::map<std::string, quant::GroupTransform> tuned;
            std::vector<model::BlockStepper> steppers;
            for (int pass = 0; pass < (stage2 ? 2 : 1); ++pass) {
                const bool final_pass = pass + 1 == (stage2 ? 2 : 1);
                if (pass == 1) {
                    report(b, "stage 2: tuning the Householder vectors");
                    quant::FinetuneOptions fo;
                    fo.epochs = o.transform.finetune_epochs;
                    fo.lr = o.transform.finetune_lr;
                    fo.batch = o.batch;
                    fo.wbits = o.bits;
                    fo.wclip = o.search.clip;
                    fo.act = aq;
                    fo.progress = [&](double, double, const std::string& what) {
                        report(b, what);
                        return true;
                    };
                    stage2_seconds +=
                        quant::finetune_householder(c, w_orig, b, *transforms, X, fo).seconds;
                    for (const model::LinearGroup& sg : model::linear_input_groups()) {
                        tuned[sg.input] = *transforms->find(b, sg.input);
                        transforms->remove(b, sg.input);
                    }
                    pi = pi_block;
                    result.layers.resize(layers_block);
                    done = done_block;
                }
                w = w_orig.to(dev, at::kFloat, /*copy=*/true);
                // Staged: each chunk's block forward advances group by group (one forward per
                // block instead of one partial forward per group).
                steppers.clear();
                if (staged) {
                    StageTimer st(t_forward);
                    for (int64_t s = 0; s < N; s += o.batch)
                        steppers.emplace_back(
                            c, w, X.narrow(0, s, std::min(o.batch, N - s)).to(dev), hooks, b);
                }
                auto advance = [&]() {
                    StageTimer timer(t_forward);
                    for (model::BlockStepper& st : steppers)
                        st.advance(w);
                };
                for (const model::LinearGroup& sg : model::linear_input_groups()) {
                    std::vector<const LayerPlan*> todo;
                    for (const std::string& name : sg.layers) {
                        const LayerPlan& p = plan[pi++];
                        if (p.block != b || p.name != name)
                            throw Error("internal: pipeline plan out of order at " + name);
                        if (p.skip) {
                            quant::LayerResult r;
                            r.block = b;
                            r.name = name;
                            r.skipped = true;
                            r.out_features = w.linear(name).size(0);
                            r.in_features = w.linear(name).size(1);
                            result.layers.push_back(std::move(r));
                            if (o.on_layer)
                                o.on_layer(result.layers.back());
                            done += 1.0;
                        } else {
                            todo.push_back(&p);
                        }
                    }
                    if (todo.empty()) {
                        advance();
                        continue;
                    }
                    any = true;
                    std::vector<at::Tensor> kept_inputs;  // this group's raw inputs
                    if (staged)
                        for (const model::BlockStepper& st : steppers)
                            kept_inputs.push_back(st.input().reshape({-1, st.input().size(-1)}));
                    std::optional<StageTimer> stats_timer(std::in_place, t_hessian);
                    if (act_side && have_data) {
                        // This group's input as the earlier groups leave it: its per-channel maxima
                        // over every token, and the first rotation_tokens tokens for the transform.
                        report(b, std::string(sg.input) + ": activation statistics");
                        const int64_t in = in_features(c, sg.input);
                        at::Tensor amax = at::zeros({in}, at::TensorOptions().dtype(at::kDouble));
                        std::vector<at::Tensor> rows;
                        int64_t nrows = 0, tokens = 0;
                        const std::string key = sg.input;
                        // The raw inputs are kept (when small enough) so that H below comes from
                        // them through the new transform and quantizer without a second forward.
                        const bool keep = X.size(0) * X.size(1) * in * 4 <= kKeepInputsBytes;
                        auto stats = [&](const at::Tensor& x) {
                            amax = at::maximum(amax, x.abs().amax(0).to(at::kCPU).to(at::kDouble));
                            tokens += x.size(0);
                            const int64_t take =
                                std::min(x.size(0), o.transform.rotation_tokens - nrows);
                            if (take > 0) {
                                rows.push_back(x.narrow(0, 0, take).to(at::kCPU).to(at::kFloat));
                                nrows += take;
                            }
                        };
                        if (staged) {
                            for (const at::Tensor& x : kept_inputs)
                                stats(x);
                        } else {
                            forward_chunks(
                                w,
                                [&](const std::string& name, const at::Tensor& input) {
                                    if (name != key)
                                        return;
                                    at::Tensor x = input.reshape({-1, in});
                                    if (keep)
                                        kept_inputs.push_back(x.to(store));
                                    stats(x);
                                    throw StopForward{};
                                },
                                false, b);
                        }
                        std::vector<at::Tensor> ws;
                        for (const std::string& name : sg.layers)
                            ws.push_back(w.linear(name));
                        const at::Tensor sample = at::cat(rows, 0);
                        quant::GroupTransform t;
                        if (pass == 1) {
                            t = tuned.at(sg.input);  // stage 2's: the statistics follow it
                            t.act_max_after = t.apply(sample.to(at::kDouble)).abs().amax(0);
                        } else {
                            t = quant::build_group_transform(amax, sample, ws, o.transform, b,
                                                             sg.input);
                        }
                        t.tokens = tokens;
                        quant::measure_activation_error(t, sample, aq.linear);
                        for (const std::string& name : sg.layers)
                            w.linear(name) = t.apply_weight(w.linear(name));
                        transforms->add(std::move(t));
                    }
                    // The proxy Hessian of this sub-group's input, with the earlier sub-groups
                    // quantized.
                    at::Tensor H;
                    if (have_data && !kept_inputs.empty()) {
                        // As the observer would see them: through this group's rewrite.
                        report(b, std::string(sg.input) + ": collecting H");
                        const int64_t in = in_features(c, sg.input);
                        quant::GramAccumulator gram(in, dev, &xd_buffer);
                        for (const at::Tensor& raw : kept_inputs) {
                            at::Tensor x = raw.to(dev);
                            if (hooks && hooks->linear_input)
                                x = hooks->linear_input(b, sg.input, x);
                            gram.add(x);
                        }
                        kept_inputs.clear();
                        const int64_t tokens = gram.tokens();
                        H = gram.finish().div_(static_cast<double>(tokens));
                    } else if (have_data) {
                        report(b, std::string(sg.input) + ": collecting H");
                        const int64_t in = in_features(c, sg.input);
                        quant::GramAccumulator gram(in, dev, &xd_buffer);
                        const std::string key = sg.input;
                        forward_chunks(
                            w,
                            [&](const std::string& name, const at::Tensor& input) {
                                if (name != key)
                                    return;
                                gram.add(input.reshape({-1, in}));
                                throw StopForward{};
                            },
                            false, b);
                        const int64_t tokens = gram.tokens();
                        H = gram.finish().div_(static_cast<double>(tokens));
                    }
                    stats_timer.reset();
                    std::optional<StageTimer> layers_timer(std::in_place, t_layers);
                    for (const LayerPlan* p : todo) {
                        report(b, p->name + ": " + p->method->name);
                        auto t0 = std::chrono::steady_clock::now();
                        const std::string what = "block " + std::to_string(b) + " " + p->name;
                        at::Tensor W = w.linear(p->name);
                        quant::LayerResult r;
                        r.block = b;
                        r.name = p->name;
                        r.algorithm = p->method->algorithm;
                        r.param_method = quant::method_info(p->method->params).name;
                        r.bits = p->config.bits;
                        r.out_features = W.size(0);
                        r.in_features = W.size(1);
                        at::Tensor What, h;
                        if (p->encoding != gguf::TensorType::F32) {
                            // A preset's layer: on its GGUF type's grid.
                            const at::Tensor imp =
                                H.defined()
                                    ? quant::damped_hessian_diagonal(H, o.damp).to(at::kCPU).to(
                                          at::kFloat)
                                    : at::ones({W.size(1)}, at::kFloat);
                            const at::Tensor Wc = W.to(at::kCPU);
                            const quant::KquantResult mm =
                                quant::kquant_minmax(Wc, imp, p->encoding);
                            quant::KquantResult k;
                            if (p->method->algorithm == quant::Algorithm::GPTQ) {
                                quant::GptqConfig gc;
                                gc.damp = o.damp;
                                gc.double_precision = o.double_precision;
                                k = quant::gptq_kquant(W, H, p->encoding, gc, what);
                            } else if (p->method->params == quant::Method::MinMax) {
                                k = mm;
                            } else {
                                k = quant::kquant_quantize(Wc, imp, p->encoding);
                            }
                            quant::attach_encoding(r, k);
                            r.param_method = quant::method_info(p->method->params).name;
                            What = k.values.to(W.device());
                            h = imp.to(at::kDouble);
                            r.diag_loss = k.loss;
                            r.diag_loss_minmax = mm.loss;
                            if (H.defined()) {
                                r.proxy_loss =
                                    quant::proxy_loss(What.to(at::kDouble) - W.to(at::kDouble), H);
                                r.proxy_loss_rtn_minmax = quant::proxy_loss(
                                    mm.values.to(W.device()).to(at::kDouble) - W.to(at::kDouble),
                                    H);
                            }
                        } else if (p->method->algorithm == quant::Algorithm::GPTQ) {
                            quant::GptqConfig gc;
                            gc.quant = p->config;
                            gc.damp = o.damp;
                            gc.block_size = o.gptq_block;
                            gc.act_order = o.act_order;
                            gc.double_precision = o.double_precision;
                            quant::GptqResult g = quant::gptq_quantize(W, H, gc, what);
                            r.group_size = g.rtn.group_size;
                            r.scale = g.scale;
                            r.zero = g.zero;
                            r.codes = g.codes;
                            What = g.dequantized.to(at::kFloat);
                            h = g.importance;
                            r.diag_loss_minmax = g.rtn.diagnostics.diag_loss_minmax;
                            r.proxy_loss_rtn_minmax = g.rtn.diagnostics.proxy_loss_minmax;
                            at::Tensor dW = What.to(at::kDouble) - W.to(at::kDouble);
                            r.diag_loss = (dW * dW * h).sum().item<double>();
                            r.proxy_loss = quant::proxy_loss(dW, H);
                        } else {
                            at::Tensor imp = H.defined() ? quant::damped_hessian_diagonal(H, o.damp)
                                                         : at::Tensor();
                            quant::LayerQuant q = quant::quantize_layer(W, H, p->config, what, imp);
                            // protect=auto runs data-free NeUQI with an integer zero-point.
                            r.param_method = quant::method_info(q.method).name;
                            r.group_size = q.group_size;
                            r.scale = q.scale;
                            r.zero = q.zero;
                            r.codes = q.codes;
                            What = q.dequantized.to(at::kFloat);
                            h = q.importance;
                            r.diag_loss = q.diagnostics.diag_loss;
                            r.diag_loss_minmax = q.diagnostics.diag_loss_minmax;
                            r.proxy_loss = q.diagnostics.proxy_loss;
                            r.proxy_loss_rtn_minmax = q.diagnostics.proxy_loss_minmax;
                        }
                        const double wn = W.to(at::kDouble).norm().item<double>();
                        r.relative_weight_error =
                            wn > 0.0
                                ? (What.to(at::kDouble) - W.to(at::kDouble)).norm().item<double>() /
                                      wn
                                : 0.0;
                        r.scale = r.scale.to(at::kCPU).to(at::kFloat);
                        r.zero = r.zero.to(at::kCPU).to(at::kFloat);
                        r.codes = r.codes.to(at::kCPU);
                        r.hessian_diag = h.to(at::kCPU).to(at::kDouble);
                        w.linear(p->name) = What.to(dev);
                        r.seconds = seconds_since(t0);
                        result.layers.push_back(std::move(r));
                        if (o.on_layer && final_pass)
                            o.on_layer(result.layers.back());
                        done += 1.0;
                    }
                    layers_timer.reset();
                    advance();
                }
            }  // pass
            // The next block's inputs come from this block with its quantized weights.
            if (have_data && b + 1 < c.num_layers) {
                StageTimer st(t_propagate);
                report(b, "propagating the activations");
                if (staged) {
                    at::Tensor Y = at::empty_like(X);
                    int64_t s0 = 0;
                    for (const model::BlockStepper& st : steppers) {
                        Y.narrow(0, s0, st.input().size(0)).copy_(st.input());
                        s0 += st.input().size(0);
                    }
                    X = Y;
                } else {
                    X = forward_chunks(w, {}, true, b);
                }
            }
            if (o.write_back && any) {
                StageTimer st(t_install);
                std::optional<model::BlockWeights> prev;
                if (model.is_replaced(b))
                    prev = model.block(b);
                touched.emplace_back(b, std::move(prev));
                // Each quantized linear is kept by the model as its codes, scales and zeros (shared
                // with the result, no copy) and dequantized when the block is read: a quantized
                // model costs one byte per weight, not a float32 W_hat per block. Skipped linears
                // and the norms stay as they are.
                quant::install_quantized(model, result, b);
            }
        }
        result.transforms = *transforms;
        if (stage2)
            rc.extra["stage2_seconds"] = std::to_string(stage2_seconds);
        if (o.write_back)
            model.set_activation_hooks(
                activation_hooks_for(o.abits, o.aclip, c.head_dim, result.transforms));
        report_progress(o.progress, total, total, "done");
    } catch (...) {
        restore();
        throw;
    }
    rc.extra["seconds"] = std::to_string(seconds_since(t_start));
    // Where the time went (wall seconds; the rest is planning and bookkeeping).
    rc.extra["seconds_embed"] = std::to_string(t_embed);
    rc.extra["seconds_load_blocks"] = std::to_string(t_load);
    rc.extra["seconds_forward"] = std::to_string(t_forward);
    rc.extra["seconds_hessian"] = std::to_string(t_hessian);
    rc.extra["seconds_layers"] = std::to_string(t_layers);
    rc.extra["seconds_propagate"] = std::to_string(t_propagate);
    rc.extra["seconds_write_back"] = std::to_string(t_install);
    return result;
}

}  // namespace zp::pipeline
