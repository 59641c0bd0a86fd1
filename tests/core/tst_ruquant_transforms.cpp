// core/quant/ruquant_transforms: every constructed matrix is orthogonal in float64 (Householder,
// Givens in both variants, Hadamard, the greedy block rotation, the global Householder); a
// Householder / Givens block maps its vector exactly onto its target; Hadamard entries are
// +-1/sqrt(n) and match a Sylvester recursion; the zig-zag permutation equals a reference dealing
// and balances block maxima; the greedy block rotation lowers the largest |value| of activations
// with outlier channels, is deterministic per seed; block_diag_apply equals the explicit
// block-diagonal product. Every reference below is a plain std::vector<double> loop written here.
#undef slots
#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "core/common/error.h"
#include "core/quant/ruquant_transforms.h"
#include "tests/common/test_util.h"

#include <QtTest/QtTest>

using namespace zp;

namespace {

std::vector<double> to_vector(const at::Tensor& t)
{
    const at::Tensor c = t.to(at::kCPU).to(at::kDouble).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

at::Tensor from_vector(const std::vector<double>& v, int64_t rows, int64_t cols)
{
    at::Tensor t = at::empty({rows, cols}, at::kDouble);
    std::copy(v.begin(), v.end(), t.data_ptr<double>());
    return t;
}

// max |Q Q^T - I| of a square float64 matrix, by loops.
double orthogonality_error(const at::Tensor& Q)
{
    if (Q.dim() != 2 || Q.size(0) != Q.size(1) || Q.scalar_type() != at::kDouble)
        return 1e300;
    const int64_t n = Q.size(0);
    const std::vector<double> q = to_vector(Q);
    double worst = 0.0;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
            double s = 0.0;
            for (int64_t k = 0; k < n; ++k)
                s += q[size_t(i * n + k)] * q[size_t(j * n + k)];
            worst = std::max(worst, std::abs(s - (i == j ? 1.0 : 0.0)));
        }
    return worst;
}

// Column map: (Q a)_i = sum_k Q[i][k] a_k.
std::vector<double> mat_vec(const std::vector<double>& Q, const std::vector<double>& a)
{
    const size_t n = a.size();
    std::vector<double> r(n, 0.0);
    for (size_t i = 0; i < n; ++i)
        for (size_t k = 0; k < n; ++k)
            r[i] += Q[i * n + k] * a[k];
    return r;
}

// Row map: (a Q)_j = sum_k a_k Q[k][j].
std::vector<double> vec_mat(const std::vector<double>& a, const std::vector<double>& Q)
{
    const size_t n = a.size();
    std::vector<double> r(n, 0.0);
    for (size_t k = 0; k < n; ++k)
        for (size_t j = 0; j < n; ++j)
            r[j] += a[k] * Q[k * n + j];
    return r;
}

double norm(const std::vector<double>& a)
{
    double s = 0.0;
    for (double v : a)
        s += v * v;
    return std::sqrt(s);
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b)
{
    double m = 0.0;
    for (size_t i = 0; i < a.size(); ++i)
        m = std::max(m, std::abs(a[i] - b[i]));
    return m;
}

double max_abs(const std::vector<double>& a)
{
    double m = 0.0;
    for (double v : a)
        m = std::max(m, std::abs(v));
    return m;
}

// x [tokens, width] times the explicit [width, width] blockdiag(R, ..., R), by loops.
std::vector<double> ref_block_apply(const std::vector<double>& x, int64_t tokens, int64_t width,
                                    const std::vector<double>& R, int64_t b)
{
    std::vector<double> big(size_t(width * width), 0.0);
    for (int64_t blk = 0; blk < width / b; ++blk)
        for (int64_t i = 0; i < b; ++i)
            for (int64_t j = 0; j < b; ++j)
                big[size_t((blk * b + i) * width + blk * b + j)] = R[size_t(i * b + j)];
    std::vector<double> y(size_t(tokens * width), 0.0);
    for (int64_t t = 0; t < tokens; ++t)
        for (int64_t k = 0; k < width; ++k) {
            const double xv = x[size_t(t * width + k)];
            if (xv == 0.0)
                continue;
            for (int64_t j = 0; j < width; ++j)
                y[size_t(t * width + j)] += xv * big[size_t(k * width + j)];
        }
    return y;
}

// Heavy-tailed (Laplace) activations [tokens, width] with a few outlier channels (x 40).
at::Tensor outlier_activations(int64_t tokens, int64_t width, uint64_t seed)
{
    at::Tensor x = test::make_weights("laplace", tokens, width, seed);
    const int64_t outliers[] = {3, 77, 200, 201, 450 % width};
    for (int64_t c : outliers)
        x.select(1, c % width).mul_(40.0);
    return x;
}

std::vector<double> random_vector(std::mt19937_64& rng, size_t n)
{
    std::normal_distribution<double> normal(0.0, 1.0);
    std::vector<double> v(n);
    for (auto& e : v)
        e = normal(rng);
    return v;
}

// Zig-zag dealing spelled out as DuQuant's state machine: a cursor walks 0..n-1, stays once at
// the end, walks back to 0, stays once, ...; channels by descending max, ties by lower index
// (selection of the maximum, O(width^2)).
std::vector<int64_t> ref_zigzag(const std::vector<double>& cmax, int64_t block)
{
    const int64_t width = int64_t(cmax.size()), nb = width / block;
    std::vector<bool> used(cmax.size(), false);
    std::vector<std::vector<int64_t>> blocks(static_cast<size_t>(nb));
    int64_t cur = 0;
    bool up = true;
    for (int64_t k = 0; k < width; ++k) {
        int64_t best = -1;
        for (int64_t c = 0; c < width; ++c)
            if (!used[size_t(c)] && (best < 0 || cmax[size_t(c)] > cmax[size_t(best)]))
                best = c;
        used[size_t(best)] = true;
        blocks[size_t(cur)].push_back(best);
        if (up) {
            if (++cur == nb) {
                cur = nb - 1;
                up = false;
            }
        } else {
            if (--cur == -1) {
                cur = 0;
                up = true;
            }
        }
    }
    std::vector<int64_t> perm;
    for (const auto& b : blocks)
        perm.insert(perm.end(), b.begin(), b.end());
    return perm;
}

std::vector<double> block_maxima(const std::vector<double>& cmax, const std::vector<int64_t>& perm,
                                 int64_t block)
{
    std::vector<double> m(cmax.size() / size_t(block), 0.0);
    for (size_t j = 0; j < perm.size(); ++j)
        m[j / size_t(block)] = std::max(m[j / size_t(block)], cmax[size_t(perm[j])]);
    return m;
}

}  // namespace

class TestRuquantTransforms : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void householder_maps_a_onto_b()
    {
        std::mt19937_64 rng(11);
        for (size_t n : {2u, 7u, 37u, 128u}) {
            const std::vector<double> a = random_vector(rng, n);
            std::vector<double> b = random_vector(rng, n);
            const double f = norm(a) / norm(b);
            for (auto& e : b)
                e *= f;
            const at::Tensor H = quant::householder_map(from_vector(a, 1, int64_t(n)).view(-1),
                                                        from_vector(b, 1, int64_t(n)).view(-1));
            QCOMPARE(H.scalar_type(), at::kDouble);
            QVERIFY2(orthogonality_error(H) < 1e-10, qPrintable(QString::number(n)));
            const std::vector<double> h = to_vector(H);
            QVERIFY(max_abs_diff(mat_vec(h, a), b) < 1e-12 * norm(a));
            QVERIFY(max_abs_diff(vec_mat(a, h), b) < 1e-12 * norm(a));  // symmetric: rows too
        }
        // a == b: the identity, exactly.
        const at::Tensor a = at::tensor({1.5, -2.0, 0.25}, at::kDouble);
        const std::vector<double> h = to_vector(quant::householder_map(a, a.clone()));
        QCOMPARE(h, std::vector<double>({1, 0, 0, 0, 1, 0, 0, 0, 1}));
    }

    void givens_maps_pair_and_code_variant_is_transpose()
    {
        std::mt19937_64 rng(5);
        for (int k = 0; k < 50; ++k) {
            const std::vector<double> a = random_vector(rng, 2);
            std::vector<double> b = random_vector(rng, 2);
            const double f = norm(a) / norm(b);
            b[0] *= f;
            b[1] *= f;
            const at::Tensor G = quant::givens_map(a[0], a[1], b[0], b[1]);
            const at::Tensor Gc = quant::givens_map(a[0], a[1], b[0], b[1], true);
            QVERIFY(orthogonality_error(G) < 1e-10);
            QVERIFY(orthogonality_error(Gc) < 1e-10);
            const std::vector<double> g = to_vector(G), gc = to_vector(Gc);
            QVERIFY(max_abs_diff(mat_vec(g, a), b) < 1e-12 * norm(a));
            QCOMPARE(gc, std::vector<double>({g[0], g[2], g[1], g[3]}));
            // A rotation: [[c, -s], [s, c]].
            QCOMPARE(g[0], g[3]);
            QCOMPARE(g[1], -g[2]);
        }
    }

    void hadamard_is_sylvester_and_orthonormal()
    {
        // Sylvester recursion H_2n = [[H, H], [H, -H]] of +-1 signs, from [1].
        std::vector<double> s = {1.0};
        for (int64_t n = 1; n <= 128; n *= 2) {
            const at::Tensor H = quant::hadamard(n);
            QCOMPARE(H.size(0), n);
            const std::vector<double> h = to_vector(H);
            const double e = 1.0 / std::sqrt(double(n));
            for (size_t i = 0; i < h.size(); ++i)
                QVERIFY2(std::abs(h[i] - s[i] * e) < 1e-15, qPrintable(QString::number(n)));
            QVERIFY(orthogonality_error(H) < 1e-10);
            std::vector<double> t(static_cast<size_t>(4 * n * n));
            for (int64_t i = 0; i < n; ++i)
                for (int64_t j = 0; j < n; ++j) {
                    const double v = s[size_t(i * n + j)];
                    t[size_t(i * 2 * n + j)] = v;
                    t[size_t(i * 2 * n + j + n)] = v;
                    t[size_t((i + n) * 2 * n + j)] = v;
                    t[size_t((i + n) * 2 * n + j + n)] = -v;
                }
            s.swap(t);
        }
    }

    void zigzag_matches_reference_and_balances_block_maxima()
    {
        const int64_t width = 512, block = 64;
        std::mt19937_64 rng(3);
        std::uniform_real_distribution<double> uni(0.5, 1.0);
        std::vector<double> cmax(static_cast<size_t>(width));
        for (auto& v : cmax)
            v = uni(rng);
        // Clustered outliers: all in block 0 in the identity order.
        for (int64_t c = 0; c < 8; ++c)
            cmax[size_t(c)] = 100.0 + double(c);
        cmax[20] = cmax[21] = 50.0;  // a tie, kept in index order
        const std::vector<int64_t> perm =
            quant::zigzag_permutation(from_vector(cmax, 1, width).view(-1), block);
        QCOMPARE(perm, ref_zigzag(cmax, block));

        std::vector<int64_t> ident(static_cast<size_t>(width));
        for (int64_t i = 0; i < width; ++i)
            ident[size_t(i)] = i;
        const std::vector<double> before = block_maxima(cmax, ident, block);
        const std::vector<double> after = block_maxima(cmax, perm, block);
        const auto [bmin, bmax] = std::minmax_element(before.begin(), before.end());
        const auto [amin, amax] = std::minmax_element(after.begin(), after.end());
        QVERIFY(*amax <= *bmax);  // the global maximum stays somewhere (equal here)
        QVERIFY(*amin >= 100.0);  // every block got one of the 8 outliers
        QVERIFY(*bmin < 1.0);
        QVERIFY(*amax - *amin < *bmax - *bmin);
    }

    void greedy_block_rotation_is_orthogonal_and_lowers_the_maximum()
    {
        const int64_t tokens = 64, width = 512;
        const at::Tensor x = outlier_activations(tokens, width, 21);
        const std::vector<double> xv = to_vector(x);
        for (int64_t block : {16, 64, 128}) {
            quant::BlockRotationOptions o;
            o.block = block;
            o.seed = 7;
            const at::Tensor R = quant::greedy_block_rotation(x.to(at::kFloat), o);
            QCOMPARE(R.scalar_type(), at::kDouble);
            QCOMPARE(R.size(0), block);
            const double err = orthogonality_error(R);
            QVERIFY2(err < 1e-10, qPrintable(QString("block %1: %2").arg(block).arg(err)));
            const std::vector<double> y =
                ref_block_apply(to_vector(x.to(at::kFloat)), tokens, width, to_vector(R), block);
            const double mb = max_abs(xv), ma = max_abs(y);
            qInfo("block %lld: max |x| %.4g -> %.4g", (long long)block, mb, ma);
            QVERIFY2(ma < mb,
                     qPrintable(QString("block %1: max %2 -> %3").arg(block).arg(mb).arg(ma)));
        }
    }

    void greedy_block_rotation_is_deterministic_per_seed()
    {
        const at::Tensor x = outlier_activations(32, 256, 4);
        quant::BlockRotationOptions o;
        o.block = 64;
        o.seed = 123;
        const at::Tensor R1 = quant::greedy_block_rotation(x, o);
        const at::Tensor R2 = quant::greedy_block_rotation(x, o);
        QCOMPARE(to_vector(R1), to_vector(R2));
        o.seed = 124;
        const at::Tensor R3 = quant::greedy_block_rotation(x, o);
        QVERIFY(max_abs_diff(to_vector(R1), to_vector(R3)) > 1e-3);
    }

    void greedy_steps_map_the_max_block_vector_onto_positive_targets()
    {
        const int64_t tokens = 16, width = 128, b = 32;
        const at::Tensor x = outlier_activations(tokens, width, 9);
        const std::vector<double> xv = to_vector(x);
        // One Householder step: the block vector with the largest |value| goes to a positive
        // vector of the same norm.
        quant::BlockRotationOptions o;
        o.block = b;
        o.greedy_steps = 1;
        o.givens_rounds = 0;
        o.seed = 99;
        const std::vector<double> H = to_vector(quant::greedy_block_rotation(x, o));
        size_t arg = 0;
        for (size_t i = 0; i < xv.size(); ++i)
            if (std::abs(xv[i]) > std::abs(xv[arg]))
                arg = i;
        const size_t row = arg / size_t(b);
        const std::vector<double> y(xv.begin() + long(row * b), xv.begin() + long((row + 1) * b));
        const std::vector<double> yh = vec_mat(y, H);
        QVERIFY(std::abs(norm(yh) - norm(y)) < 1e-12 * norm(y));
        for (double v : yh)
            QVERIFY(v >= -1e-12 * norm(y));

        // Plus one Givens round (same seed: the same Householder comes first). Paper variant:
        // every pair of the then-largest block vector goes to a positive pair. The code variant
        // uses the transposed 2x2 blocks: H^T R_code = (H^T R_paper)^T.
        o.givens_rounds = 1;
        const std::vector<double> Rp = to_vector(quant::greedy_block_rotation(x, o));
        o.code_variant = true;
        const std::vector<double> Rc = to_vector(quant::greedy_block_rotation(x, o));
        const at::Tensor Ht = from_vector(H, b, b).t();
        const std::vector<double> Mp = to_vector(Ht.matmul(from_vector(Rp, b, b)));
        const std::vector<double> Mc = to_vector(Ht.matmul(from_vector(Rc, b, b)));
        for (int64_t i = 0; i < b; ++i)
            for (int64_t j = 0; j < b; ++j)
                QVERIFY(std::abs(Mc[size_t(i * b + j)] - Mp[size_t(j * b + i)]) < 1e-12);
        QVERIFY(max_abs_diff(Mp, Mc) > 1e-3);
        const std::vector<double> xh = ref_block_apply(xv, tokens, width, H, b);
        arg = 0;
        for (size_t i = 0; i < xh.size(); ++i)
            if (std::abs(xh[i]) > std::abs(xh[arg]))
                arg = i;
        const size_t row2 = arg / size_t(b);
        const std::vector<double> z(xh.begin() + long(row2 * b), xh.begin() + long((row2 + 1) * b));
        for (double v : vec_mat(z, Mp))
            QVERIFY(v >= -1e-12 * norm(z));
    }

    void global_householder_from_max_row()
    {
        const int64_t tokens = 24, width = 256;
        const at::Tensor x = outlier_activations(tokens, width, 17);
        const at::Tensor H = quant::householder_from_max_row(x, 5);
        QCOMPARE(H.size(0), width);
        QVERIFY(orthogonality_error(H) < 1e-10);
        const std::vector<double> xv = to_vector(x), h = to_vector(H);
        size_t arg = 0;
        for (size_t i = 0; i < xv.size(); ++i)
            if (std::abs(xv[i]) > std::abs(xv[arg]))
                arg = i;
        const size_t row = arg / size_t(width);
        const std::vector<double> r(xv.begin() + long(row * width),
                                    xv.begin() + long((row + 1) * width));
        const std::vector<double> rh = vec_mat(r, h);
        QVERIFY(std::abs(norm(rh) - norm(r)) < 1e-12 * norm(r));
        for (double v : rh)
            QVERIFY(v >= -1e-12 * norm(r));
        QVERIFY(max_abs(rh) < max_abs(r));
        QCOMPARE(to_vector(quant::householder_from_max_row(x, 5)), h);
    }

    void block_diag_apply_equals_explicit_product()
    {
        const int64_t tokens = 10, width = 96, b = 32;
        std::mt19937_64 rng(8);
        const std::vector<double> xv = random_vector(rng, size_t(tokens * width));
        const std::vector<double> rv = random_vector(rng, size_t(b * b));
        const at::Tensor y =
            quant::block_diag_apply(from_vector(xv, tokens, width), from_vector(rv, b, b));
        QCOMPARE(y.size(0), tokens);
        QCOMPARE(y.size(1), width);
        QVERIFY(max_abs_diff(to_vector(y), ref_block_apply(xv, tokens, width, rv, b)) < 1e-12);
    }

    void errors_name_the_values()
    {
        auto expect = [](auto&& f, std::initializer_list<const char*> words) {
            try {
                f();
                QFAIL("expected InvalidArgument");
            } catch (const InvalidArgument& e) {
                const QString m = e.what();
                for (const char* w : words)
                    QVERIFY2(m.contains(QLatin1String(w)), e.what());
            }
        };
        quant::BlockRotationOptions o;
        o.block = 16;
        expect(
            [&] {
                quant::greedy_block_rotation(at::zeros({4, 100}, at::kFloat), o);
            },
            {"100", "16"});
        expect(
            [] {
                quant::householder_map(at::tensor({3.0, 4.0}, at::kDouble),
                                       at::tensor({0.0, 7.0}, at::kDouble));
            },
            {"5", "7"});
        expect([] { quant::givens_map(3.0, 4.0, 0.0, 9.0); }, {"5", "9"});
        expect([] { quant::hadamard(12); }, {"12"});
        expect([] { quant::hadamard(0); }, {"0"});
        expect([] { quant::zigzag_permutation(at::ones({10}, at::kFloat), 4); }, {"10", "4"});
        expect(
            [] {
                quant::block_diag_apply(at::ones({2, 10}, at::kDouble), at::eye(4, at::kDouble));
            },
            {"10", "4"});
        at::Tensor bad = at::ones({4, 32}, at::kFloat);
        bad[1][3] = std::nan("");
        o.block = 16;
        QVERIFY_THROWS_EXCEPTION(NumericError, quant::greedy_block_rotation(bad, o));
    }
};

QTEST_GUILESS_MAIN(TestRuquantTransforms)
#include "tst_ruquant_transforms.moc"
