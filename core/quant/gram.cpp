#include "core/quant/gram.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <climits>

#include "core/common/error.h"

#if defined(ZP_HAVE_BLAS)
extern "C" void dsyrk_(const char* uplo, const char* trans, const int* n, const int* k,
                       const double* alpha, const double* a, const int* lda, const double* beta,
                       double* c, const int* ldc);
#endif

namespace zp::quant {

GramAccumulator::GramAccumulator(int64_t n, at::Device dev, at::Tensor* buffer)
    : H_(at::zeros({n, n}, at::TensorOptions().dtype(at::kDouble).device(dev))),
      buffer_(buffer ? buffer : &own_buffer_),
      n_(n)
{
#if defined(ZP_HAVE_BLAS)
    syrk_ = dev.is_cpu() && n <= INT_MAX;
#endif
}

void GramAccumulator::add(const at::Tensor& x)
{
    if (x.dim() != 2 || x.size(1) != n_)
        throw InvalidArgument("GramAccumulator: expected inputs [tokens, " + std::to_string(n_) +
                              "], got " + std::to_string(x.dim()) + " dimensions");
    const int64_t rows = x.size(0);
    if (rows == 0)
        return;
    // x in float64, contiguous, on H's device: as given, or copied into the reused buffer.
    at::Tensor xd = x;
    if (x.scalar_type() != at::kDouble || !x.is_contiguous() || x.device() != H_.device()) {
        const int64_t numel = rows * n_;
        at::Tensor& buf = *buffer_;
        if (!buf.defined() || buf.numel() < numel || buf.device() != H_.device() ||
            buf.scalar_type() != at::kDouble)
            buf = at::empty({numel}, H_.options());
        xd = buf.narrow(0, 0, numel).view({rows, n_});
        xd.copy_(x);
    }
    tokens_ += rows;
#if defined(ZP_HAVE_BLAS)
    if (syrk_) {
        // Row-major xd [rows, n] is column-major A = xd^T [n, rows] with lda = n, and
        // A A^T = xd^T xd. Column-major "U" is the row-major lower triangle of H. The BLAS counts
        // rows in an int: slices of at most INT_MAX rows.
        const int n = static_cast<int>(n_);
        const double one = 1.0;
        for (int64_t r0 = 0; r0 < rows; r0 += INT_MAX) {
            const int k = static_cast<int>(std::min<int64_t>(INT_MAX, rows - r0));
            dsyrk_("U", "N", &n, &k, &one, xd.data_ptr<double>() + r0 * n_, &n, &one,
                   H_.data_ptr<double>(), &n);
        }
        return;
    }
#endif
    H_.addmm_(xd.t(), xd);
}

at::Tensor GramAccumulator::finish()
{
    own_buffer_ = at::Tensor();
    if (syrk_)  // mirror the lower triangle
        H_ = at::tril(H_) + at::tril(H_, -1).t();
    syrk_ = false;
    return H_;
}

}  // namespace zp::quant
