#include "core/quant/kquant_search.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "core/common/error.h"
#include "core/formats/gguf_blocks.h"
#include "core/formats/kquant_pack.h"

namespace zp::quant {

namespace {

using gguf::TensorType;

// Every type in one generic form: a block of `block` elements in n_sub sub-blocks of `sub`, element
// value x = (d * sc) * q - (dmin * m) in float32 (the products are exact: kquant_pack.cpp), codes q
// in qmin..qmax. Two-level types store sc in scmin..scmax and (affine) m in 0..mmax per sub-block;
// one-level types have sc = 1 and (affine) m = 1, so that d is the block scale and dmin minus the
// block minimum (Q4_1 / Q5_1 store m = -dmin: q d + m == d q - dmin exactly in IEEE arithmetic).
struct Layout {
    TensorType type;
    const char* name;
    int block, n_sub, sub;
    int qmin, qmax;
    bool affine, two_level;
    int scmin, scmax, mmax;
};

constexpr Layout kLayouts[] = {
    {TensorType::Q2_K, "Q2_K", 256, 16, 16, 0, 3, true, true, 0, 15, 15},
    {TensorType::Q3_K, "Q3_K", 256, 16, 16, -4, 3, false, true, -32, 31, 0},
    {TensorType::Q4_K, "Q4_K", 256, 8, 32, 0, 15, true, true, 0, 63, 63},
    {TensorType::Q5_K, "Q5_K", 256, 8, 32, 0, 31, true, true, 0, 63, 63},
    {TensorType::Q6_K, "Q6_K", 256, 16, 16, -32, 31, false, true, -128, 127, 0},
    {TensorType::Q4_0, "Q4_0", 32, 1, 32, -8, 7, false, false, 1, 1, 0},
    {TensorType::Q5_0, "Q5_0", 32, 1, 32, -16, 15, false, false, 1, 1, 0},
    {TensorType::Q8_0, "Q8_0", 32, 1, 32, -127, 127, false, false, 1, 1, 0},
    {TensorType::Q4_1, "Q4_1", 32, 1, 32, 0, 15, true, false, 1, 1, 1},
    {TensorType::Q5_1, "Q5_1", 32, 1, 32, 0, 31, true, false, 1, 1, 1},
};

const Layout* find_layout(TensorType t)
{
    for (const Layout& l : kLayouts)
        if (l.type == t)
            return &l;
    return nullptr;
}

const Layout& layout_of(TensorType t)
{
    if (const Layout* l = find_layout(t))
        return *l;
    const gguf::TypeTraits tt = gguf::tensor_type_traits(static_cast<uint32_t>(t));
    throw InvalidArgument(std::string("kquant search: type ") +
                          (tt.name ? tt.name : std::to_string(static_cast<uint32_t>(t)).c_str()) +
                          " is not one it writes (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q4_0, Q4_1, Q5_0, "
                          "Q5_1, Q8_0)");
}

// ---- fp16 ----

constexpr uint16_t kHalfMaxFinite = 0x7BFF;

// The fp16 nearest to x (round to nearest even), saturated to the largest finite value.
uint16_t half_bits(float x)
{
    uint16_t b = gguf::fp16_bits(x);
    if ((b & 0x7C00) == 0x7C00)
        b = static_cast<uint16_t>((b & 0x8000) | kHalfMaxFinite);
    return b;
}
float half_value(uint16_t b)
{
    return gguf::fp16_value(b);
}
// k steps along the ordered finite fp16 values (sign-magnitude made monotone).
uint16_t half_step(uint16_t b, int k)
{
    int ord = (b & 0x8000) ? -static_cast<int>(b & 0x7FFF) : static_cast<int>(b);
    ord = std::clamp(ord + k, -static_cast<int>(kHalfMaxFinite), static_cast<int>(kHalfMaxFinite));
    return ord < 0 ? static_cast<uint16_t>(0x8000 | -ord) : static_cast<uint16_t>(ord);
}

// Round half to even of |v| < 2^22 without a libm call (strict IEEE arithmetic: no fast-math).
inline float round_even(float v)
{
    constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
    return (v + kMagic) - kMagic;
}

// ---- the element loop ----

// Loss of n elements at float32 step dl and minimum ml, each code the nearest level
// (clamp(round((w + ml) / dl))), x = dl * q - ml exactly as the dequantizer computes it.
// Writes the codes to q when given.
inline double sub_loss(const float* w, const float* h, int n, float dl, float ml, int qmin,
                       int qmax, int* q)
{
    double loss = 0.0;
    if (dl == 0.0f) {
        const float x = 0.0f - ml;
        for (int i = 0; i < n; ++i) {
            const double e = static_cast<double>(w[i]) - static_cast<double>(x);
            loss += static_cast<double>(h[i]) * e * e;
            if (q)
                q[i] = 0;
        }
        return loss;
    }
    const float inv = 1.0f / dl;
    const float lo = static_cast<float>(qmin), hi = static_cast<float>(qmax);
    for (int i = 0; i < n; ++i) {
        float v = (w[i] + ml) * inv;
        v = v < lo ? lo : (v > hi ? hi : v);  // also maps a NaN of 0 * inf to hi: never NaN here
        const float r = round_even(v);
        const float x = dl * r - ml;
        const double e = static_cast<double>(w[i]) - static_cast<double>(x);
        loss += static_cast<double>(h[i]) * e * e;
        if (q)
            q[i] = static_cast<int>(r);
    }
    return loss;
}

struct Sums {
    double S = 0, Sq = 0, Sqq = 0, Sw = 0, Swq = 0;
};
inline Sums code_sums(const float* w, const float* h, int n, const int* q)
{
    Sums s;
    for (int i = 0; i < n; ++i) {
        const double hi = h[i], qi = q[i];
        s.S += hi;
        s.Sq += hi * qi;
        s.Sqq += hi * qi * qi;
        s.Sw += hi * w[i];
        s.Swq += hi * w[i] * qi;
    }
    return s;
}

// ---- stage 1: the continuous problem of one sub-block ----

// x = s q - o with the codes at (s, o) (no fp16, no integer scales); L the loss there and A, B, C
// = sum h q^2, sum h q, sum h over those codes: loss(s + es, o + eo) = L + A es^2 - 2 B es eo +
// C eo^2 for fixed codes (up to the linear term, zero at a least-squares point).
struct Cont {
    float s = 0.0f, o = 0.0f;
    double L = std::numeric_limits<double>::infinity();
    double A = 0, B = 0, C = 0;
};

// The scale grid starts at this fraction of the no-clipping scale: fewer levels clip more.
float grid_start(int levels)
{
    if (levels <= 4)
        return 0.40f;
    if (levels <= 8)
        return 0.45f;
    if (levels <= 16)
        return 0.55f;
    if (levels <= 32)
        return 0.65f;
    if (levels <= 64)
        return 0.75f;
    return 0.85f;
}

// Candidate g of a grid of `grid` + kBeyond scale factors: `grid` from t0 to 1 (the no-clipping
// scale), then kBeyond slightly above 1 (levels sparser than Min-Max's: weights that already lie on
// a coarser grid, e.g. dequantized from a 4-bit file, fit exactly at such scales).
constexpr int kBeyond = 4;
inline float grid_factor(int g, int grid, float t0)
{
    if (g >= grid)
        return 1.0f + 0.025f * static_cast<float>(g - grid + 1);
    return grid == 1 ? 1.0f : t0 + (1.0f - t0) * static_cast<float>(g) / (grid - 1);
}

// Keeps the `keep` lowest-loss candidates of `top` (sorted, ties to the earlier one).
void keep_best(Cont* top, int keep, const Cont& c)
{
    for (int k = 0; k < keep; ++k) {
        if (c.L < top[k].L) {
            for (int j = keep - 1; j > k; --j)
                top[j] = top[j - 1];
            top[k] = c;
            return;
        }
    }
}

// Affine: q in 0..qmax; nonneg_o: o >= 0 (the K-quants' minimum dmin m >= 0, the lowest level <=
// 0). Fills top[0..keep) with the best candidates (L = inf where fewer exist).
void fit_affine(const float* w, const float* h, int n, int qmax, bool nonneg_o, int grid, Cont* top,
                int keep)
{
    for (int k = 0; k < keep; ++k)
        top[k] = Cont{};
    float mn = std::numeric_limits<float>::infinity(), mx = -mn;
    for (int i = 0; i < n; ++i)
        if (h[i] > 0.0f) {
            mn = std::min(mn, w[i]);
            mx = std::max(mx, w[i]);
        }
    if (!(mn <= mx))  // no weight matters: any parameters
        for (int i = 0; i < n; ++i) {
            mn = std::min(mn, w[i]);
            mx = std::max(mx, w[i]);
        }
    if (nonneg_o)
        mn = std::min(mn, 0.0f);
    int q[256];
    if (!(mx > mn)) {  // one value (<= 0 when nonneg_o): the minimum alone holds it
        Cont c;
        c.s = 0.0f;
        c.o = -mn;
        c.L = sub_loss(w, h, n, 0.0f, c.o, 0, qmax, q);
        const Sums sm = code_sums(w, h, n, q);
        c.A = sm.Sqq, c.B = sm.Sq, c.C = sm.S;
        top[0] = c;
        return;
    }
    const float s0 = (mx - mn) / static_cast<float>(qmax);
    const float t0 = grid_start(qmax + 1);
    for (int g = 0; g < grid + kBeyond; ++g) {
        const float t = grid_factor(g, grid, t0);
        // Three alignments of the levels to the range (the lowest level at the lowest weight, the
        // levels centred, the highest level at the highest weight), each refined by alternating
        // codes and the least-squares (s, o) for them.
        for (int start = 0; start < 3; ++start) {
            float s = s0 * t;
            const float span = s * static_cast<float>(qmax);
            float o = start == 0 ? -mn : start == 1 ? 0.5f * span - 0.5f * (mn + mx) : span - mx;
            if (nonneg_o && o < 0.0f)
                o = 0.0f;
            for (int it = 0; it < 2; ++it) {
                sub_loss(w, h, n, s, o, 0, qmax, q);
                const Sums sm = code_sums(w, h, n, q);
                const double D = sm.S * sm.Sqq - sm.Sq * sm.Sq;
                double s1 = s, o1 = o;
                if (D > 0.0) {
                    s1 = (sm.S * sm.Swq - sm.Sw * sm.Sq) / D;
                    o1 = (s1 * sm.Sq - sm.Sw) / sm.S;
                } else if (sm.S > 0.0) {
                    o1 = (s * sm.Sq - sm.Sw) / sm.S;
                }
                if (nonneg_o && o1 < 0.0) {
                    o1 = 0.0;
                    if (sm.Sqq > 0.0)
                        s1 = sm.Swq / sm.Sqq;
                }
                if (!(s1 > 0.0) || !std::isfinite(s1) || !std::isfinite(o1))
                    break;
                s = static_cast<float>(s1);
                o = static_cast<float>(o1);
            }
            Cont c;
            c.s = s;
            c.o = o;
            c.L = sub_loss(w, h, n, s, o, 0, qmax, q);
            const Sums sm = code_sums(w, h, n, q);
            c.A = sm.Sqq, c.B = sm.Sq, c.C = sm.S;
            keep_best(top, keep, c);
        }
    }
}

// Symmetric: x = s q, q in qmin..qmax, s of either sign (the range is asymmetric unless qmin =
// -qmax). top[0] the best with s >= 0, top[1] with s < 0 (L = inf when qmin = -qmax).
void fit_symmetric(const float* w, const float* h, int n, int qmin, int qmax, int grid, Cont* top)
{
    top[0] = top[1] = Cont{};
    float pmax = 0.0f, nmin = 0.0f;
    bool any = false;
    for (int i = 0; i < n; ++i)
        if (h[i] > 0.0f) {
            pmax = std::max(pmax, w[i]);
            nmin = std::min(nmin, w[i]);
            any = true;
        }
    if (!any)
        for (int i = 0; i < n; ++i) {
            pmax = std::max(pmax, w[i]);
            nmin = std::min(nmin, w[i]);
        }
    int q[256];
    const float t0 = grid_start(qmax - qmin + 1);
    const int signs = qmin == -qmax ? 1 : 2;
    for (int sg = 0; sg < signs; ++sg) {
        // The smallest |s| that clips nothing.
        const float u = sg == 0 ? std::max(pmax / qmax, nmin / qmin)
                                : std::max(pmax / static_cast<float>(-qmin), -nmin / qmax);
        const float sign = sg == 0 ? 1.0f : -1.0f;
        if (!(u > 0.0f)) {  // all zero
            Cont c;
            c.L = sub_loss(w, h, n, 0.0f, 0.0f, qmin, qmax, q);
            top[sg] = c;
            continue;
        }
        for (int g = 0; g < grid + kBeyond; ++g) {
            const float t = grid_factor(g, grid, t0);
            float s = sign * u * t;
            sub_loss(w, h, n, s, 0.0f, qmin, qmax, q);
            Sums sm = code_sums(w, h, n, q);
            if (sm.Sqq > 0.0) {
                const double s1 = sm.Swq / sm.Sqq;
                if (s1 * sign > 0.0 && std::isfinite(s1))
                    s = static_cast<float>(s1);
            }
            Cont c;
            c.s = s;
            c.L = sub_loss(w, h, n, s, 0.0f, qmin, qmax, q);
            sm = code_sums(w, h, n, q);
            c.A = sm.Sqq, c.B = sm.Sq, c.C = sm.S;
            keep_best(&top[sg], 1, c);
        }
    }
}

// ---- one block's choice ----

struct Choice {
    uint16_t d = 0, dmin = 0;  // fp16 bits
    int sc[16] = {}, m[16] = {};
    int q[256] = {};
    double loss = std::numeric_limits<double>::infinity();
};

// ---- two-level types (the K-quants) ----

struct SubFit {
    Cont c[2];
    int nc = 1;
};

// The loss of a sub-block's continuous candidate c when its scale becomes dl (and, affine, its
// minimum the best continuous one for dl): c's quadratic model.
inline double proxy_scale(const Cont& c, bool affine, double dl)
{
    const double es = dl - c.s;
    double a = c.A;
    if (affine && c.C > 0.0)
        a -= c.B * c.B / c.C;  // the minimum follows the scale
    return c.L + std::max(a, 0.0) * es * es;
}

int clamp_round(double v, int lo, int hi)
{
    if (!(v > lo))
        return lo;
    if (!(v < hi))
        return hi;
    return static_cast<int>(std::nearbyint(v));
}

// Keeps the `keep` (<= 8) lowest p in p_list / bits_list, sorted, ties to the earlier one.
void insert_best(double* p_list, uint16_t* bits_list, int& n, int keep, double p, uint16_t bits)
{
    int pos = n;
    while (pos > 0 && p < p_list[pos - 1])
        --pos;
    if (pos >= keep)
        return;
    n = std::min(n + 1, keep);
    for (int k = n - 1; k > pos; --k) {
        p_list[k] = p_list[k - 1];
        bits_list[k] = bits_list[k - 1];
    }
    p_list[pos] = p;
    bits_list[pos] = bits;
}

struct TwoLevel {
    const Layout& L;
    const float* w;
    const float* h;
    SubFit fit[16];

    // Stage 3: for fixed d, dmin, every sub-block's integers searched around each candidate; the
    // codes re-rounded; true losses. Fills out (d, dmin as given).
    double search_integers(uint16_t db, uint16_t dmb, Choice& out) const
    {
        const float d = half_value(db), dmin = half_value(dmb);
        const int ks = L.affine ? 2 : 3, km = 1;
        out.d = db;
        out.dmin = dmb;
        double total = 0.0;
        int q[32];
        for (int j = 0; j < L.n_sub; ++j) {
            const float* wj = w + j * L.sub;
            const float* hj = h + j * L.sub;
            double best = std::numeric_limits<double>::infinity();
            int best_sc = 0, best_m = 0;
            std::array<bool, 256> tried{};
            for (int k = 0; k < fit[j].nc; ++k) {
                const Cont& c = fit[j].c[k];
                if (!std::isfinite(c.L))
                    continue;
                const int sc0 =
                    d != 0.0f ? clamp_round(c.s / static_cast<double>(d), L.scmin, L.scmax) : 0;
                for (int sc = std::max(L.scmin, sc0 - ks); sc <= std::min(L.scmax, sc0 + ks);
                     ++sc) {
                    if (tried[sc - L.scmin])
                        continue;
                    tried[sc - L.scmin] = true;
                    const float dl = d * static_cast<float>(sc);
                    if (!L.affine) {
                        const double loss = sub_loss(wj, hj, L.sub, dl, 0.0f, L.qmin, L.qmax, q);
                        if (loss < best) {
                            best = loss;
                            best_sc = sc;
                            std::copy(q, q + L.sub, out.q + j * L.sub);
                        }
                        continue;
                    }
                    // The continuous minimum that goes with this scale, then its integers.
                    double ml_star = c.o;
                    if (c.C > 0.0)
                        ml_star += c.B / c.C * (static_cast<double>(dl) - c.s);
                    const int m0 = dmin > 0.0f ? clamp_round(ml_star / dmin, 0, L.mmax) : 0;
                    const int mlo = dmin > 0.0f ? std::max(0, m0 - km) : 0;
                    const int mhi = dmin > 0.0f ? std::min(L.mmax, m0 + km) : 0;
                    for (int m = mlo; m <= mhi; ++m) {
                        const float ml = dmin * static_cast<float>(m);
                        const double loss = sub_loss(wj, hj, L.sub, dl, ml, L.qmin, L.qmax, q);
                        if (loss < best) {
                            best = loss;
                            best_sc = sc;
                            best_m = m;
                            std::copy(q, q + L.sub, out.q + j * L.sub);
                        }
                    }
                }
            }
            out.sc[j] = best_sc;
            out.m[j] = best_m;
            total += best;
        }
        out.loss = total;
        return total;
    }

    // Stage 2: fp16 d values around max(s) / max(sc) ranked by the proxy; the best `keep`.
    int scan_d(uint16_t* best_bits, int keep) const
    {
        constexpr int kGrid = 32;
        constexpr float kLo = 0.6f, kHi = 1.2f;
        double best_p[8];
        int nbest = 0;
        const int signs = L.affine ? 1 : 2;  // sc >= 0 for the affine types: d > 0
        for (int sg = 0; sg < signs; ++sg) {
            // The smallest |d| whose sub-block scales all fit (each sub-block's best candidate).
            double ref = 0.0;
            for (int j = 0; j < L.n_sub; ++j) {
                const Cont* c = &fit[j].c[0];
                if (fit[j].nc > 1 && fit[j].c[1].L < c->L)
                    c = &fit[j].c[1];
                if (!std::isfinite(c->L))
                    continue;
                const double s = c->s;
                double need;
                if (sg == 0)
                    need = s >= 0 ? s / L.scmax : s / L.scmin;
                else
                    need = s >= 0 ? s / -L.scmin : -s / L.scmax;
                ref = std::max(ref, need);
            }
            if (!(ref > 0.0))
                continue;
            uint16_t prev = 0xFFFF;
            for (int g = 0; g < kGrid; ++g) {
                const double f = kLo + (kHi - kLo) * g / (kGrid - 1);
                const uint16_t b = half_bits(static_cast<float>((sg == 0 ? 1 : -1) * ref * f));
                if (b == prev || (b & 0x7FFF) == 0)
                    continue;
                prev = b;
                const double d = half_value(b);
                double p = 0.0;
                for (int j = 0; j < L.n_sub; ++j) {
                    double pj = std::numeric_limits<double>::infinity();
                    for (int k = 0; k < fit[j].nc; ++k) {
                        const Cont& c = fit[j].c[k];
                        if (!std::isfinite(c.L))
                            continue;
                        const int sc = clamp_round(c.s / d, L.scmin, L.scmax);
                        pj = std::min(pj, proxy_scale(c, L.affine, d * sc));
                    }
                    p += pj;
                }
                insert_best(best_p, best_bits, nbest, keep, p, b);
            }
        }
        return nbest;
    }

    // Stage 2 for dmin given d: each sub-block's scale rounded, its continuous minimum for that
    // scale; fp16 dmin values around max(min) / mmax ranked by C (dmin m - min)^2.
    int scan_dmin(uint16_t db, uint16_t* best_bits, int keep) const
    {
        constexpr int kGrid = 24;
        constexpr float kLo = 0.7f, kHi = 1.2f;
        const double d = half_value(db);
        double want[16], weight[16];
        double ref = 0.0;
        for (int j = 0; j < L.n_sub; ++j) {
            const Cont& c = fit[j].c[0];
            const int sc = d != 0.0 ? clamp_round(c.s / d, L.scmin, L.scmax) : 0;
            want[j] = c.o + (c.C > 0.0 ? c.B / c.C * (d * sc - c.s) : 0.0);
            weight[j] = c.C;
            ref = std::max(ref, want[j] / L.mmax);
        }
        if (!(ref > 0.0)) {
            best_bits[0] = 0;
            return 1;
        }
        double best_p[8];
        int nbest = 0;
        uint16_t prev = 0xFFFF;
        for (int g = 0; g < kGrid; ++g) {
            const double f = kLo + (kHi - kLo) * g / (kGrid - 1);
            const uint16_t b = half_bits(static_cast<float>(ref * f));
            if (b == prev || b == 0)
                continue;
            prev = b;
            const double dm = half_value(b);
            double p = 0.0;
            for (int j = 0; j < L.n_sub; ++j) {
                const int m = clamp_round(want[j] / dm, 0, L.mmax);
                const double e = dm * m - want[j];
                p += weight[j] * e * e;
            }
            insert_best(best_p, best_bits, nbest, keep, p, b);
        }
        return nbest;
    }

    // Stage 4: least-squares (d, dmin) for the integers and codes of c (x = d a - dmin b with
    // a = sc q, b = m). False when singular.
    bool refit(const Choice& c, double& d, double& dmin) const
    {
        double Saa = 0, Sab = 0, Sbb = 0, Swa = 0, Swb = 0;
        for (int j = 0; j < L.n_sub; ++j)
            for (int i = 0; i < L.sub; ++i) {
                const int e = j * L.sub + i;
                const double hi = h[e], a = static_cast<double>(c.sc[j]) * c.q[e];
                const double b = L.affine ? c.m[j] : 0.0;
                Saa += hi * a * a;
                Sab += hi * a * b;
                Sbb += hi * b * b;
                Swa += hi * w[e] * a;
                Swb += hi * w[e] * b;
            }
        if (!L.affine) {
            if (!(Saa > 0.0))
                return false;
            d = Swa / Saa;
            dmin = 0.0;
            return std::isfinite(d);
        }
        // minimise sum h (w - d a + dmin b)^2
        const double D = Saa * Sbb - Sab * Sab;
        if (D > 1e-12 * Saa * Sbb && D > 0.0) {
            d = (Swa * Sbb - Swb * Sab) / D;
            dmin = (Swa * Sab - Swb * Saa) / D;
        } else {
            if (!(Saa > 0.0))
                return false;
            d = Swa / Saa;
            dmin = 0.0;
        }
        if (dmin < 0.0) {
            if (!(Saa > 0.0))
                return false;
            dmin = 0.0;
            d = Swa / Saa;
        }
        return std::isfinite(d) && std::isfinite(dmin) && d > 0.0;
    }

    void solve(Choice& best)
    {
        constexpr int kContGrid = 12;
        for (int j = 0; j < L.n_sub; ++j) {
            const float* wj = w + j * L.sub;
            const float* hj = h + j * L.sub;
            if (L.affine) {
                fit_affine(wj, hj, L.sub, L.qmax, true, kContGrid, fit[j].c, 1);
                fit[j].nc = 1;
            } else {
                fit_symmetric(wj, hj, L.sub, L.qmin, L.qmax, kContGrid, fit[j].c);
                fit[j].nc = 2;
            }
        }
        uint16_t tried_d[64], tried_m[64];
        int ntried = 0;
        Choice cur;
        auto attempt = [&](uint16_t db, uint16_t dmb) {
            if (L.affine && (db & 0x8000))
                return;
            if (!L.affine)
                dmb = 0;
            for (int k = 0; k < ntried; ++k)
                if (tried_d[k] == db && tried_m[k] == dmb)
                    return;
            if (ntried < 64) {
                tried_d[ntried] = db;
                tried_m[ntried] = dmb;
                ++ntried;
            }
            search_integers(db, dmb, cur);
            if (cur.loss < best.loss)
                best = cur;
        };
        uint16_t dbits[4];
        const int nd = scan_d(dbits, L.affine ? 3 : 4);
        for (int a = 0; a < nd; ++a) {
            if (L.affine) {
                uint16_t mbits[2];
                const int nm = scan_dmin(dbits[a], mbits, 2);
                for (int b = 0; b < nm; ++b)
                    attempt(dbits[a], mbits[b]);
            } else {
                attempt(dbits[a], 0);
            }
        }
        if (nd == 0)  // every sub-block constant (zero for the symmetric types)
            attempt(0, L.affine ? scan_dmin_zero() : 0);
        for (int round = 0; round < 2; ++round) {
            if (!std::isfinite(best.loss))
                break;
            double d, dmin;
            const double before = best.loss;
            if (!refit(best, d, dmin))
                break;
            const uint16_t db = half_bits(static_cast<float>(d));
            const uint16_t dmb = half_bits(static_cast<float>(dmin));
            attempt(db, dmb);
            attempt(half_step(db, -1), dmb);
            attempt(half_step(db, 1), dmb);
            if (L.affine) {
                attempt(db, half_step(dmb, -1));
                attempt(db, half_step(dmb, 1));
            }
            if (!(best.loss < before))
                break;
        }
    }

    // d = 0: dmin for the sub-blocks' constant minima.
    uint16_t scan_dmin_zero() const
    {
        uint16_t b[1];
        scan_dmin(0, b, 1);
        return b[0];
    }
};

// ---- one-level types (32-element blocks, one fp16 scale and, Q4_1 / Q5_1, one minimum) ----

void solve_one_level(const Layout& L, const float* w, const float* h, Choice& best)
{
    constexpr int kContGrid = 16;
    int q[32];
    auto consider = [&](uint16_t db, uint16_t dmb) {
        const float d = half_value(db), dmin = half_value(dmb);
        const double loss = sub_loss(w, h, L.block, d, L.affine ? dmin : 0.0f, L.qmin, L.qmax, q);
        if (loss < best.loss) {
            best.loss = loss;
            best.d = db;
            best.dmin = L.affine ? dmb : 0;
            std::copy(q, q + L.block, best.q);
        }
    };
    if (L.affine) {
        Cont top[3];
        fit_affine(w, h, L.block, L.qmax, false, kContGrid, top, 3);
        for (const Cont& c : top) {
            if (!std::isfinite(c.L))
                continue;
            const uint16_t d0 = half_bits(c.s);
            for (int dk = -2; dk <= 2; ++dk) {
                const uint16_t db = half_step(d0, dk);
                const float d = half_value(db);
                if (d < 0.0f)
                    continue;
                // The minimum that fits these codes best (x = d q - ml), then its fp16 neighbours.
                sub_loss(w, h, L.block, d, c.o, L.qmin, L.qmax, q);
                double S = 0, Sr = 0;
                for (int i = 0; i < L.block; ++i) {
                    S += h[i];
                    Sr += h[i] * (static_cast<double>(d) * q[i] - w[i]);
                }
                const double ml = S > 0.0 ? Sr / S : c.o;
                const uint16_t m0 = half_bits(static_cast<float>(ml));
                for (int mk = -1; mk <= 1; ++mk)
                    consider(db, half_step(m0, mk));
                consider(db, half_bits(c.o));
            }
        }
    } else {
        Cont top[2];
        fit_symmetric(w, h, L.block, L.qmin, L.qmax, kContGrid, top);
        for (const Cont& c : top) {
            if (!std::isfinite(c.L))
                continue;
            const uint16_t d0 = half_bits(c.s);
            for (int dk = -3; dk <= 3; ++dk)
                consider(half_step(d0, dk), 0);
        }
    }
}

// ---- the polish: coordinate descent on the stored parameters ----

// Sub-block j's step and minimum in float32, as the dequantizer computes them.
inline void sub_params(const Layout& L, const Choice& c, int j, float& dl, float& ml)
{
    const float d = half_value(c.d), dmin = half_value(c.dmin);
    dl = L.two_level ? d * static_cast<float>(c.sc[j]) : d;
    ml = !L.affine ? 0.0f : L.two_level ? dmin * static_cast<float>(c.m[j]) : dmin;
}

// The block's loss for c's parameters with the codes re-rounded (into c.q); per sub-block in sub.
double block_eval(const Layout& L, const float* w, const float* h, Choice& c, double* sub)
{
    double total = 0.0;
    for (int j = 0; j < L.n_sub; ++j) {
        float dl, ml;
        sub_params(L, c, j, dl, ml);
        sub[j] =
            sub_loss(w + j * L.sub, h + j * L.sub, L.sub, dl, ml, L.qmin, L.qmax, c.q + j * L.sub);
        total += sub[j];
    }
    return total;
}

// Until no move lowers the loss: each sub-block's (sc, m) moved by -1..1 each (codes re-rounded),
// then d and dmin moved along the fp16 values (integers kept, codes re-rounded). The result is
// locally optimal under these moves, which tst_kquant_search checks on the bytes.
void polish(const Layout& L, const float* w, const float* h, Choice& c)
{
    double sub[16];
    double total = block_eval(L, w, h, c, sub);
    int q[32];
    for (int sweep = 0; sweep < 1000; ++sweep) {
        bool moved = false;
        if (L.two_level) {
            const float d = half_value(c.d), dmin = half_value(c.dmin);
            for (int j = 0; j < L.n_sub; ++j) {
                const float* wj = w + j * L.sub;
                const float* hj = h + j * L.sub;
                const int sc0 = c.sc[j], m0 = c.m[j];
                for (int dsc = -1; dsc <= 1; ++dsc)
                    for (int dm = L.affine ? -1 : 0; dm <= (L.affine ? 1 : 0); ++dm) {
                        const int sc = sc0 + dsc, m = m0 + dm;
                        if ((dsc == 0 && dm == 0) || sc < L.scmin || sc > L.scmax || m < 0 ||
                            m > L.mmax)
                            continue;
                        const float dl = d * static_cast<float>(sc);
                        const float ml = L.affine ? dmin * static_cast<float>(m) : 0.0f;
                        const double loss = sub_loss(wj, hj, L.sub, dl, ml, L.qmin, L.qmax, q);
                        if (loss < sub[j]) {
                            total += loss - sub[j];
                            sub[j] = loss;
                            c.sc[j] = sc;
                            c.m[j] = m;
                            std::copy(q, q + L.sub, c.q + j * L.sub);
                            moved = true;
                        }
                    }
            }
            total = 0.0;  // in block_eval's order, so that equal losses compare equal below
            for (int j = 0; j < L.n_sub; ++j)
                total += sub[j];
        }
        // A line search along each super-scale: steps of 1, 2, 4, ... fp16 values while they
        // lower the loss, back to single steps when one does not.
        for (int which = 0; which < (L.affine ? 2 : 1); ++which)
            for (int k = -1; k <= 1; k += 2) {
                int step = 1;
                for (int tries = 0; tries < 64; ++tries) {
                    Choice t = c;
                    if (which == 0)
                        t.d = half_step(c.d, k * step);
                    else
                        t.dmin = half_step(c.dmin, k * step);
                    double ts[16];
                    const double tl = block_eval(L, w, h, t, ts);
                    if (tl < total) {
                        c = t;
                        std::copy(ts, ts + L.n_sub, sub);
                        total = tl;
                        moved = true;
                        step *= 2;
                    } else if (step > 1) {
                        step = 1;
                    } else {
                        break;
                    }
                }
            }
        if (!moved)
            break;
    }
    c.loss = block_eval(L, w, h, c, sub);
}

// ---- Min-Max-then-round ----

void minmax_block(const Layout& L, const float* w, Choice& c)
{
    float s[16], o[16];
    for (int j = 0; j < L.n_sub; ++j) {
        const float* wj = w + j * L.sub;
        if (L.affine) {
            float mn = wj[0], mx = wj[0];
            for (int i = 1; i < L.sub; ++i) {
                mn = std::min(mn, wj[i]);
                mx = std::max(mx, wj[i]);
            }
            if (L.two_level)
                mn = std::min(mn, 0.0f);
            s[j] = (mx - mn) / static_cast<float>(L.qmax);
            o[j] = -mn;
        } else {
            float m = 0.0f;
            for (int i = 0; i < L.sub; ++i)
                if (std::fabs(wj[i]) > std::fabs(m))
                    m = wj[i];
            s[j] = L.qmin == -L.qmax ? std::fabs(m) / L.qmax : m / L.qmin;
            o[j] = 0.0f;
        }
    }
    float d, dmin = 0.0f;
    if (!L.two_level) {
        c.d = half_bits(s[0]);
        c.dmin = L.affine ? half_bits(o[0]) : 0;
        c.sc[0] = 1;
        c.m[0] = 1;
    } else if (L.affine) {
        float smax = 0.0f, omax = 0.0f;
        for (int j = 0; j < L.n_sub; ++j) {
            smax = std::max(smax, s[j]);
            omax = std::max(omax, o[j]);
        }
        c.d = half_bits(smax / L.scmax);
        c.dmin = half_bits(omax / L.mmax);
        d = half_value(c.d);
        dmin = half_value(c.dmin);
        for (int j = 0; j < L.n_sub; ++j) {
            c.sc[j] = d > 0.0f ? clamp_round(s[j] / d, 0, L.scmax) : 0;
            c.m[j] = dmin > 0.0f ? clamp_round(o[j] / dmin, 0, L.mmax) : 0;
        }
    } else {
        float big = 0.0f;
        for (int j = 0; j < L.n_sub; ++j)
            if (std::fabs(s[j]) > std::fabs(big))
                big = s[j];
        c.d = half_bits(big / L.scmin);
        d = half_value(c.d);
        for (int j = 0; j < L.n_sub; ++j)
            c.sc[j] = d != 0.0f ? clamp_round(s[j] / d, L.scmin, L.scmax) : 0;
        c.dmin = 0;
    }
    d = half_value(c.d);
    dmin = half_value(c.dmin);
    for (int j = 0; j < L.n_sub; ++j) {
        const float dl = L.two_level ? d * static_cast<float>(c.sc[j]) : d;
        const float ml = L.affine ? (L.two_level ? dmin * static_cast<float>(c.m[j]) : dmin) : 0.0f;
        // Codes only: the loss is taken from the file's values.
        static const float kOnes[32] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
        sub_loss(w + j * L.sub, kOnes, L.sub, dl, ml, L.qmin, L.qmax, c.q + j * L.sub);
    }
}

// ---- from the generic choice to llama.cpp's parameters ----

template <class P>
struct Convert;
template <>
struct Convert<gguf::ParamsQ4_0> {
    static void run(const Choice& c, gguf::ParamsQ4_0& p, uint8_t* q)
    {
        p.d = c.d;
        for (int i = 0; i < 32; ++i)
            q[i] = static_cast<uint8_t>(c.q[i] + 8);
    }
};
template <>
struct Convert<gguf::ParamsQ5_0> {
    static void run(const Choice& c, gguf::ParamsQ5_0& p, uint8_t* q)
    {
        p.d = c.d;
        for (int i = 0; i < 32; ++i)
            q[i] = static_cast<uint8_t>(c.q[i] + 16);
    }
};
template <>
struct Convert<gguf::ParamsQ8_0> {
    static void run(const Choice& c, gguf::ParamsQ8_0& p, int8_t* q)
    {
        p.d = c.d;
        for (int i = 0; i < 32; ++i)
            q[i] = static_cast<int8_t>(c.q[i]);
    }
};
template <class P, int kSub>
void convert_affine_k(const Choice& c, P& p, uint8_t* q)
{
    p.d = c.d;
    p.dmin = c.dmin;
    for (int j = 0; j < kSub; ++j) {
        p.sc[j] = static_cast<uint8_t>(c.sc[j]);
        p.m[j] = static_cast<uint8_t>(c.m[j]);
    }
    for (int i = 0; i < 256; ++i)
        q[i] = static_cast<uint8_t>(c.q[i]);
}
template <class P>
void convert_symmetric_k(const Choice& c, P& p, int8_t* q)
{
    p.d = c.d;
    for (int j = 0; j < 16; ++j)
        p.sc[j] = static_cast<int8_t>(c.sc[j]);
    for (int i = 0; i < 256; ++i)
        q[i] = static_cast<int8_t>(c.q[i]);
}
template <>
struct Convert<gguf::ParamsQ2_K> {
    static void run(const Choice& c, gguf::ParamsQ2_K& p, uint8_t* q)
    {
        convert_affine_k<gguf::ParamsQ2_K, 16>(c, p, q);
    }
};
template <>
struct Convert<gguf::ParamsQ4_K> {
    static void run(const Choice& c, gguf::ParamsQ4_K& p, uint8_t* q)
    {
        convert_affine_k<gguf::ParamsQ4_K, 8>(c, p, q);
    }
};
template <>
struct Convert<gguf::ParamsQ5_K> {
    static void run(const Choice& c, gguf::ParamsQ5_K& p, uint8_t* q)
    {
        convert_affine_k<gguf::ParamsQ5_K, 8>(c, p, q);
    }
};
template <>
struct Convert<gguf::ParamsQ3_K> {
    static void run(const Choice& c, gguf::ParamsQ3_K& p, int8_t* q)
    {
        convert_symmetric_k(c, p, q);
    }
};
template <>
struct Convert<gguf::ParamsQ6_K> {
    static void run(const Choice& c, gguf::ParamsQ6_K& p, int8_t* q)
    {
        convert_symmetric_k(c, p, q);
    }
};

// ---- the tensor-level driver ----

struct Input {
    at::Tensor w;  // [rows, cols] float32 contiguous
    at::Tensor h;  // [cols] or [rows, cols] float32 contiguous
    bool h_per_weight = false;
    int64_t rows = 0, cols = 0;
    std::vector<int64_t> out_shape;
};

at::Tensor as_float_cpu(const at::Tensor& t)
{
    return t.to(at::kCPU).to(at::kFloat).contiguous();
}

Input check_input(const at::Tensor& W, const at::Tensor& h, const char* what, int64_t block)
{
    if (!W.defined() || (W.dim() != 1 && W.dim() != 2) || !at::isFloatingType(W.scalar_type()))
        throw InvalidArgument(std::string(what) + ": weights must be a 1-D or 2-D float tensor");
    if (W.device().type() != at::kCPU)
        throw InvalidArgument(std::string(what) + ": weights must be on the CPU");
    Input in;
    in.out_shape = W.sizes().vec();
    in.w = as_float_cpu(W.dim() == 1 ? W.unsqueeze(0) : W);
    in.rows = in.w.size(0);
    in.cols = in.w.size(1);
    if (block > 0 && in.cols % block != 0)
        throw InvalidArgument(std::string(what) + ": row width " + std::to_string(in.cols) +
                              " is not a multiple of the " + std::to_string(block) +
                              "-element block");
    if (!at::isfinite(in.w).all().item<bool>())
        throw NumericError(std::string(what) + ": the weights hold NaN/Inf");
    if (!h.defined()) {
        in.h = at::ones({in.cols}, at::kFloat);
    } else {
        if (!at::isFloatingType(h.scalar_type()) || h.device().type() != at::kCPU)
            throw InvalidArgument(std::string(what) +
                                  ": the importance must be a float CPU tensor");
        const bool per_col = h.dim() == 1 && h.size(0) == in.cols;
        const bool per_weight = h.dim() == 2 && h.size(0) == in.rows && h.size(1) == in.cols;
        if (!per_col && !per_weight)
            throw InvalidArgument(std::string(what) + ": the importance must be [" +
                                  std::to_string(in.cols) + "] or [" + std::to_string(in.rows) +
                                  ", " + std::to_string(in.cols) + "]");
        in.h = as_float_cpu(h);
        in.h_per_weight = h.dim() == 2;
        if (!at::isfinite(in.h).all().item<bool>() || (in.h < 0).any().item<bool>())
            throw NumericError(std::string(what) +
                               ": the importance holds NaN/Inf or negative "
                               "values");
    }
    return in;
}

double loss_of(const Input& in, const float* x)
{
    const float* w = in.w.data_ptr<float>();
    const float* h = in.h.data_ptr<float>();
    std::vector<double> per_row(static_cast<size_t>(in.rows), 0.0);
    at::parallel_for(0, in.rows, 16, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const float* hr = in.h_per_weight ? h + r * in.cols : h;
            double s = 0.0;
            for (int64_t c = 0; c < in.cols; ++c) {
                const double e = static_cast<double>(w[r * in.cols + c]) - x[r * in.cols + c];
                s += static_cast<double>(hr[c]) * e * e;
            }
            per_row[static_cast<size_t>(r)] = s;
        }
    });
    double total = 0.0;
    for (double s : per_row)
        total += s;
    return total;
}

// Q4_1 / Q5_1 (not kquant_pack types: gguf::pack_affine writes them): d and dmin = -m as fp16 bits.
struct ParamsAffine1 {
    using Code = uint8_t;
    uint16_t d = 0, dmin = 0;
};

// c as the file's parameters and codes, and the values the file dequantizes to: P's row_values,
// or q d + m (llama.cpp's dequantize_row_q4_1 / _q5_1) for Q4_1 / Q5_1.
template <class P>
void file_values(const Layout& L, const Choice& c, P& p, typename P::Code* codes, float* y)
{
    if constexpr (std::is_same_v<P, ParamsAffine1>) {
        p.d = c.d;
        p.dmin = c.dmin;
        const float d = half_value(c.d);
        const float m = half_value(static_cast<uint16_t>(c.dmin ^ 0x8000));
        for (int i = 0; i < L.block; ++i) {
            codes[i] = static_cast<uint8_t>(c.q[i]);
            y[i] = static_cast<float>(c.q[i]) * d + m;
        }
    } else {
        Convert<P>::run(c, p, codes);
        gguf::row_values(&p, codes, P::kElements, y);
    }
}

double block_loss(const float* w, const float* h, int n, const float* y)
{
    double s = 0.0;
    for (int i = 0; i < n; ++i) {
        const double e = static_cast<double>(w[i]) - y[i];
        s += static_cast<double>(h[i]) * e * e;
    }
    return s;
}

// The stored parameters of c in the generic form (one-level types: sc = m = 1).
void to_block_params(const Layout& L, const Choice& c, KquantBlockParams& p)
{
    p.d = c.d;
    p.dmin = L.affine ? c.dmin : 0;
    for (int j = 0; j < L.n_sub; ++j) {
        p.sc[j] = static_cast<int16_t>(L.two_level ? c.sc[j] : 1);
        p.m[j] = static_cast<int16_t>(L.two_level && L.affine ? c.m[j] : L.affine ? 1 : 0);
    }
}

// The inverse, codes left alone.
void from_block_params(const Layout& L, const KquantBlockParams& p, Choice& c)
{
    c.d = p.d;
    c.dmin = p.dmin;
    for (int j = 0; j < L.n_sub; ++j) {
        c.sc[j] = p.sc[j];
        c.m[j] = p.m[j];
    }
}

// The file's bytes of these blocks (Q4_1 / Q5_1 through gguf::pack_affine, which takes the fp16
// values and the float32 values the codes give).
template <class P>
std::vector<uint8_t> pack_blocks(const Layout& L, const Input& in, const std::vector<P>& params,
                                 std::vector<typename P::Code>& codes, const at::Tensor& values)
{
    if constexpr (std::is_same_v<P, ParamsAffine1>) {
        const int64_t bpr = in.cols / L.block, nb = in.rows * bpr;
        gguf::AffineBlocks a;
        a.bits = L.qmax == 15 ? 4 : 5;
        a.group_size = L.block;
        a.d = at::empty({in.rows, bpr}, at::kFloat);
        a.m = at::empty({in.rows, bpr}, at::kFloat);
        for (int64_t b = 0; b < nb; ++b) {
            a.d.data_ptr<float>()[b] = half_value(params[static_cast<size_t>(b)].d);
            a.m.data_ptr<float>()[b] =
                half_value(static_cast<uint16_t>(params[static_cast<size_t>(b)].dmin ^ 0x8000));
        }
        a.codes = at::from_blob(codes.data(), {in.rows, in.cols}, at::kByte);
        a.w_hat = values;
        return gguf::pack_affine(a, L.type);
    } else {
        return gguf::pack_row(params.data(), codes.data(), in.rows * in.cols);
    }
}

// mode 0: the search (Min-Max where that is lower), then the polish; mode 1: Min-Max only.
template <class P>
KquantResult run_blocks(const Layout& L, const Input& in, int mode)
{
    const int64_t bpr = in.cols / L.block, nb = in.rows * bpr;
    std::vector<P> params(static_cast<size_t>(nb));
    std::vector<typename P::Code> codes(static_cast<size_t>(in.rows * in.cols));
    at::Tensor values = at::empty({in.rows, in.cols}, at::kFloat);
    float* y = values.data_ptr<float>();
    const float* w = in.w.data_ptr<float>();
    const float* h = in.h.data_ptr<float>();
    std::vector<double> mm_loss(static_cast<size_t>(nb));
    std::vector<uint8_t> kept(static_cast<size_t>(nb));
    std::vector<KquantBlockParams> grid(static_cast<size_t>(nb));
    at::parallel_for(0, nb, 4, [&](int64_t b0, int64_t b1) {
        std::vector<float> ys(static_cast<size_t>(L.block));
        std::vector<typename P::Code> cs(static_cast<size_t>(L.block));
        for (int64_t b = b0; b < b1; ++b) {
            const int64_t r = b / bpr, off = r * in.cols + (b % bpr) * L.block;
            const float* wb = w + off;
            const float* hb = in.h_per_weight ? h + off : h + (b % bpr) * L.block;
            P& pb = params[static_cast<size_t>(b)];
            typename P::Code* cb = codes.data() + off;
            // Min-Max first: written unless something lower is found.
            Choice mm;
            minmax_block(L, wb, mm);
            file_values(L, mm, pb, cb, y + off);
            to_block_params(L, mm, grid[static_cast<size_t>(b)]);
            double current = block_loss(wb, hb, L.block, y + off);
            mm_loss[static_cast<size_t>(b)] = current;
            kept[static_cast<size_t>(b)] = 1;
            if (mode == 1)
                continue;
            // Keeps c where the file's values of it have a lower loss than what is written.
            auto offer = [&](const Choice& c) {
                P pc;
                file_values(L, c, pc, cs.data(), ys.data());
                const double lc = block_loss(wb, hb, L.block, ys.data());
                if (!(lc < current))
                    return false;
                current = lc;
                pb = pc;
                to_block_params(L, c, grid[static_cast<size_t>(b)]);
                std::copy(cs.begin(), cs.end(), cb);
                std::copy(ys.begin(), ys.end(), y + off);
                kept[static_cast<size_t>(b)] = 0;
                return true;
            };
            Choice best;
            if (L.two_level) {
                TwoLevel t{L, wb, hb, {}};
                t.solve(best);
            } else {
                solve_one_level(L, wb, hb, best);
            }
            const bool searched = std::isfinite(best.loss) && offer(best);
            Choice start = searched ? best : mm;
            polish(L, wb, hb, start);
            offer(start);
        }
    });
    KquantResult res;
    res.type = L.type;
    res.rows = in.rows;
    res.cols = in.cols;
    res.blocks = nb;
    res.params = std::move(grid);
    res.block = L.block;
    res.sub = L.sub;
    res.qmin = L.qmin;
    res.qmax = L.qmax;
    res.bytes = pack_blocks(L, in, params, codes, values);
    res.loss = loss_of(in, y);
    for (double v : mm_loss)
        res.minmax_loss += v;
    for (uint8_t k : kept)
        res.minmax_kept += k;
    res.values = values.reshape(in.out_shape);
    return res;
}

// Calls f(Tag<P>{}) with the parameter struct P of a written type (one switch for every entry
// point).
template <class P>
struct Tag {
    using type = P;
};
template <class F>
KquantResult with_params(TensorType t, F&& f)
{
    switch (t) {
        case TensorType::Q2_K:
            return f(Tag<gguf::ParamsQ2_K>{});
        case TensorType::Q3_K:
            return f(Tag<gguf::ParamsQ3_K>{});
        case TensorType::Q4_K:
            return f(Tag<gguf::ParamsQ4_K>{});
        case TensorType::Q5_K:
            return f(Tag<gguf::ParamsQ5_K>{});
        case TensorType::Q6_K:
            return f(Tag<gguf::ParamsQ6_K>{});
        case TensorType::Q4_0:
            return f(Tag<gguf::ParamsQ4_0>{});
        case TensorType::Q5_0:
            return f(Tag<gguf::ParamsQ5_0>{});
        case TensorType::Q8_0:
            return f(Tag<gguf::ParamsQ8_0>{});
        case TensorType::Q4_1:
        case TensorType::Q5_1:
            return f(Tag<ParamsAffine1>{});
        default:
            break;
    }
    throw InvalidArgument("kquant: unreachable type");
}

// r's parameters with the codes q (generic, clamped to qmin..qmax): bytes, values, loss.
template <class P>
KquantResult encode_blocks(const Layout& L, const Input& in, const KquantResult& r,
                           const int32_t* q)
{
    const int64_t bpr = in.cols / L.block, nb = in.rows * bpr;
    std::vector<P> params(static_cast<size_t>(nb));
    std::vector<typename P::Code> codes(static_cast<size_t>(in.rows * in.cols));
    at::Tensor values = at::empty({in.rows, in.cols}, at::kFloat);
    float* y = values.data_ptr<float>();
    at::parallel_for(0, nb, 16, [&](int64_t b0, int64_t b1) {
        Choice c;
        for (int64_t b = b0; b < b1; ++b) {
            const int64_t off = (b / bpr) * in.cols + (b % bpr) * L.block;
            from_block_params(L, r.params[static_cast<size_t>(b)], c);
            for (int i = 0; i < L.block; ++i)
                c.q[i] = std::clamp(q[off + i], L.qmin, L.qmax);
            file_values(L, c, params[static_cast<size_t>(b)], codes.data() + off, y + off);
        }
    });
    KquantResult res;
    res.type = L.type;
    res.rows = in.rows;
    res.cols = in.cols;
    res.blocks = nb;
    res.params = r.params;
    res.block = L.block;
    res.sub = L.sub;
    res.qmin = L.qmin;
    res.qmax = L.qmax;
    res.bytes = pack_blocks(L, in, params, codes, values);
    res.loss = loss_of(in, y);
    res.minmax_loss = r.minmax_loss;
    res.minmax_kept = r.minmax_kept;
    res.values = values.reshape(in.out_shape);
    return res;
}

KquantResult run(const at::Tensor& W, const at::Tensor& h, TensorType type, int mode)
{
    const Layout& L = layout_of(type);
    const std::string what = std::string(mode == 0 ? "kquant search " : "kquant Min-Max ") + L.name;
    const Input in = check_input(W, h, what.c_str(), L.block);
    if (in.rows == 0 || in.cols == 0) {
        KquantResult res;
        res.type = type;
        res.rows = in.rows;
        res.cols = in.cols;
        res.values = at::zeros(in.out_shape, at::kFloat);
        return res;
    }
    return with_params(
        type, [&](auto tag) { return run_blocks<typename decltype(tag)::type>(L, in, mode); });
}

}  // namespace

bool kquant_supported(gguf::TensorType type)
{
    return find_layout(type) != nullptr;
}

int64_t kquant_block_elements(gguf::TensorType type)
{
    return layout_of(type).block;
}

KquantResult kquant_quantize(const at::Tensor& W, const at::Tensor& h, gguf::TensorType type)
{
    return run(W, h, type, 0);
}

KquantResult kquant_minmax(const at::Tensor& W, const at::Tensor& h, gguf::TensorType type)
{
    return run(W, h, type, 1);
}

double kquant_loss(const at::Tensor& W, const at::Tensor& X, const at::Tensor& h)
{
    const Input in = check_input(W, h, "kquant loss", 0);
    if (!X.defined() || X.sizes() != W.sizes())
        throw InvalidArgument("kquant loss: the values must have the weights' shape");
    const at::Tensor x = as_float_cpu(X.dim() == 1 ? X.unsqueeze(0) : X);
    return loss_of(in, x.data_ptr<float>());
}

void kquant_grid(const KquantResult& r, at::Tensor* step, at::Tensor* minimum)
{
    const Layout& L = layout_of(r.type);
    if (r.cols % L.block != 0 ||
        static_cast<int64_t>(r.params.size()) != r.rows * (r.cols / L.block))
        throw InvalidArgument(std::string("kquant grid ") + L.name +
                              ": the result holds no parameters for its shape");
    const int64_t bpr = r.cols / L.block, spr = r.cols / L.sub;
    *step = at::empty({r.rows, spr}, at::kFloat);
    *minimum = at::empty({r.rows, spr}, at::kFloat);
    float* s = step->data_ptr<float>();
    float* m = minimum->data_ptr<float>();
    Choice c;
    for (int64_t b = 0; b < r.rows * bpr; ++b) {
        from_block_params(L, r.params[static_cast<size_t>(b)], c);
        for (int j = 0; j < L.n_sub; ++j)
            sub_params(L, c, j, s[b * L.n_sub + j], m[b * L.n_sub + j]);
    }
}

KquantResult kquant_encode(const KquantResult& r, const at::Tensor& q, const at::Tensor& W,
                           const at::Tensor& h)
{
    const Layout& L = layout_of(r.type);
    const std::string what = std::string("kquant encode ") + L.name;
    const Input in = check_input(W, h, what.c_str(), L.block);
    if (in.rows != r.rows || in.cols != r.cols ||
        static_cast<int64_t>(r.params.size()) != r.rows * (r.cols / L.block))
        throw InvalidArgument(what +
                              ": the weights are not the shape the parameters were made for");
    if (!q.defined() || q.numel() != in.rows * in.cols || at::isFloatingType(q.scalar_type()))
        throw InvalidArgument(what + ": the codes must be an integer tensor of the weights' shape");
    const at::Tensor qi = q.to(at::kCPU).to(at::kInt).contiguous();
    const int32_t* qp = qi.data_ptr<int32_t>();
    return with_params(r.type, [&](auto tag) {
        return encode_blocks<typename decltype(tag)::type>(L, in, r, qp);
    });
}

}  // namespace zp::quant
