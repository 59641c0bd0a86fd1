#include "core/analysis/outliers.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/common/error.h"
#include "kernels/quantize.h"

namespace zp::analysis {

namespace {

void check_layer(const at::Tensor& W, const quant::LayerResult& layer)
{
    const std::string what = "block " + std::to_string(layer.block) + " " + layer.name;
    if (layer.skipped || !layer.codes.defined())
        throw InvalidArgument(what + ": the layer was not quantized");
    if (!W.defined() || W.dim() != 2 || W.size(0) != layer.out_features ||
        W.size(1) != layer.in_features)
        throw InvalidArgument(what + ": the weights do not match the layer's shape");
}

// A reconstruction further off than half a step lies outside its group's grid.
bool beyond_half_step(double err, double step)
{
    return err > 0.5 * step * (1.0 + 1e-6);
}

}  // namespace

std::vector<ClippedWeight> clipped_outliers(const at::Tensor& W, const quant::LayerResult& layer,
                                            double k)
{
    check_layer(W, layer);
    const at::Tensor w = W.to(at::kCPU, at::kDouble).contiguous();
    const at::Tensor what_hat =
        quant::QuantizedModel::dequantize(layer).to(at::kDouble).contiguous();
    const int64_t rows = w.size(0), cols = w.size(1);
    const int64_t g = layer.group_size <= 0 ? cols : layer.group_size;
    // The layer's own statistics (a row that holds a super-weight is often loud as a whole).
    const double mean = w.mean().item<double>();
    const double sd = w.std(/*unbiased=*/false).item<double>();
    const at::Tensor scale = layer.scale.to(at::kDouble).contiguous();
    const double* wp = w.data_ptr<double>();
    const double* hp = what_hat.data_ptr<double>();
    const double* scp = scale.data_ptr<double>();
    const int64_t groups = scale.size(1);
    std::vector<ClippedWeight> out;
    if (!(sd > 0.0))
        return out;
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) {
            const double v = wp[r * cols + c];
            const double z = std::abs(v - mean) / sd;
            if (z < k)
                continue;
            const double step = std::abs(scp[r * groups + c / g]);
            const double err = std::abs(hp[r * cols + c] - v);
            if (beyond_half_step(err, step))
                out.push_back({r, c, v, hp[r * cols + c], z, step});
        }
    }
    std::sort(out.begin(), out.end(), [](const ClippedWeight& a, const ClippedWeight& b) {
        return std::abs(a.value) > std::abs(b.value);
    });
    return out;
}

OutlierTable outlier_table(const at::Tensor& W, const quant::LayerResult& layer, double k)
{
    check_layer(W, layer);
    OutlierTable t;
    t.k = k;
    const at::Tensor w = W.to(at::kCPU, at::kDouble).contiguous();
    const int64_t rows = w.size(0), cols = w.size(1);
    t.weights = rows * cols;
    t.mean = w.mean().item<double>();
    t.sd = w.std(/*unbiased=*/false).item<double>();
    if (!(t.sd > 0.0))
        return t;
    const int64_t g =
        kernels::resolve_group_size(layer.group_size <= 0 ? -1 : layer.group_size, cols);
    // Min-Max on the float32 weights, as the pipeline computes its own reference.
    const at::Tensor w32 = W.to(at::kCPU, at::kFloat).contiguous();
    at::Tensor mm_scale, mm_zero;
    kernels::minmax_params(w32, layer.bits, g, 1.0, &mm_scale, &mm_zero);
    const at::Tensor mm_hat =
        kernels::fake_quantize(w32, mm_scale, mm_zero, layer.bits, g).to(at::kDouble).contiguous();
    mm_scale = mm_scale.to(at::kDouble).contiguous();
    const at::Tensor hat = quant::QuantizedModel::dequantize(layer).to(at::kDouble).contiguous();
    const at::Tensor scale = layer.scale.to(at::kDouble).contiguous();
    const at::Tensor h = layer.hessian_diag.defined() && layer.hessian_diag.numel() == cols
                             ? layer.hessian_diag.to(at::kCPU, at::kDouble).contiguous()
                             : at::ones({cols}, at::kDouble);
    const double* wp = w.data_ptr<double>();
    const double* hatp = hat.data_ptr<double>();
    const double* mmp = mm_hat.data_ptr<double>();
    const double* sp = scale.data_ptr<double>();
    const double* msp = mm_scale.data_ptr<double>();
    const double* hp = h.data_ptr<double>();
    const int64_t groups = scale.size(1), mm_groups = mm_scale.size(1);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
            const double v = wp[r * cols + c];
            const double z = std::abs(v - t.mean) / t.sd;
            if (z < k)
                continue;
            OutlierWeight o;
            o.row = r;
            o.col = c;
            o.value = v;
            o.sigmas = z;
            o.importance = hp[c];
            o.reconstructed = hatp[r * cols + c];
            o.step = std::abs(sp[r * groups + c / g]);
            o.reconstructed_minmax = mmp[r * cols + c];
            o.step_minmax = std::abs(msp[r * mm_groups + c / g]);
            o.clipped = beyond_half_step(std::abs(o.reconstructed - v), o.step);
            o.clipped_minmax =
                beyond_half_step(std::abs(o.reconstructed_minmax - v), o.step_minmax);
            t.clipped += o.clipped;
            t.clipped_minmax += o.clipped_minmax;
            t.outliers.push_back(o);
        }
    std::sort(t.outliers.begin(), t.outliers.end(),
              [](const OutlierWeight& a, const OutlierWeight& b) {
                  return std::abs(a.value) > std::abs(b.value);
              });
    return t;
}

}  // namespace zp::analysis
