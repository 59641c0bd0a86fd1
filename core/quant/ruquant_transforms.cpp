#include "core/quant/ruquant_transforms.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/eye.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>
#include <string>

#include "core/common/error.h"

namespace zp::quant {

namespace {

const at::TensorOptions kF64 = at::TensorOptions().dtype(at::kDouble).device(at::kCPU);

std::string num(double v)
{
    std::ostringstream s;
    s.precision(17);
    s << v;
    return s.str();
}

// U[0,1) with 53 random bits: the same stream on every platform (std::uniform_real_distribution
// is implementation-defined).
double uniform01(std::mt19937_64& rng)
{
    return double(rng() >> 11) * 0x1.0p-53;
}

// Uniform integer in [0, n) by rejection (unbiased, platform-independent).
uint64_t uniform_below(std::mt19937_64& rng, uint64_t n)
{
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do {
        r = rng();
    } while (r >= limit);
    return r % n;
}

// Fisher-Yates shuffle of 0..n-1.
std::vector<int64_t> random_permutation(std::mt19937_64& rng, int64_t n)
{
    std::vector<int64_t> p(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
        p[size_t(i)] = i;
    for (int64_t i = n - 1; i > 0; --i)
        std::swap(p[size_t(i)], p[size_t(uniform_below(rng, uint64_t(i) + 1))]);
    return p;
}

// u_i i.i.d. U[0,1), rescaled to the given norm (redrawn in the practically impossible case u = 0).
std::vector<double> uniform_target(std::mt19937_64& rng, int64_t n, double norm)
{
    std::vector<double> u(static_cast<size_t>(n));
    double s = 0.0;
    do {
        s = 0.0;
        for (auto& v : u) {
            v = uniform01(rng);
            s += v * v;
        }
    } while (!(s > 0.0));
    const double f = norm / std::sqrt(s);
    for (auto& v : u)
        v *= f;
    return u;
}

void check_norms(double na, double nb, const char* what)
{
    if (std::abs(na - nb) > 1e-9 * std::max(na, nb))
        throw InvalidArgument(std::string(what) + ": |a| and |b| must be equal, got |a| = " +
                              num(na) + ", |b| = " + num(nb));
}

// H = I - 2 v v^T / (v^T v), v = a - b, from plain vectors (norms already checked).
at::Tensor householder_from(const double* a, const double* b, int64_t n)
{
    std::vector<double> v(static_cast<size_t>(n));
    double vv = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        v[size_t(i)] = a[i] - b[i];
        vv += v[size_t(i)] * v[size_t(i)];
    }
    at::Tensor H = at::eye(n, kF64);
    if (!(vv > 0.0))
        return H;
    double* h = H.data_ptr<double>();
    const double f = 2.0 / vv;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j)
            h[i * n + j] -= f * v[size_t(i)] * v[size_t(j)];
    return H;
}

double norm_of(const double* a, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i)
        s += a[i] * a[i];
    return std::sqrt(s);
}

// Index (row-major) of the first largest |value| of a contiguous float64 tensor.
int64_t argmax_abs(const at::Tensor& t)
{
    const double* p = t.data_ptr<double>();
    const int64_t n = t.numel();
    int64_t best = 0;
    double m = -1.0;
    for (int64_t i = 0; i < n; ++i) {
        const double a = std::abs(p[i]);
        if (a > m) {
            m = a;
            best = i;
        }
    }
    return best;
}

at::Tensor cpu_double_2d(const at::Tensor& x, const char* what)
{
    if (!x.defined() || x.dim() != 2)
        throw InvalidArgument(std::string(what) + ": expected a 2-D tensor [tokens, width]");
    if (!x.is_floating_point())
        throw InvalidArgument(std::string(what) + ": expected a floating-point tensor");
    at::Tensor d = x.detach().to(at::kCPU).to(at::kDouble).contiguous();
    if (!d.isfinite().all().item<bool>())
        throw NumericError(std::string(what) + ": activations contain NaN or Inf");
    return d;
}

}  // namespace

at::Tensor householder_map(const at::Tensor& a, const at::Tensor& b)
{
    if (!a.defined() || !b.defined() || a.dim() != 1 || b.dim() != 1)
        throw InvalidArgument("householder_map: a and b must be 1-D");
    if (a.size(0) != b.size(0))
        throw InvalidArgument("householder_map: a and b differ in length (" +
                              std::to_string(a.size(0)) + " vs " + std::to_string(b.size(0)) + ")");
    const at::Tensor ad = a.detach().to(at::kCPU).to(at::kDouble).contiguous();
    const at::Tensor bd = b.detach().to(at::kCPU).to(at::kDouble).contiguous();
    const int64_t n = ad.size(0);
    check_norms(norm_of(ad.data_ptr<double>(), n), norm_of(bd.data_ptr<double>(), n),
                "householder_map");
    return householder_from(ad.data_ptr<double>(), bd.data_ptr<double>(), n);
}

at::Tensor givens_map(double a0, double a1, double b0, double b1, bool code_variant)
{
    const double na = std::hypot(a0, a1), nb = std::hypot(b0, b1);
    check_norms(na, nb, "givens_map");
    at::Tensor G = at::eye(2, kF64);
    if (!(na > 0.0) || !(nb > 0.0))
        return G;
    double c = (a0 * b0 + a1 * b1) / (na * nb);
    double s = (a0 * b1 - a1 * b0) / (na * nb);
    const double r = std::hypot(c, s);  // 1 up to rounding (Lagrange's identity)
    c /= r;
    s /= r;
    if (code_variant)
        s = -s;  // G^T = [[c, s], [-s, c]]
    double* g = G.data_ptr<double>();
    g[0] = c;
    g[1] = -s;
    g[2] = s;
    g[3] = c;
    return G;
}

at::Tensor hadamard(int64_t n)
{
    if (n < 1 || (n & (n - 1)) != 0)
        throw InvalidArgument("hadamard: the order must be a power of two, got n = " +
                              std::to_string(n));
    at::Tensor H = at::empty({n, n}, kF64);
    double* h = H.data_ptr<double>();
    const double f = 1.0 / std::sqrt(double(n));
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
            int parity = 0;  // popcount(i & j) mod 2
            for (uint64_t m = uint64_t(i & j); m != 0; m &= m - 1)
                parity ^= 1;
            h[i * n + j] = parity ? -f : f;
        }
    return H;
}

at::Tensor greedy_block_rotation(const at::Tensor& x, const BlockRotationOptions& o)
{
    const int64_t b = o.block;
    if (b < 1)
        throw InvalidArgument("greedy_block_rotation: block must be >= 1, got " +
                              std::to_string(b));
    if (o.greedy_steps < 0 || o.givens_rounds < 0)
        throw InvalidArgument(
            "greedy_block_rotation: greedy_steps and givens_rounds must be >= "
            "0, got " +
            std::to_string(o.greedy_steps) + " and " + std::to_string(o.givens_rounds));
    if (x.defined() && x.dim() == 2 && x.size(1) % b != 0)
        throw InvalidArgument("greedy_block_rotation: width " + std::to_string(x.size(1)) +
                              " is not divisible by block " + std::to_string(b));
    const at::Tensor xd = cpu_double_2d(x, "greedy_block_rotation");

    std::mt19937_64 rng(o.seed);
    at::Tensor R = at::eye(b, kF64);
    // A copy: it is updated in place (xd may share the caller's storage).
    at::Tensor Y = xd.reshape({-1, b}).clone(at::MemoryFormat::Contiguous);
    if (Y.numel() == 0)
        return R;
    // Every update is applied in place, as the rank-1 (Householder) or 2-column (Givens) change it
    // is, to Y [rows, b] and R [b, b] alike: O(rows b) per update instead of a matmul's O(rows
    // b^2).
    const int64_t rows = Y.size(0);
    double* yp = Y.data_ptr<double>();
    double* rp = R.data_ptr<double>();
    // M <- M (I - 2 v v^T / vv) for a row-major [n, b] M.
    auto reflect = [b](double* m, int64_t n, const std::vector<double>& v, double vv) {
        const double f = 2.0 / vv;
        for (int64_t r = 0; r < n; ++r) {
            double* row = m + r * b;
            double d = 0.0;
            for (int64_t k = 0; k < b; ++k)
                d += row[k] * v[size_t(k)];
            d *= f;
            for (int64_t k = 0; k < b; ++k)
                row[k] -= d * v[size_t(k)];
        }
    };
    // Columns (i, j) of a row-major [n, b] M <- (g00 m_i + g01 m_j, g10 m_i + g11 m_j).
    struct Pair {
        int64_t i, j;
        double g00, g01, g10, g11;
    };
    auto rotate = [b](double* m, int64_t n, const std::vector<Pair>& pairs) {
        for (int64_t r = 0; r < n; ++r) {
            double* row = m + r * b;
            for (const Pair& p : pairs) {
                const double a = row[p.i], c = row[p.j];
                row[p.i] = p.g00 * a + p.g01 * c;
                row[p.j] = p.g10 * a + p.g11 * c;
            }
        }
    };
    for (int step = 0; step < o.greedy_steps; ++step) {
        // 1. Householder: the max block vector onto a positive target of equal norm.
        {
            const int64_t row = argmax_abs(Y) / b;
            const double* y = yp + row * b;
            const double ny = norm_of(y, b);
            const std::vector<double> t =
                o.flat_target ? std::vector<double>(size_t(b), ny / std::sqrt(double(b)))
                              : uniform_target(rng, b, ny);
            std::vector<double> v(static_cast<size_t>(b));
            double vv = 0.0;
            for (int64_t k = 0; k < b; ++k) {
                v[size_t(k)] = y[k] - t[size_t(k)];
                vv += v[size_t(k)] * v[size_t(k)];
            }
            if (vv > 0.0) {
                reflect(rp, b, v, vv);
                reflect(yp, rows, v, vv);
            }
        }
        // 2. Rounds of a random permutation + Givens rotations on adjacent pairs.
        for (int round = 0; round < o.givens_rounds; ++round) {
            const std::vector<int64_t> p = random_permutation(rng, b);
            const int64_t row = argmax_abs(Y) / b;
            const double* y = yp + row * b;
            std::vector<Pair> pairs;
            pairs.reserve(size_t(b / 2));
            for (int64_t k = 0; k + 1 < b; k += 2) {
                const int64_t i = p[size_t(k)], j = p[size_t(k + 1)];
                const double yi = y[i], yj = y[j];
                const std::vector<double> t = uniform_target(rng, 2, std::hypot(yi, yj));
                const at::Tensor G = givens_map(yi, yj, t[0], t[1], o.code_variant);
                const double* g = G.data_ptr<double>();
                // Row vectors: (y M)_(i, j) = (g (y_i, y_j)^T)^T.
                pairs.push_back({i, j, g[0], g[1], g[2], g[3]});
            }
            rotate(rp, b, pairs);
            rotate(yp, rows, pairs);
        }
    }
    return R;
}

std::vector<int64_t> zigzag_permutation(const at::Tensor& channel_max, int64_t block)
{
    if (!channel_max.defined() || channel_max.dim() != 1)
        throw InvalidArgument("zigzag_permutation: channel_max must be 1-D [width]");
    if (block < 1)
        throw InvalidArgument("zigzag_permutation: block must be >= 1, got " +
                              std::to_string(block));
    const int64_t width = channel_max.size(0);
    if (width % block != 0)
        throw InvalidArgument("zigzag_permutation: width " + std::to_string(width) +
                              " is not divisible by block " + std::to_string(block));
    const at::Tensor cm = channel_max.detach().to(at::kCPU).to(at::kDouble).contiguous();
    const double* v = cm.data_ptr<double>();
    std::vector<int64_t> order(static_cast<size_t>(width));
    for (int64_t i = 0; i < width; ++i)
        order[size_t(i)] = i;
    std::stable_sort(order.begin(), order.end(), [v](int64_t a, int64_t b) { return v[a] > v[b]; });

    const int64_t nb = width / block;
    std::vector<std::vector<int64_t>> blocks(static_cast<size_t>(nb));
    // Position k of the dealing order: pass k / nb goes up (even) or down (odd).
    for (int64_t k = 0; k < width; ++k) {
        const int64_t pass = k / nb, r = k % nb;
        const int64_t target = (pass % 2 == 0) ? r : nb - 1 - r;
        blocks[size_t(target)].push_back(order[size_t(k)]);
    }
    std::vector<int64_t> perm;
    perm.reserve(size_t(width));
    for (const auto& bl : blocks)
        perm.insert(perm.end(), bl.begin(), bl.end());
    return perm;
}

at::Tensor householder_from_max_row(const at::Tensor& x, uint64_t seed)
{
    const at::Tensor xd = cpu_double_2d(x, "householder_from_max_row");
    if (xd.numel() == 0)
        throw InvalidArgument("householder_from_max_row: x is empty");
    const int64_t w = xd.size(1);
    const int64_t row = argmax_abs(xd) / w;
    const double* r = xd.data_ptr<double>() + row * w;
    std::mt19937_64 rng(seed);
    const std::vector<double> t = uniform_target(rng, w, norm_of(r, w));
    return householder_from(r, t.data(), w);
}

at::Tensor householder_vector_from_max_row(const at::Tensor& x, uint64_t seed)
{
    const at::Tensor xd = cpu_double_2d(x, "householder_vector_from_max_row");
    if (xd.numel() == 0)
        throw InvalidArgument("householder_vector_from_max_row: x is empty");
    const int64_t w = xd.size(1);
    const int64_t row = argmax_abs(xd) / w;
    const double* r = xd.data_ptr<double>() + row * w;
    std::mt19937_64 rng(seed);
    const std::vector<double> t = uniform_target(rng, w, norm_of(r, w));
    at::Tensor u = at::zeros({w}, kF64);
    double* up = u.data_ptr<double>();
    double vv = 0.0;
    for (int64_t i = 0; i < w; ++i) {
        up[i] = r[i] - t[size_t(i)];
        vv += up[i] * up[i];
    }
    if (!(vv > 0.0))
        return at::zeros({w}, kF64);
    const double f = 1.0 / std::sqrt(vv);
    for (int64_t i = 0; i < w; ++i)
        up[i] *= f;
    return u;
}

at::Tensor block_diag_apply(const at::Tensor& x, const at::Tensor& R)
{
    if (!x.defined() || x.dim() != 2)
        throw InvalidArgument("block_diag_apply: x must be 2-D [tokens, width]");
    if (!R.defined() || R.dim() != 2 || R.size(0) != R.size(1) || R.size(0) < 1)
        throw InvalidArgument("block_diag_apply: R must be square [b, b]");
    const int64_t b = R.size(0), width = x.size(1);
    if (width % b != 0)
        throw InvalidArgument("block_diag_apply: width " + std::to_string(width) +
                              " is not divisible by the block " + std::to_string(b));
    const at::ScalarType dt = c10::promoteTypes(x.scalar_type(), R.scalar_type());
    const at::Tensor xr = x.to(dt).reshape({-1, b});
    return xr.matmul(R.to(x.device()).to(dt)).reshape({x.size(0), width});
}

}  // namespace zp::quant
