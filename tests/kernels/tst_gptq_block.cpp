// kernels::gptq_block, GPTQ's column loop over one lazy block: the CPU path (rows in parallel, no
// tensor per column) gives the tensor-op reference's codes, values, errors and updated weights bit
// for bit, in float32 and float64, on one thread and on two, also when the outputs are column
// slices of larger matrices (as core/quant/gptq.cpp passes them).
#include <QtTest/QtTest>

#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include "kernels/gptq_block.h"
#include "kernels/parallel.h"
#include "kernels/quantize.h"

using namespace zp::kernels;

namespace {

struct Block {
    at::Tensor W, U, S, Z;
};

// A block as GPTQ sees it: weights with a few outliers, U the upper Cholesky factor of the inverse
// of a damped Gram matrix, and Min-Max parameters of groups of 4 columns spread per column.
Block make_block(int64_t rows, int64_t n, int bits, at::ScalarType dt, uint64_t seed)
{
    at::manual_seed(seed);
    Block b;
    at::Tensor W = at::randn({rows, n}, at::kDouble);
    if (rows * n > 4)
        W.view(-1).narrow(0, 3, 1).mul_(25.0);
    at::Tensor X = at::randn({4 * n + 8, n}, at::kDouble);
    at::Tensor H = X.t().matmul(X) / double(4 * n + 8);
    H.diagonal().add_(0.01 * H.diagonal().mean().item<double>());
    at::Tensor Hinv = at::cholesky_inverse(at::linalg_cholesky(H));
    b.U = at::linalg_cholesky(Hinv, /*upper=*/true).to(dt);
    b.W = W.to(dt);
    const int64_t g = std::min<int64_t>(4, n);
    at::Tensor s, z;
    minmax_params(b.W, bits, g, 1.0, &s, &z);
    at::Tensor col_group = at::arange(n, at::kLong).floor_divide(g);
    b.S = s.index_select(1, col_group).contiguous();
    b.Z = z.index_select(1, col_group).contiguous();
    return b;
}

}  // namespace

class TestGptqBlock : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void matches_reference_data()
    {
        QTest::addColumn<int>("rows");
        QTest::addColumn<int>("n");
        QTest::addColumn<int>("bits");
        QTest::addColumn<bool>("dbl");
        QTest::addColumn<int>("threads");
        for (int threads : {1, 2})
            for (bool dbl : {false, true}) {
                const char* t = dbl ? "f64" : "f32";
                QTest::newRow(qPrintable(QString("1x1/3bit/%1/t%2").arg(t).arg(threads)))
                    << 1 << 1 << 3 << dbl << threads;
                QTest::newRow(qPrintable(QString("7x5/2bit/%1/t%2").arg(t).arg(threads)))
                    << 7 << 5 << 2 << dbl << threads;
                QTest::newRow(qPrintable(QString("300x128/3bit/%1/t%2").arg(t).arg(threads)))
                    << 300 << 128 << 3 << dbl << threads;
                QTest::newRow(qPrintable(QString("64x37/8bit/%1/t%2").arg(t).arg(threads)))
                    << 64 << 37 << 8 << dbl << threads;
            }
    }

    void matches_reference()
    {
        QFETCH(int, rows);
        QFETCH(int, n);
        QFETCH(int, bits);
        QFETCH(bool, dbl);
        QFETCH(int, threads);
        const int before = zp::kernels::threads();
        set_threads(threads);
        const at::ScalarType dt = dbl ? at::kDouble : at::kFloat;
        Block b = make_block(rows, n, bits, dt, 1000 + rows * 7 + n);

        at::Tensor W_ref = b.W.clone(), codes_ref = at::empty({rows, n}, at::kByte),
                   Q_ref = at::empty({rows, n}, dt), E_ref = at::empty({rows, n}, dt);
        gptq_block_reference(W_ref, b.U, b.S, b.Z, bits, codes_ref, Q_ref, E_ref);

        // The fast path on column slices of wider matrices, as gptq.cpp passes them.
        const int64_t pad = 3, wide = n + 2 * pad;
        at::Tensor Wbig = at::zeros({rows, wide}, dt), Cbig = at::zeros({rows, wide}, at::kByte),
                   Qbig = at::zeros({rows, wide}, dt);
        Wbig.narrow(1, pad, n).copy_(b.W);
        at::Tensor W1 = Wbig.narrow(1, pad, n), codes1 = Cbig.narrow(1, pad, n),
                   Q1 = Qbig.narrow(1, pad, n), E1 = at::empty({rows, n}, dt);
        gptq_block(W1, b.U, b.S, b.Z, bits, codes1, Q1, E1);
        set_threads(before);

        QVERIFY(at::equal(codes1, codes_ref));
        QVERIFY(at::equal(Q1, Q_ref));
        QVERIFY(at::equal(E1, E_ref));
        QVERIFY(at::equal(W1, W_ref));
        // Nothing outside the slices is written.
        QVERIFY(at::equal(Cbig.narrow(1, 0, pad), at::zeros({rows, pad}, at::kByte)));
        QVERIFY(at::equal(Qbig.narrow(1, n + pad, pad), at::zeros({rows, pad}, dt)));
        // The loop did something: most codes are not the clamp limits and errors are non-zero.
        QVERIFY(E_ref.abs().sum().item<double>() > 0.0);
    }

    void rejects_bad_shapes()
    {
        Block b = make_block(4, 6, 3, at::kFloat, 7);
        at::Tensor codes = at::empty({4, 6}, at::kByte), Q = at::empty({4, 6}),
                   E = at::empty({4, 6});
        at::Tensor Ubad = b.U.narrow(0, 0, 5);
        QVERIFY_THROWS_EXCEPTION(c10::Error, gptq_block(b.W, Ubad, b.S, b.Z, 3, codes, Q, E));
        at::Tensor codes_f = at::empty({4, 6});
        QVERIFY_THROWS_EXCEPTION(c10::Error, gptq_block(b.W, b.U, b.S, b.Z, 3, codes_f, Q, E));
        at::Tensor Sd = b.S.to(at::kDouble);
        QVERIFY_THROWS_EXCEPTION(c10::Error, gptq_block(b.W, b.U, Sd, b.Z, 3, codes, Q, E));
    }
};

QTEST_APPLESS_MAIN(TestGptqBlock)
#include "tst_gptq_block.moc"
