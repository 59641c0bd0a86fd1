// core/pipeline/distill: NeUQI's lightweight distillation (core/MATHS.md section 7) on the
// real stories260K model. The closed-form gradients of the trainable dequantization against
// autograd of the plain expression and against central finite differences (float64, a short last
// group); codes bit-identical after training; the loss falls on a fixed batch; lr = 0 leaves every
// parameter exactly as it was; a saved and reopened result gives the same logits.
#undef slots
#include <ATen/ATen.h>

#include <QTemporaryDir>
#include <cmath>

#include "core/common/error.h"
#include "core/data/calibration.h"
#include "core/export/exporter.h"
#include "core/export/gguf_export.h"
#include "core/export/session.h"
#include "core/formats/safetensors.h"
#include "core/model/forward.h"
#include "core/model/model.h"
#include "core/pipeline/distill.h"
#include "core/pipeline/pipeline.h"
#include "core/pipeline/run_options.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/common/test_util.h"

#include <QtTest/QtTest>

using namespace zp;

class TestDistill : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<model::Model> model_;
    quant::QuantizedModel q2_;  // GPTQ + NeUQI, 2-bit, channel-wise
    at::Tensor calib_;

    pipeline::DistillOptions options(int64_t n) const
    {
        pipeline::DistillOptions d;
        d.calibration = calib_.narrow(0, 0, n);
        d.calibration_source = "tinystories_val.txt";
        return d;
    }

private Q_SLOTS:
    void initTestCase()
    {
        const QString bin = test::asset("models/stories260K.bin");
        const QString tokp = test::asset("tokenizers/tok512.bin");
        const QString text = test::asset("text/tinystories_val.txt");
        if (bin.isEmpty() || tokp.isEmpty() || text.isEmpty())
            return;  // the tests skip with the reason
        model_ = model::Model::open(bin.toStdString());
        model_->set_keep_blocks(true);
        auto tok = tok::load_llama2c_tokenizer(tokp.toStdString(), 512);
        data::CalibrationOptions co;
        co.path = text.toStdString();
        co.nsamples = 16;
        co.seqlen = 128;
        calib_ = data::load_calibration(co, tok.get(), 512).ids;
        pipeline::PipelineOptions o;
        o.method = "gptq-neuqi";
        o.bits = 2;
        o.calibration = calib_;
        o.write_back = false;
        q2_ = pipeline::quantize_model(*model_, o);
    }

    void closed_form_gradients_match_autograd_and_finite_differences()
    {
        const at::TensorOptions f64 = at::TensorOptions().dtype(at::kDouble);
        const int64_t out = 5, in = 10, g = 4;  // groups of 4, 4, 2
        at::Generator gen = at::detail::createCPUGenerator(3);
        const at::Tensor codes = at::randint(0, 4, {out, in}, gen, at::kLong).to(at::kByte);
        const at::Tensor s0 = at::rand({out, 3}, gen, f64) + 0.1;
        const at::Tensor z0 = at::rand({out, 3}, gen, f64) * 3.0;
        const at::Tensor target = at::randn({out, in}, gen, f64);
        // L = sum (W - target)^2 * weights, a loss with a non-trivial dW.
        const at::Tensor weights = at::rand({out, in}, gen, f64) + 0.5;
        auto loss_of = [&](const at::Tensor& W) { return ((W - target).pow(2) * weights).sum(); };

        at::Tensor s = s0.clone().set_requires_grad(true), z = z0.clone().set_requires_grad(true);
        loss_of(pipeline::dequantize_trainable(codes, s, z, g)).backward();
        const at::Tensor ds = s.grad().clone(), dz = z.grad().clone();

        // Autograd of the plain expression, group index written out here.
        at::Tensor s2 = s0.clone().set_requires_grad(true), z2 = z0.clone().set_requires_grad(true);
        std::vector<at::Tensor> cols;
        for (int64_t j = 0; j < in; ++j)
            cols.push_back((codes.select(1, j).to(at::kDouble) - z2.select(1, j / g)) *
                           s2.select(1, j / g));
        loss_of(at::stack(cols, 1)).backward();
        auto rel = [](const at::Tensor& a, const at::Tensor& b) {
            return ((a - b).abs().max() / b.abs().max()).item<double>();
        };
        QVERIFY2(rel(ds, s2.grad()) < 1e-6, qPrintable(QString::number(rel(ds, s2.grad()))));
        QVERIFY2(rel(dz, z2.grad()) < 1e-6, qPrintable(QString::number(rel(dz, z2.grad()))));

        // Central finite differences on every parameter.
        const double h = 1e-6;
        auto numeric = [&](const at::Tensor& base, bool is_scale) {
            at::Tensor grad = at::zeros_like(base);
            for (int64_t i = 0; i < base.numel(); ++i) {
                at::Tensor p = base.clone(), m = base.clone();
                p.view(-1)[i] += h;
                m.view(-1)[i] -= h;
                const double lp = loss_of(pipeline::dequantize_trainable(codes, is_scale ? p : s0,
                                                                         is_scale ? z0 : p, g))
                                      .item<double>();
                const double lm = loss_of(pipeline::dequantize_trainable(codes, is_scale ? m : s0,
                                                                         is_scale ? z0 : m, g))
                                      .item<double>();
                grad.view(-1)[i] = (lp - lm) / (2 * h);
            }
            return grad;
        };
        QVERIFY(rel(ds, numeric(s0, true)) < 1e-3);
        QVERIFY(rel(dz, numeric(z0, false)) < 1e-3);
    }

    void training_lowers_the_loss_and_keeps_the_codes()
    {
        if (!model_)
            QSKIP(
                "assets models/stories260K.bin, tokenizers/tok512.bin or "
                "text/tinystories_val.txt not found under ZP_ASSETS_DIR: the real test data in "
                "../shared/assets is absent");
        pipeline::DistillOptions d = options(4);
        d.epochs = 6;
        d.lr = 3e-3;
        std::vector<double> seen;
        d.on_step = [&](int64_t, int64_t, double l) { seen.push_back(l); };
        const pipeline::DistillResult r = pipeline::distill(*model_, q2_, d);
        QCOMPARE(int64_t(r.loss.size()), int64_t(24));
        QCOMPARE(seen.size(), r.loss.size());
        qInfo("loss over the fixed batch: %.5f -> %.5f", r.loss_before, r.loss_after);
        QVERIFY(r.loss_after < 0.9 * r.loss_before);
        QCOMPARE(r.tokens, int64_t(6 * 4 * 128));
        QCOMPARE(r.model.layers.size(), q2_.layers.size());
        bool moved = false;
        for (size_t i = 0; i < q2_.layers.size(); ++i) {
            const quant::LayerResult &a = q2_.layers[i], &b = r.model.layers[i];
            QVERIFY(at::equal(a.codes, b.codes));
            moved = moved || !at::equal(a.scale, b.scale) || !at::equal(a.zero, b.zero);
        }
        QVERIFY(moved);
        QVERIFY(r.model.float_parts.count("model.norm.weight") == 1);
        QVERIFY(r.model.float_parts.count("model.layers.0.input_layernorm.weight") == 1);
        QCOMPARE(r.model.distill_loss.size(), r.loss.size());
        // What `generate --weights gguf` runs: the file's linears and the trained norms (it once
        // installed the linears only and so ran the distilled codes with the original norms).
        auto fresh = model::Model::open(model_->path());
        gguf::install_gguf_weights(*fresh, r.model);
        QVERIFY(at::equal(fresh->final_norm(), r.model.float_parts.at("model.norm.weight")));
        QVERIFY(at::equal(fresh->block(0).input_norm,
                          r.model.float_parts.at("model.layers.0.input_layernorm.weight")));
        QVERIFY(
            at::equal(fresh->block(0).q, gguf::encode_linear(*r.model.find(0, "q_proj")).w_hat));
    }

    void zero_learning_rate_changes_nothing()
    {
        if (!model_)
            QSKIP(
                "assets models/stories260K.bin, tokenizers/tok512.bin or "
                "text/tinystories_val.txt not found under ZP_ASSETS_DIR: the real test data in "
                "../shared/assets is absent");
        pipeline::DistillOptions d = options(2);
        d.lr = 0.0;
        const pipeline::DistillResult r = pipeline::distill(*model_, q2_, d);
        for (size_t i = 0; i < q2_.layers.size(); ++i) {
            QVERIFY(at::equal(q2_.layers[i].codes, r.model.layers[i].codes));
            QVERIFY(at::equal(q2_.layers[i].scale, r.model.layers[i].scale));
            QVERIFY(at::equal(q2_.layers[i].zero, r.model.layers[i].zero));
        }
        QVERIFY(at::equal(r.model.float_parts.at("model.norm.weight"), model_->final_norm()));
        QVERIFY(at::equal(r.model.float_parts.at("model.layers.2.post_attention_layernorm.weight"),
                          model_->block(2).post_norm));
        QCOMPARE(r.loss_after, r.loss_before);
    }

    void reopened_session_reproduces_the_distilled_model()
    {
        if (!model_)
            QSKIP(
                "assets models/stories260K.bin, tokenizers/tok512.bin or "
                "text/tinystories_val.txt not found under ZP_ASSETS_DIR: the real test data in "
                "../shared/assets is absent");
        if (!session::available())
            QSKIP("this build has no HDF5 (session files)");
        pipeline::DistillOptions d = options(4);
        d.lr = 3e-3;
        const pipeline::DistillResult r = pipeline::distill(*model_, q2_, d);
        const QString bin = test::asset("models/stories260K.bin");
        const at::Tensor ids = calib_.narrow(0, 8, 1);
        auto direct = model::Model::open(bin.toStdString());
        pipeline::install_run(*direct, r.model);
        const at::Tensor logits = model::model_forward(*direct, ids);
        QTemporaryDir dir;
        const std::string path = (dir.path() + "/d.h5").toStdString();
        session::write_session(r.model, path);
        const quant::QuantizedModel back = session::read_session(path);
        QCOMPARE(back.distill_loss, r.model.distill_loss);
        QCOMPARE(back.float_parts.size(), r.model.float_parts.size());
        auto reopened = model::Model::open(bin.toStdString());
        pipeline::install_run(*reopened, back);
        QVERIFY(at::equal(model::model_forward(*reopened, ids), logits));
        // The trained norms matter: without them the logits differ.
        quant::QuantizedModel no_parts = back;
        no_parts.float_parts.clear();
        auto partial = model::Model::open(bin.toStdString());
        pipeline::install_run(*partial, no_parts);
        QVERIFY(!at::equal(model::model_forward(*partial, ids), logits));
    }

    // Exports keep the trained parameters: the dequantized safetensors export holds the trained
    // W_hat and the trained norms; a GGUF export (Q2_K-free: 2-bit channel-wise rows go to the
    // format's nearest type) is written from the same.
    void exports_keep_the_trained_parameters()
    {
        if (!model_)
            QSKIP(
                "assets models/stories260K.bin, tokenizers/tok512.bin or "
                "text/tinystories_val.txt not found under ZP_ASSETS_DIR: the real test data in "
                "../shared/assets is absent");
        pipeline::DistillOptions d = options(4);
        d.lr = 3e-3;
        const pipeline::DistillResult r = pipeline::distill(*model_, q2_, d);
        const QString bin = test::asset("models/stories260K.bin");
        auto m = model::Model::open(bin.toStdString());
        quant::install_float_parts(*m, r.model);
        QTemporaryDir dir;
        exporter::Options eo;
        eo.format = exporter::Format::Safetensors;
        eo.dtype = "f32";
        eo.out = (dir.path() + "/hf").toStdString();
        exporter::export_quantized(m.get(), r.model, eo);
        io::SafetensorsFile f(eo.out + "/model.safetensors");
        QVERIFY(
            at::equal(f.tensor("model.norm.weight"), r.model.float_parts.at("model.norm.weight")));
        QVERIFY(!at::equal(f.tensor("model.norm.weight"), model_->final_norm()));
        const std::string n1 = "model.layers.1.input_layernorm.weight";
        QVERIFY(at::equal(f.tensor(n1), r.model.float_parts.at(n1)));
        const quant::LayerResult* l = r.model.find(3, "down_proj");
        QVERIFY(at::equal(f.tensor("model.layers.3.mlp.down_proj.weight"),
                          quant::QuantizedModel::dequantize(*l)));
    }

    void bad_input_and_cancel()
    {
        if (!model_)
            QSKIP(
                "assets models/stories260K.bin, tokenizers/tok512.bin or "
                "text/tinystories_val.txt not found under ZP_ASSETS_DIR: the real test data in "
                "../shared/assets is absent");
        pipeline::DistillOptions d = options(2);
        d.calibration = calib_.narrow(0, 0, 2).clone();
        d.calibration[0][3] = 100000;
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, pipeline::distill(*model_, q2_, d));
        d = options(2);
        quant::QuantizedModel wa = q2_;
        wa.config.extra["abits"] = "4";
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, pipeline::distill(*model_, wa, d));
        int calls = 0;
        d.progress = [&](double, double, const std::string&) { return ++calls < 3; };
        QVERIFY_THROWS_EXCEPTION(Cancelled, pipeline::distill(*model_, q2_, d));
    }
};

QTEST_GUILESS_MAIN(TestDistill)
#include "tst_distill.moc"
