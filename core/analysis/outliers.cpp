#include "core/analysis/outliers.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/common/error.h"

namespace zp::analysis {

std::vector<ClippedWeight> clipped_outliers(const at::Tensor& W, const quant::LayerResult& layer,
                                            double k)
{
    const std::string what = "block " + std::to_string(layer.block) + " " + layer.name;
    if (layer.skipped || !layer.codes.defined())
        throw InvalidArgument(what + ": the layer was not quantized");
    if (!W.defined() || W.dim() != 2 || W.size(0) != layer.out_features ||
        W.size(1) != layer.in_features)
        throw InvalidArgument(what + ": the weights do not match the layer's shape");
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
            if (err > 0.5 * step * (1.0 + 1e-6))
                out.push_back({r, c, v, hp[r * cols + c], z, step});
        }
    }
    std::sort(out.begin(), out.end(), [](const ClippedWeight& a, const ClippedWeight& b) {
        return std::abs(a.value) > std::abs(b.value);
    });
    return out;
}

}  // namespace zp::analysis
