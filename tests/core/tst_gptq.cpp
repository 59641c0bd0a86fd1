// core/quant/gptq: GPTQ with static (s, z) reduces to RTN with an identity Hessian (same codes),
// beats RTN's proxy loss on real activations of stories260K, and survives an indefinite H.
#undef slots
#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include <memory>

#include "core/common/error.h"
#include "core/model/forward.h"
#include "core/model/model.h"
#include "core/pipeline/calibration.h"
#include "core/quant/gptq.h"
#include "core/quant/quantizer.h"
#include "core/tokenizer/tokenizer.h"
#include "kernels/quantize.h"
#include "tests/common/test_util.h"

#include <QtTest/QtTest>

using namespace zp;

class TestGptq : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void identity_hessian_equals_rtn_data()
    {
        QTest::addColumn<QString>("method");
        QTest::addColumn<int>("bits");
        QTest::addColumn<int>("group");
        for (const auto& m : quant::methods())
            for (int bits : {2, 3, 4, 8})
                for (int group : {-1, 32})
                    QTest::newRow(qPrintable(QString("%1/%2bit/g%3").arg(m.name).arg(bits).arg(group)))
                        << QString(m.name) << bits << group;
    }

    void identity_hessian_equals_rtn()
    {
        QFETCH(QString, method);
        QFETCH(int, bits);
        QFETCH(int, group);
        at::manual_seed(7);
        at::Tensor W = at::randn({48, 160}, at::kFloat);
        at::Tensor H = at::eye(160, at::kDouble);
        quant::GptqConfig gc;
        gc.quant.method = quant::parse_method(method.toStdString());
        gc.quant.bits = bits;
        gc.quant.group_size = group;
        gc.quant.grid = 256;  // keeps NeUQI-int quick; the same grid for both sides
        gc.quant.coarse = 16;
        gc.block_size = 64;   // several lazy blocks, one partial
        const quant::GptqResult g = quant::gptq_quantize(W, H, gc, "identity");
        const quant::LayerQuant rtn =
            quant::quantize_layer(W, H, gc.quant, "identity", quant::damped_hessian_diagonal(H, gc.damp));
        QVERIFY(at::equal(g.scale, rtn.scale));
        QVERIFY(at::equal(g.zero, rtn.zero));
        QVERIFY2(at::equal(g.codes, rtn.codes), "GPTQ with H = I must give RTN's codes");
        QVERIFY(at::equal(g.dequantized, rtn.dequantized));
        QCOMPARE(g.retries, 0);
    }

    void proxy_loss_below_rtn_on_real_hessian_data()
    {
        QTest::addColumn<QString>("method");
        QTest::addColumn<int>("bits");
        QTest::addColumn<QString>("layer");
        for (const char* m : {"minmax", "neuqi", "neuqi-int"})
            for (int bits : {2, 3, 4})
                for (const char* layer : {"q_proj", "o_proj", "gate_proj", "down_proj"})
                    QTest::newRow(qPrintable(QString("%1/%2bit/%3").arg(m).arg(bits).arg(layer)))
                        << QString(m) << bits << QString(layer);
    }

    void proxy_loss_below_rtn_on_real_hessian()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        ZP_REQUIRE_ASSET(tokp, "tokenizers/tok512.bin");
        ZP_REQUIRE_ASSET(text, "text/tinystories_val.txt");
        QFETCH(QString, method);
        QFETCH(int, bits);
        QFETCH(QString, layer);
        if (!model_) {
            model_ = model::Model::open(bin.toStdString());
            auto tok = tok::load_llama2c_tokenizer(tokp.toStdString(), 512);
            pipeline::CalibrationOptions co;
            co.path = text.toStdString();
            co.nsamples = 16;
            co.seqlen = 128;
            co.seed = 3;
            const at::Tensor ids = pipeline::load_calibration(co, tok.get(), 512).ids;
            // Block 1's inputs (block 0 full precision), and its layers' proxy Hessians.
            const model::ModelConfig& c = model_->config();
            at::Tensor x = model::embed_tokens(*model_, ids, at::kCPU, at::kFloat);
            x = model::block_forward(c, model_->block(0), x);
            model::block_forward(c, model_->block(1), x, 0, nullptr,
                                 [&](const std::string& name, const at::Tensor& in) {
                                     at::Tensor v = in.reshape({-1, in.size(-1)}).to(at::kDouble);
                                     hessians_[name] = v.t().matmul(v) / double(v.size(0));
                                 });
        }
        const std::string name = layer.toStdString();
        const at::Tensor W = model_->block(1).linear(name);
        const at::Tensor& H = hessians_.at(name);
        quant::GptqConfig gc;
        gc.quant.method = quant::parse_method(method.toStdString());
        gc.quant.bits = bits;
        gc.quant.group_size = -1;
        gc.block_size = 32;
        const quant::GptqResult g = quant::gptq_quantize(W, H, gc, name);
        const double gptq = quant::proxy_loss(g.dequantized - W, H);
        const double rtn = g.rtn.diagnostics.proxy_loss;
        qInfo("%s %d-bit %s: proxy loss GPTQ %.4g, RTN %.4g (ratio %.3f)", qPrintable(method), bits, name.c_str(),
              gptq, rtn, gptq / rtn);
        QVERIFY2(gptq < rtn, qPrintable(QString("GPTQ %1 >= RTN %2").arg(gptq).arg(rtn)));
        // Static groups: every code reproduces W_hat with the stored (s, z).
        QVERIFY(at::equal(kernels::dequantize(g.codes, g.scale, g.zero, g.rtn.group_size), g.dequantized));
    }

    void indefinite_hessian_is_damped_until_it_factorises()
    {
        at::Tensor H = at::tensor({1.0, 2.0, 2.0, 1.0}, at::kDouble).reshape({2, 2});
        at::Tensor W = at::tensor({0.3f, -0.7f, 1.1f, 0.2f}).reshape({2, 2});
        quant::GptqConfig gc;
        gc.quant.method = quant::Method::MinMax;
        gc.quant.bits = 2;
        const quant::GptqResult g = quant::gptq_quantize(W, H, gc, "indefinite");
        QVERIFY(g.retries > 0);
        QVERIFY(g.damp_used > gc.damp);
        QVERIFY(at::isfinite(g.dequantized).all().item<bool>());
    }

    void errors_name_the_layer()
    {
        at::Tensor W = at::randn({4, 172}, at::kFloat);
        quant::GptqConfig gc;
        gc.quant.group_size = 32;
        try {
            quant::gptq_quantize(W, at::eye(172, at::kDouble), gc, "block 0 down_proj");
            QFAIL("expected InvalidArgument");
        } catch (const InvalidArgument& e) {
            const QString m = e.what();
            QVERIFY2(m.contains("block 0 down_proj") && m.contains("172") && m.contains("32"), e.what());
        }
        gc.quant.group_size = -1;
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, quant::gptq_quantize(W, at::Tensor(), gc, "w"));
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, quant::gptq_quantize(W, at::eye(10, at::kDouble), gc, "w"));
        W[0][0] = std::nan("");
        QVERIFY_THROWS_EXCEPTION(NumericError, quant::gptq_quantize(W, at::eye(172, at::kDouble), gc, "w"));
    }

private:
    std::unique_ptr<model::Model> model_;
    std::map<std::string, at::Tensor> hessians_;
};

QTEST_GUILESS_MAIN(TestGptq)
#include "tst_gptq.moc"
