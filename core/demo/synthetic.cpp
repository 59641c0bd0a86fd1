#include "core/demo/synthetic.h"

#include <ATen/ops/empty.h>

#include <cmath>
#include <random>
#include <vector>

namespace zp::demo {

namespace {

std::vector<char> outlier_columns(int64_t in, uint64_t seed)
{
    std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<char> out(static_cast<size_t>(in), 0);
    for (int64_t c = 0; c < in; ++c)
        out[c] = u(rng) < 0.005;
    return out;
}

}  // namespace

at::Tensor synthetic_weight(int64_t out, int64_t in, uint64_t seed)
{
    at::Tensor w = at::empty({out, in}, at::kFloat);
    float* p = w.data_ptr<float>();
    std::vector<char> outl = outlier_columns(in, seed);
    std::mt19937_64 rng(seed);
    std::student_t_distribution<double> t5(5.0);
    std::lognormal_distribution<double> spread(0.0, 0.3);
    const double base = 0.02;
    for (int64_t r = 0; r < out; ++r) {
        double row = base * spread(rng);
        for (int64_t c = 0; c < in; ++c) {
            double v = row * t5(rng) / std::sqrt(5.0 / 3.0);
            if (outl[c])
                v *= 4.0;
            p[r * in + c] = static_cast<float>(v);
        }
    }
    return w;
}

at::Tensor synthetic_importance(int64_t in, uint64_t seed)
{
    at::Tensor h = at::empty({in}, at::kDouble);
    double* p = h.data_ptr<double>();
    std::vector<char> outl = outlier_columns(in, seed);
    std::mt19937_64 rng(seed + 1);
    std::lognormal_distribution<double> ln(0.0, 1.0);
    for (int64_t c = 0; c < in; ++c)
        p[c] = ln(rng) * (outl[c] ? 50.0 : 1.0);
    return h;
}

}  // namespace zp::demo
