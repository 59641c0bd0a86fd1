#include "core/pipeline/run_options.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "core/common/error.h"
#include "core/common/text.h"
#include "core/model/forward.h"
#include "core/quant/act_quant.h"
#include "core/quant/gguf_presets.h"
#include "core/quant/quantizer.h"

namespace zp::pipeline {

namespace {

std::vector<std::string> method_names()
{
    std::vector<std::string> names;
    for (const PipelineMethod& m : pipeline_methods())
        names.push_back(m.name);
    return names;
}

// --preset: none or a llama.cpp preset name (any case, llama-quantize's aliases), canonical.
std::string normalize_preset(const std::string& value)
{
    std::string v = value;
    for (char& ch : v)
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (v == "none" || v.empty())
        return "none";
    try {
        return gguf::parse_preset(value).name;
    } catch (const InvalidArgument& e) {
        std::string names = "none";
        for (const gguf::PresetInfo& p : gguf::presets())
            names += ", " + p.name;
        throw InvalidArgument("expected one of " + names);
    }
}

std::vector<std::string> transform_names()
{
    std::vector<std::string> names;
    for (const quant::TransformKindInfo& k : quant::transform_kinds())
        names.push_back(k.name);
    return names;
}

bool parse_int(const std::string& s, int64_t* out)
{
    if (s.empty())
        return false;
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

bool parse_real(const std::string& s, double* out)
{
    if (s.empty())
        return false;
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (*end != '\0' || !std::isfinite(v))
        return false;
    *out = v;
    return true;
}

// --protect: off | auto | all | k, in its canonical text.
std::string normalize_protect(const std::string& value)
{
    try {
        return quant::format_protect(quant::parse_protect(value));
    } catch (const InvalidArgument&) {
        throw InvalidArgument("expected off, auto, all or a number of standard deviations > 0");
    }
}

}  // namespace

const std::vector<RunOptionSpec>& run_option_specs()
{
    using T = OptionType;
    static const std::vector<RunOptionSpec> specs = {
        {"method", T::Text, "gptq-neuqi", 0, 0, method_names(),
         "quantization method: RTN or GPTQ with Min-Max, NeUQI or NeUQI-int parameters", false,
         false},
        {"bits", T::Int, "2", 2, 8, {}, "bits per weight", false, false},
        {"group",
         T::Int,
         "-1",
         -1,
         1 << 20,
         {},
         "columns per group (-1: channel-wise, one group per row; a group that does not divide the "
         "row leaves a shorter last group)",
         false,
         false},
        {"preset",
         T::Text,
         "none",
         0,
         0,
         {},
         "llama.cpp K-quant preset (Q2_K, Q3_K_S, Q3_K_M, Q3_K_L, Q4_0, Q4_K_S, Q4_K_M, Q5_K_S, "
         "Q5_K_M, Q6_K, Q8_0, ...): every layer quantized for the GGUF type llama-quantize gives "
         "it, its block grid searched (RTN) or filled by GPTQ with error feedback; --bits and "
         "--group do not apply. Export with export --format gguf --preset of the same name",
         false,
         true,
         "quantize",
         normalize_preset},
        {"bpw",
         T::Real,
         "0",
         0,
         16,
         {},
         "with --preset and --calib: a size budget in bits per weight of the linear layers (0: the "
         "preset's types); each layer's GGUF type chosen from its measured loss under every type "
         "its rows allow, for the least total loss within the budget",
         false,
         true},
        {"calib",
         T::Text,
         "",
         0,
         0,
         {},
         "calibration text, .jsonl ({\"text\": ...}) or .ids file (none: data-free RTN)",
         false,
         false,
         "both"},
        {"calib_format",
         T::Text,
         "auto",
         0,
         0,
         {"auto", "text", "jsonl", "ids"},
         "calibration file format (auto: by file name)",
         false,
         false,
         "both"},
        {"nsamples",
         T::Int,
         "128",
         1,
         1 << 20,
         {},
         "calibration sequences N",
         false,
         false,
         "both"},
        {"seqlen",
         T::Int,
         "2048",
         2,
         1 << 20,
         {},
         "tokens per calibration sequence L (shortened to the model's context)",
         false,
         false,
         "both"},
        {"seed",
         T::Int,
         "0",
         0,
         9007199254740991.0,
         {},
         "seed of the calibration draws",
         false,
         false,
         "both"},
        {"damp", T::Real, "0.01", 0.0, 1.0, {}, "relative Hessian damping (GPTQ)"},
        {"gptq_block", T::Int, "128", 1, 1 << 20, {}, "GPTQ lazy-batch column block"},
        {"act_order",
         T::Flag,
         "true",
         0,
         0,
         {},
         "GPTQ in act-order (columns by descending diag H)"},
        {"activations_on_cpu",
         T::Flag,
         "false",
         0,
         0,
         {},
         "keep the calibration activations in host memory"},
        {"batch", T::Int, "8", 1, 4096, {}, "calibration sequences per forward pass"},
        {"device", T::Text, "cpu", 0, 0, {}, "cpu or cuda[:N]", false, true, "both"},
        {"eval_dtype", T::Text, "auto", 0, 0, model::compute_dtype_names(),
         "precision of --eval: auto (float32 on the CPU, bfloat16 on CUDA), float32, bfloat16 or "
         "float16 (on CUDA; the CPU computes in float32)",
         false, true, "both"},
        {"abits",
         T::Int,
         "16",
         2,
         16,
         {},
         "activation bits: per-token quantization of every linear input, Q, K and V (16: none)"},
        {"aclip", T::Real, "1", 0.01, 1.0, {}, "activation clip ratio (RUQuant's lac)"},
        {"wclip",
         T::Real,
         "1",
         0.01,
         1.0,
         {},
         "weight clip ratio of Min-Max (RUQuant's swc: 0.8 at W4A4, 1 at W6A6)"},
        {"protect",
         T::Text,
         "auto",
         0,
         0,
         {},
         "NeUQI groups searched without clipping any weight: off, all, a number k (groups holding "
         "a weight k standard deviations from the layer's mean) or auto (data-free, in a model "
         "with "
         "a weight 10 standard deviations from its layer's mean: all, with an integer zero-point; "
         "otherwise, and calibrated: off)",
         false,
         true,
         "quantize",
         normalize_protect},
        {"transform", T::Text, "none", 0, 0, transform_names(),
         "activation transform per linear input: none (RTN WxAy), smooth (SmoothQuant), duquant "
         "(DuQuant-style rotations), ruquant (RUQuant)"},
        {"alpha", T::Real, "0.6", 0.0, 1.0, {}, "SmoothQuant migration strength"},
        {"rot_block",
         T::Int,
         "0",
         0,
         1 << 16,
         {},
         "rotation block (0: the largest power of two up to 128 dividing each width)"},
        {"rot_steps", T::Int, "16", 0, 4096, {}, "greedy Householder steps per block rotation"},
        {"givens_rounds",
         T::Int,
         "3",
         0,
         256,
         {},
         "permutation + Givens rounds per greedy step (ruquant)"},
        {"givens",
         T::Text,
         "paper",
         0,
         0,
         {"paper", "code"},
         "Givens blocks: paper (map each pair onto its target) or code (the released code's "
         "transpose)"},
        {"finetune_epochs",
         T::Int,
         "0",
         0,
         10000,
         {},
         "RUQuant stage 2: epochs of AdamW on the Householder vectors against each block's "
         "full-precision output (0: none)"},
        {"finetune_lr", T::Real, "0.01", 1e-6, 1.0, {}, "RUQuant stage 2: AdamW learning rate"},
        {"rot_tokens",
         T::Int,
         "2048",
         1,
         1 << 24,
         {},
         "calibration tokens the rotations are built from"},
        {"lr",
         T::Real,
         "0.0003",
         0.0,
         1.0,
         {},
         "distillation: AdamW learning rate (betas 0.9, 0.95; cosine schedule)",
         false,
         false,
         "distill"},
        {"epochs",
         T::Int,
         "1",
         1,
         10000,
         {},
         "distillation: passes over the calibration sequences",
         false,
         false,
         "distill"},
        {"warmup",
         T::Real,
         "0.1",
         0.0,
         0.99,
         {},
         "distillation: share of the steps with a linear warm-up",
         false,
         false,
         "distill"},
        {"distill_batch",
         T::Int,
         "1",
         1,
         4096,
         {},
         "distillation: sequences per step",
         false,
         false,
         "distill"},
        {"train_norms",
         T::Flag,
         "true",
         0,
         0,
         {},
         "distillation: also train the RMSNorm gains and q/k/v biases",
         false,
         false,
         "distill"},
        {"override",
         T::Text,
         "",
         0,
         0,
         {},
         "per-layer override: <block|*>.<layer|*>:bits=N,group=G,method=M,skip",
         true},
    };
    return specs;
}

bool option_applies(const RunOptionSpec& spec, const std::string& command)
{
    const std::string scope = spec.scope;
    return scope == "both" || scope == command;
}

const RunOptionSpec& run_option_spec(const std::string& name)
{
    for (const RunOptionSpec& s : run_option_specs())
        if (name == s.name)
            return s;
    throw InvalidArgument("unknown run option '" + name + "'");
}

std::string range_text(const RunOptionSpec& s)
{
    auto num = [&](double v) {
        return s.type == OptionType::Int ? std::to_string(static_cast<int64_t>(v)) : format_real(v);
    };
    return num(s.min) + ".." + num(s.max);
}

std::string cli_flag(const RunOptionSpec& spec)
{
    std::string f = std::string("--") + spec.name;
    for (char& ch : f)
        if (ch == '_')
            ch = '-';
    return f;
}

RunOptions::RunOptions()
{
    for (const RunOptionSpec& s : run_option_specs())
        if (!s.repeated)
            values_[s.name] = s.default_value;
}

void RunOptions::set(const std::string& name, const std::string& value, const std::string& where)
{
    const RunOptionSpec& s = run_option_spec(name);
    const std::string at =
        (where.empty() ? std::string() : where + ": ") + name + " = '" + value + "': ";
    std::string v = value;
    switch (s.type) {
        case OptionType::Int: {
            int64_t x = 0;
            if (!parse_int(value, &x))
                throw InvalidArgument(at + "not an integer");
            if (x < s.min || x > s.max)
                throw InvalidArgument(at + "outside " + range_text(s));
            v = std::to_string(x);
            break;
        }
        case OptionType::Real: {
            double x = 0.0;
            if (!parse_real(value, &x))
                throw InvalidArgument(at + "not a finite number");
            if (x < s.min || x > s.max)
                throw InvalidArgument(at + "outside " + range_text(s));
            v = format_real(x);
            break;
        }
        case OptionType::Flag:
            if (value == "true" || value == "1")
                v = "true";
            else if (value == "false" || value == "0")
                v = "false";
            else
                throw InvalidArgument(at + "not true or false");
            break;
        case OptionType::Text:
            if (s.normalize) {
                try {
                    v = s.normalize(value);
                } catch (const InvalidArgument& e) {
                    throw InvalidArgument(at + e.what());
                }
            }
            if (!s.choices.empty()) {
                bool ok = false;
                std::string list;
                for (const std::string& c : s.choices) {
                    ok = ok || c == value;
                    list += (list.empty() ? "" : ", ") + c;
                }
                if (!ok)
                    throw InvalidArgument(at + "not one of " + list);
            }
            break;
    }
    if (s.repeated) {
        parse_override(value);  // checked now, not when the run starts
        overrides_.push_back(value);
    } else {
        values_[name] = v;
    }
}

const std::string& RunOptions::text(const std::string& name) const
{
    auto it = values_.find(name);
    if (it == values_.end())
        throw InvalidArgument("unknown run option '" + name + "'");
    return it->second;
}

int64_t RunOptions::integer(const std::string& name) const
{
    return std::stoll(text(name));
}

double RunOptions::real(const std::string& name) const
{
    return std::stod(text(name));
}

bool RunOptions::flag(const std::string& name) const
{
    return text(name) == "true";
}

PipelineOptions RunOptions::pipeline_options() const
{
    PipelineOptions o;
    o.method = text("method");
    o.bits = static_cast<int>(integer("bits"));
    o.group_size = integer("group");
    o.preset = text("preset") == "none" ? std::string() : text("preset");
    o.bpw = real("bpw");
    o.seed = static_cast<uint64_t>(integer("seed"));
    o.damp = real("damp");
    o.gptq_block = integer("gptq_block");
    o.act_order = flag("act_order");
    o.activations_on_cpu = flag("activations_on_cpu");
    o.batch = integer("batch");
    o.device = text("device");
    o.abits = static_cast<int>(integer("abits"));
    o.aclip = real("aclip");
    o.search.clip = real("wclip");
    o.search.protect = quant::parse_protect(text("protect"));
    o.transform.kind = quant::parse_transform_kind(text("transform"));
    o.transform.alpha = real("alpha");
    o.transform.block = integer("rot_block");
    o.transform.greedy_steps = static_cast<int>(integer("rot_steps"));
    o.transform.givens_rounds = static_cast<int>(integer("givens_rounds"));
    o.transform.code_variant = text("givens") == "code";
    o.transform.rotation_tokens = integer("rot_tokens");
    o.transform.finetune_epochs = static_cast<int>(integer("finetune_epochs"));
    o.transform.finetune_lr = real("finetune_lr");
    o.transform.seed = static_cast<uint64_t>(integer("seed"));
    for (const std::string& s : overrides_)
        o.overrides.insert(parse_override(s));
    return o;
}

DistillOptions RunOptions::distill_options() const
{
    DistillOptions d;
    d.lr = real("lr");
    d.epochs = static_cast<int>(integer("epochs"));
    d.warmup = real("warmup");
    d.batch = integer("distill_batch");
    d.train_float_parts = flag("train_norms");
    d.device = text("device");
    return d;
}

CalibrationRequest RunOptions::calibration() const
{
    CalibrationRequest c;
    c.path = text("calib");
    c.format = text("calib_format");
    c.nsamples = integer("nsamples");
    c.seqlen = integer("seqlen");
    c.seed = static_cast<uint64_t>(integer("seed"));
    return c;
}

std::pair<std::string, LayerOverride> parse_override(const std::string& text)
{
    const size_t colon = text.find(':');
    if (colon == std::string::npos || colon == 0)
        throw InvalidArgument("override '" + text +
                              "': expected <block>.<layer>:bits=N,group=G,method=M,skip");
    LayerOverride ov;
    std::stringstream ss(text.substr(colon + 1));
    std::string item;
    while (std::getline(ss, item, ',')) {
        const size_t eq = item.find('=');
        const std::string key = item.substr(0, eq),
                          value = eq == std::string::npos ? "" : item.substr(eq + 1);
        int64_t n = 0;
        if (key == "skip" && eq == std::string::npos)
            ov.skip = true;
        else if (key == "bits" && parse_int(value, &n))
            ov.bits = static_cast<int>(n);
        else if (key == "group" && parse_int(value, &n))
            ov.group_size = n;
        else if (key == "method")
            ov.method = value;
        else
            throw InvalidArgument("override '" + text + "': cannot read '" + item +
                                  "' (bits=N, group=G, method=M or skip)");
    }
    return {text.substr(0, colon), ov};
}

std::string format_override(const std::string& key, const LayerOverride& o)
{
    std::vector<std::string> items;
    if (o.bits != 0)
        items.push_back("bits=" + std::to_string(o.bits));
    if (o.group_size != 0)
        items.push_back("group=" + std::to_string(o.group_size));
    if (!o.method.empty())
        items.push_back("method=" + o.method);
    if (o.skip)
        items.push_back("skip");
    std::string out = key + ":";
    for (size_t i = 0; i < items.size(); ++i)
        out += (i ? "," : "") + items[i];
    return out;
}

std::map<std::string, std::string> run_record(const PipelineOptions& o)
{
    RunOptions r;
    r.set("preset", o.preset.empty() ? "none" : o.preset);
    r.set("bpw", format_real(o.bpw));
    r.set("damp", format_real(o.damp));
    r.set("gptq_block", std::to_string(o.gptq_block));
    r.set("act_order", o.act_order ? "true" : "false");
    r.set("activations_on_cpu", o.activations_on_cpu ? "true" : "false");
    r.set("batch", std::to_string(o.batch));
    r.set("device", o.device);
    r.set("abits", std::to_string(o.abits));
    r.set("aclip", format_real(o.aclip));
    r.set("wclip", format_real(o.search.clip));
    r.set("protect", quant::format_protect(o.search.protect));
    r.set("transform", quant::transform_kind_info(o.transform.kind).name);
    r.set("alpha", format_real(o.transform.alpha));
    r.set("rot_block", std::to_string(o.transform.block));
    r.set("rot_steps", std::to_string(o.transform.greedy_steps));
    r.set("givens_rounds", std::to_string(o.transform.givens_rounds));
    r.set("givens", o.transform.code_variant ? "code" : "paper");
    r.set("rot_tokens", std::to_string(o.transform.rotation_tokens));
    r.set("finetune_epochs", std::to_string(o.transform.finetune_epochs));
    r.set("finetune_lr", format_real(o.transform.finetune_lr));
    std::map<std::string, std::string> out;
    for (const RunOptionSpec& s : run_option_specs())
        if (s.recorded && !s.repeated)
            out[s.name] = r.text(s.name);
    for (const auto& [key, ov] : o.overrides)
        out["override." + key] = format_override(key, ov);
    return out;
}

void apply_record(RunOptions& options, const std::map<std::string, std::string>& extra,
                  const std::string& where)
{
    for (const auto& [key, value] : extra) {
        if (key.rfind("override.", 0) == 0) {
            std::string v = value;
            if (v.find(':') == std::string::npos) {
                // Sessions written before the table: "bits=4 group=-1 method= skip" under the key.
                std::string items;
                std::stringstream ss(v);
                std::string item;
                while (ss >> item)
                    if (item != "method=" && item != "bits=0" && item != "group=0")
                        items += (items.empty() ? "" : ",") + item;
                v = key.substr(9) + ":" + items;
            }
            options.set("override", v, where);
            continue;
        }
        for (const RunOptionSpec& s : run_option_specs())
            if (s.recorded && !s.repeated && key == s.name)
                options.set(key, value, where);
    }
}

quant::ActivationQuantConfig activation_config(int abits, double aclip, int64_t head_dim)
{
    quant::ActivationQuantConfig a;
    a.linear = a.qk = a.v = {abits, aclip};
    // The head_dim Hadamard needs a power of two; other heads are quantized unrotated.
    a.qk_hadamard = head_dim > 0 && (head_dim & (head_dim - 1)) == 0;
    return a;
}

std::shared_ptr<const model::ActivationHooks> activation_hooks_for(
    int abits, double aclip, int64_t head_dim, const quant::TransformSet& transforms)
{
    bool any = false;
    for (const quant::GroupTransform* t : transforms.all())
        any = any || !t->identity();
    if (abits >= 16 && !any)
        return nullptr;
    const quant::ActivationQuantConfig a = activation_config(abits, aclip, head_dim);
    if (!any)
        return quant::activation_quant_hooks(a, head_dim);
    return quant::activation_quant_hooks(a, head_dim,
                                         std::make_shared<const quant::TransformSet>(transforms));
}

void install_run(model::Model& m, const quant::QuantizedModel& qm)
{
    RunOptions r;
    apply_record(r, qm.config.extra, "run record");
    for (const quant::GroupTransform* t : qm.transforms.all()) {
        t->check("run");
        if (t->block < 0 || t->block >= m.config().num_layers)
            throw InvalidArgument("the run has a transform for block " + std::to_string(t->block) +
                                  ", the model only " + std::to_string(m.config().num_layers));
    }
    quant::install_quantized(m, qm);
    m.set_activation_hooks(activation_hooks_for(
        static_cast<int>(r.integer("abits")), r.real("aclip"), m.config().head_dim, qm.transforms));
}

}  // namespace zp::pipeline
