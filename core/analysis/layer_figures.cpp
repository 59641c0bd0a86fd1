#include "core/analysis/layer_figures.h"

#include <ATen/ATen.h>

#include "core/common/error.h"
#include "core/quant/quantizer.h"
#include "kernels/quantize.h"

namespace zp::analysis {

LayerFigures layer_figures(const at::Tensor& W, const quant::LayerResult& r)
{
    const std::string what = "block " + std::to_string(r.block) + " " + r.name;
    if (r.skipped || !r.codes.defined())
        throw InvalidArgument(what + ": the layer was not quantized");
    if (W.dim() != 2 || W.size(0) != r.out_features || W.size(1) != r.in_features)
        throw InvalidArgument(what + ": weights do not match the layer's shape");
    const int64_t in = r.in_features;
    const int64_t gs = r.group_size > 0 && r.group_size < in ? r.group_size : in;
    LayerFigures f;
    at::Tensor h = r.hessian_diag.defined() && r.hessian_diag.numel() == in
                       ? r.hessian_diag.to(at::kDouble).clamp_min(0.0)
                       : at::ones({in}, at::kDouble);
    f.importance = h;
    // Normalised per group, the last one shorter when gs does not divide in; a group whose
    // importance sums to 0 counts uniformly (as the kernels do).
    at::Tensor hn = kernels::normalized_group_importance(h, gs);
    at::Tensor W64 = W.to(at::kDouble);
    at::Tensor dW = quant::QuantizedModel::dequantize(r).to(at::kDouble) - W64;
    f.group_loss = kernels::group_sum(dW * dW * hn.unsqueeze(0), gs);
    quant::QuantConfig c;
    c.method = quant::Method::MinMax;
    c.bits = r.bits;
    c.group_size = gs == in ? -1 : gs;
    f.group_loss_minmax = quant::quantize_layer(W.to(at::kFloat), at::Tensor(), c, what, h)
                              .group_loss.to(at::kDouble);
    return f;
}

}  // namespace zp::analysis
