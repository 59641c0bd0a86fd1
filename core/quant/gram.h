// The proxy Hessian H = sum over chunks of X^T X (float64), which GPTQ and NeUQI's importance read.
// On the CPU, where a BLAS is linked (ZP_HAVE_BLAS), each chunk is one dsyrk: the lower triangle
// only, half the multiply-adds of the full product X^T X, mirrored once at the end. Against
// addmm's full product (tests/core/tst_gram): bit for bit with OpenBLAS at SmolLM2's widths (576,
// 1536), and within an ulp where the BLAS tiles the triangle differently (width 172: 2.5% of the
// elements). Elsewhere (CUDA tensors, or no BLAS) each chunk is X^T X by addmm.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace zp::quant {

class GramAccumulator {
public:
    // H of size [n, n] on dev (float64, zero). buffer (optional): where add() converts its
    // inputs, kept by the caller so that one buffer serves every accumulator (grown as needed);
    // without it the accumulator keeps its own until finish().
    GramAccumulator(int64_t n, at::Device dev, at::Tensor* buffer = nullptr);
    // Adds x^T x for x [tokens, n]: float64 and contiguous on H's device as it is; anything else
    // is converted in the buffer, reused from chunk to chunk.
    void add(const at::Tensor& x);
    int64_t tokens() const { return tokens_; }
    // The full symmetric sum (not divided by the tokens). Ends the accumulation.
    at::Tensor finish();
    // True when add() uses the BLAS's dsyrk (this build has one and H is on the CPU), until
    // finish().
    bool uses_syrk() const { return syrk_; }

private:
    at::Tensor H_, own_buffer_;
    at::Tensor* buffer_ = nullptr;  // &own_buffer_ or the caller's
    int64_t n_ = 0, tokens_ = 0;
    bool syrk_ = false;
};

}  // namespace zp::quant
