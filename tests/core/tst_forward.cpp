// block_forward against a plain float64 reference written from the formulas, one token, one head
// and one pair at a time: RMSNorm, q/k/v biases, Qwen3 q/k norms, RoPE on halves (with theta and
// llama3 scaling), grouped-query causal attention at a position offset, SwiGLU.
// The precompiled header may already hold Qt, whose `slots` macro breaks ATen's ivalue headers
// (pulled in by ATen/ops/*): this file uses Q_SLOTS instead.
#undef slots
#include <ATen/TensorOperators.h>
#include <ATen/ops/empty.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/model/config.h"
#include "core/model/forward.h"
#include "core/model/model.h"

#include <QtTest/QtTest>

using namespace zp;

namespace {

at::Tensor random_tensor(std::vector<int64_t> shape, std::mt19937_64& rng, double scale,
                         double shift = 0.0)
{
    at::Tensor t = at::empty(shape, at::kFloat);
    std::normal_distribution<float> d(0.0f, static_cast<float>(scale));
    float* p = t.data_ptr<float>();
    for (int64_t i = 0; i < t.numel(); ++i)
        p[i] = static_cast<float>(shift) + d(rng);
    return t;
}

using Mat = std::vector<std::vector<double>>;  // [rows][cols]

Mat to_mat(const at::Tensor& t)
{
    at::Tensor d = t.to(at::kDouble).contiguous();
    const int64_t r = d.dim() == 1 ? 1 : d.size(0), c = d.size(-1);
    Mat m(static_cast<size_t>(r), std::vector<double>(static_cast<size_t>(c)));
    for (int64_t i = 0; i < r; ++i)
        for (int64_t j = 0; j < c; ++j)
            m[i][j] = d.data_ptr<double>()[i * c + j];
    return m;
}

std::vector<double> matvec(const Mat& w, const std::vector<double>& x, const at::Tensor& bias)
{
    std::vector<double> y(w.size(), 0.0);
    for (size_t i = 0; i < w.size(); ++i)
        for (size_t j = 0; j < x.size(); ++j)
            y[i] += w[i][j] * x[j];
    if (bias.defined())
        for (size_t i = 0; i < y.size(); ++i)
            y[i] += bias[static_cast<int64_t>(i)].item<double>();
    return y;
}

std::vector<double> rmsnorm(const std::vector<double>& x, const at::Tensor& g, double eps)
{
    double ss = 0;
    for (double v : x)
        ss += v * v;
    const double r = 1.0 / std::sqrt(ss / x.size() + eps);
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i)
        y[i] = x[i] * r * g[static_cast<int64_t>(i)].item<double>();
    return y;
}

// Reference of one block for a single sequence: hidden [T][H] at positions pos0.. -> [T][H].
Mat reference_block(const model::ModelConfig& c, const model::BlockWeights& w, const Mat& h,
                    int64_t pos0)
{
    const int64_t T = static_cast<int64_t>(h.size()), nh = c.num_heads, nkv = c.num_kv_heads,
                  hd = c.head_dim;
    const Mat wq = to_mat(w.q), wk = to_mat(w.k), wv = to_mat(w.v), wo = to_mat(w.o),
              wg = to_mat(w.gate), wu = to_mat(w.up), wd = to_mat(w.down);
    at::Tensor inv = model::rope_inv_freq(c);
    std::vector<Mat> q(T), k(T), v(T);  // [t][head][d]
    for (int64_t t = 0; t < T; ++t) {
        auto x = rmsnorm(h[t], w.input_norm, c.rms_norm_eps);
        auto qf = matvec(wq, x, w.q_bias), kf = matvec(wk, x, w.k_bias),
             vf = matvec(wv, x, w.v_bias);
        auto split = [&](const std::vector<double>& f, int64_t heads, const at::Tensor& norm,
                         bool rope) {
            Mat out(heads);
            for (int64_t a = 0; a < heads; ++a) {
                std::vector<double> e(f.begin() + a * hd, f.begin() + (a + 1) * hd);
                if (norm.defined())
                    e = rmsnorm(e, norm, c.rms_norm_eps);
                if (rope)
                    for (int64_t i = 0; i < hd / 2; ++i) {
                        const double ang = static_cast<double>(pos0 + t) * inv[i].item<double>();
                        const double x1 = e[i], x2 = e[i + hd / 2];
                        e[i] = x1 * std::cos(ang) - x2 * std::sin(ang);
                        e[i + hd / 2] = x2 * std::cos(ang) + x1 * std::sin(ang);
                    }
                out[a] = e;
            }
            return out;
        };
        q[t] = split(qf, nh, w.q_norm, true);
        k[t] = split(kf, nkv, w.k_norm, true);
        v[t] = split(vf, nkv, at::Tensor(), false);
    }
    Mat out(T);
    for (int64_t t = 0; t < T; ++t) {
        std::vector<double> attn(nh * hd, 0.0);
        for (int64_t a = 0; a < nh; ++a) {
            const int64_t g = a / (nh / nkv);
            std::vector<double> s(t + 1);
            double mx = -1e300;
            for (int64_t j = 0; j <= t; ++j) {
                double dot = 0;
                for (int64_t d = 0; d < hd; ++d)
                    dot += q[t][a][d] * k[j][g][d];
                s[j] = dot / std::sqrt(static_cast<double>(hd));
                mx = std::max(mx, s[j]);
            }
            double z = 0;
            for (auto& e : s)
                z += (e = std::exp(e - mx));
            for (int64_t j = 0; j <= t; ++j)
                for (int64_t d = 0; d < hd; ++d)
                    attn[a * hd + d] += s[j] / z * v[j][g][d];
        }
        auto o = matvec(wo, attn, w.o_bias);
        std::vector<double> r(h[t].size());
        for (size_t i = 0; i < r.size(); ++i)
            r[i] = h[t][i] + o[i];
        auto x = rmsnorm(r, w.post_norm, c.rms_norm_eps);
        auto gt = matvec(wg, x, at::Tensor()), up = matvec(wu, x, at::Tensor());
        for (size_t i = 0; i < gt.size(); ++i)
            gt[i] = gt[i] / (1.0 + std::exp(-gt[i])) * up[i];
        auto dn = matvec(wd, gt, at::Tensor());
        out[t].resize(r.size());
        for (size_t i = 0; i < r.size(); ++i)
            out[t][i] = r[i] + dn[i];
    }
    return out;
}

}  // namespace

class TestForward : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void block_matches_reference_data()
    {
        QTest::addColumn<QString>("arch");
        QTest::addColumn<int>("kv_heads");
        QTest::addColumn<int>("pos0");
        QTest::addColumn<QString>("scaling");
        QTest::newRow("llama/mha") << "llama" << 4 << 0 << "none";
        QTest::newRow("llama/gqa/pos7") << "llama" << 2 << 7 << "none";
        QTest::newRow("llama/bias/mqa") << "llama-bias" << 1 << 3 << "none";
        QTest::newRow("llama3-scaling/pos40") << "llama" << 2 << 40 << "llama3";
        QTest::newRow("linear-scaling") << "llama" << 2 << 5 << "linear";
        QTest::newRow("qwen2/gqa") << "qwen2" << 2 << 2 << "none";
        QTest::newRow("qwen3/gqa/head_dim6") << "qwen3" << 2 << 9 << "none";
    }

    void block_matches_reference()
    {
        QFETCH(QString, arch);
        QFETCH(int, kv_heads);
        QFETCH(int, pos0);
        QFETCH(QString, scaling);
        model::ModelConfig c;
        c.arch = arch == "qwen2"   ? model::Architecture::qwen2
                 : arch == "qwen3" ? model::Architecture::qwen3
                                   : model::Architecture::llama;
        c.hidden_size = 16;
        c.intermediate_size = 20;
        c.num_layers = 1;
        c.num_heads = 4;
        c.num_kv_heads = kv_heads;
        c.head_dim = arch == "qwen3" ? 6 : 4;  // Qwen3 may decouple head_dim from hidden / heads
        c.vocab_size = 8;
        c.rope_theta = arch == "qwen3" ? 1e6 : 500.0;
        c.rms_norm_eps = 1e-6;
        c.attention_bias = arch == "qwen2" || arch == "llama-bias";
        c.o_bias = arch == "llama-bias";
        c.qk_norm = arch == "qwen3";
        c.rope_scaling.type = scaling.toStdString();
        c.rope_scaling.factor = 4.0;
        c.rope_scaling.original_max_position = 16;
        std::mt19937_64 rng(static_cast<uint64_t>(kv_heads * 100 + pos0));
        const int64_t H = 16, Q = c.q_dim(), KV = c.kv_dim(), I = 20;
        model::BlockWeights w;
        w.input_norm = random_tensor({H}, rng, 0.2, 1.0);
        w.post_norm = random_tensor({H}, rng, 0.2, 1.0);
        w.q = random_tensor({Q, H}, rng, 0.3);
        w.k = random_tensor({KV, H}, rng, 0.3);
        w.v = random_tensor({KV, H}, rng, 0.3);
        w.o = random_tensor({H, Q}, rng, 0.3);
        w.gate = random_tensor({I, H}, rng, 0.3);
        w.up = random_tensor({I, H}, rng, 0.3);
        w.down = random_tensor({H, I}, rng, 0.3);
        if (c.attention_bias) {
            w.q_bias = random_tensor({Q}, rng, 0.3);
            w.k_bias = random_tensor({KV}, rng, 0.3);
            w.v_bias = random_tensor({KV}, rng, 0.3);
        }
        if (c.o_bias)
            w.o_bias = random_tensor({H}, rng, 0.3);
        if (c.qk_norm) {
            w.q_norm = random_tensor({c.head_dim}, rng, 0.2, 1.0);
            w.k_norm = random_tensor({c.head_dim}, rng, 0.2, 1.0);
        }
        const int64_t B = 2, T = 6;
        at::Tensor h = random_tensor({B, T, H}, rng, 1.0);
        at::Tensor got = model::block_forward(c, w, h, pos0);
        QCOMPARE(got.sizes().vec(), std::vector<int64_t>({B, T, H}));
        double worst = 0.0;
        for (int64_t b = 0; b < B; ++b) {
            const Mat want = reference_block(c, w, to_mat(h[b]), pos0);
            const Mat have = to_mat(got[b]);
            for (int64_t t = 0; t < T; ++t)
                for (int64_t i = 0; i < H; ++i)
                    worst = std::max(worst, std::abs(want[t][i] - have[t][i]));
        }
        QVERIFY2(worst < 1e-4, qPrintable(QString("max |diff| = %1").arg(worst)));

        // Through a KV cache, one token at a time from position 0, the block gives what it gives
        // for the whole sequence at once.
        const at::Tensor full = model::block_forward(c, w, h, 0);
        model::KvCache own;
        double worst_cached = 0.0;
        for (int64_t t = 0; t < T; ++t) {
            at::Tensor step = model::block_forward(c, w, h.narrow(1, t, 1), t, &own);
            worst_cached =
                std::max(worst_cached, (step - full.narrow(1, t, 1)).abs().max().item<double>());
        }
        QCOMPARE(own.length(), T);
        QVERIFY2(worst_cached < 1e-5, qPrintable(QString::number(worst_cached)));
    }

    // Long sequences: each sequence's attention scores (heads x T x T floats) exceed the 16 MB the
    // forward holds at once, so the batch's attention is computed one sequence at a time; the
    // result still matches the reference, does not depend on the other sequences of the batch, and
    // equals each sequence's forward on its own up to float32 rounding.
    void long_sequences_attend_in_chunks()
    {
        model::ModelConfig c;
        c.arch = model::Architecture::llama;
        c.hidden_size = 16;
        c.intermediate_size = 20;
        c.num_layers = 1;
        c.num_heads = 4;
        c.num_kv_heads = 2;
        c.head_dim = 4;
        c.vocab_size = 8;
        c.rope_theta = 500.0;
        c.rms_norm_eps = 1e-6;
        std::mt19937_64 rng(2024);
        const int64_t H = 16, Q = c.q_dim(), KV = c.kv_dim(), I = 20;
        model::BlockWeights w;
        w.input_norm = random_tensor({H}, rng, 0.2, 1.0);
        w.post_norm = random_tensor({H}, rng, 0.2, 1.0);
        w.q = random_tensor({Q, H}, rng, 0.3);
        w.k = random_tensor({KV, H}, rng, 0.3);
        w.v = random_tensor({KV, H}, rng, 0.3);
        w.o = random_tensor({H, Q}, rng, 0.3);
        w.gate = random_tensor({I, H}, rng, 0.3);
        w.up = random_tensor({I, H}, rng, 0.3);
        w.down = random_tensor({H, I}, rng, 0.3);
        const int64_t B = 3, T = 1100;  // 4 x 1100 x 1100 x 4 bytes = 19 MB per sequence
        at::Tensor h = random_tensor({B, T, H}, rng, 1.0);
        at::Tensor got = model::block_forward(c, w, h, 0);
        QCOMPARE(got.sizes().vec(), std::vector<int64_t>({B, T, H}));

        // The bound. Every float32 result here is the same formula evaluated with its sums in
        // some order (GEMM blocking follows the batch's shape, the CPU's vector width and the BLAS
        // kernel), so it lies near the exact value by rounding alone, and two of them differ by at
        // most the sum of their errors. A float32 sum of n terms is within gamma_n(lambda) *
        // sum |term| of the exact sum, gamma_n(lambda) = lambda sqrt(n) u (to first order, u =
        // 2^-24), with probability at least 1 - 2 exp(-lambda^2 / 2) over the rounding errors
        // (Higham and Mary, "A new approach to probabilistic rounding error analysis", SIAM J. Sci.
        // Comput. 41(5), 2019; the worst case n u is 30 times larger at n = T and never reached).
        // lambda = 5: a failure probability of 7.5e-6 per sum. The longest sums run over the T keys
        // (the softmax's normaliser, the probability-weighted values); the block chains D = 4
        // stages of sums (attention, o_proj, gate/up, down), each of magnitude at most the block's
        // output scale M = max(1, max|out|) here (weights of scale 0.3 over widths 16-20, a
        // residual of rms 1). So each result is within e = D gamma_T(5) M of exact, two results
        // within 2 e. Here 2 e is about 3e-4, against 2e-6 seen on x86 CPUs (AVX2 to AMX, any
        // OpenBLAS kernel) and O(0.1) for a misplaced mask or a key read from another sequence.
        const double u = std::ldexp(1.0, -24), lambda = 5.0, D = 4.0;
        const double gamma_T = std::expm1(lambda * std::sqrt(static_cast<double>(T)) * u);
        double M = 1.0;
        std::vector<Mat> want(B);
        for (int64_t b = 0; b < B; ++b) {
            want[b] = reference_block(c, w, to_mat(h[b]), 0);
            for (const auto& row : want[b])
                for (double v : row)
                    M = std::max(M, std::abs(v));
        }
        const double e = D * gamma_T * M;

        double worst = 0.0;
        for (int64_t b = 0; b < B; ++b) {
            const Mat have = to_mat(got[b]);
            for (int64_t t = 0; t < T; ++t)
                for (int64_t i = 0; i < H; ++i)
                    worst = std::max(worst, std::abs(want[b][t][i] - have[t][i]));
        }
        QVERIFY2(worst < e, qPrintable(QString("max |diff| = %1, bound %2").arg(worst).arg(e)));

        // Exactly independent of the other sequences: the same batch shape (so the same GEMM
        // blocking and the same summation order for every row) with the other sequences replaced
        // gives this sequence's outputs bit for bit. Any leak across the batch, however small,
        // shows here.
        for (int64_t b = 0; b < B; ++b) {
            at::Tensor other = random_tensor({B, T, H}, rng, 1.0);
            other[b].copy_(h[b]);
            const at::Tensor mixed = model::block_forward(c, w, other, 0);
            QVERIFY2(at::equal(mixed[b], got[b]),
                     qPrintable(QString("sequence %1 depends on the others: max |diff| = %2")
                                    .arg(b)
                                    .arg((mixed[b] - got[b]).abs().max().item<double>())));
        }
        // Alone (another shape, so another summation order): equal up to the bound's rounding.
        double alone_worst = 0.0;
        for (int64_t b = 0; b < B; ++b) {
            const at::Tensor alone = model::block_forward(c, w, h.narrow(0, b, 1), 0);
            const double d = (alone[0] - got[b]).abs().max().item<double>();
            alone_worst = std::max(alone_worst, d);
            QVERIFY2(
                d < 2.0 * e,
                qPrintable(
                    QString("sequence %1: max |diff| = %2, bound %3").arg(b).arg(d).arg(2.0 * e)));
        }
        qInfo(
            "max |diff|: %.3g against the float64 reference (bound %.3g), %.3g alone against "
            "batched (bound %.3g)",
            worst, e, alone_worst, 2.0 * e);
    }
};

QTEST_GUILESS_MAIN(TestForward)
#include "tst_forward.moc"
