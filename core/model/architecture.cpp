#include "core/model/architecture.h"

#include <cmath>
#include <stdexcept>

#include "core/common/error.h"

namespace zp::model {

namespace {

using W = BlockWeights;

// The parts every family here shares, in HF listing order. `pre_mlp` is the HF name of the norm
// before the MLP: LLaMA calls it post_attention_layernorm, Gemma pre_feedforward_layernorm (and
// uses post_attention_layernorm for the norm of o_proj's output).
std::vector<BlockPart> llama_parts()
{
    return {
        {"input_layernorm.weight", &W::input_norm, nullptr, "attn_norm.weight", PartKind::norm},
        {"self_attn.q_proj.weight", &W::q, "q_proj", "attn_q.weight", PartKind::linear},
        {"self_attn.k_proj.weight", &W::k, "k_proj", "attn_k.weight", PartKind::linear},
        {"self_attn.v_proj.weight", &W::v, "v_proj", "attn_v.weight", PartKind::linear},
        {"self_attn.o_proj.weight", &W::o, "o_proj", "attn_output.weight", PartKind::linear},
        {"self_attn.q_proj.bias", &W::q_bias, nullptr, "attn_q.bias", PartKind::bias},
        {"self_attn.k_proj.bias", &W::k_bias, nullptr, "attn_k.bias", PartKind::bias},
        {"self_attn.v_proj.bias", &W::v_bias, nullptr, "attn_v.bias", PartKind::bias},
        {"self_attn.o_proj.bias", &W::o_bias, nullptr, "attn_output.bias", PartKind::bias},
        {"self_attn.q_norm.weight", &W::q_norm, nullptr, "attn_q_norm.weight", PartKind::head_norm},
        {"self_attn.k_norm.weight", &W::k_norm, nullptr, "attn_k_norm.weight", PartKind::head_norm},
        {"post_attention_layernorm.weight", &W::post_norm, nullptr, "ffn_norm.weight",
         PartKind::norm},
        {"mlp.gate_proj.weight", &W::gate, "gate_proj", "ffn_gate.weight", PartKind::linear},
        {"mlp.up_proj.weight", &W::up, "up_proj", "ffn_up.weight", PartKind::linear},
        {"mlp.down_proj.weight", &W::down, "down_proj", "ffn_down.weight", PartKind::linear},
    };
}

// Gemma 3 (HF Gemma3DecoderLayer; llama.cpp LLM_ARCH_GEMMA3): no biases, q/k norms, four norms.
std::vector<BlockPart> gemma3_parts()
{
    return {
        {"input_layernorm.weight", &W::input_norm, nullptr, "attn_norm.weight", PartKind::norm},
        {"self_attn.q_proj.weight", &W::q, "q_proj", "attn_q.weight", PartKind::linear},
        {"self_attn.k_proj.weight", &W::k, "k_proj", "attn_k.weight", PartKind::linear},
        {"self_attn.v_proj.weight", &W::v, "v_proj", "attn_v.weight", PartKind::linear},
        {"self_attn.o_proj.weight", &W::o, "o_proj", "attn_output.weight", PartKind::linear},
        {"self_attn.q_norm.weight", &W::q_norm, nullptr, "attn_q_norm.weight", PartKind::head_norm},
        {"self_attn.k_norm.weight", &W::k_norm, nullptr, "attn_k_norm.weight", PartKind::head_norm},
        {"post_attention_layernorm.weight", &W::attn_out_norm, nullptr,
         "post_attention_norm.weight", PartKind::norm},
        {"pre_feedforward_layernorm.weight", &W::post_norm, nullptr, "ffn_norm.weight",
         PartKind::norm},
        {"mlp.gate_proj.weight", &W::gate, "gate_proj", "ffn_gate.weight", PartKind::linear},
        {"mlp.up_proj.weight", &W::up, "up_proj", "ffn_up.weight", PartKind::linear},
        {"mlp.down_proj.weight", &W::down, "down_proj", "ffn_down.weight", PartKind::linear},
        {"post_feedforward_layernorm.weight", &W::mlp_out_norm, nullptr, "post_ffw_norm.weight",
         PartKind::norm},
    };
}

std::vector<LinearGroup> decoder_groups()
{
    return {{"q_proj", {"q_proj", "k_proj", "v_proj"}},
            {"o_proj", {"o_proj"}},
            {"gate_proj", {"gate_proj", "up_proj"}},
            {"down_proj", {"down_proj"}}};
}

// Every tensor member once, for what does not depend on the family (device moves).
const std::vector<at::Tensor BlockWeights::*>& all_members()
{
    static const std::vector<at::Tensor BlockWeights::*> m = {
        &W::input_norm, &W::q,      &W::k,      &W::v,      &W::o,           &W::q_bias,
        &W::k_bias,     &W::v_bias, &W::o_bias, &W::q_norm, &W::k_norm,      &W::attn_out_norm,
        &W::post_norm,  &W::gate,   &W::up,     &W::down,   &W::mlp_out_norm};
    return m;
}

}  // namespace

namespace {

// The rule linear_input_groups() and linear_part() rely on: every family has LLaMA's groups and
// linear parts (same names in HF and GGUF). Checked once, when the table is built.
void check_shared_linears(const std::vector<ArchitectureInfo>& table)
{
    const ArchitectureInfo& ref = table.front();
    auto linears = [](const ArchitectureInfo& a) {
        std::vector<std::string> v;
        for (const BlockPart& p : a.parts)
            if (p.linear)
                v.push_back(std::string(p.linear) + "|" + p.name + "|" + p.gguf);
        return v;
    };
    for (const ArchitectureInfo& a : table) {
        bool same = linears(a) == linears(ref) && a.groups.size() == ref.groups.size();
        for (size_t i = 0; same && i < a.groups.size(); ++i)
            same = std::string(a.groups[i].input) == ref.groups[i].input &&
                   a.groups[i].layers == ref.groups[i].layers;
        if (!same)
            throw std::logic_error(std::string("architecture table: ") + a.name +
                                   " has other linears or groups than " + ref.name);
    }
}

}  // namespace

const std::vector<ArchitectureInfo>& architectures()
{
    // Fields: arch, name, gguf, hf_class, model_types, parts, groups, activation,
    // gguf_permutes_qk, qkv_bias, qk_norm, sandwich_norms, embed_scaled, hf_norm_offset,
    // swa_pattern, rope_local_theta.
    static const std::vector<ArchitectureInfo> table = {
        {Architecture::llama,
         "llama",
         "llama",
         "LlamaForCausalLM",
         {"llama"},
         llama_parts(),
         decoder_groups(),
         Activation::silu,
         true,
         false,
         false,
         false,
         false,
         0.0,
         0,
         10000.0},
        {Architecture::mistral,
         "mistral",
         "llama",
         "MistralForCausalLM",
         {"mistral"},
         llama_parts(),
         decoder_groups(),
         Activation::silu,
         true,
         false,
         false,
         false,
         false,
         0.0,
         0,
         10000.0},
        {Architecture::qwen2,
         "qwen2",
         "qwen2",
         "Qwen2ForCausalLM",
         {"qwen2"},
         llama_parts(),
         decoder_groups(),
         Activation::silu,
         false,
         true,
         false,
         false,
         false,
         0.0,
         0,
         10000.0},
        {Architecture::qwen3,
         "qwen3",
         "qwen3",
         "Qwen3ForCausalLM",
         {"qwen3"},
         llama_parts(),
         decoder_groups(),
         Activation::silu,
         false,
         false,
         true,
         false,
         false,
         0.0,
         0,
         10000.0},
        {Architecture::gemma3,
         "gemma3",
         "gemma3",
         "Gemma3ForCausalLM",
         {"gemma3_text", "gemma3"},
         gemma3_parts(),
         decoder_groups(),
         Activation::gelu_tanh,
         false,
         false,
         true,
         true,
         true,
         1.0,
         6,
         10000.0},
    };
    static const bool checked = (check_shared_linears(table), true);
    (void)checked;
    return table;
}

const ArchitectureInfo& architecture(Architecture a)
{
    for (const ArchitectureInfo& i : architectures())
        if (i.arch == a)
            return i;
    throw InvalidArgument("unknown architecture " + std::to_string(static_cast<int>(a)));
}

const ArchitectureInfo* find_hf_architecture(const std::string& hf_class)
{
    for (const ArchitectureInfo& i : architectures())
        if (hf_class == i.hf_class)
            return &i;
    return nullptr;
}

const ArchitectureInfo* find_gguf_architecture(const std::string& gguf_name)
{
    for (const ArchitectureInfo& i : architectures())
        if (gguf_name == i.gguf)
            return &i;  // the first: "llama" is LLaMA, not Mistral
    return nullptr;
}

std::string supported_hf_classes()
{
    std::string s;
    for (const ArchitectureInfo& i : architectures())
        s += (s.empty() ? "" : ", ") + std::string(i.hf_class);
    return s;
}

std::string supported_gguf_architectures()
{
    std::string s;
    for (const ArchitectureInfo& i : architectures())
        if (s.find(i.gguf) == std::string::npos)
            s += (s.empty() ? "" : ", ") + std::string(i.gguf);
    return s;
}

const char* architecture_name(Architecture a)
{
    return architecture(a).name;
}

const char* gguf_architecture(Architecture a)
{
    return architecture(a).gguf;
}

const std::vector<BlockPart>& block_parts(const ModelConfig& c)
{
    return architecture(c.arch).parts;
}

const BlockPart* find_block_part(const ModelConfig& c, const std::string& name)
{
    for (const BlockPart& p : block_parts(c))
        if (name == p.name)
            return &p;
    return nullptr;
}

const std::vector<LinearGroup>& linear_input_groups(const ModelConfig& c)
{
    return architecture(c.arch).groups;
}

const std::vector<LinearGroup>& linear_input_groups()
{
    return architectures().front().groups;
}

const BlockPart& linear_part(const std::string& linear)
{
    for (const BlockPart& p : architectures().front().parts)
        if (p.linear && linear == p.linear)
            return p;
    throw InvalidArgument(
        "unknown linear layer '" + linear +
        "' (expected q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)");
}

const LinearGroup& input_group(const std::string& linear)
{
    for (const LinearGroup& g : linear_input_groups())
        for (const std::string& l : g.layers)
            if (l == linear)
                return g;
    throw InvalidArgument("unknown linear layer '" + linear + "'");
}

int group_order(const std::string& input)
{
    const auto& groups = linear_input_groups();
    for (size_t i = 0; i < groups.size(); ++i)
        if (input == groups[i].input)
            return static_cast<int>(i);
    return static_cast<int>(groups.size());
}

int64_t group_in_features(const ModelConfig& c, const std::string& input)
{
    return linear_shape(c, input)[1];
}

bool split_block_tensor_name(const std::string& hf_name, int64_t* block, std::string* part)
{
    const std::string prefix = "model.layers.";
    if (hf_name.compare(0, prefix.size(), prefix) != 0)
        return false;
    const size_t dot = hf_name.find('.', prefix.size());
    if (dot == std::string::npos)
        return false;
    const std::string num = hf_name.substr(prefix.size(), dot - prefix.size());
    if (num.empty() || num.size() > 9 || num.find_first_not_of("0123456789") != std::string::npos)
        return false;
    if (block)
        *block = std::stoll(num);
    if (part)
        *part = hf_name.substr(dot + 1);
    return true;
}

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

std::optional<std::vector<int64_t>> part_shape(const ModelConfig& c, const std::string& part)
{
    const BlockPart* p = find_block_part(c, part);
    if (!p)
        return std::nullopt;
    const int64_t H = c.hidden_size, I = c.intermediate_size, Q = c.q_dim(), KV = c.kv_dim();
    const std::string lin = p->linear ? p->linear : "";
    switch (p->kind) {
        case PartKind::norm:
            return std::vector<int64_t>{H};
        case PartKind::head_norm:
            if (!c.qk_norm)
                return std::nullopt;
            return std::vector<int64_t>{c.head_dim};
        case PartKind::bias:
            if (part == "self_attn.o_proj.bias") {
                if (!c.o_bias)
                    return std::nullopt;
                return std::vector<int64_t>{H};
            }
            if (!c.attention_bias)
                return std::nullopt;
            return std::vector<int64_t>{part == "self_attn.q_proj.bias" ? Q : KV};
        case PartKind::linear:
            if (lin == "q_proj")
                return std::vector<int64_t>{Q, H};
            if (lin == "k_proj" || lin == "v_proj")
                return std::vector<int64_t>{KV, H};
            if (lin == "o_proj")
                return std::vector<int64_t>{H, Q};
            if (lin == "gate_proj" || lin == "up_proj")
                return std::vector<int64_t>{I, H};
            if (lin == "down_proj")
                return std::vector<int64_t>{H, I};
            break;
    }
    return std::nullopt;
}

std::string linear_module(const std::string& linear)
{
    const std::string n = linear_part(linear).name;
    return n.substr(0, n.size() - std::string(".weight").size());
}

std::string linear_prefix(int64_t block, const std::string& linear)
{
    return block_tensor_name(block, linear_module(linear));
}

std::vector<int64_t> linear_shape(const ModelConfig& config, const std::string& linear)
{
    auto s = part_shape(config, linear_module(linear) + ".weight");
    if (!s)
        throw InvalidArgument("unknown linear layer '" + linear + "'");
    return *s;
}

bool is_norm_tensor(const ModelConfig& c, const std::string& hf_name)
{
    if (hf_name == "model.norm.weight")
        return true;
    std::string part;
    if (!split_block_tensor_name(hf_name, nullptr, &part))
        return false;
    const BlockPart* p = find_block_part(c, part);
    return p && (p->kind == PartKind::norm || p->kind == PartKind::head_norm);
}

bool is_sliding_layer(const ModelConfig& c, int64_t layer)
{
    if (c.sliding_window <= 0)
        return false;
    return c.swa_pattern == 0 || (layer + 1) % c.swa_pattern != 0;
}

double attention_scale(const ModelConfig& c)
{
    return c.attn_scale > 0.0 ? c.attn_scale : 1.0 / std::sqrt(static_cast<double>(c.head_dim));
}

at::Tensor& BlockWeights::linear(const std::string& name)
{
    return this->*linear_part(name).member;
}

const at::Tensor& BlockWeights::linear(const std::string& name) const
{
    return const_cast<BlockWeights*>(this)->linear(name);
}

BlockWeights BlockWeights::to(at::Device device, at::ScalarType dtype, bool copy) const
{
    BlockWeights out;
    for (auto member : all_members())
        if ((this->*member).defined())
            out.*member = (this->*member).to(device, dtype, /*non_blocking=*/false, copy);
    return out;
}

}  // namespace zp::model
