// GPTQ on a GGUF block type's grid (quant::gptq_kquant, core/quant/gptq.h), for every type a
// K-quant preset writes:
//   1. the bytes, read by gguf::dequantize (llama.cpp's arithmetic), give bit for bit the returned
//      values, and the returned loss is sum h (W - values)^2 recomputed here in float64;
//   2. error feedback does what it is for: the proxy loss tr(dW H dW^T), computed here from H, is
//      below that of the same grid search without feedback (kquant_quantize with the same
//      importance), by at least 10% for the 2-5-bit types on correlated inputs;
//   3. the parameters of a block are fixed when GPTQ reaches its first column: the first block
//      column's parameters equal a search of the original weights' first block column (nothing
//      has been fed back yet); later block columns differ from the original weights' own search;
//   4. refusals: a row width that is not whole blocks (naming the type), a misshapen Hessian.
#undef slots
#include <ATen/ATen.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/common/error.h"
#include "core/formats/gguf.h"
#include "core/formats/gguf_blocks.h"
#include "core/quant/gptq.h"
#include "core/quant/kquant_search.h"
#include "core/quant/quantizer.h"
#include "tests/common/expect_error.h"

#include <QtTest/QtTest>

using namespace zp;
using gguf::TensorType;

namespace {

struct Problem {
    at::Tensor W, H;
};

// Inputs with correlated channels (a random mixing with a decaying spectrum) and a few loud
// channels, as activations have; weights Gaussian with a few outliers.
Problem make_problem(int64_t rows, int64_t cols, uint64_t seed)
{
    at::manual_seed(static_cast<int64_t>(seed));
    const int64_t T = 4 * cols;
    at::Tensor spectrum = at::exp(-at::arange(cols, at::kDouble) / (cols / 8.0));
    at::Tensor A = at::randn({cols, cols}, at::kDouble) * spectrum.unsqueeze(1);
    at::Tensor X =
        at::randn({T, cols}, at::kDouble).matmul(A) + 0.1 * at::randn({T, cols}, at::kDouble);
    X.narrow(1, 3, 2).mul_(8.0);
    Problem p;
    p.H = X.t().matmul(X) / static_cast<double>(T);
    p.W = at::randn({rows, cols}, at::kFloat) * 0.05f;
    p.W.index_put_({0, 7}, 0.9f);
    p.W.index_put_({5, 300}, -0.7f);
    return p;
}

double proxy(const at::Tensor& W, const at::Tensor& X, const at::Tensor& H)
{
    const at::Tensor d = X.to(at::kDouble) - W.to(at::kDouble);
    return (d.matmul(H) * d).sum().item<double>();
}

const char* type_name(TensorType t)
{
    return gguf::tensor_type_traits(static_cast<uint32_t>(t)).name;
}

}  // namespace

class TestGptqKquant : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void everyType_data();
    void everyType();
    void refusals();
};

void TestGptqKquant::everyType_data()
{
    QTest::addColumn<int>("type");
    QTest::addColumn<double>("max_ratio");  // GPTQ proxy / no-feedback proxy must stay below
    for (auto [t, r] : std::vector<std::pair<TensorType, double>>{{TensorType::Q2_K, 0.9},
                                                                  {TensorType::Q3_K, 0.9},
                                                                  {TensorType::Q4_K, 0.9},
                                                                  {TensorType::Q5_K, 0.9},
                                                                  {TensorType::Q6_K, 1.0},
                                                                  {TensorType::Q4_0, 0.9},
                                                                  {TensorType::Q5_0, 0.9},
                                                                  {TensorType::Q8_0, 1.0},
                                                                  {TensorType::Q4_1, 0.9},
                                                                  {TensorType::Q5_1, 0.9}})
        QTest::newRow(type_name(t)) << static_cast<int>(t) << r;
}

void TestGptqKquant::everyType()
{
    QFETCH(int, type);
    QFETCH(double, max_ratio);
    const TensorType t = static_cast<TensorType>(type);
    const int64_t rows = 24, cols = 512;
    const Problem p = make_problem(rows, cols, 7);
    quant::GptqConfig cfg;
    const quant::KquantResult g = quant::gptq_kquant(p.W, p.H, t, cfg, "test layer");
    const at::Tensor h = quant::damped_hessian_diagonal(p.H, cfg.damp).to(at::kFloat);

    // 1. bytes -> values, loss.
    QCOMPARE(static_cast<int64_t>(g.bytes.size()),
             rows * static_cast<int64_t>(gguf::row_bytes(t, cols)));
    const at::Tensor deq = gguf::dequantize(g.bytes, t, rows, cols);
    QVERIFY2(at::equal(deq, g.values), "the bytes do not dequantize to the returned values");
    const at::Tensor e = p.W.to(at::kDouble) - g.values.to(at::kDouble);
    const double loss = (e * e * h.to(at::kDouble).unsqueeze(0)).sum().item<double>();
    QVERIFY2(std::abs(loss - g.loss) <= 1e-9 * loss,
             qPrintable(QString("loss %1, recomputed %2").arg(g.loss).arg(loss)));

    // 2. error feedback lowers the proxy loss.
    const quant::KquantResult r = quant::kquant_quantize(p.W, h, t);
    const double pg = proxy(p.W, g.values, p.H), pr = proxy(p.W, r.values, p.H);
    qInfo("%s: proxy loss GPTQ %.6g, no feedback %.6g, ratio %.3f", type_name(t), pg, pr, pg / pr);
    QVERIFY2(pg < max_ratio * pr,
             qPrintable(QString("GPTQ %1 not below %2 x %3").arg(pg).arg(max_ratio).arg(pr)));

    // 3. block columns fixed when reached.
    const int64_t B = quant::kquant_block_elements(t), bpr = cols / B;
    const quant::KquantResult first =
        quant::kquant_quantize(p.W.narrow(1, 0, B), h.narrow(0, 0, B), t);
    const quant::KquantResult last =
        quant::kquant_quantize(p.W.narrow(1, cols - B, B), h.narrow(0, cols - B, B), t);
    int64_t last_differs = 0;
    for (int64_t row = 0; row < rows; ++row) {
        const quant::KquantBlockParams& a = g.params[static_cast<size_t>(row * bpr)];
        const quant::KquantBlockParams& b = first.params[static_cast<size_t>(row)];
        QVERIFY2(std::memcmp(&a, &b, sizeof a) == 0,
                 qPrintable(QString("row %1: first block's parameters differ").arg(row)));
        const quant::KquantBlockParams& c = g.params[static_cast<size_t>(row * bpr + bpr - 1)];
        const quant::KquantBlockParams& d = last.params[static_cast<size_t>(row)];
        last_differs += std::memcmp(&c, &d, sizeof c) != 0;
    }
    QVERIFY2(last_differs > 0, "the last block column's parameters ignore the fed-back error");
}

void TestGptqKquant::refusals()
{
    const Problem p = make_problem(8, 512, 3);
    quant::GptqConfig cfg;
    test::expect_error<InvalidArgument>(
        [&] {
            quant::gptq_kquant(p.W.narrow(1, 0, 288), p.H.narrow(0, 0, 288).narrow(1, 0, 288),
                               TensorType::Q4_K, cfg, "blk.0.ffn_down");
        },
        "blk.0.ffn_down", {"288", "256", "Q4_K"});
    test::expect_error<InvalidArgument>(
        [&] { quant::gptq_kquant(p.W, p.H.narrow(0, 0, 256), TensorType::Q4_0, cfg, "layer x"); },
        "layer x", {"Hessian", "512"});
}

QTEST_GUILESS_MAIN(TestGptqKquant)
#include "tst_gptq_kquant.moc"
