// The forward pass of LLaMA / Mistral / Qwen2 / Qwen3 / Gemma 3 decoders: RMSNorm, RoPE
// (rotate_half, theta, linear/llama3 scaling), grouped-query causal attention (sliding-window
// layers, q/k norms, soft-capping where the family has them), SwiGLU or GeGLU MLP, Gemma's norms
// after attention and MLP and its scaled embedding, tied or separate classifier; what applies is
// read from the architecture table (core/model/architecture.h).
// Device-agnostic: computation runs where the hidden states live, in their dtype (float32 on CPU;
// bf16/fp16 allowed on CUDA), with norms, softmax and logits accumulated in float32.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/common/progress.h"
#include "core/model/model.h"

namespace zp::model {

// Called with the input of each linear layer during a block forward: name is "q_proj" (also the
// input of k_proj and v_proj), "o_proj", "gate_proj" (also up_proj's) or "down_proj";
// input is [B, T, in_features] on the compute device. For Hessians / activation statistics.
using LinearObserver = std::function<void(const std::string& name, const at::Tensor& input)>;

// "cpu" -> (CPU, float32); "cuda" or "cuda:N" -> (that GPU, bfloat16). InvalidArgument for other
// names or when this libtorch has no CUDA. dtype: "auto" (those), or "float32", "bfloat16",
// "float16" to choose (float16 and bfloat16 on CUDA only: the CPU computes in float32).
std::pair<at::Device, at::ScalarType> compute_device(const std::string& name,
                                                     const std::string& dtype = "auto");
// The accepted dtype names of compute_device, "auto" first.
const std::vector<std::string>& compute_dtype_names();

// RMSNorm over the last dimension: x / sqrt(mean(x^2) + eps) * weight, in float32, cast back to x's
// dtype.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// RoPE inverse frequencies [head_dim / 2] (float64, CPU) after theta and rope_scaling; `local`:
// a sliding-window layer's (rope_local_theta, no scaling).
at::Tensor rope_inv_freq(const ModelConfig& c, bool local = false);
// cos and sin tables [length, head_dim] for positions start..start+length-1 (HF rotate_half
// layout: the half-dimension frequencies repeated twice), on device in dtype.
std::pair<at::Tensor, at::Tensor> rope_tables(const ModelConfig& c, int64_t start, int64_t length,
                                              at::Device device, at::ScalarType dtype,
                                              bool local = false);

// Keys and values of one block seen so far: [B, num_kv_heads, S, head_dim] (undefined when empty).
struct KvCache {
    at::Tensor k, v;
    int64_t length() const { return k.defined() ? k.size(2) : 0; }
};

// One decoder block on hidden states [B, T, hidden] at positions pos0..pos0+T-1; returns
// [B, T, hidden] on the same device/dtype. Weights are moved to that device/dtype as needed.
// Without a cache the T tokens attend causally among themselves only (pos0 just sets RoPE angles);
// with one, they also attend to the cached positions, and this call's keys/values are appended
// (pos0 must then equal cache->length()).
// `hooks` (may be null) rewrite the activations (Model::activation_hooks); the observer sees each
// linear input after its rewrite, as the linear does. `block_index` tells the hooks which decoder
// block this is.
at::Tensor block_forward(const ModelConfig& c, const BlockWeights& w, const at::Tensor& hidden,
                         int64_t pos0 = 0, KvCache* cache = nullptr,
                         const LinearObserver& observe = {}, const ActivationHooks* hooks = nullptr,
                         int64_t block_index = 0);

// One decoder block computed group by group, for a caller that changes a linear group's weights
// once its input is known (the quantization pipeline): the same operations as block_forward
// (without a cache, pos0 = 0) in the same order, so the output is identical, but each stage is
// computed once. input() is the raw input (before the hooks' rewrite) of group() - "q_proj",
// "o_proj", "gate_proj", "down_proj" in turn; advance(w) computes the next group's input with the
// weights as they are now (group()'s included). After down_proj, done() is true and input() is
// the block's output.
class BlockStepper {
public:
    BlockStepper(const ModelConfig& c, const BlockWeights& w, const at::Tensor& hidden,
                 const ActivationHooks* hooks, int64_t block_index);
    const char* group() const;  // "" when done
    bool done() const { return stage_ == 4; }
    const at::Tensor& input() const { return input_; }
    void advance(const BlockWeights& w);

private:
    const ModelConfig& c_;
    const ActivationHooks* hooks_;
    int64_t block_;
    int stage_ = 0;
    at::Tensor hidden_, out_, input_;
};

// Token ids [B, T] (int64, any device) -> hidden states [B, T, hidden] on device in dtype.
at::Tensor embed_tokens(const Model& m, const at::Tensor& ids, at::Device device,
                        at::ScalarType dtype);
// Final RMSNorm and classifier: hidden [B, T, hidden] -> logits [B, T, vocab] float32 (same
// device).
at::Tensor output_logits(const Model& m, const at::Tensor& hidden);

struct ForwardOptions {
    at::Device device = at::kCPU;
    at::ScalarType dtype = at::kFloat;  // compute dtype of the blocks
    ProgressFn progress;                // once per block; false cancels (throws Cancelled)
};

// The whole model without a cache: ids [B, T] -> logits [B, T, vocab] float32 on options.device.
// Reads one block at a time (memory: one block + activations).
at::Tensor model_forward(const Model& m, const at::Tensor& ids, const ForwardOptions& opt = {});

// Incremental decoding with a KV cache. Holds every block on the device (memory: whole model).
class Generator {
public:
    explicit Generator(const Model& m, at::Device device = at::kCPU,
                       at::ScalarType dtype = at::kFloat);
    // Feeds tokens at the next positions; returns the logits [vocab] (float32 CPU) after the last.
    at::Tensor feed(const std::vector<int32_t>& tokens);
    int64_t position() const { return pos_; }
    void reset();

private:
    const Model& model_;
    at::Device device_;
    at::ScalarType dtype_;
    std::vector<BlockWeights> blocks_;
    std::vector<KvCache> cache_;
    at::Tensor norm_, head_;  // final norm and classifier, on the device
    int64_t pos_ = 0;
};

// Greedy decoding as llama2.c's run.c: feeds prompt[0] at position 0 and so on; while inside the
// prompt the next token is forced, afterwards it is the argmax. Stops after `steps` positions
// (at most the context length) or when the next token is in stop_ids. on_token(prev, next) is
// called for every token after the first and may return false to stop. Returns all tokens
// (prompt included). The prompt must not be empty.
std::vector<int32_t> generate_greedy(const Model& m, const std::vector<int32_t>& prompt,
                                     int64_t steps, const std::vector<int32_t>& stop_ids,
                                     const std::function<bool(int32_t, int32_t)>& on_token = {},
                                     at::Device device = at::kCPU,
                                     at::ScalarType dtype = at::kFloat);

}  // namespace zp::model
