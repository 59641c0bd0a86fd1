// A loaded decoder-only LLM: its config and its weights in the Hugging Face layout, read from disk
// one decoder block at a time (memory-mapped HF safetensors, single or sharded, or a llama2.c
// checkpoint whose q/k rows are permuted to HF's rotate_half convention on read).
// Weights handed out are float32 CPU tensors; Linear weights are [out_features, in_features].
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/formats/gguf.h"

#include "core/common/progress.h"
#include "core/model/architecture.h"
#include "core/model/config.h"

namespace zp::model {

// Rewrites of the activations inside a block's forward, for activation quantization and online
// rotations (RUQuant; core/quant builds them). linear_input(block, name, x) rewrites the input
// of a linear group of decoder block `block` before its matmul: "q_proj" (q, k, v), "o_proj",
// "gate_proj" (gate, up), "down_proj"; x is [B, T, in]. attention(block, which, t) rewrites Q
// and K after RoPE ("q", "k") and V ("v"), t [B, heads, T, head_dim], before the KV cache. Either
// may be empty (identity). A Model carries them, so evaluation, generation and calibration all run
// the same forward.
struct ActivationHooks {
    std::function<at::Tensor(int64_t block, const std::string& name, const at::Tensor& x)>
        linear_input;
    std::function<at::Tensor(int64_t block, const std::string& which, const at::Tensor& t)>
        attention;
};

class WeightSource;  // internal: where the bytes come from (core/model/weight_source.h)

class Model {
public:
    // Opens a model: a directory with config.json + model.safetensors or
    // model.safetensors.index.json (shards), a ZeroPoint packed checkpoint (its quantized
    // linears read as W_hat; core/model/packed_source.h), a .json or .safetensors file inside
    // such a directory, or a llama2.c checkpoint (any other file). Reads headers only and checks
    // that every tensor exists with the shape the config implies. Throws IoError / FormatError
    // naming the file.
    static std::unique_ptr<Model> open(const std::string& path);
    explicit Model(std::unique_ptr<WeightSource> source);
    ~Model();
    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;

    const ModelConfig& config() const;
    const std::string& path() const;    // what open() was given
    const std::string& format() const;  // "hf" or "llama2c"

    // Block i (0-based) as float32 CPU tensors owned by the caller: the replaced weights if set,
    // else read from disk now (memory: one block). Thread-safe.
    BlockWeights block(int64_t i) const;
    // Replaces block i (e.g. with quantized-dequantized weights); shapes are checked
    // (InvalidArgument). Stored as float32 CPU. Later block(i), forward passes and exports use it.
    void set_block(int64_t i, const BlockWeights& w);
    // Replaces one linear weight ("q_proj"...) of block i; shape checked.
    void set_linear(int64_t i, const std::string& name, const at::Tensor& weight);
    // Replaces one linear weight of block i by its quantized form: codes [out, in] uint8 and
    // scale, zero [out, ceil(in / group_size)] (float32), W_hat = scale * (code - zero) per group
    // (group = column / group_size; the last group is shorter when group_size does not divide in).
    // Kept as given (the tensors are shared, not copied: one byte per weight instead of four for
    // a float32 W_hat) and dequantized whenever block(i) is read. Shapes checked (InvalidArgument).
    // A later set_block(i) replaces it.
    void set_quantized_linear(int64_t i, const std::string& name, const at::Tensor& codes,
                              const at::Tensor& scale, const at::Tensor& zero, int64_t group_size);
    // Replaces one linear weight of block i by a GGUF tensor's bytes (HF row order) of a block
    // type gguf::dequantize reads (Q4_K, Q6_K, ...: a K-quant preset's layer), kept as given and
    // dequantized with llama.cpp's arithmetic whenever block(i) is read, so the model computes
    // exactly what the file holds. Size checked against the shape (InvalidArgument).
    void set_encoded_linear(int64_t i, const std::string& name, gguf::TensorType type,
                            const at::Tensor& bytes);
    // Replaces one float part of block i that is not a linear weight (an RMSNorm gain, a bias:
    // BlockPart::name, e.g. "input_layernorm.weight"), kept over whatever the block holds (also
    // over quantized linears) until set_block / reset_block; shape checked (InvalidArgument).
    void set_block_part(int64_t i, const std::string& part, const at::Tensor& value);
    // Replaces the final RMSNorm gain [hidden] (InvalidArgument on a wrong shape).
    void set_final_norm(const at::Tensor& value);
    bool is_replaced(int64_t i) const;
    void reset_block(int64_t i);  // back to the weights on disk

    // The activation rewrites every forward of this model applies (null: none).
    void set_activation_hooks(std::shared_ptr<const ActivationHooks> hooks);
    const ActivationHooks* activation_hooks() const;

    // Keep every block read from disk in memory (faster repeated passes; memory: whole model).
    void set_keep_blocks(bool keep);

    const at::Tensor& embed_tokens() const;  // [vocab, hidden] float32 CPU (loaded on first use)
    const at::Tensor& final_norm() const;    // [hidden]
    const at::Tensor& lm_head() const;       // [vocab, hidden]; the embedding when tied
    // Reads the embedding, final norm and (untied) head once, refusing NaN/Inf in them
    // (NumericError naming the tensor), without keeping them: for jobs that never use them (a
    // data-free quantization) but whose output would be garbage with them.
    void check_outer_tensors() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace zp::model
