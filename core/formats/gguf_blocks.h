// GGUF/ggml block formats (core/formats/LAYOUTS.md, llama.cpp's ggml-common.h): the workbench
// writes Q8_0, Q4_1, Q5_1 and the float types F32, F16, BF16, and reads those plus Q4_0, Q5_0 and
// the K-quants Q2_K..Q6_K. Blocks run along a row (ne[0]); a block holds 32 elements, a K-quant
// super-block 256.
//
// The workbench's quantizer has a real-valued zero-point per (row, group): W_hat = s (code - z).
// That maps exactly onto Q4_1/Q5_1 (x = q d + m) with d = s, m = -s z; d and m are rounded to fp16
// first and the codes computed with the rounded values, so the file dequantizes to exactly the
// tensor snap_affine returns (w_hat), which is what the workbench then evaluates.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/formats/gguf.h"

namespace zp::gguf {

constexpr int64_t kBlock = 32;

struct BlockQ8_0 {
    uint16_t d;     // fp16 scale
    int8_t qs[32];  // x = d * q
};
struct BlockQ4_1 {
    uint16_t d, m;   // fp16 scale and minimum
    uint8_t qs[16];  // element j in the low nibble of byte j, element j + 16 in the high nibble
};
struct BlockQ5_1 {
    uint16_t d, m;
    uint8_t qh[4];   // bit j of this little-endian u32 = 5th bit of element j
    uint8_t qs[16];  // low 4 bits, packed as in Q4_1
};
struct BlockQ4_0 {
    uint16_t d;      // x = (nibble - 8) * d
    uint8_t qs[16];  // packed as in Q4_1
};
struct BlockQ5_0 {
    uint16_t d;     // x = (q - 16) * d, q the 5-bit code
    uint8_t qh[4];  // as in Q5_1
    uint8_t qs[16];
};
// K-quants: a super-block of 256 elements with fp16 super-scales and sub-block scales.
constexpr int64_t kSuperBlock = 256;
struct BlockQ2_K {       // 16 sub-blocks of 16: x = d * sc * q - dmin * m, q in 0..3
    uint8_t scales[16];  // low nibble sc, high nibble m, per sub-block
    uint8_t qs[64];      // 2-bit codes
    uint16_t d, dmin;
};
struct BlockQ3_K {       // 16 sub-blocks of 16: x = d * (sc - 32) * (q - 4 * !hbit), q in 0..3
    uint8_t hmask[32];   // the third bit
    uint8_t qs[64];      // low 2 bits
    uint8_t scales[12];  // 16 scales of 6 bits
    uint16_t d;
};
struct BlockQ4_K {  // 8 sub-blocks of 32: x = d * sc * q - dmin * m, q in 0..15
    uint16_t d, dmin;
    uint8_t scales[12];  // 8 (sc, m) pairs of 6 bits
    uint8_t qs[128];
};
struct BlockQ5_K {  // as Q4_K with a fifth bit per element
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[32];
    uint8_t qs[128];
};
struct BlockQ6_K {      // 16 sub-blocks of 16: x = d * sc * (q - 32), q in 0..63
    uint8_t ql[128];    // low 4 bits
    uint8_t qh[64];     // high 2 bits
    int8_t scales[16];  // 8-bit signed sub-block scales
    uint16_t d;
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block is 34 bytes");
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block is 18 bytes");
static_assert(sizeof(BlockQ5_0) == 22, "Q5_0 block is 22 bytes");
static_assert(sizeof(BlockQ2_K) == 84, "Q2_K block is 84 bytes");
static_assert(sizeof(BlockQ3_K) == 110, "Q3_K block is 110 bytes");
static_assert(sizeof(BlockQ4_K) == 144, "Q4_K block is 144 bytes");
static_assert(sizeof(BlockQ5_K) == 176, "Q5_K block is 176 bytes");
static_assert(sizeof(BlockQ6_K) == 210, "Q6_K block is 210 bytes");
static_assert(sizeof(BlockQ4_1) == 20, "Q4_1 block is 20 bytes");
static_assert(sizeof(BlockQ5_1) == 24, "Q5_1 block is 24 bytes");

// IEEE half / bfloat16 bits of a float (round to nearest even) and back.
uint16_t fp16_bits(float x);
float fp16_value(uint16_t bits);

// The GGUF block type a real zero-point quantizer of `bits` exports to: 2..4 -> Q4_1, 5 -> Q5_1,
// 6..8 -> Q8_0 (symmetric: a re-quantization that adds loss).
TensorType affine_type_for_bits(int bits);
// True when a [rows, cols] weight with this group size can be stored as 32-element blocks that
// carry the group's (d, m): cols % 32 == 0 and group % 32 == 0 (group resolved, -1 = cols). The
// group need not divide cols: a shorter last group (cols % group, then a multiple of 32 too) is
// whole blocks as well, each repeating that group's (d, m).
bool blocks_fit(int64_t cols, int64_t group_size);

// A real zero-point quantizer snapped to fp16 parameters (see the top of this file).
struct AffineBlocks {
    int bits = 4;
    int64_t group_size = 0;  // resolved
    at::Tensor d, m;         // [rows, groups] float32, each exactly an fp16 value
    at::Tensor codes;        // [rows, cols] uint8 in 0..2^bits-1
    at::Tensor w_hat;        // [rows, cols] float32 = codes * d + m (float32 multiply, then add)
};
// w: [rows, cols] the weights to encode (normally the workbench's W_hat); scale, zero: [rows,
// ceil(cols / group)] (the last group shorter when group does not divide cols). d = fp16(s), m =
// fp16(-s z), code = clamp(round_half_even((w - m) / d), 0, 2^bits - 1) (d == 0: code 0). CPU.
// Throws InvalidArgument on bad shapes, NumericError on non-finite d, m.
AffineBlocks snap_affine(const at::Tensor& w, const at::Tensor& scale, const at::Tensor& zero,
                         int bits, int64_t group_size);
// Packs into Q4_1 (bits <= 4) or Q5_1 (bits == 5) blocks; needs blocks_fit. Row-major blocks.
std::vector<uint8_t> pack_affine(const AffineBlocks& a, TensorType type);

// Q8_0 of float rows [rows, cols] (cols % 32 == 0): per block d = fp16(max|x| / 127),
// q = clamp(round(x / d), -127, 127) with the rounded d. w_hat (optional) receives q * d.
std::vector<uint8_t> quantize_q8_0(const at::Tensor& w, at::Tensor* w_hat = nullptr);

// F32 / F16 / BF16 bytes of a float tensor (row-major, any shape).
std::vector<uint8_t> encode_float(const at::Tensor& w, TensorType type);

// True for the types dequantize reads: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K,
// Q4_K, Q5_K, Q6_K.
bool can_dequantize(TensorType type);
// One row of n elements (a whole number of blocks) from src to float32 dst; the arithmetic is
// llama.cpp's (float32 sub-block scale, times the code, then the minimum). InvalidArgument on an
// unreadable type or a partial block. src must hold row_bytes(type, n) bytes.
void dequantize_row(const uint8_t* src, TensorType type, int64_t n, float* dst);
// Any type of can_dequantize back to float32 [rows, cols] (CPU; rows in parallel). Throws
// InvalidArgument on other types or when size is not what [rows, cols] of the type needs.
at::Tensor dequantize(const uint8_t* data, uint64_t size, TensorType type, int64_t rows,
                      int64_t cols);
at::Tensor dequantize(const std::vector<uint8_t>& data, TensorType type, int64_t rows,
                      int64_t cols);

}  // namespace zp::gguf
