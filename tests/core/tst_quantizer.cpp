// core/quant: the layer quantizer, its diagnostics and its error messages; core/analysis: the
// teaching-plot data against the search it explains.
#include <QtTest/QtTest>

#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include "core/analysis/loss_curves.h"
#include "core/common/error.h"
#include "core/demo/synthetic.h"
#include "core/quant/quantizer.h"
#include "kernels/zero_point.h"

using namespace zp;

class TestQuantizer : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void methods_and_diagnostics_data()
    {
        QTest::addColumn<QString>("method");
        QTest::addColumn<int>("bits");
        QTest::addColumn<int>("group");
        for (const auto& m : quant::methods())
            for (int bits : {2, 3, 4})
                for (int group : {-1, 64})
                    QTest::newRow(qPrintable(QString("%1/%2bit/g%3").arg(m.name).arg(bits).arg(group)))
                        << QString(m.name) << bits << group;
    }

    void methods_and_diagnostics()
    {
        QFETCH(QString, method);
        QFETCH(int, bits);
        QFETCH(int, group);
        at::Tensor W = demo::synthetic_weight(32, 256, 11);
        at::Tensor X = at::randn({512, 256}, at::kDouble) * demo::synthetic_importance(256, 11).sqrt();
        at::Tensor H = X.t().matmul(X) / 512.0;  // a real proxy Hessian from inputs x
        quant::QuantConfig cfg;
        cfg.method = quant::parse_method(method.toStdString());
        cfg.bits = bits;
        cfg.group_size = group;
        cfg.grid = cfg.method == quant::Method::NeUQIInt ? 256 : 2048;
        quant::LayerQuant r = quant::quantize_layer(W, H, cfg, "layer");
        const auto& d = r.diagnostics;
        // The diag loss the method minimises (per group, with the damped diagonal) is never above
        // Min-Max's on the same weights.
        QVERIFY(d.diag_loss <= d.diag_loss_minmax * (1 + 1e-12));
        QVERIFY((r.group_loss <= r.group_loss_minmax).all().item<bool>());
        // Full proxy loss, recomputed independently.
        at::Tensor dW = (r.dequantized - W).to(at::kDouble);
        double proxy = (dW.matmul(H) * dW).sum().item<double>();
        QVERIFY(std::abs(proxy - d.proxy_loss) <= 1e-9 * std::abs(proxy));
        QVERIFY(d.proxy_loss > 0 && d.proxy_loss_minmax > 0);
        QCOMPARE(r.codes.size(1), int64_t(256));
        QVERIFY(r.codes.to(at::kInt).max().item<int>() < (1 << bits));
        QVERIFY(r.importance.equal(quant::damped_hessian_diagonal(H)));
        if (cfg.method == quant::Method::NeUQI)
            QVERIFY2(d.diag_loss < d.diag_loss_minmax, "NeUQI should beat Min-Max on heavy-tailed weights");
    }

    void data_free_importance_is_one()
    {
        at::Tensor W = demo::synthetic_weight(8, 128, 2);
        quant::QuantConfig cfg;
        quant::LayerQuant r = quant::quantize_layer(W, at::Tensor(), cfg, "layer");
        QVERIFY(r.importance.eq(1.0).all().item<bool>());
        QCOMPARE(r.diagnostics.proxy_loss, -1.0);
    }

    void errors_name_the_layer()
    {
        at::Tensor W = at::randn({4, 64});
        quant::QuantConfig cfg;
        cfg.group_size = 48;
        try {
            quant::quantize_layer(W, at::Tensor(), cfg, "blk.3.ffn_down");
            QFAIL("no exception");
        } catch (const InvalidArgument& e) {
            QString m = e.what();
            QVERIFY2(m.contains("blk.3.ffn_down") && m.contains("48") && m.contains("64"), e.what());
        }
        cfg.group_size = -1;
        cfg.bits = 9;
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, quant::quantize_layer(W, at::Tensor(), cfg, "x"));
        cfg.bits = 2;
        at::Tensor bad = W.clone();
        bad[2][7] = std::nan("");
        try {
            quant::quantize_layer(bad, at::Tensor(), cfg, "q_proj");
            QFAIL("no exception");
        } catch (const NumericError& e) {
            QVERIFY2(QString(e.what()).contains("q_proj") && QString(e.what()).contains("[2, 7]"), e.what());
        }
        at::Tensor neg = at::ones({64}, at::kDouble);
        neg[3] = -1.0;
        QVERIFY_THROWS_EXCEPTION(NumericError, quant::quantize_layer(W, at::Tensor(), cfg, "x", neg));
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, quant::parse_method("rtn"));
    }

    void analysis_matches_the_search()
    {
        at::Tensor W = demo::synthetic_weight(4, 128, 5).to(at::kDouble);
        at::Tensor h = demo::synthetic_importance(128, 5);
        std::vector<double> w(128), hv(128);
        for (int i = 0; i < 128; ++i) {
            w[i] = W[1][i].item<double>();
            hv[i] = h[i].item<double>();
        }
        for (int bits : {2, 3, 4}) {
            analysis::ScaleLandscape L = analysis::scale_landscape(w, hv, bits);
            QCOMPARE(int(L.scale.size()), 2048);
            QCOMPARE(int(L.coarse.size()), 64);
            QCOMPARE(int(L.fine.size()), 32);
            // The search on the same group lands on the same loss.
            kernels::SearchConfig cfg;
            cfg.bits = bits;
            kernels::SearchResult r = kernels::neuqi_search(W.narrow(0, 1, 1), h, cfg);
            double searched = r.loss.item<double>();
            QVERIFY2(std::abs(searched - std::min(L.chosen_loss, L.minmax_loss)) <= 1e-9 * searched,
                     qPrintable(QString("%1 vs %2").arg(searched).arg(L.chosen_loss)));
            // The landscape's points are optimal in z: a dense L(z) never goes below them.
            analysis::ZCurve c =
                analysis::loss_curve_z(w, hv, bits, L.chosen_scale, L.chosen_zero - 2, L.chosen_zero + 2, 2001);
            double lo = *std::min_element(c.loss.begin(), c.loss.end());
            QVERIFY(lo >= c.loss_opt * (1 - 1e-9));
            QVERIFY(std::abs(c.loss_opt - L.chosen_loss) <= 1e-9 * c.loss_opt);
            QVERIFY(!c.breakpoints.empty());
            QCOMPARE(int(c.int_loss.size()), 1 << bits);
            analysis::LossGrid g = analysis::loss_grid(w, hv, bits, 0.3 * L.s0, 1.1 * L.s0, 9, -2, 1 << bits, 41);
            QCOMPARE(g.loss.size(), size_t(9 * 41));
            QCOMPARE(g.z_star.size(), size_t(9));
        }
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, analysis::loss_curve_z(w, hv, 9, 0.1, 0, 1, 10));
    }
};

QTEST_APPLESS_MAIN(TestQuantizer)
#include "tst_quantizer.moc"
