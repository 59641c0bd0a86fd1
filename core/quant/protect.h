// Super-weight protection, the data-free remedy of issue 13: a group that holds a weight at least
// k standard deviations away from its layer's mean gets the best parameters under which no weight
// of the group is clipped, i.e. every weight is reconstructed within half a step. NeUQI with h = 1
// otherwise trades one far-out weight (clipped by several steps) for a finer grid over the rest,
// which the MSE rewards and the model does not (core/MATHS.md, "super-weights" in README).
//
// Under the constraint the group's loss is pure rounding error, sum_i h_i s^2 d(w_i/s + z)^2 with
// d(x) = x - round(x), and the feasible set is s >= (max - min) / 2^k with
// z in [-1/2 - min/s, 2^k - 1/2 - max/s]. The search runs over the scales s0 * i / T of NeUQI's
// grid in that range (s0 the Min-Max scale), each solved exactly: the loss is a quadratic in z
// between the points where some w_i/s + z crosses a half-integer, swept in sorted order. Min-Max's
// own parameters are feasible, so a protected group is never worse than Min-Max under h.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace zp::quant {

struct ProtectOptions {
    bool all = false;           // every group (sigmas ignored)
    double sigmas = 0.0;        // k; 0 = off
    int bits = 3;               // 2..8
    int64_t group_size = 0;     // resolved (> 0); the last group may be shorter
    int grid = 2048;            // T
    int coarse = 64;            // coarse-to-fine as NeUQI's search: T / coarse apart, then fine
    bool full_grid = false;     // every scale of the band instead
    bool integer_zero = false;  // z restricted to integers (NeUQI-int)
};

// Overwrites scale and zero [rows, groups] (W's device and dtype) of every group of W [out, in]
// holding a weight with |w - mean(W)| >= sigmas * std(W) (every group with `all`; then scale and
// zero need only be defined) by the best unclipped parameters under
// the importance h [in] (normalised per group as the search does). Returns a bool mask
// [rows, groups] (CPU) of the groups it protected; an all-false mask when sigmas is 0.
at::Tensor protect_outlier_groups(const at::Tensor& W, const at::Tensor& h, const ProtectOptions& o,
                                  at::Tensor* scale, at::Tensor* zero);

}  // namespace zp::quant
