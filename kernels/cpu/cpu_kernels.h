// CPU implementations behind kernels/quantize.h and kernels/zero_point.h (inputs already checked,
// contiguous, on the CPU).
#pragma once

#include <vector>

#include "kernels/quantize.h"
#include "kernels/zero_point.h"

namespace zp::kernels::cpu {

// h [cols] float64 normalised to sum 1 within each group of g columns, the last one possibly
// shorter (uniform where a group's sum is 0): the importance every loss of the search uses.
std::vector<double> normalized_importance(const at::Tensor& h, int64_t g);

void quantize(const at::Tensor& w, const at::Tensor& scale, const at::Tensor& zero, int bits,
              int64_t g, at::Tensor& codes);
void dequantize(const at::Tensor& codes, const at::Tensor& scale, const at::Tensor& zero, int64_t g,
                at::Tensor& out);
void fake_quantize(const at::Tensor& w, const at::Tensor& scale, const at::Tensor& zero, int bits,
                   int64_t g, at::Tensor& out);
void group_loss(const at::Tensor& w, const at::Tensor& h, const at::Tensor& scale,
                const at::Tensor& zero, int bits, int64_t g, bool normalize, at::Tensor& out);
void minmax_params(const at::Tensor& w, int bits, int64_t g, double clip, at::Tensor& scale,
                   at::Tensor& zero);

// One GPTQ column block (kernels/gptq_block.h); every tensor has stride 1 along a row.
void gptq_block(at::Tensor& W1, const at::Tensor& U1, const at::Tensor& S1, const at::Tensor& Z1,
                int bits, at::Tensor& codes1, at::Tensor& Q1, at::Tensor& Err1);

// The searches take a g that divides cols (the dispatchers in zero_point.cpp split off a short
// last group); the functions above also take a short last group.
ZeroPointSolve solve_zero_point(const at::Tensor& w, const at::Tensor& h, const at::Tensor& scales,
                                int bits, int64_t g);
SearchResult neuqi_search(const at::Tensor& w, const at::Tensor& h, const SearchConfig& config,
                          int64_t g);
SearchResult neuqi_int_search(const at::Tensor& w, const at::Tensor& h, int bits, int64_t g,
                              int grid);

}  // namespace zp::kernels::cpu
