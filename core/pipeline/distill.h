// NeUQI's lightweight distillation (core/MATHS.md section 7): after quantization, the integer
// codes stay frozen and every per-group scale and zero-point is trained, with the RMSNorm gains
// (and the q/k/v biases where the model has them), to bring the quantized model's final hidden
// states (after the last norm) to the full-precision model's: MSE loss, AdamW (libtorch's) with
// betas (0.9, 0.95), no weight decay, cosine schedule after a linear warm-up.
//
// Memory: the teacher's final states are computed once, block by block over all sequences, and
// kept (on disk, in a temporary file, above teacher_memory_bytes). The student's weights are
// dequantized from codes with trainable (scale, zero) for one block at a time; each step runs the
// blocks forward without a graph, keeping only each block's input, then backwards block by block
// with that block's forward recomputed (activation checkpointing at block granularity): peak
// memory is one block's activations plus the parameters.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/common/progress.h"
#include "core/model/model.h"
#include "core/quant/result.h"

namespace zp::pipeline {

struct DistillOptions {
    at::Tensor calibration;          // [N, L] int64 token ids: the training sequences
    std::string calibration_source;  // recorded
    int epochs = 1;
    double lr = 3e-4;
    double beta1 = 0.9, beta2 = 0.95;
    double weight_decay = 0.0;
    double warmup = 0.1;  // share of the steps with a linear warm-up; then cosine down to 0
    int64_t batch = 1;    // sequences per step
    bool train_float_parts = true;  // RMSNorm gains (and q/k/v biases); false: scale, zero only
    std::string device = "cpu";     // "cpu" or "cuda[:N]"; training in float32
    int64_t teacher_memory_bytes = int64_t(1) << 30;  // above: teacher states in a temporary file
    // (done steps, total steps, "step 12/40 loss 0.0123"); false cancels (throws Cancelled).
    ProgressFn progress;
    // After each step, on the training thread (a GUI's live loss curve).
    std::function<void(int64_t step, int64_t steps, double loss)> on_step;
};

struct DistillResult {
    quant::QuantizedModel model;    // codes unchanged; scale, zero and float_parts trained
    std::vector<double> loss;       // per step (mean over the step's sequences)
    double loss_before = 0.0;       // mean loss over all sequences with the initial parameters
    double loss_after = 0.0;        // ... with the trained ones
    int64_t steps = 0, tokens = 0;  // tokens seen in training (epochs x N x L)
    double seconds = 0.0;
};

// Distils qm (a weight-only result of `original`: its codes, scales and zeros) against original
// (the full-precision model; nothing installed in it is used but its own tensors). Throws
// InvalidArgument (no calibration, ids outside the vocabulary, a result that does not match the
// model, one that quantizes activations), NumericError (the loss becomes NaN/Inf), Cancelled.
DistillResult distill(const model::Model& original, const quant::QuantizedModel& qm,
                      const DistillOptions& options);

// W = scale * (codes - zero) per group of group_size columns (group index = column / group_size,
// the last group may be shorter), as an autograd function whose backward is the closed form of
// core/MATHS.md section 7: dL/dscale = sum_group dW * (code - zero), dL/dzero = -sum_group dW
// * scale (codes get no gradient). codes [out, in] uint8; scale, zero [out, ceil(in / group_size)]
// float32 or float64 (both the same) on the same device. Returns [out, in] in their dtype.
at::Tensor dequantize_trainable(const at::Tensor& codes, const at::Tensor& scale,
                                const at::Tensor& zero, int64_t group_size);

}  // namespace zp::pipeline
