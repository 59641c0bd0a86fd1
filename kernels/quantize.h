// Uniform quantization with per-(row, group) scale and real-valued zero-point (core/MATHS.md
// 1).
//
// Shapes: w [rows, cols] float32/float64; scale, zero [rows, G] with G = ceil(cols / g) (g = group
// size; -1 or >= cols means channel-wise); codes uint8 [rows, cols]. Group j holds columns
// j*g .. min((j+1)*g, cols) - 1: when g does not divide cols the last group is shorter (GPTQ's
// rule, group = column / g). 2 <= bits <= 8. CPU, or CUDA with a CUDA build.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace zp::kernels {

// codes = clamp(round(w / s + z), 0, 2^bits - 1), round half to even, computed in w's dtype.
at::Tensor quantize(const at::Tensor& w, const at::Tensor& scale, const at::Tensor& zero, int bits,
                    int64_t group_size);

// w_hat = s * (code - z), in scale's dtype.
at::Tensor dequantize(const at::Tensor& codes, const at::Tensor& scale, const at::Tensor& zero,
                      int64_t group_size);

// dequantize(quantize(w)) in one pass, in w's dtype.
at::Tensor fake_quantize(const at::Tensor& w, const at::Tensor& scale, const at::Tensor& zero,
                         int bits, int64_t group_size);

// Per-(row, group) loss sum_i h_i (Q(w_i) - w_i)^2 [rows, groups] float64. normalize: h divided by
// its sum within each group first (the search objective); otherwise h as given.
at::Tensor group_loss(const at::Tensor& w, const at::Tensor& h, const at::Tensor& scale,
                      const at::Tensor& zero, int bits, int64_t group_size, bool normalize);

// Min-Max parameters [rows, groups] in w's dtype: s = b (max - min) / (N - 1),
// z = round(-min/s - (1 - b)(N - 1)/(2b)); a constant group gets s = 1.
void minmax_params(const at::Tensor& w, int bits, int64_t group_size, double clip,
                   at::Tensor* scale, at::Tensor* zero);

// Group size as a positive column count (-1 or anything >= cols -> cols); throws if it is 0 or
// below -1.
int64_t resolve_group_size(int64_t group_size, int64_t cols);

// Number of groups of a row: ceil(cols / g) (g resolved, > 0).
inline int64_t group_count(int64_t cols, int64_t g)
{
    return (cols + g - 1) / g;
}

// Per-(row, group) sums of x [rows, cols] (any floating dtype, any device) over groups of g columns
// (g resolved): [rows, ceil(cols / g)] in x's dtype; the last group sums its shorter tail.
at::Tensor group_sum(const at::Tensor& x, int64_t g);

// h [cols] (>= 0) as float64 normalised to sum 1 within each group of g columns (g resolved), a
// group whose sum is 0 taken as uniform 1 / (its length): the importance every search loss uses.
at::Tensor normalized_group_importance(const at::Tensor& h, int64_t g);

}  // namespace zp::kernels
