// The architecture table: one description per decoder family (LLaMA, Mistral, Qwen2, Qwen3,
// Gemma 3), in the spirit of llama.cpp's per-architecture tensor lists. Everything that depends on
// the family - the tensor names of a block in the Hugging Face and GGUF spellings, which linears
// share an input, the norms and how HF stores their gain, the MLP's activation, the attention's
// features - is read from here; no other file spells a projection name.
//
// The engine keeps every RMSNorm gain as the factor it multiplies by. Gemma's Hugging Face
// checkpoints store (gain - 1) ("1 + weight" in its RMSNorm); llama.cpp's GGUF stores the gain
// itself. `hf_norm_offset` says which: the HF reader adds it, the HF writer subtracts it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/model/config.h"

namespace zp::model {

// One decoder block. Optional tensors are undefined (t.defined() == false) when the model has none.
struct BlockWeights {
    at::Tensor input_norm;              // [hidden] RMSNorm gain before attention
    at::Tensor q, k, v, o;              // [q_dim, hidden], [kv_dim, hidden] x2, [hidden, q_dim]
    at::Tensor q_bias, k_bias, v_bias;  // [q_dim], [kv_dim], [kv_dim] (Qwen2, attention_bias)
    at::Tensor o_bias;                  // [hidden] (llama attention_bias only)
    at::Tensor q_norm, k_norm;          // [head_dim] per-head RMSNorm gains (Qwen3, Gemma 3)
    at::Tensor attn_out_norm;           // [hidden] RMSNorm of o_proj's output (Gemma 3)
    at::Tensor post_norm;               // [hidden] RMSNorm gain before the MLP
    at::Tensor gate, up, down;          // [inter, hidden] x2, [hidden, inter]
    at::Tensor mlp_out_norm;            // [hidden] RMSNorm of down_proj's output (Gemma 3)

    // The weight of a linear layer by HF module name ("q_proj"...); InvalidArgument if unknown.
    at::Tensor& linear(const std::string& name);
    const at::Tensor& linear(const std::string& name) const;
    // Every defined tensor converted (device, dtype; copied even if already there when copy);
    // undefined ones stay undefined.
    BlockWeights to(at::Device device, at::ScalarType dtype, bool copy = false) const;
};

// What a block tensor is, for the shape it takes and how formats store it.
enum class PartKind {
    norm,       // [hidden] RMSNorm gain
    head_norm,  // [head_dim] per-head RMSNorm gain (q/k norm)
    linear,     // a linear layer's weight
    bias,       // a linear layer's bias
};

// A tensor of a decoder block.
struct BlockPart {
    const char* name;                  // HF name in a block: "self_attn.q_proj.weight"
    at::Tensor BlockWeights::*member;  // where BlockWeights keeps it
    const char* linear;                // "q_proj" for a linear layer's weight, else nullptr
    const char* gguf;                  // llama.cpp's name in a block: "attn_q.weight"
    PartKind kind;
};

// The linears that read the same input, in pipeline order. `input` names the linear whose input
// the group reads (the name the forward's observers and hooks use).
struct LinearGroup {
    const char* input;
    std::vector<std::string> layers;
};

enum class Activation {
    silu,       // SwiGLU: silu(gate) * up (LLaMA, Mistral, Qwen)
    gelu_tanh,  // GeGLU with tanh-approximated GELU: gelu(gate) * up (Gemma)
};

struct ArchitectureInfo {
    Architecture arch;
    const char* name;                      // ZeroPoint's name: "gemma3"
    const char* gguf;                      // llama.cpp's general.architecture: "gemma3"
    const char* hf_class;                  // config.json architectures[0]: "Gemma3ForCausalLM"
    std::vector<std::string> model_types;  // config.json model_type values accepted
    std::vector<BlockPart> parts;          // every tensor a block may hold, in HF listing order
    std::vector<LinearGroup> groups;       // linears sharing an input, in pipeline order
    Activation activation;
    bool gguf_permutes_qk;  // llama.cpp's converter interleaves q/k rows (RoPE pairs; llama only)
    bool qkv_bias;          // q/k/v always carry biases (Qwen2); others: config's attention_bias
    bool qk_norm;           // per-head RMSNorm on q and k after the projections
    bool sandwich_norms;    // RMSNorm also on the outputs of o_proj and down_proj (Gemma 2/3)
    bool embed_scaled;      // token embeddings multiplied by sqrt(hidden) (Gemma)
    double hf_norm_offset;  // HF stores an RMSNorm gain g as g - offset (Gemma: 1, others 0)
    // Sliding-window attention where the file gives a window: every swa_pattern-th layer
    // (1-based) attends globally, the others within the window, with RoPE base rope_local_theta
    // and no RoPE scaling (llama.cpp's defaults for the family; config.json may override both).
    int64_t swa_pattern;
    double rope_local_theta;
};

// Every architecture, in the order of the Architecture enum.
const std::vector<ArchitectureInfo>& architectures();
const ArchitectureInfo& architecture(Architecture a);
// By config.json's architectures[0] / llama.cpp's general.architecture; nullptr if none. Mistral
// files say "llama" in GGUF, so GGUF "llama" finds LLaMA.
const ArchitectureInfo* find_hf_architecture(const std::string& hf_class);
const ArchitectureInfo* find_gguf_architecture(const std::string& gguf_name);
// "LlamaForCausalLM, MistralForCausalLM, ..." / "llama, qwen2, qwen3, gemma3", for messages.
std::string supported_hf_classes();
std::string supported_gguf_architectures();

// The block tensors of the config's architecture (every part it may hold; part_shape says which
// this config has).
const std::vector<BlockPart>& block_parts(const ModelConfig& c);
// The part of that list called `name` (HF name in a block); nullptr if the architecture has none.
const BlockPart* find_block_part(const ModelConfig& c, const std::string& name);
// The linears that share an input, for the config's architecture.
const std::vector<LinearGroup>& linear_input_groups(const ModelConfig& c);
// The same for callers without a model at hand (a session's group names, the workbench's group
// list): every family in the table has these groups and these linears with the same HF and GGUF
// names - architectures() refuses a table where they differ, so a family that breaks this rule
// has to give those callers a config first.
const std::vector<LinearGroup>& linear_input_groups();
// The part of a linear layer ("q_proj" -> self_attn.q_proj.weight, attn_q.weight), the same in
// every family (see above); InvalidArgument if unknown.
const BlockPart& linear_part(const std::string& linear);
// The group whose input `linear` reads ("k_proj" -> the q_proj group); InvalidArgument if none.
const LinearGroup& input_group(const std::string& linear);
// Position of a group's input name in pipeline order (0 for "q_proj" .. 3 for "down_proj"); the
// number of groups for a name that is none.
int group_order(const std::string& input);
// in_features of the linears of the group reading `input` ("q_proj", "o_proj", ...).
int64_t group_in_features(const ModelConfig& c, const std::string& input);
// "model.layers.12.self_attn.q_proj.weight" -> block 12 and "self_attn.q_proj.weight"; false for a
// name outside the blocks (or with a malformed index).
bool split_block_tensor_name(const std::string& hf_name, int64_t* block, std::string* part);
// The seven linear layers of a block, in pipeline order: q_proj, k_proj, v_proj, o_proj,
// gate_proj, up_proj, down_proj (the HF module names; the same in every family here).
const std::vector<std::string>& linear_names();

// The shape `config` implies for a part; nullopt where the config says the part is absent
// (biases, q/k norms, the other family's norms). `part` is a BlockPart::name.
std::optional<std::vector<int64_t>> part_shape(const ModelConfig& config, const std::string& part);
// "q_proj" -> "self_attn.q_proj", "gate_proj" -> "mlp.gate_proj"; InvalidArgument if unknown.
std::string linear_module(const std::string& linear);
// The HF tensor name of a block part: block_tensor_name(3, "self_attn.q_proj.weight") is
// "model.layers.3.self_attn.q_proj.weight".
std::string block_tensor_name(int64_t layer, const std::string& part);
// "model.layers.3.self_attn.q_proj" (add ".weight" for the tensor).
std::string linear_prefix(int64_t block, const std::string& linear);
// {out_features, in_features} of a linear layer under `config`; InvalidArgument if unknown.
std::vector<int64_t> linear_shape(const ModelConfig& config, const std::string& linear);
// Whether an HF tensor name ("model.norm.weight", "model.layers.3.input_layernorm.weight") is an
// RMSNorm gain of the config's architecture (the tensors hf_norm_offset applies to).
bool is_norm_tensor(const ModelConfig& c, const std::string& hf_name);

// Whether decoder layer `layer` (0-based) attends within the sliding window: every layer when the
// config has a window and no pattern (Mistral), all but every swa_pattern-th with one (Gemma 3).
bool is_sliding_layer(const ModelConfig& c, int64_t layer);
// Softmax scale of the attention scores: config's attn_scale, else 1 / sqrt(head_dim).
double attention_scale(const ModelConfig& c);

}  // namespace zp::model
