// core/pipeline: the sequential pipeline on the real stories260K model - plan errors before any
// work, NeUQI's diag loss never above Min-Max's, cancel (the model restored; zeropoint-cli quantize
// stopped part-way leaves nothing at its --out), write-back, and the perplexity ordering across
// bits and methods on TinyStories text.
#undef slots
#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>

#include "core/common/error.h"
#include "core/data/calibration.h"
#include "core/data/corpus.h"
#include "core/eval/perplexity.h"
#include "core/export/session.h"
#include "core/model/forward.h"
#include "core/model/model.h"
#include "core/pipeline/pipeline.h"
#include "core/tokenizer/tokenizer.h"
#include "kernels/quantize.h"
#include "tests/common/test_util.h"

#include <QDir>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest/QtTest>

#include <signal.h>

using namespace zp;

class TestPipeline : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<model::Model> model_;
    std::unique_ptr<tok::Tokenizer> tok_;
    at::Tensor calib_;
    at::Tensor eval_windows_;
    std::map<std::string, double> ppl_;  // "method/bits" -> perplexity

    void reset_model()
    {
        for (int64_t b = 0; b < model_->config().num_layers; ++b)
            model_->reset_block(b);
    }

    pipeline::PipelineOptions options(const std::string& method, int bits) const
    {
        pipeline::PipelineOptions o;
        o.method = method;
        o.bits = bits;
        o.group_size = -1;
        o.calibration = calib_;
        o.calibration_source = "tinystories_val.txt";
        o.gptq_block = 32;
        return o;
    }

    double perplexity() const
    {
        eval::PerplexityOptions po;
        po.batch = 4;
        return eval::perplexity_of_windows(*model_, eval_windows_, po).perplexity;
    }

private Q_SLOTS:
    void initTestCase()
    {
        const QString bin = zp::test::asset("models/stories260K.bin");
        const QString tokp = zp::test::asset("tokenizers/tok512.bin");
        const QString text = zp::test::asset("text/tinystories_val.txt");
        if (bin.isEmpty() || tokp.isEmpty() || text.isEmpty())
            return;  // the tests skip with the reason
        model_ = model::Model::open(bin.toStdString());
        model_->set_keep_blocks(true);  // many runs over the same blocks
        tok_ = tok::load_llama2c_tokenizer(tokp.toStdString(), 512);
        data::CalibrationOptions co;
        co.path = text.toStdString();
        co.nsamples = 16;
        co.seqlen = 256;
        co.seed = 0;
        calib_ = data::load_calibration(co, tok_.get(), 512).ids;
        // Evaluation: the first windows of the same text, in order (calibration draws are random).
        std::ifstream in(co.path, std::ios::binary);
        const std::string all((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
        eval_windows_ = data::contiguous_windows(tok_->encode(all, false), 256, 8);
    }

    void group_size_error_before_any_work()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        pipeline::PipelineOptions o = options("gptq-neuqi", 2);
        o.group_size = -5;
        int calls = 0;
        o.progress = [&](double, double, const std::string&) {
            ++calls;
            return true;
        };
        try {
            pipeline::quantize_model(*model_, o);
            QFAIL("expected InvalidArgument");
        } catch (const InvalidArgument& e) {
            const QString m = e.what();
            QVERIFY2(m.contains("block 0 q_proj") && m.contains("-5"), e.what());
        }
        QCOMPARE(calls, 0);
        for (int64_t b = 0; b < model_->config().num_layers; ++b)
            QVERIFY(!model_->is_replaced(b));
        // Groups of 32 or 64 do not divide down_proj's 172 columns: valid, the last group is
        // shorter (172 = 5 x 32 + 12 = 2 x 64 + 44), as in GPTQ.
        for (int64_t g : {32, 64}) {
            o.group_size = g;
            QCOMPARE(pipeline::plan_layers(model_->config(), o).size(), size_t(5 * 7));
        }
    }

    void plan_errors()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        pipeline::PipelineOptions o = options("gptq-neuqi", 2);
        o.calibration = at::Tensor();
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, pipeline::plan_layers(model_->config(), o));
        o.method = "rtn-neuqi";  // data-free RTN is fine
        QCOMPARE(pipeline::plan_layers(model_->config(), o).size(), size_t(35));
        o.method = "awq";
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, pipeline::plan_layers(model_->config(), o));
        o.method = "rtn-minmax";
        o.bits = 9;
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, pipeline::plan_layers(model_->config(), o));
        o.bits = 2;
        o.overrides["7.q_proj"].bits = 4;  // block 7 does not exist
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, pipeline::plan_layers(model_->config(), o));
        o.overrides.clear();
        o.overrides["1.qproj"].bits = 4;
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, pipeline::plan_layers(model_->config(), o));
        o.overrides.clear();
        o.overrides["1.q_proj"].bits = 4;
        o.overrides["1.*"].bits = 3;
        o.overrides["*.q_proj"].skip = true;
        const auto plan = pipeline::plan_layers(model_->config(), o);
        QCOMPARE(plan[7].config.bits, 4);  // block 1 q_proj: most specific key
        QVERIFY(!plan[7].skip);
        QCOMPARE(plan[8].config.bits, 3);  // block 1 k_proj
        QVERIFY(plan[0].skip);             // block 0 q_proj
    }

    void neuqi_diag_loss_never_above_minmax()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        for (int bits : {2, 3, 4}) {
            reset_model();
            const quant::QuantizedModel q =
                pipeline::quantize_model(*model_, options("rtn-neuqi", bits));
            QCOMPARE(q.layers.size(), size_t(35));
            for (const quant::LayerResult& l : q.layers) {
                QVERIFY2(l.diag_loss <= l.diag_loss_minmax * (1.0 + 1e-9) + 1e-15,
                         qPrintable(QString("%1-bit block %2 %3: NeUQI %4 > Min-Max %5")
                                        .arg(bits)
                                        .arg(l.block)
                                        .arg(l.name.c_str())
                                        .arg(l.diag_loss)
                                        .arg(l.diag_loss_minmax)));
                QVERIFY(l.proxy_loss >= 0.0 && l.proxy_loss_rtn_minmax >= 0.0);
                QCOMPARE(l.hessian_diag.size(0), l.in_features);
                QCOMPARE(l.group_size, l.in_features);
                // The stored codes and parameters reproduce what was written into the model.
                QVERIFY(at::equal(quant::QuantizedModel::dequantize(l),
                                  model_->block(l.block).linear(l.name)));
            }
        }
        reset_model();
    }

    void gptq_fills_results_and_writes_back()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        reset_model();
        pipeline::PipelineOptions o = options("gptq-neuqi", 3);
        o.overrides["2.down_proj"].skip = true;
        o.overrides["0.*"].method = "rtn-minmax";
        const quant::QuantizedModel q = pipeline::quantize_model(*model_, o);
        QCOMPARE(q.layers.size(), size_t(35));
        QCOMPARE(q.config.method, std::string("gptq-neuqi"));
        QCOMPARE(q.config.calibration_samples, int64_t(16));
        QCOMPARE(q.config.model_config_hash.size(), size_t(16));
        const quant::LayerResult* skipped = q.find(2, "down_proj");
        QVERIFY(skipped && skipped->skipped);
        QVERIFY(q.find(0, "q_proj")->algorithm == quant::Algorithm::RTN);
        const quant::LayerResult* l = q.find(3, "o_proj");
        QVERIFY(l && l->algorithm == quant::Algorithm::GPTQ && l->param_method == "neuqi");
        QVERIFY(l->relative_weight_error > 0.0 && l->relative_weight_error < 1.0);
        QCOMPARE(l->codes.scalar_type(), at::kByte);
        QVERIFY(
            at::equal(quant::QuantizedModel::dequantize(*l), model_->block(3).linear("o_proj")));
        std::unique_ptr<model::Model> fresh = model::Model::open(model_->path());
        QVERIFY(at::equal(fresh->block(2).down, model_->block(2).down));
        reset_model();
    }

    // The model keeps a quantized linear as codes/scale/zero (shared with the result) and
    // dequantizes it on every read; bad shapes are refused naming the layer; set_block and
    // reset_block drop it.
    void quantized_linear_overlay()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        reset_model();
        const at::Tensor w = model_->block(1).linear("up_proj");  // [172, 64]
        const at::Tensor codes = at::randint(0, 16, {172, 64}, at::kLong).to(at::kByte);
        const at::Tensor scale = at::rand({172, 2}, at::kFloat) + 0.1;
        const at::Tensor zero = at::rand({172, 2}, at::kFloat) * 15.0;
        model_->set_quantized_linear(1, "up_proj", codes, scale, zero, 32);
        QVERIFY(model_->is_replaced(1));
        const at::Tensor expect = kernels::dequantize(codes, scale, zero, 32);
        QVERIFY(at::equal(model_->block(1).linear("up_proj"), expect));
        QVERIFY(at::equal(model_->block(1).linear("gate_proj"),
                          model::Model::open(model_->path())->block(1).gate));
        auto refused = [&](auto&& call, const char* needle) {
            try {
                call();
            } catch (const InvalidArgument& e) {
                QVERIFY2(QString(e.what()).contains("block 1 up_proj") &&
                             QString(e.what()).contains(needle),
                         e.what());
                return;
            }
            QFAIL("expected InvalidArgument");
        };
        refused(
            [&] {
                model_->set_quantized_linear(1, "up_proj", codes.t().contiguous(), scale, zero, 32);
            },
            "codes must be uint8");
        refused([&] { model_->set_quantized_linear(1, "up_proj", codes, scale, zero, 65); },
                "group size 65");
        refused([&] { model_->set_quantized_linear(1, "up_proj", codes, scale, zero, 16); },
                "scale and zero");  // 4 groups of 16 expected
        // 48 does not divide 64: ceil(64 / 48) = 2 groups, the second of 16 columns.
        model_->set_quantized_linear(1, "up_proj", codes, scale, zero, 48);
        const at::Tensor w48 = model_->block(1).linear("up_proj");
        QVERIFY(at::equal(w48.narrow(1, 0, 48),
                          (scale.narrow(1, 0, 1) *
                           (codes.narrow(1, 0, 48).to(at::kFloat) - zero.narrow(1, 0, 1)))));
        QVERIFY(at::equal(w48.narrow(1, 48, 16),
                          (scale.narrow(1, 1, 1) *
                           (codes.narrow(1, 48, 16).to(at::kFloat) - zero.narrow(1, 1, 1)))));
        model_->set_quantized_linear(1, "up_proj", codes, scale, zero, 32);
        refused(
            [&] {
                model_->set_quantized_linear(1, "up_proj", codes, scale.narrow(1, 0, 1), zero, 32);
            },
            "scale and zero");
        model::BlockWeights b = model_->block(1);
        b.up = w;
        model_->set_block(1, b);
        QVERIFY(at::equal(model_->block(1).linear("up_proj"), w));
        model_->set_quantized_linear(1, "up_proj", codes, scale, zero, 32);
        model_->reset_block(1);
        QVERIFY(!model_->is_replaced(1));
        QVERIFY(at::equal(model_->block(1).linear("up_proj"), w));
    }

    void data_free_rtn()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        reset_model();
        pipeline::PipelineOptions o = options("rtn-neuqi", 4);
        o.calibration = at::Tensor();
        const quant::QuantizedModel q = pipeline::quantize_model(*model_, o);
        QCOMPARE(q.layers.size(), size_t(35));
        QCOMPARE(q.config.calibration_samples, int64_t(0));
        for (const quant::LayerResult& l : q.layers) {
            QVERIFY(at::equal(l.hessian_diag, at::ones({l.in_features}, at::kDouble)));
            QCOMPARE(l.proxy_loss, -1.0);
            QVERIFY(l.diag_loss <= l.diag_loss_minmax * (1.0 + 1e-9));
        }
        for (int64_t b = 0; b < 5; ++b)
            QVERIFY(model_->is_replaced(b));
        reset_model();
    }

    // --protect auto without calibration decides once per model: stories260K holds no weight 10
    // standard deviations from its layer's mean (its largest is 9.3, block 0 o_proj), so every
    // layer gets the plain search (real zero-points); one super-weight planted in one layer turns
    // every layer of the model to the remedy (NeUQI-int, nothing clipped). The tails are measured
    // here by plain loops over the weights.
    void data_free_auto_decides_per_model()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        reset_model();
        auto largest_sigmas = [](const at::Tensor& W) {
            const at::Tensor w = W.to(at::kDouble).contiguous().flatten();
            const double* p = w.data_ptr<double>();
            const int64_t n = w.numel();
            double mean = 0.0, var = 0.0, far = 0.0;
            for (int64_t i = 0; i < n; ++i)
                mean += p[i] / static_cast<double>(n);
            for (int64_t i = 0; i < n; ++i)
                var += (p[i] - mean) * (p[i] - mean) / static_cast<double>(n - 1);
            for (int64_t i = 0; i < n; ++i)
                far = std::max(far, std::abs(p[i] - mean));
            return far / std::sqrt(var);
        };
        double model_largest = 0.0;
        for (int64_t b = 0; b < 5; ++b)
            for (const std::string& name : model::linear_names())
                model_largest =
                    std::max(model_largest, largest_sigmas(model_->block(b).linear(name)));
        QVERIFY2(model_largest < quant::kAutoTailSigmas,
                 qPrintable(QString::number(model_largest)));

        pipeline::PipelineOptions o = options("rtn-neuqi", 3);
        o.calibration = at::Tensor();
        o.search.protect = quant::parse_protect("auto");
        const quant::QuantizedModel light = pipeline::quantize_model(*model_, o);
        QCOMPARE(light.layers.size(), size_t(35));
        for (const quant::LayerResult& l : light.layers)
            QCOMPARE(l.param_method, std::string("neuqi"));
        reset_model();

        // A super-weight in block 2 down_proj: 30 standard deviations out.
        at::Tensor down = model_->block(2).linear("down_proj").clone();
        const double sd = down.to(at::kDouble).std().item<double>();
        down[5][17] = static_cast<float>(down.to(at::kDouble).mean().item<double>() + 30.0 * sd);
        QVERIFY(largest_sigmas(down) >= quant::kAutoTailSigmas);
        model_->set_linear(2, "down_proj", down);
        const quant::QuantizedModel heavy = pipeline::quantize_model(*model_, o);
        QCOMPARE(heavy.layers.size(), size_t(35));
        for (const quant::LayerResult& l : heavy.layers)
            QCOMPARE(l.param_method, std::string("neuqi-int"));
        reset_model();
    }

    // The pipeline itself writes no file; what a cancelled run must leave is the model as it was.
    void cancel_throws_and_leaves_nothing()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        reset_model();
        pipeline::PipelineOptions o = options("gptq-minmax", 2);
        int calls = 0;
        o.progress = [&](double, double, const std::string&) { return ++calls < 20; };
        QVERIFY_THROWS_EXCEPTION(Cancelled, pipeline::quantize_model(*model_, o));
        QCOMPARE(calls, 20);
        for (int64_t b = 0; b < model_->config().num_layers; ++b)
            QVERIFY2(!model_->is_replaced(b), "a cancelled run must restore the model");
    }

    // The component that writes: zeropoint-cli quantize --out, interrupted (SIGINT, as Ctrl+C)
    // while it quantizes, and after the quantized model is complete but before the session is due
    // (perplexity of the quantized model). Nothing may be at --out, nor any temporary beside it.
    void cancelled_cli_quantize_leaves_no_session_data()
    {
        QTest::addColumn<QString>("stage");
        QTest::newRow("quantizing") << QStringLiteral("quantize [");
        QTest::newRow("evaluating the quantized model")
            << QStringLiteral("perplexity (quantized) [");
    }

    void cancelled_cli_quantize_leaves_no_session()
    {
        QFETCH(QString, stage);
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        ZP_REQUIRE_ASSET(tokp, "tokenizers/tok512.bin");
        ZP_REQUIRE_ASSET(text, "text/tinystories_val.txt");
        if (test::cli_path().isEmpty())
            QSKIP("ZP_CLI is not set (run through ctest)");
        if (!session::available())
            QSKIP("built without HDF5: zeropoint-cli quantize cannot write sessions");
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString out = dir.filePath(QStringLiteral("s.h5"));
        QProcess p;
        p.setProcessChannelMode(QProcess::MergedChannels);
        QStringList args{"quantize", "--model", bin, "--tokenizer", tokp, "--out", out};
        args += QStringList{"--method", "gptq-minmax", "--bits", "2", "--gptq-block", "32"};
        args += QStringList{"--calib", text, "--nsamples", "16", "--seqlen", "256"};
        args += QStringList{"--eval", text, "--window", "256", "--eval-windows", "128"};
        p.start(test::cli_path(), args);
        QVERIFY(p.waitForStarted(10000));
        // Progress goes to stderr one line per update (not a terminal); the first line of the stage
        // that reports work done (a block for the quantizer, a window for the evaluation) stops it.
        QString log;
        bool sent = false;
        while (!sent && p.state() != QProcess::NotRunning && p.waitForReadyRead(120000)) {
            while (!sent && p.canReadLine()) {
                const QString line = QString::fromUtf8(p.readLine());
                log += line;
                if (line.startsWith(stage) && (line.contains("block") || line.contains("window"))) {
                    QCOMPARE(::kill(static_cast<pid_t>(p.processId()), SIGINT), 0);
                    sent = true;
                }
            }
        }
        QVERIFY2(sent, qPrintable("never reached '" + stage + "':\n" + log));
        QVERIFY(p.waitForFinished(120000));
        log += QString::fromUtf8(p.readAll());
        QVERIFY2(p.exitStatus() == QProcess::CrashExit,
                 qPrintable("the run ended before the signal:\n" + log));
        QVERIFY2(!QFileInfo::exists(out), qPrintable(out + " exists after the interrupted run"));
        const QStringList left =
            QDir(dir.path())
                .entryList(QDir::AllEntries | QDir::Hidden | QDir::System | QDir::NoDotAndDotDot);
        QVERIFY2(left.isEmpty(), qPrintable("left behind: " + left.join(", ")));
    }

    // zeropoint-cli quantize in groups of 64, which stories260K's down_proj (172 = 2 x 64 + 44)
    // used to refuse ("group size 64 does not divide the row length 172"): GPTQ + NeUQI runs end
    // to end, the session holds [out, 3] parameters for down_proj, the quantized perplexity is
    // close to the original's, and the GGUF export stores down_proj F16 saying why.
    void cli_quantize_in_groups_of_64()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        ZP_REQUIRE_ASSET(tokp, "tokenizers/tok512.bin");
        ZP_REQUIRE_ASSET(text, "text/tinystories_val.txt");
        if (test::cli_path().isEmpty())
            QSKIP("ZP_CLI is not set (run through ctest)");
        if (!session::available())
            QSKIP("built without HDF5: zeropoint-cli quantize cannot write sessions");
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString out = dir.filePath(QStringLiteral("g64.h5"));
        auto run = [](const QStringList& args, QString* log) {
            QProcess p;
            p.setProcessChannelMode(QProcess::MergedChannels);
            p.start(test::cli_path(), args);
            if (!p.waitForStarted(10000) || !p.waitForFinished(300000))
                return -1;
            *log = QString::fromUtf8(p.readAll());
            return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2;
        };
        QString log;
        QStringList args{"quantize", "--model", bin, "--tokenizer", tokp, "--out", out};
        args += QStringList{"--method", "gptq-neuqi", "--bits", "4", "--group", "64"};
        args += QStringList{"--calib", text, "--nsamples", "16", "--seqlen", "256"};
        args += QStringList{"--eval", text, "--window", "256", "--eval-windows", "8"};
        QCOMPARE(run(args, &log), 0);
        QVERIFY2(log.contains("group 64"), qPrintable(log));
        const quant::QuantizedModel qm = session::read_session(out.toStdString());
        QCOMPARE(qm.layers.size(), size_t(5 * 7));
        for (const auto& l : qm.layers) {
            QCOMPARE(l.group_size, int64_t(64));
            QCOMPARE(l.scale.size(1), (l.in_features + 63) / 64);
        }
        const quant::LayerResult* down = qm.find(0, "down_proj");
        QVERIFY(down);
        QCOMPARE(down->scale.sizes().vec(), std::vector<int64_t>({64, 3}));
        double proxy = 0.0, proxy_rtn_mm = 0.0;
        for (const auto& l : qm.layers) {
            proxy += l.proxy_loss;
            proxy_rtn_mm += l.proxy_loss_rtn_minmax;
        }
        QVERIFY2(proxy < proxy_rtn_mm, "GPTQ + NeUQI not below RTN Min-Max's proxy loss");
        const double orig = qm.perplexity.at("tinystories_val/original"),
                     quantized = qm.perplexity.at("tinystories_val/quantized");
        qInfo("stories260K gptq-neuqi 4-bit g64: perplexity %.4f (original %.4f)", quantized, orig);
        QVERIFY(std::isfinite(quantized) && quantized > orig * 0.99 && quantized < orig * 1.5);
        const QString gguf = dir.filePath(QStringLiteral("g64.gguf"));
        QCOMPARE(run({"export", "--session", out, "--model", bin, "--tokenizer", tokp, "--format",
                      "gguf", "--out", gguf},
                     &log),
                 0);
        QVERIFY2(log.contains("blk.0.ffn_down.weight") &&
                     log.contains("last group of 44 columns (172 = 2 x 64 + 44)"),
                 qPrintable(log));
    }

    // One row per method (each row its own watchdog period); the ordering is checked afterwards.
    void perplexity_per_method_data()
    {
        QTest::addColumn<QString>("method");
        for (const auto& m : pipeline::pipeline_methods())
            QTest::newRow(m.name) << QString(m.name);
    }

    void perplexity_per_method()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        QFETCH(QString, method);
        if (ppl_.count("full") == 0) {
            reset_model();
            ppl_["full"] = perplexity();
            qInfo("stories260K TinyStories perplexity, full precision: %.3f", ppl_["full"]);
        }
        for (int bits : {2, 3, 4}) {
            reset_model();
            pipeline::quantize_model(*model_, options(method.toStdString(), bits));
            const double p = perplexity();
            ppl_[method.toStdString() + "/" + std::to_string(bits)] = p;
            qInfo("%-15s %d-bit channel-wise: perplexity %.3f", qPrintable(method), bits, p);
            QVERIFY(std::isfinite(p) && p > ppl_["full"] * 0.99);
        }
        reset_model();
    }

    void perplexity_orders_bits_and_methods()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        for (const auto& m : pipeline::pipeline_methods()) {
            const std::string n = m.name;
            QVERIFY2(ppl_.count(n + "/2") && ppl_.count(n + "/3") && ppl_.count(n + "/4"),
                     "runs missing");
            QVERIFY2(ppl_[n + "/4"] < ppl_[n + "/3"] && ppl_[n + "/3"] < ppl_[n + "/2"],
                     qPrintable(QString::fromStdString(n) + ": expected 4 < 3 < 2 bits"));
            if (n != "rtn-minmax")
                QVERIFY2(ppl_["rtn-minmax/2"] > ppl_[n + "/2"],
                         qPrintable(QString::fromStdString(n) +
                                    ": RTN Min-Max must be worst at 2 bits"));
        }
    }
};

QTEST_GUILESS_MAIN(TestPipeline)
#include "tst_pipeline.moc"
