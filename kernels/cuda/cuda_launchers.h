// Plain C++ launchers for the CUDA kernels: raw device pointers, sizes and a stream, so that the
// .cu files compile against any libtorch (or none). All pointers are device pointers; arrays are
// row-major and contiguous. Each launcher checks launch errors and throws std::runtime_error.
#pragma once

#include <cstdint>

namespace zp::kernels::cuda {

bool device_available();
// Memory of CUDA device `device` as the driver reports it (cudaMemGetInfo: every process's
// allocations and contexts, torch's cached blocks included). False where it cannot be read.
bool device_memory(int device, int64_t* used_bytes, int64_t* total_bytes);

// dtype: 0 = float32, 1 = float64 (w, scale, zero, out share it).
// Min-Max scale and zero per (row, group) of w [rows, cols] (the last group may be shorter).
void launch_minmax_params(int dtype, const void* w, int64_t rows, int64_t cols, int64_t g, int bits,
                          double clip, void* scale, void* zero, void* stream);
void launch_quantize(int dtype, const void* w, const void* scale, const void* zero, int64_t rows,
                     int64_t cols, int64_t g, int bits, uint8_t* codes, void* stream);
void launch_dequantize(int dtype, const uint8_t* codes, const void* scale, const void* zero,
                       int64_t rows, int64_t cols, int64_t g, void* out, void* stream);
void launch_fake_quantize(int dtype, const void* w, const void* scale, const void* zero,
                          int64_t rows, int64_t cols, int64_t g, int bits, void* out, void* stream);

// Scratch for the two launchers below, in bytes, for `candidates` solves per group at once
// (launch_neuqi_search: neuqi_candidates(...); launch_solve_candidates: C). The caller allocates it
// on the device (torch's caching allocator: no cudaMalloc per call) and keeps it alive until the
// stream has run the launch. 8-byte aligned.
int64_t neuqi_workspace_bytes(int64_t groups, int n, int candidates);
// The most candidates launch_neuqi_search solves at once per group.
int neuqi_candidates(int grid, int coarse, bool full_grid);

// NeUQI search over `groups` groups of n elements each: w_sorted/h_sorted [groups, n] (each group
// sorted by w ascending, h normalised to sum 1), s0 [groups]. Writes the chosen scale, offset
// (o = -z), loss and grid index per group. full_grid: all `grid` candidates; else `coarse` then
// the fine ones. Asynchronous on `stream`.
void launch_neuqi_search(const double* w_sorted, const double* h_sorted, const double* s0,
                         int64_t groups, int n, int bits, int grid, int coarse, bool full_grid,
                         double* scale_out, double* offset_out, double* loss_out, int* index_out,
                         void* workspace, void* stream);

// Two-stage solve for explicit candidates: scales [groups, C]; writes offset and loss [groups, C].
// Asynchronous on `stream`.
void launch_solve_candidates(const double* w_sorted, const double* h_sorted, int64_t groups, int n,
                             int bits, const double* scales, int C, double* offset_out,
                             double* loss_out, void* workspace, void* stream);

}  // namespace zp::kernels::cuda
