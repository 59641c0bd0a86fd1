// Writers for the ggml block types the workbench reads but did not write from parameters: Q4_0,
// Q5_0, Q8_0 and the K-quants Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (llama.cpp's ggml-common.h layouts,
// the Block* structs of gguf_blocks.h).
//
// They take integer parameters a quantizer has ALREADY chosen (fp16 super-scales as their bits,
// sub-block scales and minimums and the codes as small integers) and only lay them out in
// llama.cpp's bytes: choosing them is the quantizer's job, so that its choice -- not a second,
// hidden rounding here -- is what the file holds. Every representable block is reachable, and every
// parameter set maps to exactly one byte pattern, so pack and unpack are inverses.
//
// Each P below names one block type: P::kType, P::kElements (elements per block), P::Code (the
// integer type of its codes). Element i of a block belongs to sub-block i / 16 (Q2_K, Q3_K, Q6_K)
// or i / 32 (Q4_K, Q5_K), in the order the values come out of llama.cpp's dequantizer.
#pragma once

#include <cstdint>
#include <vector>

#include "core/formats/gguf.h"

namespace zp::gguf {

struct ParamsQ4_0 {  // x = d * (q - 8), q in 0..15
    static constexpr TensorType kType = TensorType::Q4_0;
    static constexpr int64_t kElements = 32;
    using Code = uint8_t;
    uint16_t d = 0;  // fp16 bits
};
struct ParamsQ5_0 {  // x = d * (q - 16), q in 0..31
    static constexpr TensorType kType = TensorType::Q5_0;
    static constexpr int64_t kElements = 32;
    using Code = uint8_t;
    uint16_t d = 0;
};
struct ParamsQ8_0 {  // x = d * q, q in -127..127
    static constexpr TensorType kType = TensorType::Q8_0;
    static constexpr int64_t kElements = 32;
    using Code = int8_t;
    uint16_t d = 0;
};
struct ParamsQ2_K {  // x = (d * sc) * q - dmin * m, q in 0..3, 16 sub-blocks of 16
    static constexpr TensorType kType = TensorType::Q2_K;
    static constexpr int64_t kElements = 256;
    using Code = uint8_t;
    uint16_t d = 0, dmin = 0;  // fp16 bits
    uint8_t sc[16] = {};       // 0..15
    uint8_t m[16] = {};        // 0..15
};
struct ParamsQ3_K {  // x = (d * sc) * q, q in -4..3, 16 sub-blocks of 16
    static constexpr TensorType kType = TensorType::Q3_K;
    static constexpr int64_t kElements = 256;
    using Code = int8_t;
    uint16_t d = 0;
    int8_t sc[16] = {};  // -32..31 (stored + 32 in 6 bits)
};
struct ParamsQ4_K {  // x = (d * sc) * q - dmin * m, q in 0..15, 8 sub-blocks of 32
    static constexpr TensorType kType = TensorType::Q4_K;
    static constexpr int64_t kElements = 256;
    using Code = uint8_t;
    uint16_t d = 0, dmin = 0;
    uint8_t sc[8] = {};  // 0..63
    uint8_t m[8] = {};   // 0..63
};
struct ParamsQ5_K {  // as Q4_K with q in 0..31
    static constexpr TensorType kType = TensorType::Q5_K;
    static constexpr int64_t kElements = 256;
    using Code = uint8_t;
    uint16_t d = 0, dmin = 0;
    uint8_t sc[8] = {};
    uint8_t m[8] = {};
};
struct ParamsQ6_K {  // x = (d * sc) * q, q in -32..31, 16 sub-blocks of 16
    static constexpr TensorType kType = TensorType::Q6_K;
    static constexpr int64_t kElements = 256;
    using Code = int8_t;
    uint16_t d = 0;
    int8_t sc[16] = {};  // any int8
};

// The functions below exist for exactly the eight P above. n elements are n / P::kElements blocks,
// block b with params[b] and codes[b * P::kElements ..]; a row-major [rows, cols] tensor whose cols
// are whole blocks is one "row" of rows * cols. They throw InvalidArgument naming the type, the
// block and the field on: a code, scale or minimum outside its range, a non-finite d or dmin, or n
// not a whole number of blocks.

// Writes the row_bytes(P::kType, n) bytes of llama.cpp's layout to dst.
template <class P>
void pack_row(const P* params, const typename P::Code* codes, int64_t n, uint8_t* dst);
// The same bytes, returned.
template <class P>
std::vector<uint8_t> pack_row(const P* params, const typename P::Code* codes, int64_t n);
// The float32 values llama.cpp's dequantize_row_* reads from those bytes, computed from the
// parameters in its order of operations (what the file will dequantize to, bit for bit).
template <class P>
void row_values(const P* params, const typename P::Code* codes, int64_t n, float* dst);
// The inverse of pack_row: parameters and codes of row_bytes(P::kType, n) bytes. Decodes any byte
// pattern (pack_row would refuse a non-finite d, or a Q8_0 code of -128, from a foreign file).
template <class P>
void unpack_row(const uint8_t* src, int64_t n, P* params, typename P::Code* codes);

}  // namespace zp::gguf
