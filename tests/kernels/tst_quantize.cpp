// quantize / dequantize / fake-quantize: round trips and the definition of the quantizer.
#include <QtTest/QtTest>

#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/quantize.h"
#include "tests/common/test_util.h"

using namespace zp::kernels;

namespace {

// Min-Max with clip factor b, written from core/MATHS.md section 1 apart from the kernels (a
// plain loop, like ggml's *_ref functions): per group of g values of a row, s = b (max - min) / (N
// - 1), z = round(-min / s - (1 - b)(N - 1) / (2 b)) (half to even); a constant group gets s = 1,
// z = round(-min).
void minmax_ref(const std::vector<double>& w, int64_t cols, int64_t g, int bits, double b,
                std::vector<double>* s, std::vector<double>* z)
{
    const int64_t rows = static_cast<int64_t>(w.size()) / cols, groups = cols / g;
    const double top = (1 << bits) - 1;
    s->assign(rows * groups, 0.0);
    z->assign(rows * groups, 0.0);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < groups; ++j) {
            double lo = w[r * cols + j * g], hi = lo;
            for (int64_t i = 1; i < g; ++i) {
                lo = std::min(lo, w[r * cols + j * g + i]);
                hi = std::max(hi, w[r * cols + j * g + i]);
            }
            if (hi > lo) {
                (*s)[r * groups + j] = b * (hi - lo) / top;
                (*z)[r * groups + j] =
                    std::nearbyint(-lo / (*s)[r * groups + j] - (1.0 - b) * top / (2.0 * b));
            } else {
                (*s)[r * groups + j] = 1.0;
                (*z)[r * groups + j] = std::nearbyint(-lo);
            }
        }
}

}  // namespace

class TestQuantize : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void round_trip_data()
    {
        QTest::addColumn<int>("bits");
        QTest::addColumn<int>("group");
        QTest::addColumn<bool>("dbl");
        for (int bits = 2; bits <= 8; ++bits)
            for (int group : {-1, 32, 128})
                for (bool dbl : {false, true})
                    QTest::newRow(qPrintable(
                        QString("%1bit/g%2/%3").arg(bits).arg(group).arg(dbl ? "f64" : "f32")))
                        << bits << group << dbl;
    }

    void round_trip()
    {
        QFETCH(int, bits);
        QFETCH(int, group);
        QFETCH(bool, dbl);
        at::Tensor w = zp::test::make_weights("laplace", 8, 256, 3 + bits);
        if (!dbl)
            w = w.to(at::kFloat);
        const int64_t groups = group < 0 ? 1 : 256 / group;
        at::Tensor s = (at::rand({8, groups}, at::kDouble) * 0.01 + 0.001).to(w.scalar_type());
        at::Tensor z = (at::rand({8, groups}, at::kDouble) * ((1 << bits) - 1))
                           .to(w.scalar_type());  // real-valued
        at::Tensor codes = quantize(w, s, z, bits, group);
        QCOMPARE(codes.scalar_type(), at::kByte);
        QVERIFY(codes.to(at::kInt).max().item<int>() <= (1 << bits) - 1);
        at::Tensor dq = dequantize(codes, s, z, group);
        QVERIFY(dq.equal(fake_quantize(w, s, z, bits, group)));
        // Re-quantizing the dequantized weights gives the same codes.
        QVERIFY(quantize(dq, s, z, bits, group).equal(codes));
        // Definition: code = clamp(round(w/s + z), 0, N-1), computed here with tensor ops.
        const int64_t g = group < 0 ? 256 : group;
        at::Tensor se = s.repeat_interleave(g, 1), ze = z.repeat_interleave(g, 1);
        at::Tensor ref = at::round(w / se + ze).clamp(0, (1 << bits) - 1).to(at::kByte);
        QVERIFY(ref.equal(codes));
    }

    void half_to_even()
    {
        at::Tensor w = at::tensor({0.5, 1.5, 2.5, -0.5}, at::kDouble).view({1, 4});
        at::Tensor s = at::ones({1, 1}, at::kDouble), z = at::ones({1, 1}, at::kDouble);
        at::Tensor codes =
            quantize(w, s, z, 2, -1);  // w + 1 = 1.5, 2.5, 3.5, 0.5 -> 2, 2, 3 (clamped 4), 0
        QCOMPARE(codes[0][0].item<int>(), 2);
        QCOMPARE(codes[0][1].item<int>(), 2);
        QCOMPARE(codes[0][2].item<int>(), 3);
        QCOMPARE(codes[0][3].item<int>(), 0);
    }

    void minmax_rule()
    {
        at::Tensor w = at::tensor({-0.3, 0.1, 0.9, 0.5}, at::kDouble).view({1, 4});
        at::Tensor s, z;
        minmax_params(w, 2, -1, 1.0, &s, &z);
        QVERIFY(std::abs(s.item<double>() - 0.4) < 1e-15);
        QCOMPARE(z.item<double>(), 1.0);  // round(0.3 / 0.4) = round(0.75) = 1
        // Clip b = 0.6: s = 0.6 * 1.2 / 3 = 0.24; -min/s = 1.25, less (1 - b)(N - 1)/(2b) = 1:
        // z = round(0.25) = 0 (without the shift it would be 1).
        minmax_params(w, 2, -1, 0.6, &s, &z);
        QVERIFY(std::abs(s.item<double>() - 0.24) < 1e-15);
        QCOMPARE(z.item<double>(), 0.0);
        at::Tensor c = at::full({2, 8}, 0.7, at::kDouble);
        minmax_params(c, 3, -1, 1.0, &s, &z);
        QCOMPARE(s[0][0].item<double>(), 1.0);   // constant group: s = 1
        QCOMPARE(z[0][0].item<double>(), -1.0);  // round(-0.7)
    }

    void minmax_matches_reference_data()
    {
        QTest::addColumn<int>("bits");
        QTest::addColumn<int>("group");
        QTest::addColumn<double>("clip");
        for (int bits : {2, 3, 4, 8})
            for (int group : {-1, 32})
                for (double clip : {1.0, 0.9, 0.6})
                    QTest::newRow(
                        qPrintable(QString("%1bit/g%2/b%3").arg(bits).arg(group).arg(clip)))
                        << bits << group << clip;
    }

    // Every (row, group) of laplace weights, plus a constant row, against the scalar reference.
    void minmax_matches_reference()
    {
        QFETCH(int, bits);
        QFETCH(int, group);
        QFETCH(double, clip);
        at::Tensor w = zp::test::make_weights("laplace", 6, 256, 40 + bits);
        w[5].fill_(-0.0123);
        at::Tensor s, z;
        minmax_params(w, bits, group, clip, &s, &z);
        const std::vector<double> wv(w.data_ptr<double>(), w.data_ptr<double>() + w.numel());
        std::vector<double> s_ref, z_ref;
        minmax_ref(wv, 256, group < 0 ? 256 : group, bits, clip, &s_ref, &z_ref);
        QCOMPARE(s.numel(), static_cast<int64_t>(s_ref.size()));
        const at::Tensor sc = s.contiguous(), zc = z.contiguous();
        for (size_t k = 0; k < s_ref.size(); ++k) {
            const double sk = sc.data_ptr<double>()[k], zk = zc.data_ptr<double>()[k];
            QVERIFY2(std::abs(sk - s_ref[k]) <= 1e-15 * s_ref[k],
                     qPrintable(QString("group %1: s %2, reference %3")
                                    .arg(k)
                                    .arg(sk, 0, 'g', 17)
                                    .arg(s_ref[k], 0, 'g', 17)));
            QVERIFY2(
                zk == z_ref[k],
                qPrintable(QString("group %1: z %2, reference %3").arg(k).arg(zk).arg(z_ref[k])));
        }
    }

    void bad_arguments()
    {
        at::Tensor w = at::randn({2, 64});
        at::Tensor s = at::ones({2, 1}), z = at::zeros({2, 1});
        QVERIFY_THROWS_EXCEPTION(c10::Error, quantize(w, s, z, 9, -1));
        QVERIFY_THROWS_EXCEPTION(c10::Error, quantize(w, s, z, 1, -1));
        QVERIFY_THROWS_EXCEPTION(c10::Error, quantize(w, s, z, 4, 48));
        QVERIFY_THROWS_EXCEPTION(c10::Error, quantize(w, at::ones({2, 2}), z, 4, -1));
        QVERIFY_THROWS_EXCEPTION(c10::Error, quantize(w.to(at::kInt), s, z, 4, -1));
    }
};

QTEST_APPLESS_MAIN(TestQuantize)
#include "tst_quantize.moc"
