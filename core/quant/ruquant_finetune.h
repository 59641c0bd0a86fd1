// RUQuant's optional stage 2 (core/MATHS.md section 8, step 5): fine-tune the global
// Householder vectors of one decoder block against the block's full-precision output.
//
// The trainable parameters are the block's four Householder vectors v_g (one per linear-input
// group; H_g = I - 2 v v^T / (v^T v), so v needs no normalisation). Everything else of the
// transforms (smoothing, R0, P, R1) stays fixed. The quantized block is computed with straight-
// through rounding: activations per token with the run's quantizer (x Q -> fq(x Q), forward value
// quantized, gradient of the identity), Q and K after the head Hadamard and V likewise, and each
// weight W Q^-T per output channel with Min-Max (clip wclip), exactly as the pipeline's RTN Min-Max
// computes it. The loss is the mean squared error against the full-precision block (original
// weights, no activation quantization) on the same inputs; AdamW (libtorch's torch::optim::AdamW)
// minimises it over the calibration sequences, `epochs` passes in batches.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "core/common/progress.h"
#include "core/model/model.h"
#include "core/quant/act_quant.h"
#include "core/quant/ruquant.h"

namespace zp::quant {

struct FinetuneOptions {
    int epochs = 0;             // 0: no stage 2
    double lr = 1e-2;           // AdamW learning rate
    double weight_decay = 0.0;  // AdamW decoupled weight decay
    int64_t batch = 8;          // sequences per step
    int wbits = 4;              // the weight quantizer of the run (Min-Max per output channel)
    double wclip = 1.0;
    ActivationQuantConfig act;  // the activation quantizers of the run
    ProgressFn progress;        // (epoch, epochs, "...") ; false cancels (throws Cancelled)
};

struct FinetuneReport {
    double loss_before = 0.0;  // mean block-output MSE over the inputs, before any step
    double loss_after = 0.0;   // the same after the last epoch (= loss_before when not kept)
    bool kept = true;          // false: training raised the loss, the stage-1 vectors stay
    int64_t steps = 0;
    double seconds = 0.0;
};

// Tunes the Householder vectors of `block`'s transforms in `set` (replacing them with the
// normalised result, or keeping the stage-1 vectors when training ends with a higher loss; the
// transforms record both losses). w_orig: the block's full-precision weights (before any
// transform); inputs [N, L, hidden]: the block's calibration inputs (as the pipeline propagates
// them). Computed in float32 on the inputs' device. InvalidArgument when the block has no RUQuant
// transforms or the shapes disagree; NumericError when the loss becomes NaN.
FinetuneReport finetune_householder(const model::ModelConfig& config,
                                    const model::BlockWeights& w_orig, int64_t block,
                                    TransformSet& set, const at::Tensor& inputs,
                                    const FinetuneOptions& options);

}  // namespace zp::quant
