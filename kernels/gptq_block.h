// One lazy column block of GPTQ (core/MATHS.md section 5): the columns of the block quantized
// in turn with the given per-column parameters, each column's error fed back into the block's later
// columns through the upper Cholesky factor of H^-1.
//
// Shapes, all [rows, n] except U1 [n, n]: W1 the block's weights (float32 or float64, updated in
// place: column i ends as the input of its quantization), S1 / Z1 the scale and zero-point of
// each column (W1's dtype), U1 the block's diagonal block of the factor (W1's dtype, upper
// triangular; its row i right of the diagonal is what column i's error updates). Outputs: codes1
// uint8, Q1 the dequantized values (W1's dtype), Err1 the scaled errors (w - q) / U1[i][i] that the
// caller feeds to the columns after the block. Every tensor on one device; the outputs may be
// column slices of larger matrices (stride 1 along a row).
#pragma once

#include <ATen/core/Tensor.h>

namespace zp::kernels {

// CPU tensors: one pass per row (rows in parallel), no tensor allocated per column; other
// devices: gptq_block_reference. Bit for bit the reference's results.
void gptq_block(at::Tensor& W1, const at::Tensor& U1, const at::Tensor& S1, const at::Tensor& Z1,
                int bits, at::Tensor& codes1, at::Tensor& Q1, at::Tensor& Err1);

// The reference: GPTQ's loop as tensor operations per column (quantize, dequantize, the error, a
// rank-1 update of the later columns), any device.
void gptq_block_reference(at::Tensor& W1, const at::Tensor& U1, const at::Tensor& S1,
                          const at::Tensor& Z1, int bits, at::Tensor& codes1, at::Tensor& Q1,
                          at::Tensor& Err1);

}  // namespace zp::kernels
