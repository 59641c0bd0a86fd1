#include "core/quant/integer_zero.h"

#include <ATen/ATen.h>

#include "core/common/error.h"
#include "kernels/quantize.h"

namespace zp::quant {

IntegerZeroGrid integer_zero_grid(const LayerResult& layer, bool refit_scale,
                                  const std::string& what)
{
    const at::Tensor w_hat = QuantizedModel::dequantize(layer).to(at::kFloat).contiguous();
    const int64_t in = w_hat.size(1);
    const int bits = layer.bits;
    const int64_t g = layer.group_size <= 0 ? in : layer.group_size;
    const int64_t levels = (int64_t{1} << bits) - 1;
    const at::Tensor z_real = layer.zero.to(at::kCPU).to(at::kFloat);
    at::Tensor s = layer.scale.to(at::kCPU).to(at::kFloat).to(at::kHalf).to(at::kFloat);
    at::Tensor z = z_real.round().clamp(0, static_cast<double>(levels));
    if (!(s > 0).all().item<bool>())
        throw NumericError(what + ": a scale is zero or negative after rounding to fp16");
    // Columns to (row, group) sums: kernels::group_sum, whose last group may be shorter.
    const at::Tensor h = layer.hessian_diag.defined() && layer.hessian_diag.numel() == in
                             ? layer.hessian_diag.to(at::kDouble).reshape({1, in})
                             : at::ones({1, in}, at::TensorOptions().dtype(at::kDouble));
    const at::Tensor target = w_hat.to(at::kDouble);
    // Per-(row, group) loss sum h (w - W_hat)^2 of the grid (s, z) [out, G].
    auto group_loss = [&](const at::Tensor& sc, const at::Tensor& zc) {
        const at::Tensor c = kernels::quantize(w_hat, sc, zc, bits, g);
        const at::Tensor d = kernels::dequantize(c, sc, zc, g).to(at::kDouble) - target;
        return kernels::group_sum(d * d * h, g);
    };
    // A group's value repeated over its columns: [out, G] -> [out, in].
    const at::Tensor col_group =
        at::arange(in, at::TensorOptions().dtype(at::kLong)).div(g, "floor");
    auto per_column = [&](const at::Tensor& p) { return p.index_select(1, col_group); };
    const double nearest_loss = group_loss(s, z).sum().item<double>();
    if (refit_scale) {
        // For each integer neighbour of the real zero-point: the codes it gives, then the
        // weighted least-squares scale for those codes, rounded to fp16; a group takes it
        // only where its loss drops.
        at::Tensor best = group_loss(s, z);
        for (const at::Tensor& zc : {z_real.floor().clamp(0, static_cast<double>(levels)),
                                     z_real.ceil().clamp(0, static_cast<double>(levels))}) {
            at::Tensor sc = s;
            for (int iter = 0; iter < 2; ++iter) {
                const at::Tensor c = kernels::quantize(w_hat, sc, zc, bits, g).to(at::kDouble) -
                                     per_column(zc.to(at::kDouble));
                const at::Tensor num = kernels::group_sum(h * target * c, g),
                                 den = kernels::group_sum(h * c * c, g);
                at::Tensor ls = (num / den.clamp_min(1e-300)).to(at::kFloat);
                ls = at::where((den > 0) & (ls > 0), ls, sc).to(at::kHalf).to(at::kFloat);
                // fp16 underflow or overflow keeps the previous scale.
                ls = at::where((ls > 0) & (ls < 65504.0), ls, sc);
                const at::Tensor loss = group_loss(ls, zc);
                const at::Tensor take = loss < best;
                s = at::where(take, ls, s);
                z = at::where(take, zc, z);
                best = at::where(take, loss, best);
                sc = ls;
            }
        }
    }
    IntegerZeroGrid r;
    r.scale = s;
    r.zeros = z;
    r.codes = kernels::quantize(w_hat, s, z, bits, g).to(at::kByte).contiguous();
    r.w = kernels::dequantize(r.codes, s, z, g);
    r.nearest_loss = nearest_loss;
    return r;
}

}  // namespace zp::quant
