// Calibration sets for the sequential pipeline (core/MATHS.md section 6): N sequences of L
// tokens drawn with a fixed seed from a plain text file, a JSON-lines file ({"text": ...} per line,
// C4 style: a random window of a random document longer than L tokens) or a file of token ids.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/tokenizer/tokenizer.h"

namespace zp::data {

enum class CalibrationFormat {
    Auto,      // by file name: *.jsonl -> Jsonl, *.ids / *.tokens -> TokenIds, else Text
    Text,      // any text file, tokenized whole (no BOS); windows start at random offsets
    Jsonl,     // one {"text": ...} per line; each window from a random document longer than L
    TokenIds,  // whitespace-separated decimal token ids (one stream); random windows
};

// "auto", "text", "jsonl", "ids"; InvalidArgument for anything else.
CalibrationFormat parse_calibration_format(const std::string& name);
// The format Auto resolves to for this path.
CalibrationFormat guess_calibration_format(const std::string& path);

struct CalibrationOptions {
    std::string path;
    CalibrationFormat format = CalibrationFormat::Auto;
    int64_t nsamples = 128;  // N
    int64_t seqlen = 2048;   // L
    uint64_t seed = 0;       // std::mt19937_64
};

struct CalibrationSet {
    at::Tensor ids;                                      // [N, L] int64 CPU
    std::string source;                                  // the file
    CalibrationFormat format = CalibrationFormat::Text;  // resolved
    int64_t tokens_available = 0;  // tokens in the stream (text/ids) or in the documents tokenized
};

// Draws the set. The tokenizer is needed for Text and Jsonl (may be null for TokenIds).
// Throws IoError (unreadable file), FormatError (bad JSON line, bad id), InvalidArgument (N or L
// < 1, text too short: the message names the file, N, L and the tokens available; an id outside
// the vocabulary when vocab_size > 0).
CalibrationSet load_calibration(const CalibrationOptions& options, const tok::Tokenizer* tok,
                                int64_t vocab_size = 0);

// N random windows of L tokens from one token stream (starts uniform in 0..T-L, seeded).
// `what` names the source in the error when T < L.
at::Tensor random_token_windows(const std::vector<int32_t>& tokens, int64_t nsamples,
                                int64_t seqlen, uint64_t seed, const std::string& what);

}  // namespace zp::data
