// One entry point for every export format, shared by `zeropoint-cli export` and the GUI's export
// dialog so that both offer the same choices and print the same warnings.
//
//   gguf         llama.cpp model (core/export/gguf_export.h)
//   imatrix      llama.cpp importance matrix from the Hessian diagonals
//   safetensors  dequantized model in HF layout (fp16 or bf16), loadable by any framework
//   packed       codes + scales + real-valued zero-points (ZeroPoint's own layout, loads back to
//   the
//                identical quantized model: core/export/safetensors_export.h)
//   gptq         GPTQ checkpoint ("gptq_v2", integer zero-points) for transformers / vLLM, with the
//                loss that rounding each zero-point adds
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/common/progress.h"
#include "core/model/model.h"
#include "core/quant/result.h"

namespace zp::exporter {

enum class Format { Gguf, Imatrix, Safetensors, Packed, Gptq };

struct FormatInfo {
    Format format;
    const char* name;         // "gguf", "imatrix", "safetensors", "packed", "gptq"
    const char* description;  // one line for --help and the dialog
    bool needs_model;         // needs the original model (full-precision tensors)
    bool needs_tokenizer;     // needs a tokenizer file
    bool writes_directory;    // the output is a directory (HF layout) rather than one file
};
const std::vector<FormatInfo>& formats();
// InvalidArgument naming the known formats for an unknown name.
const FormatInfo& format_info(const std::string& name);

struct Options {
    Format format = Format::Gguf;
    std::string out;        // file or directory (see FormatInfo::writes_directory)
    std::string tokenizer;  // gguf (required); safetensors/packed/gptq: copied when given
    std::string gguf_embedding = "f16";  // gguf: "f16" | "q8_0"
    std::string gguf_preset;             // gguf: a llama.cpp preset ("Q4_K_M"), "" = none
                                         // (gguf::ExportOptions::preset)
    std::string dtype = "f16";           // safetensors: "f16" | "bf16" | "f32"; gptq: the
                                         // non-quantized tensors, "f16" | "bf16" (scales are
                                         // always F16); packed: unused (exact F32)
    std::string name;                    // gguf general.name
    bool gptq_refit_scale = false;       // gptq: re-fit each group's fp16 scale for its integer
                                         // zero-point (io::encode_gptq); never adds loss
    ProgressFn progress;
};

struct LayerLine {  // one row of the per-layer report (gptq: zero-point rounding)
    std::string tensor;
    std::string type;         // "Q4_1", "F16", "int4", ...
    double rel_error = 0.0;   // vs the workbench's W_hat
    double added_loss = 0.0;  // sum h dW^2 vs the workbench's W_hat (comparable to diag_loss)
    double diag_loss = 0.0;   // the layer's own diag loss, for the ratio
    std::string note;
};

struct Report {
    std::string path;
    uint64_t bytes = 0;  // all files written
    std::vector<std::string> files;
    std::vector<LayerLine> layers;
    std::vector<std::string> warnings;  // one line each, naming the tensor
    std::string summary;                // a few human-readable lines (what the CLI prints)
};

// Exports qm (and, when the format needs it, the model it was made from) atomically: a single
// file through a temporary + rename, a directory through a temporary directory + rename.
// model may be null for formats that do not need it. Throws InvalidArgument (missing input, wrong
// option), IoError, FormatError; Cancelled through options.progress, leaving nothing behind.
Report export_quantized(const model::Model* model, const quant::QuantizedModel& qm,
                        const Options& options);

}  // namespace zp::exporter
