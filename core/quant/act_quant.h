// Activation quantization as RUQuant (and DuQuant / OmniQuant before it) applies it at run time
// (core/MATHS.md section 8): dynamic, per token, asymmetric min-max with a clip ratio. Fake
// quantization: the result is the dequantized value, in the input's dtype and shape.
#pragma once

#include <memory>

#include <ATen/core/Tensor.h>

#include "core/model/model.h"
#include "core/quant/ruquant.h"

namespace zp::quant {

struct ActQuantConfig {
    int bits = 16;      // 16 or more: no quantization (the input is returned unchanged)
    double clip = 1.0;  // lac: min and max of each token are scaled by it (0.9 at W4A4)
};

// x [..., d]: every row of the last dimension (a token, or a token of one head) on its own grid:
//   lo = clip min(x), hi = clip max(x), s = clamp((hi - lo) / (2^b - 1), 1e-5, 1e4),
//   z = round(clamp(-lo / s, -1e4, 1e4)), q = clamp(round(x / s) + z, 0, 2^b - 1),
//   x_hat = s (q - z)
// computed in float32 (float64 for a float64 input). InvalidArgument for bits < 2 or clip not in
// (0, 1].
at::Tensor fake_quant_per_token(const at::Tensor& x, const ActQuantConfig& config);

// The activation side of a WxAy run on a Model (Model::set_activation_hooks): every linear input
// per token with `linear`; Q and K after RoPE per token and head, after an orthonormal head_dim
// Hadamard (so Q K^T is unchanged before rounding; head_dim must be a power of two), with
// `qk`; V per token and head, unrotated, with `v`. With 16 bits everywhere the forward is the
// unquantized one exactly. InvalidArgument for a bad config or a head_dim the Hadamard cannot take.
struct ActivationQuantConfig {
    ActQuantConfig linear, qk, v;
    bool qk_hadamard = true;
};
std::shared_ptr<const model::ActivationHooks> activation_quant_hooks(
    const ActivationQuantConfig& config, int64_t head_dim);

// The same with RUQuant-style transforms (ruquant.h): the input of a linear group of a block
// that has a transform in `transforms` becomes fq(x Q) (x Q alone at 16 bits; its weights must
// hold W Q^-T); a group without one gets fq(x) when quantize_untransformed, else passes
// unchanged (the pipeline's groups not built yet). The set is read at every call, so a caller
// may keep adding to it (the pipeline does, group by group). Null transforms: the function above.
std::shared_ptr<const model::ActivationHooks> activation_quant_hooks(
    const ActivationQuantConfig& config, int64_t head_dim,
    std::shared_ptr<const TransformSet> transforms, bool quantize_untransformed = true);

// Relative error of the linear-input quantizer on rows x [n, width] of a group's input, in the
// original basis: without the transform (fq(x) - x) and with it (fq(x Q) Q^-1 - x), written
// into t.act_error_plain / t.act_error (0 at 16 bits).
void measure_activation_error(GroupTransform& t, const at::Tensor& x, const ActQuantConfig& q);

}  // namespace zp::quant
