// The uniform quantizer with a real-valued zero-point (core/MATHS.md section 1), as scalar
// functions shared by the CPU and CUDA kernels and by the references. One definition, so that the
// codes a kernel writes, the loss the search reports and the loss the tests recompute agree bit
// for bit.
#pragma once

#include "kernels/portable.h"

namespace zp::kernels::detail {

// code(w) = clamp(round(w/s + z), 0, N-1), round half to even, computed in T (float or double).
template <typename T>
ZP_HD int quant_code(T w, T s, T z, int levels)
{
    T v = round_half_even(w / s + z);
    if (!(v > T(0)))  // also maps NaN to 0 (inputs are checked for NaN before any kernel runs)
        return 0;
    if (v > T(levels - 1))
        return levels - 1;
    return static_cast<int>(v);
}

// Q(w) = s * (code - z)
template <typename T>
ZP_HD T dequant_value(int code, T s, T z)
{
    return s * (T(code) - z);
}

template <typename T>
ZP_HD T fake_quant_value(T w, T s, T z, int levels)
{
    return dequant_value(quant_code(w, s, z, levels), s, z);
}

// Min-Max parameters of one group (with clip factor b in (0, 1]); a constant group gets s = 1.
template <typename T>
ZP_HD void minmax_params(T wmin, T wmax, int levels, T clip, T* scale, T* zero)
{
    T range = wmax - wmin;
    if (!(range > T(0))) {
        *scale = T(1);
        *zero = round_half_even(-wmin);
        return;
    }
    T s = clip * range / T(levels - 1);
    T z = -wmin / s;
    if (clip < T(1))
        z -= (T(1) - clip) * T(levels - 1) / (T(2) * clip);
    *scale = s;
    *zero = round_half_even(z);
}

// sum_i h_i (Q(w_i) - w_i)^2 over one group, accumulated in double. w, h strided by 1.
template <typename T, typename H>
ZP_HD double direct_group_loss(const T* w, const H* h, int n, T s, T z, int levels)
{
    double acc = 0.0;
    for (int i = 0; i < n; ++i) {
        double e =
            static_cast<double>(fake_quant_value(w[i], s, z, levels)) - static_cast<double>(w[i]);
        acc += static_cast<double>(h[i]) * e * e;
    }
    return acc;
}

}  // namespace zp::kernels::detail
