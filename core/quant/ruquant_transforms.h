// The orthogonal transforms of RUQuant (core/MATHS.md section 8): Householder reflections and
// 2x2 Givens rotations that map a vector onto a chosen target, the orthonormal Sylvester Hadamard,
// the greedy block rotation shared by all blocks of a width (built from calibration activations),
// DuQuant's zig-zag channel permutation and the global Householder over the full width.
//
// Conventions: activations are row vectors, x [tokens, width]; a transform Q acts as x Q (and is
// fused into a weight W [out, width] as W Q, so that x W^T = (x Q)(W Q)^T). Every matrix is built
// in float64 on the CPU. Every random draw comes from a std::mt19937_64 seeded by the caller's
// seed through this file's own uniform / permutation helpers (not torch's global RNG, not the
// implementation-defined std distributions), so results are reproducible across platforms.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace zp::quant {

// Householder reflection mapping a onto b (1-D, same length, |a| = |b|):
//
//     v = a - b,   H = I - 2 v v^T / (v^T v)
//
// H is symmetric and orthogonal (H = H^T = H^-1) and H a = b: with |a| = |b|,
// v^T a = |a|^2 - a.b = (v^T v) / 2, so H a = a - v = b. As a row-vector map, a H = b as well.
// If a == b exactly (v = 0) the identity is returned. Returns [n, n] float64.
// Throws InvalidArgument when a or b is not 1-D, the lengths differ, or
// | |a| - |b| | > 1e-9 * max(|a|, |b|) (the message names both norms).
at::Tensor householder_map(const at::Tensor& a, const at::Tensor& b);

// The 2x2 rotation that maps the pair a = (a0, a1) onto b = (b0, b1) of equal norm, as a map of
// column vectors (G a = b):
//
//     c = a.b / (|a||b|),   s = (a0 b1 - a1 b0) / (|a||b|),   G = [[c, -s], [s, c]]
//
// (c, s) = (cos, sin) of the angle from a to b; (c, s) is renormalised to c^2 + s^2 = 1 so that G
// is orthogonal to rounding. With code_variant = true, G^T is returned: the released RUQuant code
// builds its Givens blocks as [[c, s], [-s, c]] and applies them to column block vectors, which
// rotates a by the opposite angle (away from b); the default false is the paper's intent.
// If |a| = |b| = 0, the identity is returned. Returns [2, 2] float64.
// Throws InvalidArgument when | |a| - |b| | > 1e-9 * max(|a|, |b|) (the message names both norms).
at::Tensor givens_map(double a0, double a1, double b0, double b1, bool code_variant = false);

// Orthonormal Sylvester Hadamard of order n (a power of two, n >= 1):
//
//     H[i][j] = (-1)^popcount(i & j) / sqrt(n),   H H^T = I.
//
// Returns [n, n] float64. Throws InvalidArgument (naming n) when n is not a power of two.
at::Tensor hadamard(int64_t n);

struct BlockRotationOptions {
    int64_t block = 128;        // block width (the rotation is [block, block])
    int greedy_steps = 16;      // Householder steps
    int givens_rounds = 3;      // permutation + Givens rounds after each Householder step
    uint64_t seed = 0;          // seeds the one std::mt19937_64 of all random draws
    bool code_variant = false;  // Givens blocks as in the released code (see givens_map)
    // DuQuant-style: each greedy step reflects the max block vector onto the flat target
    // |y| / sqrt(block) * (1, ..., 1) (the outlier spread evenly over the block, as DuQuant's
    // rotation with a constant first column does) instead of a random uniform one.
    bool flat_target = false;
};

// The greedy block rotation R [block, block] (core/MATHS.md 8 step 2), one matrix shared by
// all width/block blocks: x' = x blockdiag(R, ..., R). x is [tokens, width] (float or double; any
// device, read on the CPU in float64), width divisible by block.
//
// Let Y = x blockdiag(R) viewed as [tokens * width/block, block] "block vectors". Start R = I;
// repeat greedy_steps times:
//   1. y = the block vector holding the largest |value| of Y (first in row-major order on ties);
//      t = u * |y| / |u| with u_i i.i.d. U[0,1); H = householder_map(y, t); R <- R H
//      (so y H = t: the outlier is spread over the block with positive entries).
//   2. givens_rounds times: a random permutation p of 0..block-1; y = the current max block
//      vector; for every adjacent pair (i, j) = (p[2k], p[2k+1]) (an odd block leaves its last
//      coordinate alone) a random pair target t = u |(y_i, y_j)| / |u| (u_i i.i.d. U[0,1)) and
//      g = givens_map(y_i, y_j, t_0, t_1, code_variant); these 2x2 blocks form G (the Givens
//      rotations on adjacent pairs after permuting, i.e. P G P^T in the original coordinates,
//      with g^T placed at rows/columns (i, j) because rows multiply from the left:
//      (y M)_(i,j) = (g (y_i, y_j)^T)^T); R <- R P G P^T.
// The Givens rounds run inside every greedy step, as in the released code (get_R); unlike that
// code the permutation is undone after each round (P G P^T), which only relabels coordinates.
// A step whose max block vector already equals its target (v = 0) leaves R unchanged.
// Returns R, float64, orthogonal to float64 rounding (a product of reflections and rotations).
// Throws InvalidArgument (x not 2-D, block < 1, width % block != 0 naming both, negative
// steps/rounds), NumericError (NaN/Inf in x).
at::Tensor greedy_block_rotation(const at::Tensor& x, const BlockRotationOptions& options);

// DuQuant's zig-zag permutation. channel_max [width] (max |x| per channel, any floating dtype);
// width divisible by block. Channels sorted by descending channel_max (stable: ties keep their
// index order) are dealt to the n = width/block blocks in the order
//     0, 1, ..., n-1, n-1, n-2, ..., 1, 0, 0, 1, ...
// so every block receives one of the n largest, one of the next n, ... and block maxima are
// balanced. Within a block the channels stay in dealing (= descending) order. Returns perm with
// new channel j = old channel perm[j] (x_new = x[:, perm]); block i is perm[i*block .. ).
// Throws InvalidArgument (not 1-D, block < 1, width % block != 0 naming both).
std::vector<int64_t> zigzag_permutation(const at::Tensor& channel_max, int64_t block);

// The global reflection over the full width (core/MATHS.md 8 step 5): r = the row (token) of x
// [tokens, width] holding the largest |value|; t = u * |r| / |u| with u_i i.i.d. U[0,1) from
// std::mt19937_64(seed); returns householder_map(r, t) [width, width] float64 (r H = t >= 0).
// An all-zero x gives the identity. Throws InvalidArgument (not 2-D, empty), NumericError
// (NaN/Inf).
at::Tensor householder_from_max_row(const at::Tensor& x, uint64_t seed);
// The same reflection as its unit vector u = v / |v| (v = r - t), H = I - 2 u u^T: [width]
// float64; all zeros when r = t (H = I).
at::Tensor householder_vector_from_max_row(const at::Tensor& x, uint64_t seed);

// x [tokens, width] times blockdiag(R, ..., R) (R [b, b], width divisible by b) without building
// the [width, width] matrix: (x.view(tokens * width/b, b) R).view(tokens, width). Computed and
// returned in the promoted dtype of x and R (float64 when R is float64), on x's device.
// Throws InvalidArgument (shapes, naming width and b).
at::Tensor block_diag_apply(const at::Tensor& x, const at::Tensor& R);

}  // namespace zp::quant
