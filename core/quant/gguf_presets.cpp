// llama-quantize's per-tensor type choice for its presets; the rules are listed in the header.
#include "core/quant/gguf_presets.h"

#include "core/model/model.h"

#include <algorithm>
#include <cctype>
#include <numeric>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/common/error.h"

namespace zp::gguf {

namespace {

using T = TensorType;

// llama_ftype ids (llama.h).
enum Ftype : uint32_t {
    kQ4_0 = 2,
    kQ4_1 = 3,
    kQ8_0 = 7,
    kQ5_0 = 8,
    kQ5_1 = 9,
    kQ2_K = 10,
    kQ3_K_S = 11,
    kQ3_K_M = 12,
    kQ3_K_L = 13,
    kQ4_K_S = 14,
    kQ4_K_M = 15,
    kQ5_K_S = 16,
    kQ5_K_M = 17,
    kQ6_K = 18,
};

std::string upper(const std::string& s)
{
    std::string u = s;
    for (char& c : u)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return u;
}

const char* type_name(T t)
{
    const char* n = tensor_type_traits(static_cast<uint32_t>(t)).name;
    return n ? n : "?";
}

uint64_t block_of(T t)
{
    const TypeTraits tt = tensor_type_traits(static_cast<uint32_t>(t));
    if (!tt.name)
        throw InvalidArgument("GGUF preset: unknown tensor type id " +
                              std::to_string(static_cast<uint32_t>(t)));
    return tt.block_elements;
}

bool contains(const std::string& s, const char* part)
{
    return s.find(part) != std::string::npos;
}

enum class Category {
    output,
    token_embd,
    attn_qkv,
    attn_kv_b,
    attn_v,
    attn_k,
    attn_q,
    attn_output,
    ffn_up,
    ffn_gate,
    ffn_down,
    other
};

Category category_of(const std::string& n)
{
    if (n == "output.weight")
        return Category::output;
    if (n == "token_embd.weight" || n == "per_layer_token_embd.weight")
        return Category::token_embd;
    // Substring tests, in this order: "attn_kv_b.weight" before "attn_k.weight" would not matter
    // (neither contains the other) but the order is llama.cpp's.
    static const std::pair<const char*, Category> kParts[] = {
        {"attn_qkv.weight", Category::attn_qkv},
        {"attn_kv_b.weight", Category::attn_kv_b},
        {"attn_v.weight", Category::attn_v},
        {"attn_k.weight", Category::attn_k},
        {"attn_q.weight", Category::attn_q},
        {"attn_output.weight", Category::attn_output},
        {"ffn_up", Category::ffn_up},
        {"ffn_gate", Category::ffn_gate},
        {"ffn_down", Category::ffn_down},
    };
    for (const auto& [part, cat] : kParts)
        if (contains(n, part))
            return cat;
    return Category::other;
}

bool attn_v_like(Category c)
{
    return c == Category::attn_v || c == Category::attn_qkv || c == Category::attn_kv_b;
}

// ggml_n_dims: trailing dimensions of 1 do not count; at least 1.
size_t effective_dims(const std::vector<uint64_t>& ne)
{
    size_t d = ne.size();
    while (d > 1 && ne[d - 1] == 1)
        --d;
    return d;
}

// K1-K3.
bool quantizable(const std::string& arch, const PresetTensor& t)
{
    if (effective_dims(t.ne) < 2)
        return false;
    const std::string& n = t.name;
    // "ends with weight" as llama.cpp tests it: rfind == size - 6 in size_t arithmetic, which a
    // 5-character name (npos == size - 6) also satisfies.
    if (n.rfind("weight") != n.size() - 6)
        return false;
    static const char* const kKeep[] = {
        "_norm.weight",
        "ffn_gate_inp.weight",
        "ffn_gate_tid2eid.weight",
        "altup",
        "laurel",
        "per_layer_model_proj",
        "ssm_conv1d",
        "shortconv.conv.weight",
        "indexer.k_proj.weight",
        "indexer.q_proj.weight",
        "time_mix_first.weight",
        "time_mix_w0.weight",
        "time_mix_w1.weight",
        "time_mix_w2.weight",
        "time_mix_v0.weight",
        "time_mix_v1.weight",
        "time_mix_v2.weight",
        "time_mix_a0.weight",
        "time_mix_a1.weight",
        "time_mix_a2.weight",
        "time_mix_g1.weight",
        "time_mix_g2.weight",
        "time_mix_decay_w1.weight",
        "time_mix_decay_w2.weight",
        "time_mix_lerp_fused.weight",
        "attn_rel_b.weight",
        ".position_embd",
        "sam.pos_embd",
        "sam.neck.",
        "sam.net_",
        ".rel_pos",
        ".patch_embd",
        ".patch_merger",
        "a.rvq.codebook",
        "mm.a.code_embd",
    };
    for (const char* k : kKeep)
        if (contains(n, k))
            return false;
    if (n == "position_embd.weight" || n == "token_types.weight")
        return false;
    if (arch == "glm5-next") {
        static const char* const kGlm[] = {
            "hc_",
            "indexer.attn_q_b",
            "indexer.attn_k",
            "indexer.proj",
            "indexer_compressor_gate",
            "indexer_compressor_ape",
            "ssm_f_a.weight",
            "ssm_f_b.weight",
            "ssm_g_a.weight",
            "ssm_g_b.weight",
            "ssm_beta.weight",
            "attn_kv_a_mqa.weight",
            "attn_k_b.weight",
            "attn_v_b.weight",
        };
        for (const char* k : kGlm)
            if (contains(n, k))
                return false;
    }
    return true;
}

// The N of a "blk.N." prefix as sscanf("blk.%d.") reads it (optional sign, digits; the dot after
// them is not checked), or -1.
int layer_of(const std::string& n)
{
    if (n.compare(0, 4, "blk.") != 0)
        return -1;
    size_t i = 4;
    while (i < n.size() && std::isspace(static_cast<unsigned char>(n[i])))
        ++i;
    bool neg = false;
    if (i < n.size() && (n[i] == '+' || n[i] == '-'))
        neg = n[i++] == '-';
    if (i >= n.size() || !std::isdigit(static_cast<unsigned char>(n[i])))
        return -1;
    long long v = 0;
    for (; i < n.size() && std::isdigit(static_cast<unsigned char>(n[i])); ++i)
        v = std::min<long long>(v * 10 + (n[i] - '0'), 1LL << 40);
    return static_cast<int>(std::clamp<long long>(neg ? -v : v, -(1LL << 31), (1LL << 31) - 1));
}

bool use_more_bits(int64_t i, int64_t n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

bool is_70b(const PresetModel& m)
{
    const bool gqa = m.n_head != (m.n_head_kv < 0 ? m.n_head : m.n_head_kv);
    if (m.arch == "llama")
        return m.n_layer == 80 && gqa;
    if (m.arch == "qwen2" || m.arch == "deci" || m.arch == "olmo")
        return m.n_layer == 80;
    if (m.arch == "jais2")
        return m.n_layer == 68;
    return false;
}

// The fallback table: a type whose block the row length ne0 is not a multiple of.
T fallback_type(T t, uint64_t ne0, bool& fell_back)
{
    fell_back = false;
    if (ne0 % block_of(t) == 0)
        return t;
    fell_back = true;
    T r = t;
    switch (t) {
        case T::Q2_K:
        case T::Q3_K:
            r = T::Q4_0;
            break;
        case T::Q4_K:
            r = T::Q5_0;
            break;
        case T::Q5_K:
            r = T::Q5_1;
            break;
        case T::Q6_K:
            r = T::Q8_0;
            break;
        default:
            if (block_of(t) > 32)
                throw InvalidArgument(std::string("GGUF preset: no fallback for type ") +
                                      type_name(t));
            break;  // a 32-block type stays (and becomes F16 below)
    }
    if (ne0 % block_of(r) != 0)
        r = T::F16;
    return r;
}

struct State {
    int64_t n_attention_wv = 0;
    int64_t i_attention_wv = 0;
    int64_t i_ffn_down = 0;
    int64_t i_ffn_gate = 0;
    int64_t i_ffn_up = 0;
    bool tied = true;
};

// The layer (i, n) of an ffn tensor: the running counter, or with experts its "blk.N.".
std::pair<int64_t, int64_t> ffn_layer(const PresetModel& m, int64_t counter,
                                      const std::string& name)
{
    if (std::max<int64_t>(1, m.n_expert) > 1) {
        const int l = layer_of(name);
        if (l < 0 || l >= m.n_layer)
            throw InvalidArgument("GGUF preset: tensor " + name +
                                  ": no layer in [0, n_layer) for an expert model (llama-quantize "
                                  "refuses it too)");
        return {l, m.n_layer};
    }
    return {counter, m.n_layer};
}

// R0-R7 for one quantized tensor; `why` receives the rule.
T choose(const PresetInfo& p, const PresetModel& m, State& st, const PresetTensor& t, Category cat,
         std::string& why)
{
    const uint32_t f = p.ftype;
    const T d = p.default_type;
    const bool falcon = m.arch == "falcon";
    const int64_t n_head_kv = m.n_head_kv < 0 ? m.n_head : m.n_head_kv;
    const int64_t n_gqa = n_head_kv == 0 ? 0 : m.n_head / n_head_kv;
    T r = d;
    auto set = [&](T ty, std::string w) {
        r = ty;
        why = std::move(w);
    };
    why = "R7 default";

    if (m.arch == "glm5-next" && (contains(t.name, "attn_q_a") || contains(t.name, "attn_q_b") ||
                                  contains(t.name, "nextn.eh_proj"))) {
        why = "R0 glm5-next floor";
        return T::Q8_0;
    }
    if (cat == Category::output || (st.tied && cat == Category::token_embd)) {
        const std::string what = cat == Category::output ? "R1 output" : "R1 tied token_embd";
        if (falcon)
            set(T::Q8_0, what + " falcon");
        else if (t.ne[0] % block_of(d) != 0)
            set(T::Q8_0, what + " ne0 % block(D) != 0");
        else if (d == T::Q8_0)
            set(T::Q8_0, what + " D = Q8_0");
        else
            set(T::Q6_K, what);
        return r;
    }
    if (cat == Category::token_embd) {
        why = "R2 untied token_embd";
        return r;
    }
    if (attn_v_like(cat)) {
        const int64_t i = st.i_attention_wv, n = st.n_attention_wv;
        const std::string at = "R3 attn_v " + p.name + " i=" + std::to_string(i);
        why = at;
        if (f == kQ2_K)
            set(n_gqa >= 4 ? T::Q4_K : T::Q3_K, at + " n_gqa=" + std::to_string(n_gqa));
        else if (f == kQ3_K_M)
            set(i < 2 ? T::Q5_K : T::Q4_K, at);
        else if (f == kQ3_K_L)
            set(T::Q5_K, at);
        else if ((f == kQ4_K_M || f == kQ5_K_M) && use_more_bits(i, n))
            set(T::Q6_K, at + " use_more_bits(n=" + std::to_string(n) + ")");
        else if (f == kQ4_K_S && i < 4)
            set(T::Q5_K, at + " < 4");
        if (is_70b(m) && (r == T::Q3_K || r == T::Q4_K))
            set(T::Q5_K, at + " 70B");
        if (m.n_expert == 8)
            set(T::Q8_0, at + " n_expert=8");
        ++st.i_attention_wv;
        return r;
    }
    if (cat == Category::attn_k) {
        why = "R4 attn_k";
        if (m.n_expert == 8)
            set(T::Q8_0, "R4 attn_k n_expert=8");
        return r;
    }
    if (cat == Category::attn_q)
        return r;
    if (cat == Category::ffn_down) {
        const auto [i, n] = ffn_layer(m, st.i_ffn_down, t.name);
        const bool more = use_more_bits(i, n);
        const std::string at =
            "R5 ffn_down " + p.name + " i=" + std::to_string(i) + " n=" + std::to_string(n);
        why = at;
        if (f == kQ2_K)
            set(T::Q3_K, at);
        else if (f == kQ3_K_M)
            set(i < n / 16 ? T::Q5_K : (falcon && !more) ? T::Q3_K : T::Q4_K, at);
        else if (f == kQ3_K_L)
            set(falcon ? T::Q4_K : T::Q5_K, at);
        else if (f == kQ4_K_M) {
            if (falcon)
                set(i < n / 16 ? T::Q6_K : more ? T::Q5_K : T::Q4_K, at + " falcon");
            else if (more)
                set(T::Q6_K, at + " use_more_bits");
        } else if (f == kQ5_K_M) {
            if (more)
                set(T::Q6_K, at + " use_more_bits");
        } else if (f == kQ4_K_S && !falcon && i < n / 8)
            set(T::Q5_K, at + " < n/8");
        else if ((f == kQ4_0 || f == kQ5_0) && m.has_imatrix && i < n / 8)
            set(f == kQ4_0 ? T::Q4_1 : T::Q5_1, at + " imatrix < n/8");
        ++st.i_ffn_down;
        return r;
    }
    if (cat == Category::attn_output) {
        const std::string at = "R6 attn_output " + p.name;
        why = at;
        if (!falcon) {
            if (m.n_expert == 8) {
                if (f == kQ2_K || f == kQ3_K_S || f == kQ3_K_M || f == kQ4_K_S || f == kQ4_K_M)
                    set(T::Q5_K, at + " n_expert=8");
            } else if (f == kQ2_K)
                set(T::Q3_K, at);
            else if (f == kQ3_K_M)
                set(T::Q4_K, at);
            else if (f == kQ3_K_L)
                set(T::Q5_K, at);
        } else if (f == kQ3_K_L)
            set(T::Q4_K, at + " falcon");
        return r;
    }
    if (cat == Category::ffn_gate) {
        ffn_layer(m, st.i_ffn_gate, t.name);  // validates the layer as llama-quantize does
        ++st.i_ffn_gate;
        return r;
    }
    if (cat == Category::ffn_up) {
        ffn_layer(m, st.i_ffn_up, t.name);
        ++st.i_ffn_up;
        return r;
    }
    return r;
}

}  // namespace

const std::vector<PresetInfo>& presets()
{
    static const std::vector<PresetInfo> kPresets = {
        {"Q2_K", kQ2_K, T::Q2_K},     {"Q3_K_S", kQ3_K_S, T::Q3_K}, {"Q3_K_M", kQ3_K_M, T::Q3_K},
        {"Q3_K_L", kQ3_K_L, T::Q3_K}, {"Q4_0", kQ4_0, T::Q4_0},     {"Q4_1", kQ4_1, T::Q4_1},
        {"Q4_K_S", kQ4_K_S, T::Q4_K}, {"Q4_K_M", kQ4_K_M, T::Q4_K}, {"Q5_0", kQ5_0, T::Q5_0},
        {"Q5_1", kQ5_1, T::Q5_1},     {"Q5_K_S", kQ5_K_S, T::Q5_K}, {"Q5_K_M", kQ5_K_M, T::Q5_K},
        {"Q6_K", kQ6_K, T::Q6_K},     {"Q8_0", kQ8_0, T::Q8_0},
    };
    return kPresets;
}

PresetInfo parse_preset(const std::string& name)
{
    std::string u = upper(name);
    if (u == "Q3_K" || u == "Q4_K" || u == "Q5_K")
        u += "_M";
    for (const PresetInfo& p : presets())
        if (p.name == u)
            return p;
    std::string names;
    for (const PresetInfo& p : presets())
        names += (names.empty() ? "" : ", ") + p.name;
    throw InvalidArgument("GGUF preset: unknown preset '" + name + "' (accepted: " + names +
                          "; aliases Q3_K, Q4_K, Q5_K)");
}

uint64_t tensor_data_bytes(TensorType t, const std::vector<uint64_t>& ne)
{
    if (ne.empty())
        throw InvalidArgument("GGUF preset: a tensor without dimensions");
    uint64_t rows = 1;
    for (size_t i = 1; i < ne.size(); ++i)
        rows *= ne[i];
    return row_bytes(t, ne[0]) * rows;
}

uint64_t preset_data_bytes(const std::vector<TensorChoice>& choices, uint64_t alignment)
{
    if (alignment == 0)
        throw InvalidArgument("GGUF preset: alignment 0");
    uint64_t total = 0;
    for (const TensorChoice& c : choices)
        total += (c.bytes + alignment - 1) / alignment * alignment;
    return total;
}

std::vector<TensorChoice> choose_preset_types(const PresetInfo& preset, const PresetModel& model,
                                              const std::vector<PresetTensor>& tensors)
{
    if (model.n_layer <= 0)
        throw InvalidArgument("GGUF preset: n_layer must be > 0 (got " +
                              std::to_string(model.n_layer) + ")");
    // The preset must be one of ours (the rules are written for these ftypes only).
    const PresetInfo p = parse_preset(preset.name);
    if (p.ftype != preset.ftype || p.default_type != preset.default_type)
        throw InvalidArgument("GGUF preset: " + preset.name + " does not match the preset table");

    State st;
    std::set<std::string> seen;
    for (const PresetTensor& t : tensors) {
        if (t.ne.empty() || t.ne.size() > kMaxDims)
            throw InvalidArgument("GGUF preset: tensor " + t.name + " has " +
                                  std::to_string(t.ne.size()) + " dimensions (1..4)");
        if (!seen.insert(t.name).second)
            throw InvalidArgument("GGUF preset: duplicate tensor name " + t.name);
        const Category c = category_of(t.name);
        if (attn_v_like(c))
            ++st.n_attention_wv;
        if (c == Category::output)
            st.tied = false;
    }

    // llama-quantize's visiting order: layer of "blk.N." (-1 for the others), then name.
    std::vector<size_t> order(tensors.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::vector<int> layer(tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i)
        layer[i] = layer_of(tensors[i].name);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        if (layer[a] != layer[b])
            return layer[a] < layer[b];
        return tensors[a].name < tensors[b].name;
    });

    std::vector<TensorChoice> out(tensors.size());
    for (size_t k : order) {
        const PresetTensor& t = tensors[k];
        TensorChoice& c = out[k];
        c.name = t.name;
        if (!quantizable(model.arch, t)) {
            c.type = t.source_type;
            c.rule = "K kept (not quantized)";
        } else {
            c.quantized = true;
            const T chosen = choose(p, model, st, t, category_of(t.name), c.rule);
            bool fell = false;
            c.type = fallback_type(chosen, t.ne[0], fell);
            c.fallback = fell;
            c.rule += std::string(" -> ") + type_name(chosen);
            if (fell)
                c.rule += std::string("; fallback ne0=") + std::to_string(t.ne[0]) + " -> " +
                          type_name(c.type);
        }
        c.bytes = tensor_data_bytes(c.type, t.ne);
    }
    return out;
}

std::vector<PresetTensor> preset_tensors(const model::ModelConfig& c)
{
    auto ne = [](const std::vector<int64_t>& shape) {
        std::vector<uint64_t> out;
        for (auto it = shape.rbegin(); it != shape.rend(); ++it)
            out.push_back(static_cast<uint64_t>(*it));
        return out;
    };
    std::vector<PresetTensor> t;
    t.push_back({"token_embd.weight", ne({c.vocab_size, c.hidden_size}), TensorType::F32});
    for (int64_t i = 0; i < c.num_layers; ++i)
        for (const model::BlockPart& p : model::block_parts(c))
            if (auto shape = model::part_shape(c, p.name))
                t.push_back(
                    {"blk." + std::to_string(i) + "." + p.gguf, ne(*shape), TensorType::F32});
    t.push_back({"output_norm.weight", ne({c.hidden_size}), TensorType::F32});
    if (!c.tie_word_embeddings)
        t.push_back({"output.weight", ne({c.vocab_size, c.hidden_size}), TensorType::F32});
    return t;
}

PresetModel preset_model(const model::ModelConfig& c, bool has_imatrix)
{
    PresetModel m;
    m.arch = model::gguf_architecture(c.arch);
    m.n_layer = c.num_layers;
    m.n_head = c.num_heads;
    m.n_head_kv = c.num_kv_heads;
    m.n_expert = 0;
    m.has_imatrix = has_imatrix;
    return m;
}

std::string preset_linear_name(int64_t block, const std::string& hf_linear_name)
{
    try {
        return "blk." + std::to_string(block) + "." + model::linear_part(hf_linear_name).gguf;
    } catch (const InvalidArgument&) {
        throw InvalidArgument("'" + hf_linear_name + "' is not a linear layer of a decoder block");
    }
}

const TensorChoice& PresetPlan::tensor(const std::string& gguf_name) const
{
    for (const TensorChoice& c : tensors)
        if (c.name == gguf_name)
            return c;
    throw InvalidArgument("preset " + preset.name + ": the model has no tensor " + gguf_name);
}

const TensorChoice& PresetPlan::linear(int64_t block, const std::string& hf_linear_name) const
{
    return tensor(preset_linear_name(block, hf_linear_name));
}

PresetPlan plan_preset(const std::string& preset_name, const model::ModelConfig& config,
                       bool has_imatrix)
{
    PresetPlan plan;
    plan.preset = parse_preset(preset_name);
    plan.tensors =
        choose_preset_types(plan.preset, preset_model(config, has_imatrix), preset_tensors(config));
    return plan;
}

}  // namespace zp::gguf
