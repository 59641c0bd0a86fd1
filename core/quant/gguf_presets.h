// llama.cpp's quantization presets ("Q4_K_M" and friends): the ggml type llama-quantize gives each
// tensor of a model, so that ZeroPoint can write a file with the same tensor types, and therefore
// the same tensor-data byte count, as `llama-quantize MODEL.gguf OUT.gguf PRESET` makes of it.
// Type choice only, no quantization arithmetic. Mirrors llama.cpp as vendored in llama-cpp-python
// 0.3.36 (src/llama-quant.cpp) with llama-quantize's default options: no --pure,
// --leave-output-tensor, --output-tensor-type, --token-embedding-type, --tensor-type or
// --prune-layers; an importance matrix only through PresetModel::has_imatrix. Checked against
// llama-quantize itself by tests/python/check_gguf_presets.py + tests/core/tst_gguf_presets.cpp.
//
// The rules, in the order llama-quantize applies them (D = the preset's default type, T = the
// type chosen so far, n/8 etc. are integer divisions):
//
// Which tensors are quantized at all (the others keep their type, usually F32):
//   K1  fewer than 2 dimensions ([n], [n, 1], [n, 1, 1]: trailing 1s do not count) -> kept.
//   K2  the name must end in "weight" (quirk kept: a 5-character name also passes) -> else kept.
//   K3  kept: names containing "_norm.weight", "ffn_gate_inp.weight",
//       "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj", "ssm_conv1d",
//       "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
//       "time_mix_{first,w0,w1,w2,v0,v1,v2,a0,a1,a2,g1,g2,decay_w1,decay_w2,lerp_fused}.weight",
//       "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_",
//       ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook", "mm.a.code_embd"; names
//       equal to "position_embd.weight" or "token_types.weight"; for arch glm5-next also "hc_",
//       "indexer.attn_q_b", "indexer.attn_k", "indexer.proj", "indexer_compressor_gate",
//       "indexer_compressor_ape", "ssm_{f_a,f_b,g_a,g_b,beta}.weight", "attn_kv_a_mqa.weight",
//       "attn_k_b.weight", "attn_v_b.weight".
//
// Categories (first match wins): output = "output.weight" exactly; token_embd =
// "token_embd.weight" or "per_layer_token_embd.weight"; then names containing "attn_qkv.weight",
// "attn_kv_b.weight", "attn_v.weight" (these three are "attn_v-like"), "attn_k.weight",
// "attn_q.weight", "attn_output.weight", "ffn_up", "ffn_gate", "ffn_down" (any suffix).
//
// Order and counters: llama-quantize visits the tensors sorted by layer (N of a "blk.N." prefix,
// -1 for the others, which come first), then by name. n_attention_wv = the number of attn_v-like
// tensors in the model; i_attention_wv = how many of them (quantized ones) were visited before.
// ffn_down's (i, n) = (its visit count among quantized ffn_down* tensors, n_layer), or with
// n_expert > 1 the N of its "blk.N." name. Embeddings are tied when no tensor is "output.weight".
// use_more_bits(i, n) = i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2.
// A "70B" model: arch llama with 80 blocks and n_head != n_head_kv, qwen2/deci/olmo with 80
// blocks, jais2 with 68. n_gqa = n_head / n_head_kv (0 when n_head_kv is 0).
//
// Type of a quantized tensor (start T = D; the first rule whose category matches applies):
//   R0  glm5-next: names containing "attn_q_a", "attn_q_b", "nextn.eh_proj" -> Q8_0.
//   R1  output, and token_embd when tied: Q8_0 if arch falcon or ne0 % block(D) != 0; else Q8_0
//       if D is Q8_0; else Q6_K.
//   R2  token_embd when untied: D.
//   R3  attn_v-like: Q2_K: n_gqa >= 4 ? Q4_K : Q3_K | Q3_K_M: i_attention_wv < 2 ? Q5_K : Q4_K |
//       Q3_K_L: Q5_K | Q4_K_M, Q5_K_M: use_more_bits(i_attention_wv, n_attention_wv) -> Q6_K |
//       Q4_K_S: i_attention_wv < 4 -> Q5_K; then on a 70B model Q3_K/Q4_K -> Q5_K; then
//       n_expert == 8 -> Q8_0.
//   R4  attn_k: n_expert == 8 -> Q8_0.
//   R5  ffn_down: Q2_K: Q3_K | Q3_K_M: i < n/16 ? Q5_K : (falcon and !use_more_bits ? Q3_K :
//       Q4_K) | Q3_K_L: falcon ? Q4_K : Q5_K | Q4_K_M: falcon ? (i < n/16 ? Q6_K : use_more_bits
//       ? Q5_K : Q4_K) : (use_more_bits -> Q6_K) | Q5_K_M: use_more_bits -> Q6_K | Q4_K_S: not
//       falcon and i < n/8 -> Q5_K | Q4_0, Q5_0 with an importance matrix: i < n/8 -> Q4_1, Q5_1.
//   R6  attn_output: not falcon: with n_expert == 8, Q2_K/Q3_K_S/Q3_K_M/Q4_K_S/Q4_K_M -> Q5_K;
//       otherwise Q2_K -> Q3_K, Q3_K_M -> Q4_K, Q3_K_L -> Q5_K. falcon: Q3_K_L -> Q4_K.
//   R7  everything else (attn_q, ffn_up, ffn_gate, other 2-D weights): D.
//
// Fallback (after R0..R7, every quantized tensor): when ne0 is not a multiple of T's block,
//   Q2_K, Q3_K -> Q4_0 | Q4_K -> Q5_0 | Q5_K -> Q5_1 | Q6_K -> Q8_0 | 32-block types stay;
//   and when ne0 is not a multiple of 32 either -> F16.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/formats/gguf.h"
#include "core/model/config.h"

namespace zp::gguf {

// One preset: llama-quantize's name, the llama_ftype it mirrors (written as general.file_type)
// and its default tensor type D.
struct PresetInfo {
    std::string name;  // "Q4_K_M"
    uint32_t ftype = 0;
    TensorType default_type = TensorType::F32;
};

// Q2_K, Q3_K_S, Q3_K_M, Q3_K_L, Q4_0, Q4_1, Q4_K_S, Q4_K_M, Q5_0, Q5_1, Q5_K_S, Q5_K_M, Q6_K, Q8_0.
const std::vector<PresetInfo>& presets();
// Case-insensitive, with llama-quantize's aliases Q3_K / Q4_K / Q5_K (= the _M presets). Throws
// InvalidArgument naming the accepted names.
PresetInfo parse_preset(const std::string& name);

// A tensor of the model, as it will be named in the GGUF.
struct PresetTensor {
    std::string name;                          // "blk.3.attn_v.weight"
    std::vector<uint64_t> ne;                  // ne[0] = row length, 1..4 dims
    TensorType source_type = TensorType::F32;  // what K1-K3 tensors keep
};

// The model facts the rules read (GGUF metadata keys of architecture ARCH).
struct PresetModel {
    std::string arch;          // general.architecture: "llama", "qwen2", "gemma3", "falcon", ...
    int64_t n_layer = 0;       // ARCH.block_count (> 0)
    int64_t n_head = 0;        // ARCH.attention.head_count (of layer 0 when per layer)
    int64_t n_head_kv = -1;    // ARCH.attention.head_count_kv; < 0: absent, i.e. n_head
    int64_t n_expert = 0;      // ARCH.expert_count; 0 when absent
    bool has_imatrix = false;  // an importance matrix is given (only R5's Q4_0/Q5_0 rule reads it)
};

struct TensorChoice {
    std::string name;
    TensorType type = TensorType::F32;
    uint64_t bytes = 0;      // tensor data, unpadded
    bool quantized = false;  // false: K1-K3 kept source_type
    bool fallback = false;   // the row length forced the fallback table
    std::string rule;        // why, e.g. "R3 attn_v Q4_K_M use_more_bits(0, 30) -> Q6_K"
};

// The type llama-quantize gives each tensor, in the order of `tensors` (the tensor list is the
// whole model: counters and tied embeddings depend on it). Throws InvalidArgument for n_layer <= 0,
// duplicate names, 0 or more than 4 dims, or (n_expert > 1) an ffn tensor without a valid
// "blk.N." layer, which llama-quantize refuses too.
std::vector<TensorChoice> choose_preset_types(const PresetInfo& preset, const PresetModel& model,
                                              const std::vector<PresetTensor>& tensors);

// Bytes of a tensor of shape ne in type t (row_bytes(t, ne[0]) x the other dims).
uint64_t tensor_data_bytes(TensorType t, const std::vector<uint64_t>& ne);
// The data section of a GGUF holding these tensors: each padded to `alignment` (llama-quantize
// pads the last one too).
uint64_t preset_data_bytes(const std::vector<TensorChoice>& choices,
                           uint64_t alignment = kDefaultAlignment);

// The tensors ZeroPoint's GGUF export writes for a model of this config (token_embd, every block's
// parts under llama.cpp's names, output_norm, and output when untied) with their shapes, the norms
// and biases as F32: the list choose_preset_types needs. And the model facts it reads
// (general.architecture as the export writes it).
std::vector<PresetTensor> preset_tensors(const model::ModelConfig& config);
PresetModel preset_model(const model::ModelConfig& config, bool has_imatrix);
// "blk.3.attn_q.weight" for (3, "q_proj"); InvalidArgument for an unknown linear name.
std::string preset_linear_name(int64_t block, const std::string& hf_linear_name);

// The type a preset gives each linear layer of a model, by (block, HF linear name), and the whole
// plan: what `quantize --preset` quantizes each layer for and what `export --preset` writes.
struct PresetPlan {
    PresetInfo preset;
    std::vector<TensorChoice> tensors;  // preset_tensors' order
    const TensorChoice& linear(int64_t block, const std::string& hf_linear_name) const;
    const TensorChoice& tensor(const std::string& gguf_name) const;  // InvalidArgument if absent
};
PresetPlan plan_preset(const std::string& preset_name, const model::ModelConfig& config,
                       bool has_imatrix);

}  // namespace zp::gguf
