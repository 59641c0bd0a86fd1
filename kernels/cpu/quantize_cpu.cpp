#include <ATen/Dispatch.h>
#include "kernels/parallel.h"

#include <algorithm>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/quantize_math.h"

namespace zp::kernels::cpu {

using namespace zp::kernels::detail;

namespace {

// Rows (and groups) are independent. A chunk gets at least this many weights, so that a thread is
// only started for work that outlasts starting it (tiny matrices stay on the calling thread).
constexpr int64_t kChunkWeights = 65536;

int64_t grain(int64_t per_item)
{
    return std::max<int64_t>(16, kChunkWeights / std::max<int64_t>(per_item, 1));
}

}  // namespace

void quantize(const at::Tensor& w, const at::Tensor& scale, const at::Tensor& zero, int bits,
              int64_t g, at::Tensor& codes)
{
    const int64_t rows = w.size(0), cols = w.size(1), groups = group_count(cols, g);
    const int levels = 1 << bits;
    uint8_t* out = codes.data_ptr<uint8_t>();
    AT_DISPATCH_FLOATING_TYPES(w.scalar_type(), "zp_quantize_cpu", [&] {
        const scalar_t* wp = w.data_ptr<scalar_t>();
        const scalar_t* sp = scale.data_ptr<scalar_t>();
        const scalar_t* zp_ = zero.data_ptr<scalar_t>();
        parallel_for(0, rows, grain(cols), [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r)
                for (int64_t c = 0; c < cols; ++c) {
                    int64_t k = r * groups + c / g;
                    out[r * cols + c] =
                        static_cast<uint8_t>(quant_code(wp[r * cols + c], sp[k], zp_[k], levels));
                }
        });
    });
}

void dequantize(const at::Tensor& codes, const at::Tensor& scale, const at::Tensor& zero, int64_t g,
                at::Tensor& out)
{
    const int64_t rows = codes.size(0), cols = codes.size(1), groups = group_count(cols, g);
    const uint8_t* cp = codes.data_ptr<uint8_t>();
    AT_DISPATCH_FLOATING_TYPES(scale.scalar_type(), "zp_dequantize_cpu", [&] {
        const scalar_t* sp = scale.data_ptr<scalar_t>();
        const scalar_t* zp_ = zero.data_ptr<scalar_t>();
        scalar_t* op = out.data_ptr<scalar_t>();
        parallel_for(0, rows, grain(cols), [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r)
                for (int64_t c = 0; c < cols; ++c) {
                    int64_t k = r * groups + c / g;
                    op[r * cols + c] = dequant_value<scalar_t>(cp[r * cols + c], sp[k], zp_[k]);
                }
        });
    });
}

void fake_quantize(const at::Tensor& w, const at::Tensor& scale, const at::Tensor& zero, int bits,
                   int64_t g, at::Tensor& out)
{
    const int64_t rows = w.size(0), cols = w.size(1), groups = group_count(cols, g);
    const int levels = 1 << bits;
    AT_DISPATCH_FLOATING_TYPES(w.scalar_type(), "zp_fake_quantize_cpu", [&] {
        const scalar_t* wp = w.data_ptr<scalar_t>();
        const scalar_t* sp = scale.data_ptr<scalar_t>();
        const scalar_t* zp_ = zero.data_ptr<scalar_t>();
        scalar_t* op = out.data_ptr<scalar_t>();
        parallel_for(0, rows, grain(cols), [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r)
                for (int64_t c = 0; c < cols; ++c) {
                    int64_t k = r * groups + c / g;
                    op[r * cols + c] = fake_quant_value(wp[r * cols + c], sp[k], zp_[k], levels);
                }
        });
    });
}

void group_loss(const at::Tensor& w, const at::Tensor& h, const at::Tensor& scale,
                const at::Tensor& zero, int bits, int64_t g, bool normalize, at::Tensor& out)
{
    const int64_t rows = w.size(0), cols = w.size(1), groups = group_count(cols, g);
    const int levels = 1 << bits;
    const double* hp = h.data_ptr<double>();
    double* op = out.data_ptr<double>();
    // Importance per group, shared by all rows.
    std::vector<double> hn =
        normalize ? normalized_importance(h, g) : std::vector<double>(hp, hp + cols);
    AT_DISPATCH_FLOATING_TYPES(w.scalar_type(), "zp_group_loss_cpu", [&] {
        const scalar_t* wp = w.data_ptr<scalar_t>();
        const scalar_t* sp = scale.data_ptr<scalar_t>();
        const scalar_t* zp_ = zero.data_ptr<scalar_t>();
        parallel_for(0, rows * groups, grain(g), [&](int64_t k0, int64_t k1) {
            for (int64_t k = k0; k < k1; ++k) {
                int64_t r = k / groups, j = k % groups;
                const int64_t n = std::min(g, cols - j * g);  // the last group may be short
                op[k] = direct_group_loss(wp + r * cols + j * g, hn.data() + j * g,
                                          static_cast<int>(n), sp[k], zp_[k], levels);
            }
        });
    });
}

void minmax_params(const at::Tensor& w, int bits, int64_t g, double clip, at::Tensor& scale,
                   at::Tensor& zero)
{
    const int64_t rows = w.size(0), cols = w.size(1), groups = group_count(cols, g);
    const int levels = 1 << bits;
    AT_DISPATCH_FLOATING_TYPES(w.scalar_type(), "zp_minmax_cpu", [&] {
        const scalar_t* wp = w.data_ptr<scalar_t>();
        scalar_t* sp = scale.data_ptr<scalar_t>();
        scalar_t* zp_ = zero.data_ptr<scalar_t>();
        parallel_for(0, rows * groups, grain(g), [&](int64_t k0, int64_t k1) {
            for (int64_t k = k0; k < k1; ++k) {
                const int64_t j = k % groups, n = std::min(g, cols - j * g);
                const scalar_t* p = wp + (k / groups) * cols + j * g;
                auto mm = std::minmax_element(p, p + n);
                detail::minmax_params<scalar_t>(*mm.first, *mm.second, levels,
                                                static_cast<scalar_t>(clip), sp + k, zp_ + k);
            }
        });
    });
}

}  // namespace zp::kernels::cpu
