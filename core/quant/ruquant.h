// RUQuant's per-group transforms (core/MATHS.md section 8) and the baselines that share its
// engine.
//
// For every linear-input group of a decoder block (q/k/v read "q_proj"'s input, "o_proj",
// gate/up read "gate_proj"'s, "down_proj") one invertible Q [width, width] is applied to the
// activations online, x -> x Q, and fused offline into the weights that read them, W -> W Q^-T,
// so that (x Q)(W Q^-T)^T = x W^T: the model computes the same function at full precision, and
// the activation and weight quantizers see values that are closer to uniform inside each block.
//
//     Q = diag(1/s) . blockdiag(R0) . P . blockdiag(R1) . H,   W Q^-T = W diag(s) . (same chain)
//
// s: SmoothQuant scales, s_j = max|x_j|^alpha / max|W_.j|^(1-alpha) (clamped to >= 1e-5);
// R0, R1: greedy block rotations [b, b] (ruquant_transforms.h), one per stage shared by every
// block of the width; P: DuQuant's zig-zag permutation; H = I - 2 u u^T: one global Householder.
// Which stages a kind uses:
//     none     -                                   (RTN WxAy, the plain baseline)
//     smooth   s                                   (SmoothQuant)
//     duquant  s, R0, P, R1 with flat targets, no Givens rounds, no H   (DuQuant-style)
//     ruquant  s, R0, P, R1 with random uniform targets + Givens rounds, H   (RUQuant, stage 1)
// Every matrix is built in float64 on the CPU from calibration activations and stored; applying
// them computes in float32 (float64 for float64 inputs) on the input's device.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace zp::quant {

enum class TransformKind { None, Smooth, DuQuant, RUQuant };

// The one table of transform kinds: the GUI lists it, the command line accepts its names, the
// session stores them.
struct TransformKindInfo {
    TransformKind kind;
    const char* name;   // "none", "smooth", "duquant", "ruquant"
    const char* label;  // "RUQuant"
    const char* description;
};
const std::vector<TransformKindInfo>& transform_kinds();
const TransformKindInfo& transform_kind_info(TransformKind kind);
// InvalidArgument naming the accepted names.
TransformKind parse_transform_kind(const std::string& name);

struct TransformOptions {
    TransformKind kind = TransformKind::None;
    double alpha = 0.6;              // SmoothQuant migration strength, in [0, 1]
    int64_t block = 0;               // rotation block; 0: default_rotation_block(width)
    int greedy_steps = 16;           // Householder steps per block rotation
    int givens_rounds = 3;           // permutation + Givens rounds per step (RUQuant)
    bool code_variant = false;       // Givens blocks as the released code builds them
    uint64_t seed = 0;               // every random draw derives from it (and block, group, stage)
    int64_t rotation_tokens = 2048;  // calibration tokens the rotations are built from
    int finetune_epochs = 0;         // stage 2 (ruquant_finetune.h); 0: none
    double finetune_lr = 1e-2;       // AdamW learning rate of stage 2
};

// The largest power of two up to 128 that divides width (576 -> 64, 1536 -> 128, 172 -> 4).
int64_t default_rotation_block(int64_t width);

// One group's transform and what calibration measured for it. Tensors are float64 CPU (perm
// int64) and undefined where the kind has no such stage.
struct GroupTransform {
    int64_t block = 0;  // decoder block
    std::string input;  // "q_proj", "o_proj", "gate_proj" or "down_proj"
    TransformKind kind = TransformKind::None;
    int64_t width = 0;           // in_features of the group
    int64_t rotation_block = 0;  // b of r0 / r1 (0 when none)
    at::Tensor smooth;           // [width] s
    at::Tensor r0, r1;           // [b, b]
    at::Tensor perm;             // [width] int64: stage output j = stage input perm[j]
    at::Tensor householder;      // [width] unit u (H = I - 2 u u^T)
    // Statistics of the group's input over the calibration tokens (as the pipeline saw them).
    at::Tensor act_max;        // [width] max |x| per channel before any transform (all tokens)
    at::Tensor act_max_after;  // [width] max |x Q| per channel (the rotation tokens)
    int64_t tokens = 0;        // calibration tokens seen
    // Relative activation quantization error ||fq(.) - .||_F / ||x||_F of the run's activation
    // quantizer on the rotation tokens, measured in the original basis: without the transform,
    // fq(x) - x, and with it, fq(x Q) Q^-1 - x (0 at 16 bits).
    double act_error_plain = 0.0, act_error = 0.0;
    double seconds = 0.0;  // building it
    // Stage 2: the block-output MSE before and after tuning the Householder vectors (-1: none).
    double stage2_loss_before = -1.0, stage2_loss_after = -1.0;

    bool identity() const;  // no stage at all (kind none)
    // x [..., width] -> x Q (same shape, dtype and device as x).
    at::Tensor apply(const at::Tensor& x) const;
    // x Q -> x.
    at::Tensor invert(const at::Tensor& y) const;
    // W [out, width] -> W Q^-T (fused into the weights).
    at::Tensor apply_weight(const at::Tensor& w) const;
    // x [tokens, width] after each stage, in order: ("input", x), then those present of
    // ("smoothed", x/s), ("R0", ...), ("permuted", ...), ("R1", ...), ("householder", ...).
    std::vector<std::pair<std::string, at::Tensor>> stages(const at::Tensor& x) const;
    // Q as a [width, width] float64 matrix (x Q).
    at::Tensor matrix() const;
    // InvalidArgument naming `where` when shapes or dtypes contradict width / rotation_block.
    void check(const std::string& where) const;
};

// Builds one group's transform. act_max [width]: max |x| per channel over every calibration
// token; rows [n, width]: calibration tokens the rotations are built from (float32 or float64);
// weights: the linears that read this input ([out_i, width] each). InvalidArgument when the
// rotation block does not divide the width (naming the group, the width and the block) or
// alpha is outside [0, 1]; NumericError for NaN/Inf activations.
GroupTransform build_group_transform(const at::Tensor& act_max, const at::Tensor& rows,
                                     const std::vector<at::Tensor>& weights,
                                     const TransformOptions& options, int64_t block,
                                     const std::string& input);

// The transforms of a model, looked up by (block, input).
class TransformSet {
public:
    void add(GroupTransform t);  // replaces one of the same (block, input)
    void remove(int64_t block, const std::string& input);
    const GroupTransform* find(int64_t block, const std::string& input) const;
    bool empty() const { return groups_.empty(); }
    std::vector<const GroupTransform*> all() const;  // by block, then pipeline order

private:
    std::map<std::pair<int64_t, std::string>, std::shared_ptr<const GroupTransform>> groups_;
};

}  // namespace zp::quant
