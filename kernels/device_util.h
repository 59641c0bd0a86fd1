// Small helpers shared by the dispatchers (kernels/*.cpp): input checks and the CUDA stream.
#pragma once

#include <string>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>
#if defined(ZP_TORCH_HAS_CUDA)
#include <c10/cuda/CUDAGuard.h>
#endif

namespace zp::kernels::detail {

inline void check_float_matrix(const at::Tensor& t, const char* what)
{
    TORCH_CHECK(t.defined(), what, " is undefined");
    TORCH_CHECK(t.dim() == 2, what, " must be 2-D [rows, cols], got shape ", t.sizes());
    TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble, what,
                " must be float32 or float64, got ", t.scalar_type());
}

inline void check_bits(int bits)
{
    TORCH_CHECK(bits >= 2 && bits <= 8, "bits must be in 2..8, got ", bits);
}

inline void check_params(const at::Tensor& p, int64_t rows, int64_t groups, const char* what)
{
    TORCH_CHECK(p.defined() && p.dim() == 2 && p.size(0) == rows && p.size(1) == groups, what,
                " must have shape [", rows, ", ", groups, "], got ", p.sizes());
}

// Finishing step shared by the tensor-op search paths (CUDA, baseline): the chosen scale and offset
// (float64, one per group) stored in w's dtype, their loss evaluated exactly, and Min-Max kept
// where it is strictly better. index: chosen grid index per group (any integer dtype).
}  // namespace zp::kernels::detail
#include "kernels/zero_point.h"
namespace zp::kernels::detail {
SearchResult finalize_search(const at::Tensor& w, const at::Tensor& h, int bits, int64_t g,
                             const at::Tensor& scale_d, const at::Tensor& offset_d,
                             const at::Tensor& index);

// The stream handle for CUDA launches (nullptr = default stream).
void* current_cuda_stream(const at::Tensor& t);

// Makes t's device the current one for the launches in its scope (the kernels launch on the
// current device, with t's stream): a tensor on cuda:1 runs on cuda:1 whatever device the thread
// had. A no-op without CUDA in this libtorch (no tensor can be on a GPU then).
class CudaDeviceGuard {
public:
    explicit CudaDeviceGuard(const at::Tensor& t)
#if defined(ZP_TORCH_HAS_CUDA)
        : guard_(t.device())
#endif
    {
        (void)t;
    }

private:
#if defined(ZP_TORCH_HAS_CUDA)
    c10::cuda::CUDAGuard guard_;
#endif
};

}  // namespace zp::kernels::detail
