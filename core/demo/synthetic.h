// Seeded synthetic data that looks like real LLM layers: heavy-tailed weights with per-row spread
// and a few outlier input channels, and a log-normal importance (Hessian diagonal) profile with the
// same outlier channels. Deterministic for a given seed on every platform (std::mt19937_64).
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace zp::demo {

// [out, in] float32 weights: Student-t (5 dof) body, per-row scale spread, ~0.5% outlier columns.
at::Tensor synthetic_weight(int64_t out, int64_t in, uint64_t seed);
// [in] float64 importance > 0: log-normal, the same outlier columns boosted.
at::Tensor synthetic_importance(int64_t in, uint64_t seed);

}  // namespace zp::demo
