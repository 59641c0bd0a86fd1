// NeUQI zero-point and scale search (core/MATHS.md sections 3-4) and NeUQI-int.
//
// Shapes: w [rows, cols] float32 or float64, on CPU (or CUDA with a CUDA build); h [cols]
// importance
// >= 0 (any floating dtype, same device). Groups are g consecutive columns of a row (g = cols is
// channel-wise), so parameters are [rows, ceil(cols / g)]; when g does not divide cols the last
// group holds the remaining cols % g columns and is searched like any other. Within each group h is
// normalised to sum 1 (a group whose importance sums to 0 is treated as uniform), and every loss
// below is sum_i h_i (Q(w_i) - w_i)^2 with that normalised h: a weighted mean squared error.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace zp::kernels {

enum class ZeroPointSolver {
    TwoStage,    // NeUQI's surrogate + exact window (the fast path)
    FullSweep,   // exact sweep over all n(N-1) break points (reference, CPU only)
    BruteForce,  // dense grid over the offset (reference for the tests, CPU only)
};

struct ZeroPointSolve {
    at::Tensor zero;  // [rows, groups, C] float64: the optimal real zero-point at each scale
    at::Tensor loss;  // [rows, groups, C] float64: the loss at (scale, zero)
};

// For each (row, group) and each of its C candidate scales (scales [rows, groups, C], > 0), the
// zero-point that minimises the loss. brute_points: grid size of BruteForce.
ZeroPointSolve solve_zero_point(const at::Tensor& w, const at::Tensor& h, const at::Tensor& scales,
                                int bits, int64_t group_size,
                                ZeroPointSolver solver = ZeroPointSolver::TwoStage,
                                int64_t brute_points = 200001);

struct SearchConfig {
    int bits = 2;
    int64_t group_size = -1;  // -1: channel-wise
    int grid = 2048;          // T: candidates are s0 * i / T
    int coarse = 64;          // coarse candidates s0 * k / coarse, then the T/coarse - 1 fine ones
    bool full_grid = false;   // all T candidates instead of coarse-to-fine
};

struct SearchResult {
    at::Tensor scale;  // [rows, groups], dtype of w
    at::Tensor zero;   // [rows, groups], dtype of w
    at::Tensor loss;   // [rows, groups] float64, recomputed exactly from the stored (scale, zero)
    at::Tensor
        minmax_loss;   // [rows, groups] float64, Min-Max's loss on the same group, same evaluator
    at::Tensor index;  // [rows, groups] int32: chosen grid index i (s = s0 i / T); 0 = Min-Max kept
};

// NeUQI: coarse-to-fine (or full grid) scale search with the two-stage zero-point solver. The
// Min-Max point (s0, round(-min/s0)) is a candidate of the search, so loss <= minmax_loss holds on
// every group, exactly (both are evaluated by the same function on the stored values).
SearchResult neuqi_search(const at::Tensor& w, const at::Tensor& h, const SearchConfig& config);

// NeUQI-int: all T scales, integer zero-points 0..N-1, each evaluated exactly (plus the Min-Max
// point, as above).
SearchResult neuqi_int_search(const at::Tensor& w, const at::Tensor& h, int bits,
                              int64_t group_size, int grid = 2048);

// The baseline the benchmark compares against: the search written the way the official NeUQI
// implementation works, with tensor operations per scale candidate over all groups at once
// (argsort, gather, cumsum, clamp, argmin), float64. Same candidates and tie rule as neuqi_search.
SearchResult neuqi_search_tensor_ops(const at::Tensor& w, const at::Tensor& h,
                                     const SearchConfig& config);

// True if this build has the CUDA kernels, a CUDA device is visible and this libtorch has CUDA
// (at::hasCUDA()): CUDA tensors can be made and the kernels launched on them.
bool cuda_kernels_available();

}  // namespace zp::kernels
