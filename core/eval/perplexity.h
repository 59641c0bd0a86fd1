// Perplexity as in GPTQ / NeUQI (core/MATHS.md section 6): non-overlapping windows of L
// tokens, no BOS per window, the first token of each window not predicted, PPL = exp(sum NLL /
// (windows * (L - 1))), NLL accumulated in float64.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/common/progress.h"
#include "core/model/model.h"
#include "core/tokenizer/tokenizer.h"

namespace zp::eval {

enum class PplProtocol {
    wikitext2,  // raw test split: CRLF -> LF, non-empty rows joined with "\n\n", windows in order
    c4,         // JSON lines {"text": ...}: `c4_windows` random windows from documents, seeded
    plain,      // any text file, tokenized whole, windows in order
};

// "wikitext2", "c4", "text"; InvalidArgument for anything else.
PplProtocol parse_protocol(const std::string& name);
// By file name: *.jsonl -> c4, *.raw or a name containing "wiki" -> wikitext2, else plain.
PplProtocol guess_protocol(const std::string& path);

struct PerplexityOptions {
    int64_t window = 2048;     // L in tokens; clamped to the model's context length
    int64_t max_windows = 0;   // 0: every window (wikitext2/plain); caps the count otherwise
    int64_t c4_windows = 256;  // windows drawn for the c4 protocol
    uint64_t seed = 0;         // c4 document/offset draws (std::mt19937_64)
    int64_t batch = 1;         // windows per forward pass
    at::Device device = at::kCPU;
    at::ScalarType dtype = at::kFloat;
};

struct PerplexityResult {
    double perplexity = 0.0;
    double nll_sum = 0.0;  // nats, float64
    int64_t windows = 0;
    int64_t window = 0;         // L actually used
    int64_t tokens_scored = 0;  // windows * (L - 1)
    int64_t tokens_total = 0;   // tokens in the corpus (c4: in the documents tokenized)
};

// Mean NLL over windows [N, L] of token ids (int64): each window predicts its tokens 1..L-1.
// progress(done windows, total windows, stage); false cancels (throws Cancelled).
PerplexityResult perplexity_of_windows(const model::Model& m, const at::Tensor& windows,
                                       const PerplexityOptions& opt = {},
                                       const ProgressFn& progress = {});

// The whole protocol on a file: load, tokenize (no BOS), window, evaluate.
PerplexityResult perplexity_of_file(const model::Model& m, const tok::Tokenizer& tok,
                                    const std::string& path, PplProtocol protocol,
                                    const PerplexityOptions& opt = {},
                                    const ProgressFn& progress = {});

}  // namespace zp::eval
