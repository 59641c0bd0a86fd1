// Evaluation and calibration corpora: WikiText-2 raw text, JSON-lines documents (C4), and the
// token windows cut or drawn from them (core/MATHS.md section 6). Used by
// core/data/calibration and core/eval/perplexity.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/tokenizer/tokenizer.h"

namespace zp::data {

// Text of a WikiText-2 raw file in the usual protocol form (rows joined with "\n\n").
std::string load_wikitext2(const std::string& path);
// The "text" field of every line of a JSON-lines file. FormatError naming the file and line.
std::vector<std::string> load_jsonl_texts(const std::string& path);

// Cuts a token stream into floor(T / L) windows [N, L] (at most max_windows when > 0).
at::Tensor contiguous_windows(const std::vector<int32_t>& tokens, int64_t window,
                              int64_t max_windows = 0);
// Draws `count` windows of L tokens from documents of more than L tokens (GPTQ's C4 protocol).
// InvalidArgument if no document is long enough.
at::Tensor random_windows(const std::vector<std::string>& docs, const tok::Tokenizer& tok,
                          int64_t window, int64_t count, uint64_t seed,
                          int64_t* tokens_total = nullptr);

}  // namespace zp::data
