// core/quant/act_quant: RUQuant's per-token activation quantizer against a scalar reference
// written here from core/MATHS.md section 8 (and the released code's conventions: scale
// clamped to [1e-5, 1e4], zero-point rounded after clamping); 16 bits is exactly the identity.
#undef slots
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/common/error.h"
#include "core/model/forward.h"
#include "core/model/model.h"
#include "core/pipeline/pipeline.h"
#include "core/pipeline/run_options.h"
#include "core/quant/act_quant.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/common/test_util.h"

#include <QtTest/QtTest>

using namespace zp;

namespace {

// One token, plain loops in double (float32 inputs are widened; the quantizer works in float32,
// so the comparison allows float32 rounding).
std::vector<double> quantize_token_ref(const std::vector<double>& x, int bits, double clip)
{
    double lo = x[0], hi = x[0];
    for (double v : x) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    lo *= clip;
    hi *= clip;
    const double levels = std::pow(2.0, bits) - 1.0;
    const double s = std::min(1e4, std::max(1e-5, (hi - lo) / levels));
    const double z = std::nearbyint(std::min(1e4, std::max(-1e4, -lo / s)));
    std::vector<double> out(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
        double q = std::nearbyint(x[i] / s) + z;
        q = std::min(levels, std::max(0.0, q));
        out[i] = s * (q - z);
    }
    return out;
}

}  // namespace

class TestActQuant : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void matches_scalar_reference_data()
    {
        QTest::addColumn<int>("bits");
        QTest::addColumn<double>("clip");
        for (int bits : {2, 4, 6, 8})
            for (double clip : {1.0, 0.9, 0.8})
                QTest::newRow(qPrintable(QString("W%1 clip %2").arg(bits).arg(clip)))
                    << bits << clip;
    }

    void matches_scalar_reference()
    {
        QFETCH(int, bits);
        QFETCH(double, clip);
        // Activations with outlier channels, [2, 7, 96] (batch, tokens, channels), in float64 so
        // the comparison is exact up to the reference's own rounding.
        at::Tensor x = test::make_weights("outlier", 14, 96, 11).reshape({2, 7, 96}) * 50.0;
        x[0][3][5] = 40.0;    // a massive activation
        x[1][0].fill_(0.25);  // a constant token (range 0: the scale clamps to 1e-5)
        const at::Tensor got = quant::fake_quant_per_token(x, {bits, clip});
        QCOMPARE(got.sizes(), x.sizes());
        QCOMPARE(got.scalar_type(), at::kDouble);
        const at::Tensor xs = x.reshape({-1, 96}).contiguous();
        const at::Tensor gs = got.reshape({-1, 96}).contiguous();
        int64_t distinct_max = 0;
        for (int64_t t = 0; t < xs.size(0); ++t) {
            std::vector<double> row(xs[t].data_ptr<double>(), xs[t].data_ptr<double>() + 96);
            const std::vector<double> want = quantize_token_ref(row, bits, clip);
            std::vector<double> levels;
            for (int64_t i = 0; i < 96; ++i) {
                const double g = gs[t][i].item<double>();
                QVERIFY2(std::abs(g - want[i]) <= 1e-12 * std::max(1.0, std::abs(want[i])),
                         qPrintable(QString("token %1 channel %2: %3 vs %4")
                                        .arg(t)
                                        .arg(i)
                                        .arg(g)
                                        .arg(want[i])));
                levels.push_back(g);
            }
            std::sort(levels.begin(), levels.end());
            distinct_max = std::max<int64_t>(
                distinct_max, std::unique(levels.begin(), levels.end()) - levels.begin());
        }
        // At most 2^b distinct values per token, and the quantizer does quantize.
        QVERIFY(distinct_max <= (int64_t{1} << bits));
        QVERIFY(!at::equal(got, x));
    }

    void float32_follows_the_reference()
    {
        at::Tensor x = (test::make_weights("laplace", 32, 64, 5) * 20.0).to(at::kFloat);
        const at::Tensor got = quant::fake_quant_per_token(x, {4, 0.9});
        QCOMPARE(got.scalar_type(), at::kFloat);
        const at::Tensor xd = x.to(at::kDouble).contiguous();
        int64_t off = 0;
        for (int64_t t = 0; t < 32; ++t) {
            std::vector<double> row(xd[t].data_ptr<double>(), xd[t].data_ptr<double>() + 64);
            const std::vector<double> want = quantize_token_ref(row, 4, 0.9);
            for (int64_t i = 0; i < 64; ++i) {
                const double g = got[t][i].item<double>();
                // float32 arithmetic may round a value sitting on a half step the other way:
                // then it lands on the neighbouring level, one step away.
                if (std::abs(g - want[i]) > 1e-5 * std::max(1.0, std::abs(want[i])))
                    ++off;
            }
        }
        QVERIFY2(off <= 2, qPrintable(QString("%1 values off the reference").arg(off)));
    }

    void sixteen_bits_is_the_identity()
    {
        const at::Tensor x = at::randn({3, 5, 64});
        QVERIFY(at::equal(quant::fake_quant_per_token(x, {16, 1.0}), x));
        QVERIFY(at::equal(quant::fake_quant_per_token(x, {16, 0.9}), x));
    }

    // On the real stories260K: the hooks run at every linear input and at Q/K/V of every block;
    // 16 bits is the unquantized forward exactly; the incremental generator (KV cache) gives the
    // same logits as the full forward under A4 (per-token quantization does not mix tokens), so
    // evaluation and generation run the same code; 8-bit activations stay close to full precision
    // and 4-bit ones drift further.
    void forward_with_activation_quantization()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        ZP_REQUIRE_ASSET(tokp, "tokenizers/tok512.bin");
        ZP_REQUIRE_ASSET(text, "text/tinystories_val.txt");
        auto m = model::Model::open(bin.toStdString());
        const model::ModelConfig& c = m->config();
        const auto tok = tok::load_llama2c_tokenizer(tokp.toStdString(), 512);
        QFile f(text);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const std::vector<int32_t> enc = tok->encode(f.read(600).toStdString(), true);
        const at::Tensor ids =
            at::tensor(std::vector<int64_t>(enc.begin(), enc.begin() + 128), at::kLong)
                .reshape({1, -1});
        const at::Tensor fp = model::model_forward(*m, ids);

        // Counting identity hooks: 4 linear inputs and Q, K, V per block.
        auto counting = std::make_shared<model::ActivationHooks>();
        int linear_calls = 0, attention_calls = 0;
        counting->linear_input = [&](int64_t, const std::string&, const at::Tensor& x) {
            ++linear_calls;
            return x;
        };
        counting->attention = [&](int64_t, const std::string&, const at::Tensor& t) {
            ++attention_calls;
            return t;
        };
        m->set_activation_hooks(counting);
        QVERIFY(at::equal(model::model_forward(*m, ids), fp));
        QCOMPARE(linear_calls, int(4 * c.num_layers));
        QCOMPARE(attention_calls, int(3 * c.num_layers));

        quant::ActivationQuantConfig a16;
        a16.linear = a16.qk = a16.v = {16, 1.0};
        m->set_activation_hooks(quant::activation_quant_hooks(a16, c.head_dim));
        QVERIFY2(at::equal(model::model_forward(*m, ids), fp), "A16 must be the original forward");

        auto nll = [&](const at::Tensor& logits) {
            const at::Tensor lp = logits[0].narrow(0, 0, ids.size(1) - 1).log_softmax(-1);
            const at::Tensor tgt = ids[0].narrow(0, 1, ids.size(1) - 1);
            return -lp.gather(1, tgt.unsqueeze(1)).mean().item<double>();
        };
        const double nll_fp = nll(fp);
        double nll_a[2] = {0, 0};
        int i = 0;
        for (int bits : {8, 4}) {
            quant::ActivationQuantConfig a;
            a.linear = a.qk = a.v = {bits, bits == 4 ? 0.9 : 1.0};
            m->set_activation_hooks(quant::activation_quant_hooks(a, c.head_dim));
            const at::Tensor full = model::model_forward(*m, ids);
            QVERIFY(!at::equal(full, fp));
            nll_a[i++] = nll(full);
            // The generator (KV cache, token by token) runs the same hooks: its logits follow
            // the quantized forward, not the unquantized one. They are not bit-equal: a value
            // within an ulp of a rounding boundary may land on the neighbouring level in one path
            // and not the other, and a flip in a cached K or V moves every later position a bit.
            model::Generator g(*m);
            std::vector<at::Tensor> steps;
            for (int64_t t = 0; t < ids.size(1); ++t)
                steps.push_back(g.feed({static_cast<int32_t>(ids[0][t].item<int64_t>())}));
            const at::Tensor gen = at::stack(steps);
            const double to_forward = (gen - full[0]).abs().mean().item<double>();
            const double to_fp = (gen - fp[0]).abs().mean().item<double>();
            const double forward_to_fp = (full[0] - fp[0]).abs().mean().item<double>();
            qInfo(
                "A%d: mean |logit diff| generator-forward %.4g, generator-fp %.4g, forward-fp %.4g",
                bits, to_forward, to_fp, forward_to_fp);
            QVERIFY(to_forward < 0.5 * forward_to_fp);
            QVERIFY(to_fp > 0.5 * forward_to_fp);
        }
        qInfo("mean NLL: full precision %.4f, A8 %.4f, A4 %.4f", nll_fp, nll_a[0], nll_a[1]);
        QVERIFY(std::abs(nll_a[0] - nll_fp) < 0.05 * nll_fp);
        QVERIFY(std::abs(nll_a[1] - nll_fp) > std::abs(nll_a[0] - nll_fp));
    }

    // W8A8 through the pipeline: the run leaves the model quantizing its activations (A16 leaves
    // none), records abits, and install_run on a freshly opened model reproduces the run's logits
    // exactly, as a reopened session does.
    void pipeline_records_and_reinstalls_activation_bits()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        const at::Tensor ids = at::arange(1, 65, at::kLong).remainder(500).add(3).reshape({1, -1});
        pipeline::PipelineOptions o;
        o.method = "rtn-minmax";
        o.bits = 8;
        auto w_only = model::Model::open(bin.toStdString());
        const quant::QuantizedModel q16 = pipeline::quantize_model(*w_only, o);
        QVERIFY(w_only->activation_hooks() == nullptr);
        QCOMPARE(q16.config.extra.at("abits"), std::string("16"));
        const at::Tensor l16 = model::model_forward(*w_only, ids);

        o.abits = 8;
        o.aclip = 0.9;
        auto wa = model::Model::open(bin.toStdString());
        const quant::QuantizedModel q8 = pipeline::quantize_model(*wa, o);
        QVERIFY(wa->activation_hooks() != nullptr);
        QCOMPARE(q8.config.extra.at("abits"), std::string("8"));
        QCOMPARE(q8.config.extra.at("aclip"), std::string("0.9"));
        const at::Tensor l8 = model::model_forward(*wa, ids);
        QVERIFY(!at::equal(l8, l16));

        auto reopened = model::Model::open(bin.toStdString());
        pipeline::install_run(*reopened, q8);
        QVERIFY(at::equal(model::model_forward(*reopened, ids), l8));
        auto reopened16 = model::Model::open(bin.toStdString());
        pipeline::install_run(*reopened16, q16);
        QVERIFY(at::equal(model::model_forward(*reopened16, ids), l16));
    }

    void bad_configs_are_refused()
    {
        const at::Tensor x = at::randn({2, 8});
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, quant::fake_quant_per_token(x, {1, 1.0}));
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, quant::fake_quant_per_token(x, {4, 0.0}));
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, quant::fake_quant_per_token(x, {4, 1.5}));
        quant::ActivationQuantConfig a;
        a.linear = a.qk = a.v = {4, 1.0};
        QVERIFY_THROWS_EXCEPTION(InvalidArgument,
                                 quant::activation_quant_hooks(a, 48));  // Hadamard
        a.qk_hadamard = false;
        QVERIFY(quant::activation_quant_hooks(a, 48) != nullptr);
    }
};

QTEST_GUILESS_MAIN(TestActQuant)
#include "tst_act_quant.moc"
