// The proxy Hessian's accumulator (core/quant/gram.h): X^T X summed over chunks, by dsyrk's lower
// triangle where this build links a BLAS. Checked against the full product by ATen's addmm over
// the same chunks (an independent implementation) and, on a small case, against plain loops in
// long double.
#include <QtTest/QtTest>

#include <ATen/ATen.h>

#include <cmath>
#include <vector>

#include "core/common/error.h"
#include "core/quant/gram.h"

using namespace zp;

class TestGram : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void matches_the_full_product_data();
    void matches_the_full_product();
    void matches_plain_loops();
    void refuses_a_wrong_width();
    void shares_the_callers_buffer();
};

void TestGram::matches_the_full_product_data()
{
    QTest::addColumn<int>("n");
    QTest::addColumn<QList<int>>("chunks");
    QTest::addColumn<bool>("float32");
    QTest::newRow("576, 3 chunks, float32") << 576 << QList<int>{512, 512, 300} << true;
    QTest::newRow("1536, 2 chunks, float32") << 1536 << QList<int>{1024, 7} << true;
    QTest::newRow("172 (stories260K's FFN), float32") << 172 << QList<int>{256, 256} << true;
    QTest::newRow("64, float64") << 64 << QList<int>{1, 2, 3, 200} << false;
    QTest::newRow("1, one column") << 1 << QList<int>{5, 9} << true;
}

void TestGram::matches_the_full_product()
{
    QFETCH(int, n);
    QFETCH(QList<int>, chunks);
    QFETCH(bool, float32);
    at::manual_seed(n);
    quant::GramAccumulator gram(n, at::kCPU);
    at::Tensor ref = at::zeros({n, n}, at::kDouble);
    int64_t tokens = 0;
    for (int rows : chunks) {
        at::Tensor x = at::randn({rows, n}, float32 ? at::kFloat : at::kDouble) * 0.3;
        x.select(1, 0).mul_(40.0);  // one loud channel, as real activations have
        // A transposed view (not contiguous) for every second chunk.
        const at::Tensor given = tokens % 2 ? x : x.t().contiguous().t();
        gram.add(given);
        const at::Tensor xd = x.to(at::kDouble);
        ref.addmm_(xd.t(), xd);
        tokens += rows;
    }
    QCOMPARE(gram.tokens(), tokens);
    const bool syrk = gram.uses_syrk();
    const at::Tensor H = gram.finish();
    QVERIFY(at::equal(H, H.t()));  // exactly symmetric
    const double scale = ref.abs().max().item<double>();
    const double diff = (H - ref).abs().max().item<double>();
    QVERIFY2(
        diff <= 1e-13 * scale,
        qPrintable(QString("max difference %1 of %2 (syrk: %3)").arg(diff).arg(scale).arg(syrk)));
    // Informative: the pipeline's results are identical only where this is 0 (it is with
    // OpenBLAS here: its dsyrk and dgemm sum each element over the tokens in the same order).
    qInfo("syrk %d: elements differing from addmm: %lld of %lld", int(syrk),
          static_cast<long long>((H != ref).sum().item<int64_t>()),
          static_cast<long long>(H.numel()));
}

void TestGram::matches_plain_loops()
{
    const int n = 7, rows = 40;
    at::manual_seed(3);
    const at::Tensor x = at::randn({rows, n}, at::kDouble);
    quant::GramAccumulator gram(n, at::kCPU);
    gram.add(x.narrow(0, 0, 13));
    gram.add(x.narrow(0, 13, rows - 13));
    const at::Tensor H = gram.finish();
    const double* p = x.data_ptr<double>();
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) {
            long double s = 0.0L;
            for (int k = 0; k < rows; ++k)
                s += static_cast<long double>(p[k * n + i]) * p[k * n + j];
            const double got = H[i][j].item<double>();
            QVERIFY2(std::abs(got - static_cast<double>(s)) <= 1e-12 * (1.0 + std::abs(got)),
                     qPrintable(QString("H[%1][%2] = %3, loops %4")
                                    .arg(i)
                                    .arg(j)
                                    .arg(got)
                                    .arg(static_cast<double>(s))));
        }
}

void TestGram::refuses_a_wrong_width()
{
    quant::GramAccumulator gram(8, at::kCPU);
    QVERIFY_THROWS_EXCEPTION(InvalidArgument, gram.add(at::ones({4, 9})));
}

// The pipeline keeps one conversion buffer for all its accumulators: two accumulators of different
// widths, one after the other on the same buffer (which must grow for the second), give the same H
// as accumulators with their own buffers, and as the float64 product written here.
void TestGram::shares_the_callers_buffer()
{
    at::manual_seed(5);
    at::Tensor buffer;
    for (int n : {6, 10}) {
        const at::Tensor x = at::randn({30, n}, at::kFloat);
        quant::GramAccumulator shared(n, at::kCPU, &buffer), own(n, at::kCPU);
        for (int64_t r0 : {0, 11}) {
            const at::Tensor part = x.narrow(0, r0, r0 == 0 ? 11 : 19);
            shared.add(part);
            own.add(part);
        }
        QVERIFY(buffer.defined());
        QVERIFY(buffer.numel() >= 19 * n);
        const at::Tensor H = shared.finish();
        QVERIFY(buffer.defined());  // the caller's buffer outlives the accumulator's finish()
        QVERIFY(at::equal(H, own.finish()));
        const at::Tensor xd = x.to(at::kDouble);
        const double diff = (H - xd.t().matmul(xd)).abs().max().item<double>();
        QVERIFY2(diff <= 1e-12, qPrintable(QString("n %1: max difference %2").arg(n).arg(diff)));
    }
}

QTEST_APPLESS_MAIN(TestGram)
#include "tst_gram.moc"
