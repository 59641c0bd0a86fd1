#include "core/quant/gptq.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/argsort.h>
#include <ATen/ops/cholesky_inverse.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/floor_divide.h>
#include <ATen/ops/full_like.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/linalg_cholesky_ex.h>
#include <ATen/ops/repeat_interleave.h>
#include <ATen/ops/where.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <tuple>

#include "core/common/error.h"
#include "kernels/gptq_block.h"

namespace zp::quant {

double proxy_loss(const at::Tensor& dW, const at::Tensor& H)
{
    at::Tensor d = dW.to(at::kDouble);
    return (d.matmul(H.to(at::kDouble)) * d).sum().item<double>();
}

namespace {

// Upper Cholesky factor U of (H + extra)^-1 (so H^-1 = U^T U), as GPTQ uses it; false on failure.
bool inverse_cholesky_upper(const at::Tensor& H, at::Tensor* U)
{
    at::Tensor L, info;
    std::tie(L, info) = at::linalg_cholesky_ex(H);
    if (info.item<int64_t>() != 0)
        return false;
    at::Tensor Hinv = at::cholesky_inverse(L);
    std::tie(L, info) = at::linalg_cholesky_ex(Hinv, /*upper=*/true);
    if (info.item<int64_t>() != 0)
        return false;
    if (!L.isfinite().all().item<bool>())
        return false;
    *U = L;
    return true;
}

// Damping, then dead inputs (zero diagonal: never seen a non-zero value) decoupled, the columns
// in `perm` order, and the upper Cholesky factor of the inverse (more damping while it fails).
at::Tensor feedback_factor(const at::Tensor& H, const at::Tensor& perm, const GptqConfig& c,
                           const std::string& what, double* damp_used, int* retries)
{
    at::Tensor Hd = H.clone();
    const double mean_diag = Hd.diagonal().mean().item<double>();
    const double base = mean_diag > 0.0 ? mean_diag : 1.0;
    at::Tensor dead = H.diagonal() == 0;
    Hd.diagonal().masked_fill_(dead, 1.0);
    Hd.diagonal().add_(c.damp * base);
    *damp_used = c.damp;
    *retries = 0;
    at::Tensor Hp = Hd.index_select(0, perm).index_select(1, perm);
    at::Tensor U;
    double extra = 0.0;
    while (!inverse_cholesky_upper(Hp, &U)) {
        if (*retries >= c.max_retries)
            throw NumericError(what + ": the Hessian is not positive definite even after adding " +
                               std::to_string(*damp_used) + " x mean(diag H) damping (" +
                               std::to_string(*retries) + " retries)");
        const double add = std::max(c.damp, 0.01) * std::pow(10.0, *retries) * base;
        Hp.diagonal().add_(add);
        extra += add;
        *damp_used = c.damp + extra / base;
        ++*retries;
    }
    return U;
}

// The checks both entry points share: W [out, in], H [in, in], block size and damping.
void check_gptq_inputs(const at::Tensor& W, const at::Tensor& H, const GptqConfig& c,
                       const std::string& what)
{
    if (!W.defined() || W.dim() != 2)
        throw InvalidArgument(what + ": expected a 2-D weight [out, in]");
    const int64_t cols = W.size(1);
    if (!H.defined() || H.dim() != 2 || H.size(0) != cols || H.size(1) != cols)
        throw InvalidArgument(what + ": GPTQ needs a Hessian [" + std::to_string(cols) + ", " +
                              std::to_string(cols) + "] from calibration data");
    if (c.block_size < 1)
        throw InvalidArgument(what + ": GPTQ block size must be >= 1, got " +
                              std::to_string(c.block_size));
    if (!(c.damp >= 0.0))
        throw InvalidArgument(what + ": damping must be >= 0, got " + std::to_string(c.damp));
}

}  // namespace

GptqResult gptq_quantize(const at::Tensor& W_in, const at::Tensor& H_in, const GptqConfig& c,
                         const std::string& what)
{
    auto t0 = std::chrono::steady_clock::now();
    check_gptq_inputs(W_in, H_in, c, what);
    const int64_t rows = W_in.size(0), cols = W_in.size(1);
    validate_config(c.quant, cols, what);
    const at::ScalarType wdt = c.double_precision ? at::kDouble : at::kFloat;
    at::Tensor W0 = W_in.to(wdt);
    validate_weights(W0, what);
    at::Tensor H = H_in.to(W0.device()).to(at::kDouble);
    validate_weights(H, what + " Hessian");

    GptqResult out;
    // Static groups: the (s, z) of every (row, group) from the original weights, by the chosen
    // rule.
    out.importance = damped_hessian_diagonal(H, c.damp);
    out.rtn = quantize_layer(W0, H, c.quant, what, out.importance);
    out.scale = out.rtn.scale;
    out.zero = out.rtn.zero;
    const int64_t g = out.rtn.group_size;
    const int bits = c.quant.bits;

    out.perm = c.act_order
                   ? at::argsort(out.importance, /*dim=*/0, /*descending=*/true)
                   : at::arange(cols, at::TensorOptions().dtype(at::kLong).device(W0.device()));
    at::Tensor U = feedback_factor(H, out.perm, c, what, &out.damp_used, &out.retries).to(wdt);

    at::Tensor W = W0.index_select(1, out.perm).contiguous();
    // The (s, z) column of every permuted input column: its original group, column / g, so with
    // act-order the groups stay those of the original columns and a short last group stays last.
    at::Tensor group_of = at::floor_divide(out.perm, g);
    at::Tensor S = out.scale.to(wdt).index_select(1, group_of);
    at::Tensor Z = out.zero.to(wdt).index_select(1, group_of);
    at::Tensor Q = at::empty_like(W);
    at::Tensor codes = at::empty({rows, cols}, W.options().dtype(at::kByte));

    for (int64_t i1 = 0; i1 < cols; i1 += c.block_size) {
        const int64_t i2 = std::min(i1 + c.block_size, cols);
        const int64_t n = i2 - i1;
        // The block's columns of W are worked on in place: nothing reads them after the block.
        at::Tensor W1 = W.narrow(1, i1, n);
        at::Tensor Err1 = at::empty({rows, n}, W.options());
        at::Tensor codes1 = codes.narrow(1, i1, n);
        at::Tensor Q1 = Q.narrow(1, i1, n);
        kernels::gptq_block(W1, U.narrow(0, i1, n).narrow(1, i1, n), S.narrow(1, i1, n),
                            Z.narrow(1, i1, n), bits, codes1, Q1, Err1);
        if (i2 < cols)
            W.narrow(1, i2, cols - i2)
                .sub_(Err1.matmul(U.narrow(0, i1, n).narrow(1, i2, cols - i2)));
    }
    at::Tensor inv = at::argsort(out.perm);
    out.codes = codes.index_select(1, inv).contiguous();
    out.dequantized = Q.index_select(1, inv).contiguous();
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
}

KquantResult gptq_kquant(const at::Tensor& W_in, const at::Tensor& H_in, gguf::TensorType type,
                         const GptqConfig& c, const std::string& what)
{
    check_gptq_inputs(W_in, H_in, c, what);
    const int64_t rows = W_in.size(0), cols = W_in.size(1);
    const int64_t B = kquant_block_elements(type);
    if (cols % B != 0)
        throw InvalidArgument(what + ": row width " + std::to_string(cols) +
                              " is not a multiple of " + std::to_string(B) + " (the block of " +
                              gguf::tensor_type_traits(static_cast<uint32_t>(type)).name + ")");
    const at::ScalarType wdt = c.double_precision ? at::kDouble : at::kFloat;
    at::Tensor W = W_in.to(wdt).contiguous().clone();
    validate_weights(W, what);
    at::Tensor H = H_in.to(W.device()).to(at::kDouble);
    validate_weights(H, what + " Hessian");
    const at::Tensor h = damped_hessian_diagonal(H, c.damp).to(at::kCPU).to(at::kFloat);
    const at::Tensor perm =
        at::arange(cols, at::TensorOptions().dtype(at::kLong).device(W.device()));
    double damp_used = 0.0;
    int retries = 0;
    const at::Tensor U = feedback_factor(H, perm, c, what, &damp_used, &retries).to(wdt);

    KquantResult grid;  // every block's parameters, filled block column by block column
    grid.type = type;
    grid.rows = rows;
    grid.cols = cols;
    grid.params.resize(static_cast<size_t>(rows * (cols / B)));
    at::Tensor codes = at::empty({rows, cols}, W.options().dtype(at::kByte));
    at::Tensor Q = at::empty_like(W);
    int bits = 0, qmin = 0;
    for (int64_t i1 = 0; i1 < cols; i1 += B) {
        // This block column's parameters, from the weights as the earlier columns left them.
        at::Tensor W1 = W.narrow(1, i1, B);
        const KquantResult slab = kquant_quantize(W1.to(at::kCPU), h.narrow(0, i1, B), type);
        for (int64_t r = 0; r < rows; ++r)
            grid.params[static_cast<size_t>(r * (cols / B) + i1 / B)] =
                slab.params[static_cast<size_t>(r)];
        grid.block = slab.block;
        grid.sub = slab.sub;
        grid.qmin = qmin = slab.qmin;
        grid.qmax = slab.qmax;
        bits = 1;
        while ((1 << bits) < slab.qmax - slab.qmin + 1)
            ++bits;
        // x = step q - minimum = step (code - z) with code = q - qmin, z = minimum / step - qmin.
        // A zero step (every element of the sub-block the same value) becomes a tiny one whose
        // codes clamp: its values are still -minimum.
        at::Tensor step, minimum;
        kquant_grid(slab, &step, &minimum);
        const at::Tensor s = at::where(step == 0, at::full_like(step, 1e-30f), step);
        const at::Tensor z = minimum / s - static_cast<float>(qmin);
        at::Tensor S1 = s.repeat_interleave(slab.sub, 1).to(W.device()).to(wdt).contiguous();
        at::Tensor Z1 = z.repeat_interleave(slab.sub, 1).to(W.device()).to(wdt).contiguous();
        at::Tensor Err1 = at::empty({rows, B}, W.options());
        at::Tensor codes1 = codes.narrow(1, i1, B);
        at::Tensor Q1 = Q.narrow(1, i1, B);
        kernels::gptq_block(W1, U.narrow(0, i1, B).narrow(1, i1, B), S1, Z1, bits, codes1, Q1,
                            Err1);
        const int64_t i2 = i1 + B;
        if (i2 < cols)
            W.narrow(1, i2, cols - i2)
                .sub_(Err1.matmul(U.narrow(0, i1, B).narrow(1, i2, cols - i2)));
    }
    const at::Tensor q = codes.to(at::kCPU).to(at::kInt) + qmin;
    const at::Tensor W0 = W_in.to(at::kCPU);
    KquantResult out = kquant_encode(grid, q, W0, h);
    out.minmax_loss = kquant_minmax(W0, h, type).loss;
    out.minmax_kept = 0;
    return out;
}

}  // namespace zp::quant
