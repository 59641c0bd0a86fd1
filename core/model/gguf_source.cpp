#include "core/model/gguf_source.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>

#include <ATen/ATen.h>

#include "core/common/error.h"
#include "core/common/text.h"
#include "core/formats/gguf.h"
#include "core/formats/gguf_blocks.h"
#include "core/model/model.h"

namespace zp::model {

namespace {

using gguf::ValueType;

bool is_integer(ValueType t)
{
    switch (t) {
        case ValueType::u8:
        case ValueType::i8:
        case ValueType::u16:
        case ValueType::i16:
        case ValueType::u32:
        case ValueType::i32:
        case ValueType::u64:
        case ValueType::i64:
            return true;
        default:
            return false;
    }
}

bool is_signed(ValueType t)
{
    return t == ValueType::i8 || t == ValueType::i16 || t == ValueType::i32 || t == ValueType::i64;
}

// Typed access to the metadata; every refusal names the file and the key.
struct Meta {
    const gguf::File& f;

    [[noreturn]] void fail(const std::string& key, const std::string& what) const
    {
        throw FormatError(f.path + ": metadata " + key + ": " + what);
    }
    const gguf::Value* get(const std::string& key) const { return f.find(key); }
    const gguf::Value& need(const std::string& key) const
    {
        const gguf::Value* v = get(key);
        if (!v)
            fail(key, "is missing");
        return *v;
    }
    int64_t to_int(const std::string& key, const gguf::Value& v) const
    {
        if (!is_integer(v.type))
            fail(key, std::string("has type ") + gguf::value_type_name(v.type) +
                          ", expected an unsigned integer (u32)");
        if (is_signed(v.type)) {
            if (v.i < 0)
                fail(key, std::to_string(v.i) + " is negative");
            return v.i;
        }
        if (v.u > static_cast<uint64_t>(INT64_MAX))
            fail(key, std::to_string(v.u) + " is out of range");
        return static_cast<int64_t>(v.u);
    }
    int64_t count(const std::string& key) const
    {
        const int64_t n = to_int(key, need(key));
        if (n <= 0)
            fail(key, std::to_string(n) + " must be positive");
        return n;
    }
    int64_t count_or(const std::string& key, int64_t dflt) const
    {
        return get(key) ? count(key) : dflt;
    }
    double real(const std::string& key, const gguf::Value& v) const
    {
        if (v.type != ValueType::f32 && v.type != ValueType::f64)
            fail(key, std::string("has type ") + gguf::value_type_name(v.type) + ", expected f32");
        if (!std::isfinite(v.f))
            fail(key, "is not finite");
        return v.f;
    }
    double real_or(const std::string& key, double dflt) const
    {
        const gguf::Value* v = get(key);
        return v ? real(key, *v) : dflt;
    }
    std::string string(const std::string& key) const
    {
        const gguf::Value& v = need(key);
        if (v.type != ValueType::string)
            fail(key,
                 std::string("has type ") + gguf::value_type_name(v.type) + ", expected string");
        return v.s;
    }
};

struct Entry {
    const gguf::TensorInfo* info = nullptr;
    std::vector<int64_t> shape;  // HF orientation: ne reversed
    int64_t rope_heads = 0;  // > 0: rows are llama.cpp's interleaved RoPE pairs of this many heads
};

class GgufSource final : public WeightSource {
public:
    explicit GgufSource(const std::string& path);

    const ModelConfig& config() const override { return config_; }
    const std::string& path() const override { return path_; }
    const std::string& format() const override { return format_; }
    bool has(const std::string& name) const override { return entries_.count(name) != 0; }
    std::vector<int64_t> shape(const std::string& name) const override { return entry(name).shape; }
    std::string file_of(const std::string&) const override { return path_; }
    at::Tensor load(const std::string& name) const override;

private:
    const Entry& entry(const std::string& name) const
    {
        auto it = entries_.find(name);
        if (it == entries_.end())
            throw FormatError(path_ + ": the GGUF file has no tensor for '" + name + "'");
        return it->second;
    }
    void add(const std::string& hf_name, const gguf::TensorInfo& t,
             const std::vector<int64_t>& want, const std::string& implied_by, int64_t rope_heads);

    std::string path_;
    std::string format_ = "gguf";
    ModelConfig config_;
    gguf::File file_;
    std::map<std::string, Entry> entries_;
};

std::string ne_str(const std::vector<uint64_t>& ne)
{
    std::string s = "[";
    for (size_t i = 0; i < ne.size(); ++i)
        s += (i ? ", " : "") + std::to_string(ne[i]);
    return s + "]";
}

void GgufSource::add(const std::string& hf_name, const gguf::TensorInfo& t,
                     const std::vector<int64_t>& want, const std::string& implied_by,
                     int64_t rope_heads)
{
    // GGUF lists ne innermost first: a weight [out, in] is ne = [in, out].
    std::vector<int64_t> shape;
    for (auto it = t.ne.rbegin(); it != t.ne.rend(); ++it)
        shape.push_back(static_cast<int64_t>(*it));
    if (shape != want) {
        std::vector<uint64_t> want_ne;
        for (auto it = want.rbegin(); it != want.rend(); ++it)
            want_ne.push_back(static_cast<uint64_t>(*it));
        throw FormatError(path_ + ": tensor " + t.name + ": ne " + ne_str(t.ne) + ", but " +
                          implied_by + " imply ne " + ne_str(want_ne));
    }
    if (!gguf::can_dequantize(t.type))
        throw FormatError(path_ + ": tensor " + t.name +
                          " type: " + gguf::tensor_type_traits(static_cast<uint32_t>(t.type)).name +
                          " cannot be read (readable: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, "
                          "Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)");
    entries_[hf_name] = Entry{&t, std::move(shape), rope_heads};
}

GgufSource::GgufSource(const std::string& path) : path_(path), file_(gguf::read(path))
{
    const Meta m{file_};
    const std::string arch = m.string("general.architecture");
    ModelConfig& c = config_;
    const ArchitectureInfo* info = find_gguf_architecture(arch);
    if (!info)
        m.fail("general.architecture", "'" + arch + "' is not supported (supported: " +
                                           supported_gguf_architectures() + ")");
    c.arch = info->arch;
    const std::string a = arch + ".";
    c.num_layers = m.count(a + "block_count");
    c.hidden_size = m.count(a + "embedding_length");
    c.intermediate_size = m.count(a + "feed_forward_length");
    c.num_heads = m.count(a + "attention.head_count");
    c.num_kv_heads = m.count_or(a + "attention.head_count_kv", c.num_heads);
    c.max_position = m.count(a + "context_length");
    if (c.hidden_size % c.num_heads != 0 && !m.get(a + "attention.key_length"))
        m.fail(a + "embedding_length", std::to_string(c.hidden_size) + " is not a multiple of " +
                                           a +
                                           "attention.head_count = " + std::to_string(c.num_heads));
    c.head_dim = m.count_or(a + "attention.key_length", c.hidden_size / c.num_heads);
    if (m.count_or(a + "attention.value_length", c.head_dim) != c.head_dim)
        m.fail(a + "attention.value_length", std::to_string(m.count(a + "attention.value_length")) +
                                                 " differs from the key " + "length " +
                                                 std::to_string(c.head_dim) + " (not supported)");
    if (m.count_or(a + "rope.dimension_count", c.head_dim) != c.head_dim)
        m.fail(a + "rope.dimension_count",
               std::to_string(m.count(a + "rope.dimension_count")) +
                   ": partial rotary embeddings are not supported (head dim " +
                   std::to_string(c.head_dim) + ")");
    c.rope_theta = m.real_or(a + "rope.freq_base", 10000.0);
    c.rms_norm_eps = m.real(a + "attention.layer_norm_rms_epsilon",
                            m.need(a + "attention.layer_norm_rms_epsilon"));
    if (const gguf::Value* st = m.get(a + "rope.scaling.type")) {
        if (st->type != ValueType::string)
            m.fail(a + "rope.scaling.type", "expected a string");
        if (st->s == "linear") {
            c.rope_scaling.type = "linear";
            c.rope_scaling.factor =
                m.real(a + "rope.scaling.factor", m.need(a + "rope.scaling.factor"));
        } else if (st->s != "none") {
            m.fail(a + "rope.scaling.type", "'" + st->s + "' is not supported (none or linear)");
        }
    }
    if (info->swa_pattern > 0) {
        // llama.cpp keeps the family's pattern and local RoPE base in code, not in the file.
        c.sliding_window = m.count_or(a + "attention.sliding_window", 0);
        c.swa_pattern = info->swa_pattern;
        c.rope_local_theta = info->rope_local_theta;
    }
    // llama.cpp scales Gemma 3 27B's queries by 1 / sqrt(hidden / heads), every other model's
    // by 1 / sqrt(key_length) (its query_pre_attn_scalar).
    if (c.arch == Architecture::gemma3 && c.num_layers == 62)
        c.attn_scale = 1.0 / std::sqrt(static_cast<double>(c.hidden_size / c.num_heads));
    c.attn_logit_softcap = m.real_or(a + "attn_logit_softcapping", 0.0);
    c.final_logit_softcap = m.real_or(a + "final_logit_softcapping", 0.0);
    if (file_.tensor("rope_freqs.weight"))
        throw FormatError(path_ +
                          ": tensor rope_freqs.weight: per-frequency RoPE factors (Llama 3.1 "
                          "scaling) are not supported");

    // Vocabulary: the token list, as llama.cpp counts it; else ARCH.vocab_size; else the
    // embedding's rows.
    const gguf::TensorInfo* embd = file_.tensor("token_embd.weight");
    if (!embd)
        throw FormatError(path_ + ": tensor token_embd.weight is missing");
    if (const gguf::Value* toks = m.get("tokenizer.ggml.tokens")) {
        if (toks->type != ValueType::array || toks->array_type != ValueType::string)
            m.fail("tokenizer.ggml.tokens", "expected an array of strings");
        c.vocab_size = static_cast<int64_t>(toks->as.size());
        if (c.vocab_size == 0)
            m.fail("tokenizer.ggml.tokens", "is empty");
    } else if (m.get(a + "vocab_size")) {
        c.vocab_size = m.count(a + "vocab_size");
    } else {
        c.vocab_size = embd->ne.size() == 2 ? static_cast<int64_t>(embd->ne[1]) : 0;
    }
    const gguf::Value* bos = m.get("tokenizer.ggml.bos_token_id");
    const gguf::Value* eos = m.get("tokenizer.ggml.eos_token_id");
    c.bos_id = bos ? m.to_int("tokenizer.ggml.bos_token_id", *bos) : -1;
    c.eos_id = eos ? m.to_int("tokenizer.ggml.eos_token_id", *eos) : -1;
    c.eos_ids.clear();
    if (c.eos_id >= 0)
        c.eos_ids.push_back(c.eos_id);
    if (const gguf::Value* eot = m.get("tokenizer.ggml.eot_token_id")) {
        const int64_t id = m.to_int("tokenizer.ggml.eot_token_id", *eot);
        if (id != c.eos_id)
            c.eos_ids.push_back(id);
    }
    for (const auto& [key, id] :
         {std::pair<const char*, int64_t>{"tokenizer.ggml.bos_token_id", c.bos_id},
          {"tokenizer.ggml.eos_token_id", c.eos_id}})
        if (id >= c.vocab_size)
            m.fail(key, std::to_string(id) + " is outside the vocabulary of " +
                            std::to_string(c.vocab_size));
    // Optional parts are decided by the tensors of block 0 (llama.cpp's loader does the same).
    c.tie_word_embeddings = file_.tensor("output.weight") == nullptr;
    c.attention_bias = file_.tensor("blk.0.attn_q.bias") != nullptr;
    c.o_bias = file_.tensor("blk.0.attn_output.bias") != nullptr;
    c.qk_norm = file_.tensor("blk.0.attn_q_norm.weight") != nullptr;
    c.torch_dtype = "float32";
    validate_config(c, path_);

    // Which metadata a shape comes from, for the error message.
    const std::string dims =
        a + "embedding_length, " + a + "feed_forward_length, " + a + "attention.head_count(_kv)";
    auto need_tensor = [&](const std::string& name) -> const gguf::TensorInfo& {
        const gguf::TensorInfo* t = file_.tensor(name);
        if (!t)
            throw FormatError(path_ + ": tensor " + name + " is missing");
        return *t;
    };
    add("model.embed_tokens.weight", *embd, {c.vocab_size, c.hidden_size},
        "the token list (tokenizer.ggml.tokens) and " + a + "embedding_length", 0);
    add("model.norm.weight", need_tensor("output_norm.weight"), {c.hidden_size},
        a + "embedding_length", 0);
    if (!c.tie_word_embeddings)
        add("lm_head.weight", need_tensor("output.weight"), {c.vocab_size, c.hidden_size},
            "the token list (tokenizer.ggml.tokens) and " + a + "embedding_length", 0);
    // llama.cpp's converter permutes q/k rows (and biases) of arch "llama" only.
    const bool permuted = info->gguf_permutes_qk;
    for (int64_t l = 0; l < c.num_layers; ++l)
        for (const BlockPart& p : block_parts(c)) {
            const std::string gname = "blk." + std::to_string(l) + "." + p.gguf;
            const auto want = part_shape(c, p.name);
            if (!want) {
                if (file_.tensor(gname))
                    throw FormatError(path_ + ": tensor " + gname +
                                      " is present, but block 0 has none (inconsistent blocks)");
                continue;
            }
            const std::string part = p.name;
            int64_t rope = 0;
            if (permuted && (part.rfind("self_attn.q_proj.", 0) == 0))
                rope = c.num_heads;
            else if (permuted && (part.rfind("self_attn.k_proj.", 0) == 0))
                rope = c.num_kv_heads;
            add(block_tensor_name(l, p.name), need_tensor(gname), *want, dims, rope);
        }
}

at::Tensor GgufSource::load(const std::string& name) const
{
    const Entry& e = entry(name);
    const gguf::TensorInfo& t = *e.info;
    const std::vector<uint8_t> data = file_.read_data(t);
    const int64_t cols = static_cast<int64_t>(t.ne[0]);
    const int64_t rows = cols == 0 ? 0 : static_cast<int64_t>(t.elements()) / cols;
    at::Tensor w;
    try {
        w = gguf::dequantize(data, t.type, rows, cols).view(e.shape);
    } catch (const InvalidArgument& err) {
        throw FormatError(path_ + ": tensor " + t.name + ": " + err.what());
    }
    if (!at::isfinite(w).all().item<bool>())
        throw FormatError(path_ + ": tensor " + t.name + ": holds NaN or Inf after dequantization");
    if (e.rope_heads > 0) {
        // llama.cpp stores each head's rows as interleaved pairs (2i, 2i + 1); HF rotates halves
        // (i, i + d/2). Row 2i + p of a head goes back to row p * d/2 + i.
        const int64_t d = config_.head_dim;
        std::vector<int64_t> v{e.rope_heads, d / 2, 2};
        for (size_t k = 1; k < e.shape.size(); ++k)
            v.push_back(e.shape[k]);
        w = w.view(v).transpose(1, 2).contiguous().view(e.shape);
    }
    return w;
}

}  // namespace

bool is_gguf_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    char magic[4] = {};
    return in && in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

std::unique_ptr<WeightSource> open_gguf_source(const std::string& path)
{
    return std::make_unique<GgufSource>(path);
}

}  // namespace zp::model
