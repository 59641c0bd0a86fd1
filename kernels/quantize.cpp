#include "kernels/quantize.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/constant_pad_nd.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/full.h>
#include <ATen/ops/full_like.h>
#include <ATen/ops/where.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/device_util.h"
#if defined(ZP_HAVE_CUDA_KERNELS)
#include "kernels/cuda/cuda_launchers.h"
#endif
#if defined(ZP_TORCH_HAS_CUDA)
#include <c10/cuda/CUDAStream.h>
#endif

namespace zp::kernels {

namespace detail {

void* current_cuda_stream(const at::Tensor& t)
{
#if defined(ZP_TORCH_HAS_CUDA)
    return c10::cuda::getCurrentCUDAStream(t.device().index()).stream();
#else
    (void)t;
    return nullptr;
#endif
}

}  // namespace detail

namespace {

using detail::check_bits;
using detail::check_float_matrix;
using detail::check_params;

#if !defined(ZP_HAVE_CUDA_KERNELS)
[[noreturn]] void no_cuda(const char* op)
{
    TORCH_CHECK(false, op, ": tensor is on CUDA but this build has no CUDA kernels");
}
#else
int dtype_code(const at::Tensor& t)
{
    return t.scalar_type() == at::kDouble ? 1 : 0;
}
#endif

}  // namespace

int64_t resolve_group_size(int64_t group_size, int64_t cols)
{
    if (group_size == -1 || group_size >= cols)
        return cols;
    TORCH_CHECK(group_size > 0, "group size must be positive or -1 (channel-wise), got ",
                group_size);
    return group_size;
}

at::Tensor group_sum(const at::Tensor& x, int64_t g)
{
    TORCH_CHECK(x.dim() == 2 && g > 0, "group_sum: x must be 2-D and g > 0");
    const int64_t rows = x.size(0), cols = x.size(1), groups = group_count(cols, g);
    const int64_t pad = groups * g - cols;
    // Zero padding of the short last group: it adds nothing to the sum.
    at::Tensor xp = pad > 0 ? at::constant_pad_nd(x, {0, pad}, 0.0) : x;
    return xp.reshape({rows, groups, g}).sum(2);
}

at::Tensor normalized_group_importance(const at::Tensor& h_in, int64_t g)
{
    TORCH_CHECK(h_in.dim() == 1 && g > 0, "normalized_group_importance: h must be 1-D and g > 0");
    at::Tensor h = h_in.to(at::kDouble);
    const int64_t cols = h.size(0), groups = group_count(cols, g);
    at::Tensor sums = group_sum(h.unsqueeze(0), g).squeeze(0);  // [groups]
    at::Tensor lens = at::full({groups}, static_cast<double>(g), h.options());
    lens.narrow(0, groups - 1, 1).fill_(static_cast<double>(cols - (groups - 1) * g));
    at::Tensor col_group = at::arange(cols, h.options().dtype(at::kLong)).div(g, "floor");
    at::Tensor s = sums.index_select(0, col_group), n = lens.index_select(0, col_group);
    return at::where(s > 0, h / s.clamp_min(1e-300), 1.0 / n);
}

at::Tensor quantize(const at::Tensor& w_in, const at::Tensor& scale_in, const at::Tensor& zero_in,
                    int bits, int64_t group_size)
{
    check_float_matrix(w_in, "w");
    check_bits(bits);
    const int64_t g = resolve_group_size(group_size, w_in.size(1));
    at::Tensor w = w_in.contiguous();
    at::Tensor scale = scale_in.to(w.scalar_type()).contiguous();
    at::Tensor zero = zero_in.to(w.scalar_type()).contiguous();
    check_params(scale, w.size(0), group_count(w.size(1), g), "scale");
    check_params(zero, w.size(0), group_count(w.size(1), g), "zero");
    at::Tensor codes = at::empty(w.sizes(), w.options().dtype(at::kByte));
    if (w.is_cuda()) {
#if defined(ZP_HAVE_CUDA_KERNELS)
        detail::CudaDeviceGuard device_guard(w);
        cuda::launch_quantize(dtype_code(w), w.data_ptr(), scale.data_ptr(), zero.data_ptr(),
                              w.size(0), w.size(1), g, bits, codes.data_ptr<uint8_t>(),
                              detail::current_cuda_stream(w));
        return codes;
#else
        no_cuda("quantize");
#endif
    }
    cpu::quantize(w, scale, zero, bits, g, codes);
    return codes;
}

at::Tensor dequantize(const at::Tensor& codes_in, const at::Tensor& scale_in,
                      const at::Tensor& zero_in, int64_t group_size)
{
    TORCH_CHECK(codes_in.dim() == 2 && codes_in.scalar_type() == at::kByte,
                "codes must be a 2-D uint8 tensor");
    const int64_t g = resolve_group_size(group_size, codes_in.size(1));
    at::Tensor codes = codes_in.contiguous();
    TORCH_CHECK(scale_in.scalar_type() == at::kFloat || scale_in.scalar_type() == at::kDouble,
                "scale must be float32 or float64");
    at::Tensor scale = scale_in.contiguous();
    at::Tensor zero = zero_in.to(scale.scalar_type()).contiguous();
    check_params(scale, codes.size(0), group_count(codes.size(1), g), "scale");
    check_params(zero, codes.size(0), group_count(codes.size(1), g), "zero");
    at::Tensor out = at::empty(codes.sizes(), scale.options());
    if (codes.is_cuda()) {
#if defined(ZP_HAVE_CUDA_KERNELS)
        detail::CudaDeviceGuard device_guard(codes);
        cuda::launch_dequantize(dtype_code(scale), codes.data_ptr<uint8_t>(), scale.data_ptr(),
                                zero.data_ptr(), codes.size(0), codes.size(1), g, out.data_ptr(),
                                detail::current_cuda_stream(codes));
        return out;
#else
        no_cuda("dequantize");
#endif
    }
    cpu::dequantize(codes, scale, zero, g, out);
    return out;
}

at::Tensor fake_quantize(const at::Tensor& w_in, const at::Tensor& scale_in,
                         const at::Tensor& zero_in, int bits, int64_t group_size)
{
    check_float_matrix(w_in, "w");
    check_bits(bits);
    const int64_t g = resolve_group_size(group_size, w_in.size(1));
    at::Tensor w = w_in.contiguous();
    at::Tensor scale = scale_in.to(w.scalar_type()).contiguous();
    at::Tensor zero = zero_in.to(w.scalar_type()).contiguous();
    check_params(scale, w.size(0), group_count(w.size(1), g), "scale");
    check_params(zero, w.size(0), group_count(w.size(1), g), "zero");
    at::Tensor out = at::empty_like(w);
    if (w.is_cuda()) {
#if defined(ZP_HAVE_CUDA_KERNELS)
        detail::CudaDeviceGuard device_guard(w);
        cuda::launch_fake_quantize(dtype_code(w), w.data_ptr(), scale.data_ptr(), zero.data_ptr(),
                                   w.size(0), w.size(1), g, bits, out.data_ptr(),
                                   detail::current_cuda_stream(w));
        return out;
#else
        no_cuda("fake_quantize");
#endif
    }
    cpu::fake_quantize(w, scale, zero, bits, g, out);
    return out;
}

at::Tensor group_loss(const at::Tensor& w_in, const at::Tensor& h_in, const at::Tensor& scale_in,
                      const at::Tensor& zero_in, int bits, int64_t group_size, bool normalize)
{
    check_float_matrix(w_in, "w");
    check_bits(bits);
    const int64_t g = resolve_group_size(group_size, w_in.size(1));
    TORCH_CHECK(h_in.dim() == 1 && h_in.size(0) == w_in.size(1), "h must be [cols] = [",
                w_in.size(1), "], got ", h_in.sizes());
    if (w_in.is_cuda()) {
        // Device-agnostic: fake-quantize on the device, reduce with tensor ops.
        at::Tensor fq = fake_quantize(w_in, scale_in, zero_in, bits, g).to(at::kDouble);
        at::Tensor h = normalize ? normalized_group_importance(h_in, g) : h_in.to(at::kDouble);
        at::Tensor e = fq - w_in.to(at::kDouble);
        return group_sum(e * e * h.unsqueeze(0), g);
    }
    at::Tensor w = w_in.contiguous();
    at::Tensor h = h_in.to(at::kDouble).contiguous();
    at::Tensor scale = scale_in.to(w.scalar_type()).contiguous();
    at::Tensor zero = zero_in.to(w.scalar_type()).contiguous();
    check_params(scale, w.size(0), group_count(w.size(1), g), "scale");
    check_params(zero, w.size(0), group_count(w.size(1), g), "zero");
    at::Tensor out =
        at::empty({w.size(0), group_count(w.size(1), g)}, w.options().dtype(at::kDouble));
    cpu::group_loss(w, h, scale, zero, bits, g, normalize, out);
    return out;
}

void minmax_params(const at::Tensor& w_in, int bits, int64_t group_size, double clip,
                   at::Tensor* scale, at::Tensor* zero)
{
    check_float_matrix(w_in, "w");
    check_bits(bits);
    TORCH_CHECK(clip > 0.0 && clip <= 1.0, "clip factor must be in (0, 1], got ", clip);
    const int64_t g = resolve_group_size(group_size, w_in.size(1));
    at::Tensor w = w_in.contiguous();
    at::Tensor s = at::empty({w.size(0), group_count(w.size(1), g)}, w.options());
    at::Tensor z = at::empty_like(s);
    if (w.is_cuda()) {
#if defined(ZP_HAVE_CUDA_KERNELS)
        // On the device: no copy of the weight to the host.
        detail::CudaDeviceGuard device_guard(w);
        cuda::launch_minmax_params(dtype_code(w), w.data_ptr(), w.size(0), w.size(1), g, bits, clip,
                                   s.data_ptr(), z.data_ptr(), detail::current_cuda_stream(w));
        *scale = s;
        *zero = z;
        return;
#else
        no_cuda("minmax_params");
#endif
    }
    cpu::minmax_params(w, bits, g, clip, s, z);
    *scale = s;
    *zero = z;
}

}  // namespace zp::kernels
