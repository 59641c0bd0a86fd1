// Plain C++ launchers for the CUDA kernels: raw device pointers, sizes and a stream, so that the
// .cu files compile against any libtorch (or none). All pointers are device pointers; arrays are
// row-major and contiguous. Each launcher checks launch errors and throws std::runtime_error.
#pragma once

#include <cstdint>

namespace zp::kernels::cuda {

bool device_available();

// dtype: 0 = float32, 1 = float64 (w, scale, zero, out share it).
void launch_quantize(int dtype, const void* w, const void* scale, const void* zero, int64_t rows,
                     int64_t cols, int64_t g, int bits, uint8_t* codes, void* stream);
void launch_dequantize(int dtype, const uint8_t* codes, const void* scale, const void* zero,
                       int64_t rows, int64_t cols, int64_t g, void* out, void* stream);
void launch_fake_quantize(int dtype, const void* w, const void* scale, const void* zero,
                          int64_t rows, int64_t cols, int64_t g, int bits, void* out, void* stream);

// NeUQI search over `groups` groups of n elements each: w_sorted/h_sorted [groups, n] (each group
// sorted by w ascending, h normalised to sum 1), s0 [groups]. Writes the chosen scale, offset
// (o = -z) and loss per group, and per candidate losses when cand_loss != nullptr.
// full_grid: all `grid` candidates; else `coarse` then the fine ones.
void launch_neuqi_search(const double* w_sorted, const double* h_sorted, const double* s0,
                         int64_t groups, int n, int bits, int grid, int coarse, bool full_grid,
                         double* scale_out, double* offset_out, double* loss_out, int* index_out,
                         void* stream);

// Two-stage solve for explicit candidates: scales [groups, C]; writes offset and loss [groups, C].
void launch_solve_candidates(const double* w_sorted, const double* h_sorted, int64_t groups, int n,
                             int bits, const double* scales, int C, double* offset_out,
                             double* loss_out, void* stream);

}  // namespace zp::kernels::cuda
