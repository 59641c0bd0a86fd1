// CPU GPTQ column block: rows are independent inside a block (column i's error only updates the
// same row's later columns), so each thread takes whole rows and runs the column loop on them in
// registers and L1, with U1 (at most block x block) shared from L2. The arithmetic is the
// reference's, operation for operation: code and value from kernels/quantize_math.h, err = (w - q)
// / u_ii, then w_j -= err * u_ij as one product and one subtraction (this file is compiled with
// -ffp-contract=off, so no fused multiply-add changes the rounding), so the results are bit-equal.
#include <ATen/Dispatch.h>
#include "kernels/parallel.h"

#include <algorithm>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/quantize_math.h"

namespace zp::kernels::cpu {

using namespace zp::kernels::detail;

void gptq_block(at::Tensor& W1, const at::Tensor& U1, const at::Tensor& S1, const at::Tensor& Z1,
                int bits, at::Tensor& codes1, at::Tensor& Q1, at::Tensor& Err1)
{
    const int64_t rows = W1.size(0), n = W1.size(1);
    const int levels = 1 << bits;
    // A row's work is n^2 / 2 multiply-subtracts; a chunk gets about 2^20 of them, so that small
    // blocks stay on the calling thread.
    const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 21) / std::max<int64_t>(n * n, 1));
    AT_DISPATCH_FLOATING_TYPES(W1.scalar_type(), "zp_gptq_block_cpu", [&] {
        scalar_t* wp = W1.data_ptr<scalar_t>();
        const scalar_t* up = U1.data_ptr<scalar_t>();
        const scalar_t* sp = S1.data_ptr<scalar_t>();
        const scalar_t* zp_ = Z1.data_ptr<scalar_t>();
        uint8_t* cp = codes1.data_ptr<uint8_t>();
        scalar_t* qp = Q1.data_ptr<scalar_t>();
        scalar_t* ep = Err1.data_ptr<scalar_t>();
        const int64_t ldw = W1.stride(0), ldu = U1.stride(0), lds = S1.stride(0),
                      ldz = Z1.stride(0), ldc = codes1.stride(0), ldq = Q1.stride(0),
                      lde = Err1.stride(0);
        parallel_for(0, rows, grain, [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r) {
                scalar_t* w = wp + r * ldw;
                const scalar_t* s = sp + r * lds;
                const scalar_t* z = zp_ + r * ldz;
                uint8_t* c = cp + r * ldc;
                scalar_t* q = qp + r * ldq;
                scalar_t* e = ep + r * lde;
                for (int64_t i = 0; i < n; ++i) {
                    const scalar_t wv = w[i];
                    const int code = quant_code(wv, s[i], z[i], levels);
                    const scalar_t qv = dequant_value<scalar_t>(code, s[i], z[i]);
                    c[i] = static_cast<uint8_t>(code);
                    q[i] = qv;
                    const scalar_t* u = up + i * ldu;
                    const scalar_t err = (wv - qv) / u[i];
                    e[i] = err;
                    for (int64_t j = i + 1; j < n; ++j)
                        w[j] -= err * u[j];
                }
            }
        });
    });
}

}  // namespace zp::kernels::cpu
