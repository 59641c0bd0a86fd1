// Whole models to GGUF (llama.cpp): a Model (its float weights), the QuantizedModel the pipeline
// made of it, and its tokenizer -> one .gguf with architecture and tokenizer metadata; and the
// QuantizedModel's Hessian diagonals -> a llama.cpp importance-matrix GGUF.
// core/formats/LAYOUTS.md.
//
// Linear layers: the workbench's real zero-point quantizer maps exactly onto Q4_1 (2-4 bits) and
// Q5_1 (5 bits) with fp16 (d, m) (core/formats/gguf_blocks.h); 6-8 bits become Q8_0, a symmetric
// re-quantization whose added error is reported. A group size that does not divide the row gives
// a shorter last group; it maps onto blocks as well when it is a whole number of 32-wide blocks
// (576 in groups of 128: 4 x 128 + 64, each block with its group's (d, m)). A layer whose row
// length or group size is not a multiple of 32 (so its last group is not whole blocks either:
// 172 in groups of 64 ends in 44 columns) is written F16, with a warning naming the tensor and
// the reason. Layers the QuantizedModel does not
// hold (or holds as skipped) are written F16 from the model's weights. Norms and biases stay F32;
// the embedding and output matrix are F16 or Q8_0. For arch "llama" q/k rows are permuted from HF
// halves to interleaved pairs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/common/progress.h"
#include "core/formats/gguf.h"
#include "core/model/model.h"
#include "core/quant/gguf_presets.h"
#include "core/quant/result.h"

namespace zp::gguf {

// "blk.3.attn_q.weight" for (3, "q_proj"); InvalidArgument for an unknown linear name.
std::string linear_tensor_name(int64_t block, const std::string& hf_linear_name);

// How one quantized layer is stored in a GGUF: its block type and the float32 [out, in] weights
// the file dequantizes to (HF orientation, before any llama q/k permutation), exactly.
struct LinearEncoding {
    TensorType type = TensorType::F16;
    at::Tensor w_hat;           // what llama.cpp / gguf-py dequantize the tensor to
    std::vector<uint8_t> data;  // the tensor's bytes (HF row order; the exporter permutes)
    int64_t codes_changed = 0;  // Q4_1/Q5_1: codes that differ from layer.codes after the fp16 snap
    double rel_error = 0.0;     // ||w_hat - W_hat_workbench||_F / ||W_hat_workbench||_F
    double added_loss = 0.0;    // sum_rows sum_i h_i (w_hat - W_hat_workbench)^2, h = hessian_diag
                                // un-normalised (ones if absent): comparable to layer.diag_loss
    std::string note;           // why F16, or "re-quantized to Q8_0"; empty when exact mapping
};
// The encoding the exporter uses for a layer (channel-wise and grouped alike). Use w_hat with
// Model::set_linear to evaluate exactly what the file holds.
LinearEncoding encode_linear(const quant::LayerResult& layer);
// Puts into `m` what `export --format gguf` writes for a session: every quantized linear as the
// file holds it (a preset layer's own bytes; else encode_linear's w_hat) and the session's trained
// float parts (a distilled session's norms), so that the model computes what the exported file
// computes (`generate --weights gguf`). Activation quantization and transforms are not applied: a
// GGUF file has none.
void install_gguf_weights(model::Model& m, const quant::QuantizedModel& qm);

struct ExportOptions {
    TensorType embedding_type = TensorType::F16;  // token_embd and output: F16 or Q8_0
    std::string name;                             // general.name ("" = the model file's stem)
    // A llama.cpp preset ("Q4_K_M"; "" = none): every tensor gets the type llama-quantize gives it
    // (core/quant/gguf_presets.h), so the file has llama-quantize's layout and size. Quantized
    // layers must come from `quantize --preset` of the same name (InvalidArgument otherwise);
    // tensors no layer holds (the embedding, unquantized linears, or every tensor when qm is null)
    // are quantized data-free on their type's grid. embedding_type does not apply.
    std::string preset;
    ProgressFn progress;
};

struct TensorSummary {
    std::string name;
    TensorType type = TensorType::F32;
    std::vector<uint64_t> ne;
    int64_t codes_changed = 0;
    double rel_error = 0.0;
    double added_loss = 0.0;  // see LinearEncoding::added_loss
    std::string note;
};

struct ExportReport {
    std::string path;
    uint64_t file_bytes = 0;
    uint32_t file_type = 0;              // general.file_type written
    std::vector<TensorSummary> tensors;  // in file order
    std::vector<std::string> warnings;   // one line each, naming the tensor
};

// Adds the tokenizer.ggml.* metadata of a tokenizer file (llama2.c tokenizer.bin, SentencePiece
// .model, HF tokenizer.json, or a directory holding one) for a model of model_vocab ids (fewer
// tokenizer ids are padded with [PAD<i>] user-defined tokens; more is a FormatError). A GGUF file
// (recognised by its magic) gives its own tokenizer.ggml.* metadata unchanged; its token count
// must equal model_vocab (FormatError). Returns warnings (e.g. approximations).
std::vector<std::string> add_tokenizer_metadata(Writer& w, const std::string& tokenizer_path,
                                                int64_t model_vocab);

// The plan export_model follows for a preset: llama-quantize's types for this model (with an
// importance matrix when qm is calibrated), the linears a size budget (quantize --bpw) chose
// replaced by the session's types. InvalidArgument naming the layer when a quantized layer of qm
// was made without the preset or for another type.
PresetPlan resolve_preset_plan(const model::ModelConfig& config, const quant::QuantizedModel* qm,
                               const std::string& preset);

// What a preset export would write, before writing it (the export dialog's table): every tensor
// with its type and bytes, and for the session's layers their loss; the tensor-data bytes of the
// file (the file adds its metadata). error: why the export would be refused ("" when it would not).
struct PresetPreview {
    struct Row {
        std::string name;
        TensorType type = TensorType::F32;
        uint64_t bytes = 0;
        double loss = -1.0, loss_minmax = -1.0;  // sum h dW^2 of a session layer; -1 otherwise
        bool from_session = false;
        std::string rule;
    };
    std::string preset;
    std::vector<Row> rows;
    uint64_t data_bytes = 0;
    std::string error;
};
PresetPreview preview_preset(const model::ModelConfig& config, const quant::QuantizedModel* qm,
                             const std::string& preset);

// Writes model + qm + tokenizer to out_path atomically. qm may be null (an F16 model).
// Throws IoError / FormatError / InvalidArgument; Cancelled through options.progress.
ExportReport export_model(const model::Model& model, const quant::QuantizedModel* qm,
                          const std::string& tokenizer_path, const std::string& out_path,
                          const ExportOptions& options = {});

// The importance matrix: for every layer with a Hessian diagonal, F32 tensors
// "<weight>.in_sum2" (ne [in, 1]: diag * count) and "<weight>.counts" (ne [1, 1]: count, the
// calibration tokens or 1 when data-free); general.type "imatrix", imatrix.datasets,
// imatrix.chunk_count, imatrix.chunk_size. Atomic. Throws InvalidArgument if no layer has one.
ExportReport export_imatrix(const quant::QuantizedModel& qm, const std::string& out_path);

}  // namespace zp::gguf
