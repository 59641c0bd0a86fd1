// The evaluation the workbench shows after a run: perplexity of the original and of the quantized
// model on the same windows, and greedy text from both for one prompt.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/common/progress.h"
#include "core/eval/perplexity.h"
#include "core/model/model.h"
#include "core/quant/result.h"
#include "core/tokenizer/tokenizer.h"

namespace zp::eval {

// The evaluation windows of a file under a protocol, exactly as perplexity_of_file draws them
// (window clamped to the model's context; c4: opt.c4_windows capped by opt.max_windows).
// tokens_total: tokens in the corpus. Throws IoError, FormatError, InvalidArgument.
at::Tensor windows_of_file(const model::Model& m, const tok::Tokenizer& tok,
                           const std::string& path, PplProtocol protocol,
                           const PerplexityOptions& opt, int64_t* tokens_total = nullptr);

struct CompareOptions {
    PerplexityOptions ppl;  // window, batch, device
    std::string prompt;     // encoded with the tokenizer (BOS added where it has one)
    int64_t steps = 64;     // greedy positions, prompt included
};

struct CompareResult {
    PerplexityResult original, quantized;
    std::string prompt;
    std::string text_original, text_quantized;  // the generated continuation (prompt excluded)
};

// windows: [N, L] int64 token ids (perplexity.h's windows helpers). Evaluates the model as it is,
// then with qm applied, and restores the model's blocks before returning (also on errors and
// Cancelled). progress(done, total, stage) over both models' windows and generated tokens.
CompareResult compare_quantized(model::Model& m, const quant::QuantizedModel& qm,
                                const tok::Tokenizer& tok, const at::Tensor& windows,
                                const CompareOptions& options, const ProgressFn& progress = {});

}  // namespace zp::eval
