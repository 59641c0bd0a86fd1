#include "core/model/forward.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <ATen/Context.h>
#include <ATen/TensorOperators.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/silu.h>

#include "core/common/error.h"

namespace zp::model {

namespace {

constexpr double kPi = 3.14159265358979323846;

// Attention scores held at once by a forward without a cache (see attention_context).
constexpr int64_t kAttentionScoresBytes = int64_t(16) << 20;

at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b)
{
    at::Tensor y = x.matmul(w.t());
    return b.defined() ? y + b : y;
}

at::Tensor rotate_half(const at::Tensor& x)
{
    const int64_t half = x.size(-1) / 2;
    return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

// Weights already on the compute device and dtype are used as they are (Generator, the pipeline);
// others are moved per call (model_forward reads one block at a time anyway).
const at::Tensor& on(const at::Tensor& t, const at::Tensor& like, at::Tensor& holder)
{
    if (!t.defined() || (t.device() == like.device() && t.scalar_type() == like.scalar_type()))
        return t;
    holder = t.to(like.device(), like.scalar_type());
    return holder;
}

}  // namespace

const std::vector<std::string>& compute_dtype_names()
{
    static const std::vector<std::string> names = {"auto", "float32", "bfloat16", "float16"};
    return names;
}

std::pair<at::Device, at::ScalarType> compute_device(const std::string& name,
                                                     const std::string& dtype)
{
    at::ScalarType chosen = at::kFloat;
    if (dtype == "float32")
        chosen = at::kFloat;
    else if (dtype == "bfloat16")
        chosen = at::kBFloat16;
    else if (dtype == "float16")
        chosen = at::kHalf;
    else if (dtype != "auto")
        throw InvalidArgument("dtype '" + dtype + "': expected auto, float32, bfloat16 or float16");
    if (name == "cpu") {
        if (dtype != "auto" && chosen != at::kFloat)
            throw InvalidArgument("dtype '" + dtype +
                                  "' on the CPU: the CPU computes in float32 (choose float32 or "
                                  "auto)");
        return {at::kCPU, at::kFloat};
    }
    bool cuda = false;
    try {
        cuda = at::Device(name).is_cuda();
    } catch (const c10::Error&) {
    }
    if (!cuda)
        throw InvalidArgument("device '" + name + "': expected cpu, cuda or cuda:N");
    if (!at::hasCUDA())
        throw InvalidArgument("device '" + name + "': this build of libtorch has no CUDA support");
    return {at::Device(name), dtype == "auto" ? at::kBFloat16 : chosen};
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps)
{
    at::Tensor xf = x.to(at::kFloat);
    at::Tensor y = xf * (xf * xf).mean(at::IntArrayRef{-1}, /*keepdim=*/true).add(eps).rsqrt();
    return (y * weight.to(x.device(), at::kFloat)).to(x.scalar_type());
}

at::Tensor rope_inv_freq(const ModelConfig& c, bool local)
{
    const int64_t half = c.head_dim / 2;
    at::Tensor inv = at::empty({half}, at::kDouble);
    double* p = inv.data_ptr<double>();
    // Sliding-window layers (Gemma 3) use their own base and no scaling.
    const RopeScaling s = local ? RopeScaling{} : c.rope_scaling;
    const double theta = local ? c.rope_local_theta : c.rope_theta;
    for (int64_t i = 0; i < half; ++i) {
        double f = 1.0 / std::pow(theta, static_cast<double>(2 * i) / c.head_dim);
        if (s.type == "linear") {
            f /= s.factor;
        } else if (s.type == "llama3") {
            // Llama 3.1: long wavelengths are slowed by `factor`, short ones kept, the band
            // between blended smoothly.
            const double old_ctx = static_cast<double>(s.original_max_position);
            const double low_wavelen = old_ctx / s.low_freq_factor;
            const double high_wavelen = old_ctx / s.high_freq_factor;
            const double wavelen = 2.0 * kPi / f;
            if (wavelen > low_wavelen) {
                f /= s.factor;
            } else if (wavelen >= high_wavelen) {
                const double smooth = (old_ctx / wavelen - s.low_freq_factor) /
                                      (s.high_freq_factor - s.low_freq_factor);
                f = (1.0 - smooth) * f / s.factor + smooth * f;
            }
        }
        p[i] = f;
    }
    return inv;
}

std::pair<at::Tensor, at::Tensor> rope_tables(const ModelConfig& c, int64_t start, int64_t length,
                                              at::Device device, at::ScalarType dtype, bool local)
{
    at::Tensor pos = at::arange(start, start + length, at::kDouble);
    at::Tensor ang = pos.unsqueeze(1) * rope_inv_freq(c, local).unsqueeze(0);  // [length, hd/2]
    ang = at::cat({ang, ang}, 1);
    return {ang.cos().to(device, dtype), ang.sin().to(device, dtype)};
}

namespace {

void check_block_input(const ModelConfig& c, const at::Tensor& hidden, const char* what)
{
    if (hidden.dim() != 3 || hidden.size(2) != c.hidden_size)
        throw InvalidArgument(std::string(what) + ": hidden states must be [B, T, " +
                              std::to_string(c.hidden_size) + "]");
}

at::Tensor rewrite_input(const ActivationHooks* hooks, int64_t block, const char* name,
                         at::Tensor t)
{
    return hooks && hooks->linear_input ? hooks->linear_input(block, name, t) : t;
}

// The attention of a block from its (rewritten) q/k/v input x [B, T, hidden]: the input of o_proj
// [B, T, q_dim] before its rewrite.
at::Tensor attention_context(const ModelConfig& c, const BlockWeights& w_in, const at::Tensor& x,
                             int64_t pos0, KvCache* cache, const ActivationHooks* hooks,
                             int64_t block_index)
{
    const int64_t B = x.size(0), T = x.size(1);
    const int64_t nh = c.num_heads, nkv = c.num_kv_heads, hd = c.head_dim;
    at::Tensor h0, h1, h2, h4, h5, h6;
    const at::Tensor& wq = on(w_in.q, x, h0);
    const at::Tensor& wk = on(w_in.k, x, h1);
    const at::Tensor& wv = on(w_in.v, x, h2);
    const at::Tensor& bq = on(w_in.q_bias, x, h4);
    const at::Tensor& bk = on(w_in.k_bias, x, h5);
    const at::Tensor& bv = on(w_in.v_bias, x, h6);
    auto rewrite_attn = [&](const char* which, at::Tensor t) {
        return hooks && hooks->attention ? hooks->attention(block_index, which, t) : t;
    };
    at::Tensor q = linear(x, wq, bq).view({B, T, nh, hd});
    at::Tensor k = linear(x, wk, bk).view({B, T, nkv, hd});
    at::Tensor v = linear(x, wv, bv).view({B, T, nkv, hd});
    if (c.qk_norm) {
        q = rms_norm(q, w_in.q_norm, c.rms_norm_eps);
        k = rms_norm(k, w_in.k_norm, c.rms_norm_eps);
    }
    q = q.transpose(1, 2);  // [B, nh, T, hd]
    k = k.transpose(1, 2);
    v = v.transpose(1, 2);
    const bool sliding = is_sliding_layer(c, block_index);
    // Gemma's sliding layers have their own RoPE base; Mistral's (no pattern) keep the model's.
    auto [cos, sin] =
        rope_tables(c, pos0, T, x.device(), x.scalar_type(), sliding && c.swa_pattern > 0);
    q = rewrite_attn("q", q * cos + rotate_half(q) * sin);
    k = rewrite_attn("k", k * cos + rotate_half(k) * sin);
    v = rewrite_attn("v", v);
    if (cache) {
        if (cache->k.defined()) {
            k = at::cat({cache->k, k}, 2);
            v = at::cat({cache->v, v}, 2);
        }
        cache->k = k;
        cache->v = v;
    }
    const int64_t S = k.size(2);
    if (nh != nkv) {
        // Grouped-query attention: query head h reads kv head h / (nh / nkv).
        k = k.repeat_interleave(nh / nkv, 1);
        v = v.repeat_interleave(nh / nkv, 1);
    }
    const double scale = attention_scale(c);
    at::Tensor mask;
    if (T > 1) {
        // Keys are the last S positions ending with this call's: key j sits at position
        // pos0 + T - S + j, query i at pos0 + i, so key j is in query i's future when j > i + S -
        // T.
        mask = at::ones({T, S}, at::TensorOptions().dtype(at::kBool).device(x.device()))
                   .triu(S - T + 1);
    }
    if (sliding && S > c.sliding_window) {
        // A sliding layer's query also ignores keys `sliding_window` or more positions back:
        // query i - key j >= window, i.e. j <= i + S - T - window.
        at::Tensor old = at::ones({T, S}, at::TensorOptions().dtype(at::kBool).device(x.device()))
                             .tril(S - T - c.sliding_window);
        mask = mask.defined() ? mask.logical_or(old) : old;
    }
    const double cap = c.attn_logit_softcap;
    auto context = [&](const at::Tensor& qc, const at::Tensor& kc, const at::Tensor& vc) {
        at::Tensor scores = qc.to(at::kFloat).matmul(kc.to(at::kFloat).transpose(-2, -1)) * scale;
        if (cap > 0.0)
            scores = (scores / cap).tanh() * cap;
        if (mask.defined())
            scores = scores.masked_fill(mask, -std::numeric_limits<float>::infinity());
        return scores.softmax(-1).to(x.scalar_type()).matmul(vc);  // [b, nh, T, hd]
    };
    // The scores [B, nh, T, S] of a few sequences at a time: a whole batch's (75 MB for 8 x 512
    // tokens of SmolLM2) would be mapped and unmapped by malloc for each of the four tensors the
    // softmax needs, on every forward. Each sequence's attention is computed by the same
    // operations either way, so the results are identical.
    const int64_t seq_bytes = nh * T * S * static_cast<int64_t>(sizeof(float));
    const int64_t step =
        std::max<int64_t>(1, kAttentionScoresBytes / std::max<int64_t>(seq_bytes, 1));
    if (step >= B)
        return context(q, k, v).transpose(1, 2).reshape({B, T, nh * hd});
    at::Tensor out = at::empty({B, T, nh, hd}, x.options());
    for (int64_t b0 = 0; b0 < B; b0 += step) {
        const int64_t nb = std::min(step, B - b0);
        out.narrow(0, b0, nb).copy_(
            context(q.narrow(0, b0, nb), k.narrow(0, b0, nb), v.narrow(0, b0, nb)).transpose(1, 2));
    }
    return out.view({B, T, nh * hd});
}

// hidden + o_proj(ctx) for a rewritten context (normalized first where the family has a norm
// there: Gemma's post_attention_layernorm).
at::Tensor attention_output(const ModelConfig& c, const BlockWeights& w_in,
                            const at::Tensor& hidden, const at::Tensor& ctx)
{
    at::Tensor h3, h7;
    at::Tensor y = linear(ctx, on(w_in.o, hidden, h3), on(w_in.o_bias, hidden, h7));
    if (w_in.attn_out_norm.defined())
        y = rms_norm(y, w_in.attn_out_norm, c.rms_norm_eps);
    return hidden + y;
}

// act(gate(x)) * up(x) for a rewritten MLP input: silu (SwiGLU) or tanh-GELU (GeGLU).
at::Tensor mlp_activation(const ModelConfig& c, const BlockWeights& w_in, const at::Tensor& x)
{
    at::Tensor h8, h9;
    const at::Tensor g = linear(x, on(w_in.gate, x, h8), at::Tensor());
    const at::Tensor a = architecture(c.arch).activation == Activation::gelu_tanh
                             ? at::gelu(g, "tanh")
                             : at::silu(g);
    return a * linear(x, on(w_in.up, x, h9), at::Tensor());
}

at::Tensor mlp_output(const ModelConfig& c, const BlockWeights& w_in, const at::Tensor& out,
                      const at::Tensor& a)
{
    at::Tensor h10;
    at::Tensor y = linear(a, on(w_in.down, out, h10), at::Tensor());
    if (w_in.mlp_out_norm.defined())
        y = rms_norm(y, w_in.mlp_out_norm, c.rms_norm_eps);
    return out + y;
}

}  // namespace

at::Tensor block_forward(const ModelConfig& c, const BlockWeights& w_in, const at::Tensor& hidden,
                         int64_t pos0, KvCache* cache, const LinearObserver& observe,
                         const ActivationHooks* hooks, int64_t block_index)
{
    check_block_input(c, hidden, "block_forward");
    if (cache && cache->length() != pos0)
        throw InvalidArgument("block_forward: pos0 " + std::to_string(pos0) +
                              " differs from the cache length " + std::to_string(cache->length()));
    auto rewrite = [&](const char* name, at::Tensor t) {
        return rewrite_input(hooks, block_index, name, std::move(t));
    };
    // The four inputs, named by the table's groups: attention, o_proj, MLP, down_proj.
    const auto& g = linear_input_groups(c);
    at::Tensor x = rewrite(g[0].input, rms_norm(hidden, w_in.input_norm, c.rms_norm_eps));
    if (observe)
        observe(g[0].input, x);
    at::Tensor attn =
        rewrite(g[1].input, attention_context(c, w_in, x, pos0, cache, hooks, block_index));
    if (observe)
        observe(g[1].input, attn);
    const at::Tensor out = attention_output(c, w_in, hidden, attn);
    x = rewrite(g[2].input, rms_norm(out, w_in.post_norm, c.rms_norm_eps));
    if (observe)
        observe(g[2].input, x);
    at::Tensor a = rewrite(g[3].input, mlp_activation(c, w_in, x));
    if (observe)
        observe(g[3].input, a);
    return mlp_output(c, w_in, out, a);
}

BlockStepper::BlockStepper(const ModelConfig& c, const BlockWeights& w, const at::Tensor& hidden,
                           const ActivationHooks* hooks, int64_t block_index)
    : c_(c), hooks_(hooks), block_(block_index), hidden_(hidden)
{
    check_block_input(c, hidden, "BlockStepper");
    input_ = rms_norm(hidden, w.input_norm, c.rms_norm_eps);
}

const char* BlockStepper::group() const
{
    const auto& g = linear_input_groups(c_);
    return stage_ < static_cast<int>(g.size()) ? g[static_cast<size_t>(stage_)].input : "";
}

void BlockStepper::advance(const BlockWeights& w)
{
    const at::Tensor x = rewrite_input(hooks_, block_, group(), input_);
    switch (stage_) {
        case 0:
            input_ = attention_context(c_, w, x, 0, nullptr, hooks_, block_);
            break;
        case 1:
            out_ = attention_output(c_, w, hidden_, x);
            input_ = rms_norm(out_, w.post_norm, c_.rms_norm_eps);
            break;
        case 2:
            input_ = mlp_activation(c_, w, x);
            break;
        case 3:
            input_ = mlp_output(c_, w, out_, x);
            out_ = at::Tensor();
            hidden_ = at::Tensor();
            break;
        default:
            throw InvalidArgument("BlockStepper: the block is already complete");
    }
    ++stage_;
}

at::Tensor embed_tokens(const Model& m, const at::Tensor& ids, at::Device device,
                        at::ScalarType dtype)
{
    if (ids.dim() != 2)
        throw InvalidArgument("token ids must be [B, T]");
    at::Tensor flat = ids.to(at::kCPU, at::kLong).reshape({-1});
    const int64_t V = m.config().vocab_size;
    if (flat.numel() > 0) {
        const int64_t lo = flat.min().item<int64_t>(), hi = flat.max().item<int64_t>();
        if (lo < 0 || hi >= V)
            throw InvalidArgument(m.path() + ": token id " + std::to_string(lo < 0 ? lo : hi) +
                                  " outside the vocabulary 0.." + std::to_string(V - 1));
    }
    at::Tensor e = m.embed_tokens().index_select(0, flat);
    if (architecture(m.config().arch).embed_scaled)
        e = e * static_cast<float>(std::sqrt(static_cast<double>(m.config().hidden_size)));
    return e.view({ids.size(0), ids.size(1), m.config().hidden_size}).to(device, dtype);
}

namespace {

at::Tensor logits_with(const ModelConfig& c, const at::Tensor& hidden, const at::Tensor& norm,
                       const at::Tensor& head)
{
    at::Tensor x = rms_norm(hidden, norm, c.rms_norm_eps);
    at::Tensor holder;
    at::Tensor logits = x.matmul(on(head, x, holder).t()).to(at::kFloat);
    if (c.final_logit_softcap > 0.0)
        logits = (logits / c.final_logit_softcap).tanh() * c.final_logit_softcap;
    return logits;
}

}  // namespace

at::Tensor output_logits(const Model& m, const at::Tensor& hidden)
{
    return logits_with(m.config(), hidden, m.final_norm(), m.lm_head());
}

at::Tensor model_forward(const Model& m, const at::Tensor& ids, const ForwardOptions& opt)
{
    const ModelConfig& c = m.config();
    at::Tensor h = embed_tokens(m, ids, opt.device, opt.dtype);
    for (int64_t l = 0; l < c.num_layers; ++l) {
        report_progress(opt.progress, static_cast<double>(l), static_cast<double>(c.num_layers),
                        "block " + std::to_string(l + 1) + "/" + std::to_string(c.num_layers));
        h = block_forward(c, m.block(l).to(opt.device, opt.dtype), h, 0, nullptr, {},
                          m.activation_hooks(), l);
    }
    report_progress(opt.progress, static_cast<double>(c.num_layers),
                    static_cast<double>(c.num_layers), "logits");
    return output_logits(m, h);
}

Generator::Generator(const Model& m, at::Device device, at::ScalarType dtype)
    : model_(m), device_(device), dtype_(dtype)
{
    const int64_t L = m.config().num_layers;
    blocks_.reserve(static_cast<size_t>(L));
    for (int64_t l = 0; l < L; ++l)
        blocks_.push_back(m.block(l).to(device, dtype));
    cache_.resize(static_cast<size_t>(L));
    // The classifier is the largest matrix: move it once, not once per generated token.
    norm_ = m.final_norm().to(device, at::kFloat);
    head_ = m.lm_head().to(device, dtype);
}

at::Tensor Generator::feed(const std::vector<int32_t>& tokens)
{
    if (tokens.empty())
        throw InvalidArgument("Generator::feed: no tokens");
    const ModelConfig& c = model_.config();
    if (pos_ + static_cast<int64_t>(tokens.size()) > c.max_position)
        throw InvalidArgument(model_.path() + ": position " +
                              std::to_string(pos_ + static_cast<int64_t>(tokens.size())) +
                              " exceeds the context length " + std::to_string(c.max_position));
    at::Tensor ids = at::empty({1, static_cast<int64_t>(tokens.size())}, at::kLong);
    int64_t* p = ids.data_ptr<int64_t>();
    for (size_t i = 0; i < tokens.size(); ++i)
        p[i] = tokens[i];
    at::Tensor h = embed_tokens(model_, ids, device_, dtype_);
    for (size_t l = 0; l < blocks_.size(); ++l)
        h = block_forward(c, blocks_[l], h, pos_, &cache_[l], {}, model_.activation_hooks(),
                          static_cast<int64_t>(l));
    pos_ += static_cast<int64_t>(tokens.size());
    at::Tensor last = h.narrow(1, h.size(1) - 1, 1);
    return logits_with(c, last, norm_, head_).reshape({-1}).to(at::kCPU);
}

void Generator::reset()
{
    for (auto& kv : cache_)
        kv = KvCache{};
    pos_ = 0;
}

std::vector<int32_t> generate_greedy(const Model& m, const std::vector<int32_t>& prompt,
                                     int64_t steps, const std::vector<int32_t>& stop_ids,
                                     const std::function<bool(int32_t, int32_t)>& on_token,
                                     at::Device device, at::ScalarType dtype)
{
    if (prompt.empty())
        throw InvalidArgument("generate_greedy: the prompt must hold at least one token (BOS)");
    const int64_t ctx = m.config().max_position;
    if (steps <= 0 || steps > ctx)
        steps = ctx;
    const int64_t len = static_cast<int64_t>(prompt.size());
    const int64_t n = std::min(len, steps);
    Generator g(m, device, dtype);
    // The prompt's later tokens are forced anyway, so the prompt is fed in one batch.
    at::Tensor logits = g.feed(std::vector<int32_t>(prompt.begin(), prompt.begin() + n));
    std::vector<int32_t> out(prompt.begin(), prompt.begin() + n);
    for (int64_t i = 1; i < n; ++i)
        if (on_token && !on_token(prompt[i - 1], prompt[i]))
            return out;
    int32_t token = prompt[n - 1];
    int64_t fed = n;
    // Each fed position yields one next token: `steps` positions print `steps` tokens (run.c).
    while (true) {
        const int32_t next =
            fed < len ? prompt[fed] : static_cast<int32_t>(logits.argmax().item<int64_t>());
        if (fed >= len && std::find(stop_ids.begin(), stop_ids.end(), next) != stop_ids.end())
            break;
        out.push_back(next);
        if (on_token && !on_token(token, next))
            break;
        if (fed >= steps)
            break;
        logits = g.feed({next});
        ++fed;
        token = next;
    }
    return out;
}

}  // namespace zp::model
