#include "kernels/gptq_block.h"

#include <ATen/TensorOperators.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/device_util.h"
#include "kernels/quantize.h"

namespace zp::kernels {

namespace {

void check_block(const at::Tensor& W1, const at::Tensor& U1, const at::Tensor& S1,
                 const at::Tensor& Z1, int bits, const at::Tensor& codes1, const at::Tensor& Q1,
                 const at::Tensor& Err1)
{
    detail::check_float_matrix(W1, "W1");
    detail::check_bits(bits);
    const int64_t rows = W1.size(0), n = W1.size(1);
    TORCH_CHECK(U1.defined() && U1.dim() == 2 && U1.size(0) == n && U1.size(1) == n, "U1 must be [",
                n, ", ", n, "], got ", U1.defined() ? U1.sizes() : at::IntArrayRef{});
    for (const at::Tensor* t : {&S1, &Z1, &codes1, &Q1, &Err1})
        TORCH_CHECK(t->defined() && t->dim() == 2 && t->size(0) == rows && t->size(1) == n,
                    "GPTQ block tensors must be [", rows, ", ", n, "], got ",
                    t->defined() ? t->sizes() : at::IntArrayRef{});
    for (const at::Tensor* t : {&U1, &S1, &Z1, &Q1, &Err1})
        TORCH_CHECK(t->scalar_type() == W1.scalar_type(),
                    "GPTQ block tensors must share W1's dtype ", W1.scalar_type(), ", got ",
                    t->scalar_type());
    TORCH_CHECK(codes1.scalar_type() == at::kByte, "codes1 must be uint8, got ",
                codes1.scalar_type());
    for (const at::Tensor* t : {&U1, &S1, &Z1, &codes1, &Q1, &Err1})
        TORCH_CHECK(t->device() == W1.device(), "GPTQ block tensors must share W1's device");
}

}  // namespace

void gptq_block_reference(at::Tensor& W1, const at::Tensor& U1, const at::Tensor& S1,
                          const at::Tensor& Z1, int bits, at::Tensor& codes1, at::Tensor& Q1,
                          at::Tensor& Err1)
{
    check_block(W1, U1, S1, Z1, bits, codes1, Q1, Err1);
    const int64_t n = W1.size(1);
    for (int64_t i = 0; i < n; ++i) {
        at::Tensor w = W1.narrow(1, i, 1).contiguous();
        at::Tensor s = S1.narrow(1, i, 1).contiguous();
        at::Tensor z = Z1.narrow(1, i, 1).contiguous();
        // The same kernel as RTN, one column as a group of 1: identical codes for identical input.
        at::Tensor code = quantize(w, s, z, bits, 1);
        at::Tensor q = dequantize(code, s, z, 1);
        codes1.narrow(1, i, 1).copy_(code);
        Q1.narrow(1, i, 1).copy_(q);
        at::Tensor err = (w - q) / U1[i][i];
        if (i + 1 < n)
            W1.narrow(1, i + 1, n - i - 1)
                .sub_(err.matmul(U1.narrow(0, i, 1).narrow(1, i + 1, n - i - 1)));
        Err1.narrow(1, i, 1).copy_(err);
    }
}

void gptq_block(at::Tensor& W1, const at::Tensor& U1, const at::Tensor& S1, const at::Tensor& Z1,
                int bits, at::Tensor& codes1, at::Tensor& Q1, at::Tensor& Err1)
{
    check_block(W1, U1, S1, Z1, bits, codes1, Q1, Err1);
    const bool cpu_rows = W1.is_cpu() && W1.stride(1) == 1 && U1.stride(1) == 1 &&
                          S1.stride(1) == 1 && Z1.stride(1) == 1 && codes1.stride(1) == 1 &&
                          Q1.stride(1) == 1 && Err1.stride(1) == 1;
    if (!cpu_rows) {
        gptq_block_reference(W1, U1, S1, Z1, bits, codes1, Q1, Err1);
        return;
    }
    cpu::gptq_block(W1, U1, S1, Z1, bits, codes1, Q1, Err1);
}

}  // namespace zp::kernels
