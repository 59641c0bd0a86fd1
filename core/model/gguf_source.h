// Internal to core/model: a llama.cpp GGUF file (architectures llama, qwen2, qwen3) as a weight
// source. The config comes from the ARCH.* metadata, the vocabulary size from the token list, and
// every tensor is dequantized to float32 when it is read (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0,
// Q5_1, Q2_K..Q6_K; core/formats/gguf_blocks.h). For arch "llama" the q/k rows (and biases) are
// permuted back from llama.cpp's interleaved RoPE pairs to HF halves.
#pragma once

#include <memory>
#include <string>

#include "core/model/weight_source.h"

namespace zp::model {

// True when the file begins with the GGUF magic (a directory or unreadable file: false).
bool is_gguf_file(const std::string& path);

// Opens and checks a GGUF model: header, metadata, every tensor's presence, shape and type
// against the metadata. Throws IoError, or FormatError naming the file and the field (metadata
// key or tensor) and the bad value.
std::unique_ptr<WeightSource> open_gguf_source(const std::string& path);

}  // namespace zp::model
