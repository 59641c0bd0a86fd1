// core/pipeline GPTQ options on the real stories260K model: PipelineOptions::act_order = false
// (`--no-act-order`) reaches GPTQ (block 0's q/k/v get exactly the codes of a natural-order
// gptq_quantize on the same proxy Hessian, and not the act-order ones), activations_on_cpu
// (`--activations-on-cpu`) changes nothing in the result, bit for bit, and the command line's two
// flags give the same session as the in-process pipeline. tst_gptq checks gptq_quantize itself
// (natural order included) against an independent reference.
#undef slots
#include <ATen/ATen.h>
#include <ATen/Context.h>

#include <map>
#include <memory>
#include <string>

#include "core/data/calibration.h"
#include "core/export/session.h"
#include "core/model/forward.h"
#include "core/model/model.h"
#include "core/pipeline/pipeline.h"
#include "core/quant/gptq.h"
#include "core/quant/quantizer.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/common/test_util.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest/QtTest>

using namespace zp;

namespace {

struct StopForward {};

// Every quantized layer of two runs has the same codes, scales, zero-points and Hessian diagonal.
bool same_layers(const quant::QuantizedModel& a, const quant::QuantizedModel& b, QString* why)
{
    if (a.layers.size() != b.layers.size()) {
        *why = QString("%1 layers vs %2").arg(a.layers.size()).arg(b.layers.size());
        return false;
    }
    for (size_t i = 0; i < a.layers.size(); ++i) {
        const quant::LayerResult &x = a.layers[i], &y = b.layers[i];
        const QString where =
            QString("block %1 %2").arg(x.block).arg(QString::fromStdString(x.name));
        if (x.block != y.block || x.name != y.name) {
            *why = where + ": layer order differs";
            return false;
        }
        if (!at::equal(x.codes, y.codes)) {
            *why = where + ": codes differ";
            return false;
        }
        if (!at::equal(x.scale, y.scale) || !at::equal(x.zero, y.zero)) {
            *why = where + ": scales or zero-points differ";
            return false;
        }
        if (x.hessian_diag.defined() != y.hessian_diag.defined() ||
            (x.hessian_diag.defined() && !at::equal(x.hessian_diag, y.hessian_diag))) {
            *why = where + ": Hessian diagonals differ";
            return false;
        }
    }
    return true;
}

}  // namespace

class TestGptqOptions : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<model::Model> model_;
    QString bin_, tokp_, text_;
    at::Tensor calib_;
    std::map<std::string, quant::QuantizedModel> runs_;  // cached pipeline runs by label

    static constexpr int64_t kSamples = 8, kSeqlen = 128;

    // A CUDA device where there is one: there activations_on_cpu really moves the activations
    // off the compute device. On the CPU both settings keep them in host memory.
    static std::string device() { return at::hasCUDA() && at::getNumGPUs() > 0 ? "cuda" : "cpu"; }

    // GPTQ with Min-Max, 2-bit channel-wise, lazy blocks of 32 (several per layer, a partial one
    // for down_proj's 172 columns); one forward batch holds all calibration sequences, so the
    // pipeline's proxy Hessian is one addmm that block0_hessian can repeat exactly.
    pipeline::PipelineOptions options() const
    {
        pipeline::PipelineOptions o;
        o.method = "gptq-minmax";
        o.bits = 2;
        o.group_size = -1;
        o.gptq_block = 32;
        o.batch = kSamples;
        o.calibration = calib_;
        o.calibration_source = text_.toStdString();
        o.write_back = false;  // every run starts from the original weights
        return o;
    }

    const quant::QuantizedModel& run(const std::string& label, bool act_order,
                                     bool activations_on_cpu, const std::string& dev)
    {
        auto it = runs_.find(label);
        if (it != runs_.end())
            return it->second;
        pipeline::PipelineOptions o = options();
        o.act_order = act_order;
        o.activations_on_cpu = activations_on_cpu;
        o.device = dev;
        return runs_[label] = pipeline::quantize_model(*model_, o);
    }

    // The proxy Hessian of block 0's q/k/v input, computed as the pipeline does (float32
    // activations, one float64 addmm over all N x L tokens, divided by the token count).
    at::Tensor block0_hessian() const
    {
        const model::ModelConfig& c = model_->config();
        const int64_t in = c.hidden_size;
        at::Tensor X = model::embed_tokens(*model_, calib_, at::kCPU, at::kFloat);
        model::BlockWeights w = model_->block(0).to(at::kCPU, at::kFloat, /*copy=*/true);
        at::Tensor H = at::zeros({in, in}, at::TensorOptions().dtype(at::kDouble));
        int64_t tokens = 0;
        try {
            model::block_forward(c, w, X, 0, nullptr,
                                 [&](const std::string& name, const at::Tensor& input) {
                                     if (name != "q_proj")
                                         return;
                                     at::Tensor x = input.reshape({-1, in}).to(at::kDouble);
                                     H.addmm_(x.t(), x);
                                     tokens += x.size(0);
                                     throw StopForward{};
                                 });
        } catch (const StopForward&) {
        }
        H.div_(static_cast<double>(tokens));
        return H;
    }

private Q_SLOTS:
    void initTestCase()
    {
        bin_ = zp::test::asset("models/stories260K.bin");
        tokp_ = zp::test::asset("tokenizers/tok512.bin");
        text_ = zp::test::asset("text/tinystories_val.txt");
        if (bin_.isEmpty() || tokp_.isEmpty() || text_.isEmpty())
            return;  // the tests skip with the reason
        model_ = model::Model::open(bin_.toStdString());
        model_->set_keep_blocks(true);  // several runs over the same blocks
        auto tok = tok::load_llama2c_tokenizer(tokp_.toStdString(), 512);
        data::CalibrationOptions co;
        co.path = text_.toStdString();
        co.nsamples = kSamples;
        co.seqlen = kSeqlen;
        co.seed = 0;
        calib_ = data::load_calibration(co, tok.get(), 512).ids;
    }

    // act_order = false: block 0's q/k/v (whose Hessian needs no quantized earlier layer) carry
    // exactly the codes and parameters of gptq_quantize in natural order (identity perm) on the
    // same Hessian, and not those of act-order, which the default run carries instead. The run
    // records act_order = false.
    void no_act_order_reaches_gptq()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        ZP_REQUIRE_ASSET(tokp, "tokenizers/tok512.bin");
        ZP_REQUIRE_ASSET(text, "text/tinystories_val.txt");
        const quant::QuantizedModel& natural = run("natural/cpu", false, false, "cpu");
        const quant::QuantizedModel& ordered = run("default/cpu", true, false, "cpu");
        QCOMPARE(QString::fromStdString(natural.config.extra.at("act_order")), QString("false"));
        QCOMPARE(QString::fromStdString(ordered.config.extra.at("act_order")), QString("true"));

        const at::Tensor H = block0_hessian();
        const pipeline::PipelineOptions o = options();
        const std::vector<pipeline::LayerPlan> plan = pipeline::plan_layers(model_->config(), o);
        int differ = 0;
        for (const char* name : {"q_proj", "k_proj", "v_proj"}) {
            const quant::LayerResult* nl = natural.find(0, name);
            const quant::LayerResult* ol = ordered.find(0, name);
            QVERIFY(nl && ol);
            const pipeline::LayerPlan* p = nullptr;
            for (const pipeline::LayerPlan& q : plan)
                if (q.block == 0 && q.name == name)
                    p = &q;
            QVERIFY(p);
            quant::GptqConfig gc;
            gc.quant = p->config;
            gc.damp = o.damp;
            gc.block_size = o.gptq_block;
            gc.double_precision = o.double_precision;
            // The Hessian here is the pipeline's, bit for bit (its damped diagonal is recorded).
            QVERIFY2(at::equal(nl->hessian_diag, quant::damped_hessian_diagonal(H, o.damp)),
                     "block 0 q/k/v Hessian not reproduced");
            const at::Tensor W = model_->block(0).linear(name);
            gc.act_order = false;
            const quant::GptqResult gn = quant::gptq_quantize(W, H, gc, name);
            QVERIFY(at::equal(gn.perm, at::arange(W.size(1), at::kLong)));
            QVERIFY2(at::equal(nl->codes, gn.codes),
                     qPrintable(QString("%1: not the natural-order codes").arg(name)));
            QVERIFY(at::equal(nl->scale, gn.scale.to(at::kFloat)) &&
                    at::equal(nl->zero, gn.zero.to(at::kFloat)));
            gc.act_order = true;
            const quant::GptqResult ga = quant::gptq_quantize(W, H, gc, name);
            QVERIFY(!at::equal(ga.perm, gn.perm));
            QVERIFY2(at::equal(ol->codes, ga.codes),
                     qPrintable(QString("%1: not the act-order codes").arg(name)));
            differ += at::equal(ga.codes, gn.codes) ? 0 : 1;
        }
        QVERIFY2(
            differ > 0,
            "act-order and natural order give the same codes: the check would not see the flag");
    }

    // activations_on_cpu = true keeps the calibration activations in host memory and moves each
    // batch to the device for its forward pass: the result must be the default run's, bit for
    // bit (codes, scales, zero-points, Hessian diagonals of all 35 layers).
    void activations_on_cpu_same_result()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        ZP_REQUIRE_ASSET(tokp, "tokenizers/tok512.bin");
        ZP_REQUIRE_ASSET(text, "text/tinystories_val.txt");
        const std::string dev = device();
        if (dev == "cpu")
            qInfo(
                "no CUDA device: both runs compute and store on the CPU (the flag then only must "
                "not change "
                "anything)");
        const quant::QuantizedModel& a = run("default/" + dev, true, false, dev);
        const quant::QuantizedModel& b = run("host-activations/" + dev, true, true, dev);
        QCOMPARE(a.layers.size(), size_t(5 * 7));
        QString why;
        QVERIFY2(same_layers(a, b, &why), qPrintable(why));
    }

    // The command line: `quantize --no-act-order --activations-on-cpu` writes the session of
    // the in-process run with act_order = false (activations_on_cpu changes nothing, above), and
    // records act_order = false. Skips without the CLI (ZP_CLI, set by ctest) or HDF5.
    void cli_flags_reach_the_pipeline()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        ZP_REQUIRE_ASSET(tokp, "tokenizers/tok512.bin");
        ZP_REQUIRE_ASSET(text, "text/tinystories_val.txt");
        if (!session::available())
            QSKIP("built without HDF5: the command line cannot write a session");
        if (zp::test::cli_path().isEmpty())
            QSKIP("ZP_CLI is not set (run through ctest)");
        QTemporaryDir tmp;
        QVERIFY(tmp.isValid());
        const QString out = tmp.path() + "/natural.h5";
        const pipeline::PipelineOptions o = options();
        QProcess p;
        p.start(zp::test::cli_path(), {"quantize",
                                       "--model",
                                       bin,
                                       "--tokenizer",
                                       tokp,
                                       "--method",
                                       QString::fromStdString(o.method),
                                       "--bits",
                                       QString::number(o.bits),
                                       "--group",
                                       QString::number(o.group_size),
                                       "--calib",
                                       text,
                                       "--nsamples",
                                       QString::number(kSamples),
                                       "--seqlen",
                                       QString::number(kSeqlen),
                                       "--seed",
                                       "0",
                                       "--gptq-block",
                                       QString::number(o.gptq_block),
                                       "--batch",
                                       QString::number(o.batch),
                                       "--no-act-order",
                                       "--activations-on-cpu",
                                       "--out",
                                       out});
        QVERIFY(p.waitForStarted(10000));
        QVERIFY(p.waitForFinished(300000));
        const QString log = QString::fromUtf8(p.readAllStandardOutput() + p.readAllStandardError());
        QVERIFY2(p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0,
                 qPrintable(log.right(2000)));
        const quant::QuantizedModel s = session::read_session(out.toStdString());
        QCOMPARE(QString::fromStdString(s.config.extra.at("act_order")), QString("false"));
        QString why;
        QVERIFY2(same_layers(s, run("natural/cpu", false, false, "cpu"), &why), qPrintable(why));
        QVERIFY2(!same_layers(s, run("default/cpu", true, false, "cpu"), &why),
                 "the session also equals the act-order run: --no-act-order had no effect");
    }
};

QTEST_GUILESS_MAIN(TestGptqOptions)
#include "tst_gptq_options.moc"
