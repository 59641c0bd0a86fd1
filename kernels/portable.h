// Host/device portability for the scalar maths shared by the CPU and CUDA kernels.
#pragma once

#include <cmath>

#if defined(__CUDACC__)
#define ZP_HD __host__ __device__ __forceinline__
#else
#define ZP_HD inline
#endif

namespace zp::kernels::detail {

ZP_HD double dmin(double a, double b)
{
    return a < b ? a : b;
}
ZP_HD double dmax(double a, double b)
{
    return a > b ? a : b;
}
ZP_HD double dclamp(double v, double lo, double hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}
ZP_HD int imin(int a, int b)
{
    return a < b ? a : b;
}
ZP_HD int imax(int a, int b)
{
    return a > b ? a : b;
}
// Round half to even, as torch.round / std::nearbyint in the default rounding mode.
ZP_HD double round_half_even(double v)
{
    return ::nearbyint(v);
}
ZP_HD float round_half_even(float v)
{
    return ::nearbyintf(v);
}
ZP_HD double inf_value()
{
    return HUGE_VAL;
}
// floor for |v| < 2^62 without a libm call (baseline x86-64 has no SSE4.1 roundsd).
ZP_HD double fast_floor(double v)
{
    double t = static_cast<double>(static_cast<long long>(v));
    return t > v ? t - 1.0 : t;
}

}  // namespace zp::kernels::detail
