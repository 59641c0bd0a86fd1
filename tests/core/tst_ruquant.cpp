// core/quant/ruquant: RUQuant's per-group transforms and the baselines (core/MATHS.md section
// 8). The composite Q is checked against a reference product of plain matrices built here
// (diag(1/s), kron(I, R0), a permutation matrix, kron(I, R1), I - 2uu^T), the smoothing scales
// against a scalar loop of the SmoothQuant formula, the rotations for orthogonality in float64, the
// fused model for the original logits at full precision, and a W4A4 run for a session that
// reproduces it exactly.
#undef slots
#include <ATen/ATen.h>

#include <QTemporaryDir>
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/common/error.h"
#include "core/data/calibration.h"
#include "core/eval/perplexity.h"
#include "core/export/exporter.h"
#include "core/export/session.h"
#include "core/model/forward.h"
#include "core/model/model.h"
#include "core/pipeline/pipeline.h"
#include "core/pipeline/run_options.h"
#include "core/quant/act_quant.h"
#include "core/quant/ruquant.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/common/test_util.h"

#include <QtTest/QtTest>

using namespace zp;

namespace {

const at::TensorOptions kF64 = at::TensorOptions().dtype(at::kDouble);

// Activations with a few outlier channels (as LLM activations have), float64.
at::Tensor outlier_activations(int64_t tokens, int64_t width, uint64_t seed)
{
    at::Generator gen = at::detail::createCPUGenerator(seed);
    at::Tensor x = at::randn({tokens, width}, gen, kF64);
    x.select(1, 3).mul_(60.0);
    x.select(1, width / 2 + 1).mul_(25.0);
    x.select(0, 7).mul_(8.0);  // one loud token
    return x;
}

double orthogonality_error(const at::Tensor& Q)
{
    return (Q.matmul(Q.t()) - at::eye(Q.size(0), kF64)).abs().max().item<double>();
}

// blockdiag(R, ..., R) [width, width].
at::Tensor kron_eye(const at::Tensor& R, int64_t width)
{
    const int64_t b = R.size(0);
    at::Tensor M = at::zeros({width, width}, kF64);
    for (int64_t i = 0; i < width / b; ++i)
        M.narrow(0, i * b, b).narrow(1, i * b, b).copy_(R);
    return M;
}

// The reference Q of a transform from its stored pieces, as plain matrices.
at::Tensor reference_matrix(const quant::GroupTransform& t)
{
    const int64_t w = t.width;
    at::Tensor Q = at::eye(w, kF64);
    if (t.smooth.defined()) {
        at::Tensor D = at::zeros({w, w}, kF64);
        for (int64_t j = 0; j < w; ++j)
            D[j][j] = 1.0 / t.smooth[j].item<double>();
        Q = Q.matmul(D);
    }
    if (t.r0.defined())
        Q = Q.matmul(kron_eye(t.r0, w));
    if (t.perm.defined()) {
        // y_new[:, j] = y[:, perm[j]]  <=>  y_new = y P with P[perm[j], j] = 1.
        at::Tensor P = at::zeros({w, w}, kF64);
        for (int64_t j = 0; j < w; ++j)
            P[t.perm[j].item<int64_t>()][j] = 1.0;
        Q = Q.matmul(P);
    }
    if (t.r1.defined())
        Q = Q.matmul(kron_eye(t.r1, w));
    if (t.householder.defined()) {
        const at::Tensor u = t.householder.reshape({w, 1});
        Q = Q.matmul(at::eye(w, kF64) - 2.0 * u.matmul(u.t()));
    }
    return Q;
}

quant::TransformOptions options_for(quant::TransformKind kind, int64_t block)
{
    quant::TransformOptions o;
    o.kind = kind;
    o.block = block;
    o.seed = 7;
    return o;
}

}  // namespace

class TestRuquant : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void default_block_is_the_largest_power_of_two_up_to_128()
    {
        QCOMPARE(quant::default_rotation_block(576), int64_t(64));  // SmolLM2 hidden: 9 x 64
        QCOMPARE(quant::default_rotation_block(1536), int64_t(128));
        QCOMPARE(quant::default_rotation_block(4096), int64_t(128));
        QCOMPARE(quant::default_rotation_block(64), int64_t(64));
        QCOMPARE(quant::default_rotation_block(172), int64_t(4));
        QCOMPARE(quant::default_rotation_block(9), int64_t(1));
    }

    void composite_matches_reference_and_rotations_are_orthogonal_data()
    {
        QTest::addColumn<int>("kind");
        QTest::addColumn<bool>("code_variant");
        QTest::newRow("smooth") << int(quant::TransformKind::Smooth) << false;
        QTest::newRow("duquant") << int(quant::TransformKind::DuQuant) << false;
        QTest::newRow("ruquant") << int(quant::TransformKind::RUQuant) << false;
        QTest::newRow("ruquant code Givens") << int(quant::TransformKind::RUQuant) << true;
    }
    void composite_matches_reference_and_rotations_are_orthogonal()
    {
        QFETCH(int, kind);
        QFETCH(bool, code_variant);
        const int64_t width = 64, block = 16;
        const at::Tensor x = outlier_activations(300, width, 1);
        at::Generator gen = at::detail::createCPUGenerator(2);
        const at::Tensor w1 = at::randn({40, width}, gen, kF64),
                         w2 = at::randn({24, width}, gen, kF64) * 3.0;
        quant::TransformOptions o = options_for(static_cast<quant::TransformKind>(kind), block);
        o.code_variant = code_variant;
        const at::Tensor amax = x.abs().amax(0);
        const quant::GroupTransform t =
            quant::build_group_transform(amax, x, {w1, w2}, o, 3, "q_proj");
        t.check("test");

        // Smoothing: s_j = max(max|x_j|, 1e-5)^a / max(max_i |W_ij|, 1e-5)^(1-a), >= 1e-5.
        QVERIFY(t.smooth.defined());
        for (int64_t j = 0; j < width; ++j) {
            double wm = 0.0;
            for (const at::Tensor& w : {w1, w2})
                for (int64_t i = 0; i < w.size(0); ++i)
                    wm = std::max(wm, std::abs(w[i][j].item<double>()));
            const double ref =
                std::max(1e-5, std::pow(std::max(amax[j].item<double>(), 1e-5), o.alpha) /
                                   std::pow(std::max(wm, 1e-5), 1.0 - o.alpha));
            QVERIFY(std::abs(t.smooth[j].item<double>() - ref) <= 1e-12 * ref);
        }
        for (const at::Tensor* r : {&t.r0, &t.r1})
            if (r->defined()) {
                QCOMPARE(r->size(0), block);
                QVERIFY2(orthogonality_error(*r) < 1e-10,
                         qPrintable(QString::number(orthogonality_error(*r))));
            }
        if (t.householder.defined())
            QVERIFY(std::abs(t.householder.norm().item<double>() - 1.0) < 1e-12);

        const at::Tensor Q = t.matrix();
        const at::Tensor ref = reference_matrix(t);
        QVERIFY2((Q - ref).abs().max().item<double>() < 1e-12 * ref.abs().max().item<double>(),
                 "the composite differs from the product of its stages");
        // Without the smoothing the composite is orthogonal.
        at::Tensor orth = Q * t.smooth.reshape({-1, 1});
        QVERIFY2(orthogonality_error(orth) < 1e-10,
                 qPrintable(QString::number(orthogonality_error(orth))));

        // Fused into the weights, the layer computes the same outputs; the inverse undoes Q.
        const at::Tensor xq = t.apply(x);
        QVERIFY((xq - x.matmul(ref)).abs().max().item<double>() < 1e-9);
        for (const at::Tensor& w : {w1, w2}) {
            const at::Tensor out = x.matmul(w.t());
            const at::Tensor fused = xq.matmul(t.apply_weight(w).t());
            QVERIFY((fused - out).abs().max().item<double>() <
                    1e-9 * out.abs().max().item<double>());
        }
        QVERIFY((t.invert(xq) - x).abs().max().item<double>() <
                1e-9 * x.abs().max().item<double>());
        // Float32 application agrees with the float64 one to float32 rounding.
        const at::Tensor x32 = t.apply(x.to(at::kFloat));
        QCOMPARE(x32.scalar_type(), at::kFloat);
        QVERIFY((x32.to(at::kDouble) - xq).abs().max().item<double>() <
                1e-4 * xq.abs().max().item<double>());
        // The stages end where apply ends.
        const auto stages = t.stages(x);
        QCOMPARE(stages.front().first, std::string("input"));
        QVERIFY((stages.back().second - xq).abs().max().item<double>() < 1e-12);
    }

    void kinds_have_their_stages_and_are_seeded()
    {
        const at::Tensor x = outlier_activations(200, 32, 3);
        const at::Tensor w = at::randn({16, 32}, kF64);
        const at::Tensor amax = x.abs().amax(0);
        auto build = [&](quant::TransformKind k, uint64_t seed) {
            quant::TransformOptions o = options_for(k, 8);
            o.seed = seed;
            return quant::build_group_transform(amax, x, {w}, o, 0, "gate_proj");
        };
        const auto none = build(quant::TransformKind::None, 1);
        QVERIFY(none.identity());
        QVERIFY(at::equal(none.apply(x), x));
        const auto sm = build(quant::TransformKind::Smooth, 1);
        QVERIFY(sm.smooth.defined() && !sm.r0.defined() && !sm.perm.defined() &&
                !sm.householder.defined());
        const auto du = build(quant::TransformKind::DuQuant, 1);
        QVERIFY(du.smooth.defined() && du.r0.defined() && du.perm.defined() && du.r1.defined() &&
                !du.householder.defined());
        const auto ru = build(quant::TransformKind::RUQuant, 1);
        QVERIFY(ru.smooth.defined() && ru.r0.defined() && ru.perm.defined() && ru.r1.defined() &&
                ru.householder.defined());
        QVERIFY(at::equal(build(quant::TransformKind::RUQuant, 1).r0, ru.r0));
        QVERIFY(!at::equal(build(quant::TransformKind::RUQuant, 2).r0, ru.r0));
        // DuQuant-style draws nothing at random: the seed does not matter.
        QVERIFY(at::equal(build(quant::TransformKind::DuQuant, 2).r0, du.r0));
    }

    // On activations with outlier channels the rotations spread the outliers (a smaller maximum
    // after the transform, relative to the mean magnitude) and RUQuant's A4 error is far below
    // the plain per-token quantizer's.
    void transforms_lower_the_activation_error_on_outliers()
    {
        const at::Tensor x = outlier_activations(512, 128, 5);
        const at::Tensor w = at::randn({64, 128}, kF64);
        const quant::ActQuantConfig a4{4, 1.0};
        double err[4] = {0, 0, 0, 0};
        for (int k = 0; k < 4; ++k) {
            auto t = quant::build_group_transform(
                x.abs().amax(0), x, {w}, options_for(static_cast<quant::TransformKind>(k), 32), 0,
                "down_proj");
            quant::measure_activation_error(t, x, a4);
            err[k] = t.act_error;
        }
        qInfo("A4 relative activation error: none %.4f, smooth %.4f, duquant %.4f, ruquant %.4f",
              err[0], err[1], err[2], err[3]);
        QVERIFY(err[3] < 0.5 * err[0]);
        QVERIFY(err[2] < 0.5 * err[0]);
    }

    // Every group of stories260K transformed (smoothing, rotations, Householder) and fused into
    // the weights: at full precision the logits are the original ones.
    void fused_model_gives_the_original_logits()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        auto m = model::Model::open(bin.toStdString());
        const model::ModelConfig& c = m->config();
        const at::Tensor ids = at::arange(1, 97, at::kLong).remainder(500).add(3).reshape({1, -1});
        model::ForwardOptions f64;
        f64.dtype = at::kDouble;
        const at::Tensor fp64 = model::model_forward(*m, ids, f64);
        const at::Tensor fp32 = model::model_forward(*m, ids);

        // Each block's group inputs from the original forward.
        quant::TransformSet set;
        at::Tensor h = model::embed_tokens(*m, ids, at::kCPU, at::kFloat);
        std::vector<model::BlockWeights> fused;
        for (int64_t b = 0; b < c.num_layers; ++b) {
            model::BlockWeights w = m->block(b);
            std::map<std::string, at::Tensor> inputs;
            h = model::block_forward(c, w, h, 0, nullptr,
                                     [&](const std::string& name, const at::Tensor& x) {
                                         inputs[name] = x.reshape({-1, x.size(-1)}).clone();
                                     });
            for (const model::LinearGroup& g : model::linear_input_groups()) {
                const at::Tensor& x = inputs.at(g.input);
                std::vector<at::Tensor> ws;
                for (const std::string& n : g.layers)
                    ws.push_back(w.linear(n));
                quant::TransformOptions o = options_for(quant::TransformKind::RUQuant, 0);
                quant::GroupTransform t =
                    quant::build_group_transform(x.abs().amax(0), x, ws, o, b, g.input);
                for (const std::string& n : g.layers)
                    w.linear(n) = t.apply_weight(w.linear(n).to(at::kDouble)).to(at::kFloat);
                set.add(std::move(t));
            }
            fused.push_back(w);
        }
        for (int64_t b = 0; b < c.num_layers; ++b)
            m->set_block(b, fused[static_cast<size_t>(b)]);
        m->set_activation_hooks(pipeline::activation_hooks_for(16, 1.0, c.head_dim, set));
        QVERIFY(m->activation_hooks() != nullptr);
        const at::Tensor got64 = model::model_forward(*m, ids, f64);
        const at::Tensor got32 = model::model_forward(*m, ids);
        const double d64 = (got64 - fp64).abs().max().item<double>();
        const double d32 = (got32 - fp32).abs().max().item<double>();
        qInfo(
            "max |logit difference| of the fused model: float64 %.3g, float32 %.3g (logits up "
            "to %.3g)",
            d64, d32, fp64.abs().max().item<double>());
        QVERIFY2(d64 < 1e-5, qPrintable(QString::number(d64)));
        QVERIFY2(d32 < 1e-3, qPrintable(QString::number(d32)));
        // The same transforms without the weights fused: the logits move (the check can fail).
        auto plain = model::Model::open(bin.toStdString());
        plain->set_activation_hooks(pipeline::activation_hooks_for(16, 1.0, c.head_dim, set));
        QVERIFY((model::model_forward(*plain, ids) - fp32).abs().max().item<double>() > 1e-2);
    }

    // A W4A4 RUQuant run on stories260K: the session keeps every transform, and a freshly opened
    // model with the session installed computes exactly the run's logits. Exports refuse it.
    void w4a4_run_round_trips_through_the_session()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        ZP_REQUIRE_ASSET(tokp, "tokenizers/tok512.bin");
        ZP_REQUIRE_ASSET(text, "text/tinystories_val.txt");
        if (!session::available())
            QSKIP("this build has no HDF5 (session files)");
        auto tok = tok::load_llama2c_tokenizer(tokp.toStdString(), 512);
        data::CalibrationOptions co;
        co.path = text.toStdString();
        co.nsamples = 8;
        co.seqlen = 256;
        pipeline::PipelineOptions o;
        o.method = "rtn-minmax";
        o.bits = 4;
        o.abits = 4;
        o.aclip = 0.9;
        o.search.clip = 0.8;
        o.calibration = data::load_calibration(co, tok.get(), 512).ids;
        o.transform.kind = quant::TransformKind::RUQuant;
        o.transform.rotation_tokens = 512;
        auto m = model::Model::open(bin.toStdString());
        const quant::QuantizedModel q = pipeline::quantize_model(*m, o);
        const auto all = q.transforms.all();
        QCOMPARE(int64_t(all.size()), 4 * m->config().num_layers);
        for (const quant::GroupTransform* t : all) {
            QVERIFY(t->kind == quant::TransformKind::RUQuant);
            QVERIFY(t->act_error > 0.0 && t->act_error_plain > 0.0);
            QVERIFY(t->tokens == 8 * 256);
        }
        QCOMPARE(q.config.extra.at("transform"), std::string("ruquant"));
        const at::Tensor ids = o.calibration.narrow(0, 0, 1);
        const at::Tensor run_logits = model::model_forward(*m, ids);

        QTemporaryDir dir;
        const std::string path = (dir.path() + "/w4a4.zps").toStdString();
        session::write_session(q, path);
        const quant::QuantizedModel back = session::read_session(path);
        const auto back_all = back.transforms.all();
        QCOMPARE(back_all.size(), all.size());
        for (size_t i = 0; i < all.size(); ++i) {
            QVERIFY(at::equal(back_all[i]->r0, all[i]->r0));
            QVERIFY(at::equal(back_all[i]->perm, all[i]->perm));
            QVERIFY(at::equal(back_all[i]->householder, all[i]->householder));
            QVERIFY(at::equal(back_all[i]->smooth, all[i]->smooth));
            QVERIFY(at::equal(back_all[i]->act_max, all[i]->act_max));
            QCOMPARE(back_all[i]->act_error, all[i]->act_error);
        }
        auto reopened = model::Model::open(bin.toStdString());
        pipeline::install_run(*reopened, back);
        QVERIFY(at::equal(model::model_forward(*reopened, ids), run_logits));
        // Without its transforms, the same codes give other logits.
        quant::QuantizedModel stripped = back;
        stripped.transforms = {};
        auto wrong = model::Model::open(bin.toStdString());
        pipeline::install_run(*wrong, stripped);
        QVERIFY(!at::equal(model::model_forward(*wrong, ids), run_logits));

        exporter::Options eo;
        eo.format = exporter::Format::Safetensors;
        eo.out = (dir.path() + "/out").toStdString();
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, exporter::export_quantized(m.get(), q, eo));
        QVERIFY(!QFileInfo::exists(dir.path() + "/out"));
    }

    // Stage 2 on stories260K at W4A4: AdamW on the Householder vectors lowers each block's output
    // MSE against full precision (strictly, somewhere), the vectors move, and the session keeps
    // the losses.
    void stage2_lowers_the_block_loss()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        ZP_REQUIRE_ASSET(tokp, "tokenizers/tok512.bin");
        ZP_REQUIRE_ASSET(text, "text/tinystories_val.txt");
        auto tok = tok::load_llama2c_tokenizer(tokp.toStdString(), 512);
        data::CalibrationOptions co;
        co.path = text.toStdString();
        co.nsamples = 8;
        co.seqlen = 128;
        pipeline::PipelineOptions o;
        o.method = "rtn-minmax";
        o.bits = 4;
        o.abits = 4;
        o.aclip = 0.9;
        o.search.clip = 0.8;
        o.batch = 4;
        o.calibration = data::load_calibration(co, tok.get(), 512).ids;
        o.transform.kind = quant::TransformKind::RUQuant;
        o.transform.rotation_tokens = 512;
        auto m1 = model::Model::open(bin.toStdString());
        const quant::QuantizedModel s1 = pipeline::quantize_model(*m1, o);
        o.transform.finetune_epochs = 3;
        auto m2 = model::Model::open(bin.toStdString());
        std::vector<std::string> stages;
        o.progress = [&](double, double, const std::string& what) {
            stages.push_back(what);
            return true;
        };
        const quant::QuantizedModel s2 = pipeline::quantize_model(*m2, o);
        QVERIFY(std::any_of(stages.begin(), stages.end(), [](const std::string& w) {
            return w.find("stage 2") != std::string::npos;
        }));
        QCOMPARE(s2.layers.size(), s1.layers.size());  // pass 0's layers replaced, not added
        int improved = 0;
        for (const quant::GroupTransform* t : s2.transforms.all()) {
            QVERIFY(t->stage2_loss_before > 0.0);
            QVERIFY(t->stage2_loss_after <= t->stage2_loss_before);
            if (t->stage2_loss_after < 0.99 * t->stage2_loss_before) {
                ++improved;
                const quant::GroupTransform* t1 = s1.transforms.find(t->block, t->input);
                QVERIFY(!at::allclose(t->householder, t1->householder));
                QVERIFY(std::abs(t->householder.norm().item<double>() - 1.0) < 1e-9);
            }
        }
        for (const quant::GroupTransform* t : s1.transforms.all())
            QCOMPARE(t->stage2_loss_before, -1.0);
        qInfo("stage 2 lowered the loss of %d of %zu groups' blocks", improved,
              s2.transforms.all().size());
        QVERIFY(improved > 0);
        if (session::available()) {
            QTemporaryDir dir;
            const std::string path = (dir.path() + "/s2.zps").toStdString();
            session::write_session(s2, path);
            const quant::QuantizedModel back = session::read_session(path);
            const quant::GroupTransform* a = back.transforms.all().front();
            QCOMPARE(a->stage2_loss_after, s2.transforms.all().front()->stage2_loss_after);
            QCOMPARE(back.config.extra.at("finetune_epochs"), std::string("3"));
        }
        // Stage 2 needs RUQuant.
        o.transform.kind = quant::TransformKind::DuQuant;
        auto m3 = model::Model::open(bin.toStdString());
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, pipeline::quantize_model(*m3, o));
    }

    // The pipeline's one-forward-per-block path (model::BlockStepper) gives exactly the results of
    // one partial forward per group, for a weight-only GPTQ run and a W4A4 RUQuant + GPTQ run.
    void staged_and_partial_forwards_agree()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        ZP_REQUIRE_ASSET(tokp, "tokenizers/tok512.bin");
        ZP_REQUIRE_ASSET(text, "text/tinystories_val.txt");
        auto tok = tok::load_llama2c_tokenizer(tokp.toStdString(), 512);
        data::CalibrationOptions co;
        co.path = text.toStdString();
        co.nsamples = 6;
        co.seqlen = 128;
        pipeline::PipelineOptions o;
        o.method = "gptq-neuqi";
        o.bits = 3;
        o.batch = 4;  // chunks of 4 and 2
        o.calibration = data::load_calibration(co, tok.get(), 512).ids;
        for (bool act : {false, true}) {
            if (act) {
                o.abits = 4;
                o.aclip = 0.9;
                o.transform.kind = quant::TransformKind::RUQuant;
                o.transform.rotation_tokens = 256;
            }
            auto m1 = model::Model::open(bin.toStdString());
            auto m2 = model::Model::open(bin.toStdString());
            const quant::QuantizedModel staged = pipeline::quantize_model(*m1, o);
            pipeline::PipelineOptions p = o;
            p.stage_cache_bytes = 0;
            const quant::QuantizedModel partial = pipeline::quantize_model(*m2, p);
            QCOMPARE(staged.layers.size(), partial.layers.size());
            for (size_t i = 0; i < staged.layers.size(); ++i) {
                QVERIFY2(at::equal(staged.layers[i].codes, partial.layers[i].codes),
                         qPrintable(QString::fromStdString(staged.layers[i].name)));
                QVERIFY(at::equal(staged.layers[i].scale, partial.layers[i].scale));
                QVERIFY(at::equal(staged.layers[i].hessian_diag, partial.layers[i].hessian_diag));
            }
            const at::Tensor ids = o.calibration.narrow(0, 0, 1);
            QVERIFY(at::equal(model::model_forward(*m1, ids), model::model_forward(*m2, ids)));
        }
    }

    void bad_input_is_refused()
    {
        const at::Tensor x = outlier_activations(64, 48, 9);
        const at::Tensor w = at::randn({8, 48}, kF64);
        // A block that does not divide the width names both.
        try {
            quant::build_group_transform(x.abs().amax(0), x, {w},
                                         options_for(quant::TransformKind::RUQuant, 32), 2,
                                         "o_proj");
            QFAIL("no error");
        } catch (const InvalidArgument& e) {
            const QString msg = e.what();
            QVERIFY2(msg.contains("32") && msg.contains("48") && msg.contains("o_proj"), e.what());
        }
        at::Tensor bad = x.clone();
        bad[3][5] = std::nan("");
        QVERIFY_THROWS_EXCEPTION(NumericError,
                                 quant::build_group_transform(
                                     x.abs().amax(0), bad, {w},
                                     options_for(quant::TransformKind::RUQuant, 16), 0, "q_proj"));
        quant::TransformOptions o = options_for(quant::TransformKind::Smooth, 16);
        o.alpha = 1.5;
        QVERIFY_THROWS_EXCEPTION(
            InvalidArgument, quant::build_group_transform(x.abs().amax(0), x, {w}, o, 0, "q_proj"));
        // A damaged permutation is caught by check().
        quant::GroupTransform t = quant::build_group_transform(
            x.abs().amax(0), x, {w}, options_for(quant::TransformKind::DuQuant, 16), 0, "q_proj");
        t.perm[0] = t.perm[1].item<int64_t>();
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, t.check("test"));
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, quant::parse_transform_kind("quarot"));

        // The pipeline refuses before any work: a transform without calibration, and a
        // rotation block that does not divide a width.
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        auto m = model::Model::open(bin.toStdString());
        pipeline::PipelineOptions po;
        po.method = "rtn-minmax";
        po.bits = 4;
        po.transform.kind = quant::TransformKind::RUQuant;
        int calls = 0;
        po.progress = [&](double, double, const std::string&) {
            ++calls;
            return true;
        };
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, pipeline::quantize_model(*m, po));
        po.calibration = at::arange(0, 64, at::kLong).reshape({2, 32});
        po.transform.block = 48;
        try {
            pipeline::quantize_model(*m, po);
            QFAIL("no error");
        } catch (const InvalidArgument& e) {
            QVERIFY2(QString(e.what()).contains("rotation block 48"), e.what());
        }
        QCOMPARE(calls, 0);
    }
};

QTEST_GUILESS_MAIN(TestRuquant)
#include "tst_ruquant.moc"
