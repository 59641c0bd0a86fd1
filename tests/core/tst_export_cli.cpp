// zeropoint-cli export / inspect end to end: stories260K quantized by RTN (Min-Max, 4-bit, g32),
// saved as a session, exported to GGUF and to an imatrix, both inspected; bad inputs fail with a
// message and leave no output. Skips without HDF5, the assets or the CLI.
// The precompiled header may already hold Qt, whose `slots` macro breaks ATen's headers.
#undef slots
#include <ATen/ATen.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/export/session.h"
#include "core/formats/gguf.h"
#include "core/formats/gguf_blocks.h"
#include "core/model/model.h"
#include "core/quant/result.h"
#include "kernels/quantize.h"
#include "tests/common/test_util.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest/QtTest>

#include <sys/stat.h>

using namespace zp;

class TestExportCli : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    QString model_, tok_, session_;
    QString path(const QString& name) const { return tmp_.path() + "/" + name; }

    int run(const QStringList& args, QString* out)
    {
        QProcess p;
        p.start(test::cli_path(), args);
        if (!p.waitForStarted(10000))
            return -1;
        p.waitForFinished(300000);
        *out = QString::fromUtf8(p.readAllStandardOutput() + p.readAllStandardError());
        return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(tmp_.isValid());
        if (!session::available())
            QSKIP("built without HDF5: no session files to export from");
        if (test::cli_path().isEmpty())
            QSKIP("ZP_CLI is not set (run through ctest)");
        ZP_REQUIRE_ASSET(m, "models/stories260K.bin");
        ZP_REQUIRE_ASSET(t, "tokenizers/tok512.bin");
        model_ = m;
        tok_ = t;
        auto model = model::Model::open(m.toStdString());
        quant::QuantizedModel qm;
        qm.config.model_path = m.toStdString();
        qm.config.method = "rtn-minmax";
        qm.config.bits = 4;
        qm.config.group_size = 32;
        qm.config.calibration_source = "data-free";
        qm.config.calibration_samples = 1;
        qm.config.calibration_seqlen = 1;
        qm.perplexity["tinystories/quantized"] = 12.25;
        for (int64_t i = 0; i < model->config().num_layers; ++i) {
            const model::BlockWeights b = model->block(i);
            for (const std::string& name : model::linear_names()) {
                const at::Tensor w = b.linear(name);
                quant::LayerResult l;
                l.block = i;
                l.name = name;
                l.bits = 4;
                l.param_method = "minmax";
                l.out_features = w.size(0);
                l.in_features = w.size(1);
                l.group_size = w.size(1) % 32 == 0 ? 32 : w.size(1);
                kernels::minmax_params(w, 4, l.group_size, 1.0, &l.scale, &l.zero);
                l.codes = kernels::quantize(w, l.scale, l.zero, 4, l.group_size).to(at::kByte);
                l.hessian_diag = (w.to(at::kDouble) * w.to(at::kDouble)).sum(0);
                qm.layers.push_back(l);
            }
        }
        session_ = path("run.h5");
        session::write_session(qm, session_.toStdString());
        qInfo("session of stories260K (35 layers, 4-bit g32): %lld bytes",
              QFileInfo(session_).size());
    }

    void export_gguf_and_inspect()
    {
        QString out;
        const QString gguf_path = path("model.gguf");
        QCOMPARE(run({"export", "--session", session_, "--model", model_, "--tokenizer", tok_,
                      "--format", "gguf", "--embedding", "q8_0", "--out", gguf_path},
                     &out),
                 0);
        qInfo().noquote() << out.trimmed();
        QVERIFY2(out.contains("Q4_1") && out.contains("warning: blk.0.ffn_down.weight"),
                 qPrintable(out));
        const gguf::File f = gguf::read(gguf_path.toStdString());
        QCOMPARE(f.tensors.size(), size_t(47));
        QCOMPARE(f.tensor("blk.0.attn_q.weight")->type, gguf::TensorType::Q4_1);
        QCOMPARE(f.tensor("token_embd.weight")->type, gguf::TensorType::Q8_0);
        QCOMPARE(run({"inspect", gguf_path}, &out), 0);
        QVERIFY2(out.contains("GGUF v3") && out.contains("blk.4.ffn_up.weight") &&
                     out.contains("llama.block_count"),
                 qPrintable(out));
    }

    // Outputs get the permissions any program's files get (0666 / 0777 minus the umask): a session
    // (mkstemp made it 0600 before), a GGUF file and a packed checkpoint folder (mkdtemp: 0700).
    void outputs_follow_the_umask()
    {
        const mode_t old = ::umask(027);
        struct Restore {
            mode_t m;
            ~Restore() { ::umask(m); }
        } restore{old};
        auto mode = [](const QString& p) {
            struct stat st {};
            return ::stat(p.toLocal8Bit().constData(), &st) == 0 ? int(st.st_mode & 07777) : -1;
        };
        const QString s = path("umask.h5");
        session::write_session(session::read_session(session_.toStdString()), s.toStdString());
        QCOMPARE(mode(s), 0640);
        QString out;
        const QString g = path("umask.gguf");
        QCOMPARE(run({"export", "--session", session_, "--model", model_, "--tokenizer", tok_,
                      "--format", "gguf", "--out", g},
                     &out),
                 0);
        QCOMPARE(mode(g), 0640);
        const QString d = path("umask-packed");
        QCOMPARE(run({"export", "--session", session_, "--model", model_, "--tokenizer", tok_,
                      "--format", "packed", "--out", d},
                     &out),
                 0);
        QCOMPARE(mode(d), 0750);
        const QStringList files = QDir(d).entryList(QDir::Files);
        QVERIFY(!files.isEmpty());
        for (const QString& f : files)
            QCOMPARE(mode(QDir(d).filePath(f)), 0640);
    }

    void export_imatrix()
    {
        QString out;
        const QString im = path("imatrix.gguf");
        QCOMPARE(run({"export", "--session", session_, "--format", "imatrix", "--out", im}, &out),
                 0);
        const gguf::File f = gguf::read(im.toStdString());
        QCOMPARE(f.find("general.type")->s, std::string("imatrix"));
        QCOMPARE(f.tensors.size(), size_t(5 * 7 * 2));
    }

    void inspect_session()
    {
        QString out;
        QCOMPARE(run({"inspect", session_}, &out), 0);
        QVERIFY2(out.contains("ZeroPoint session") && out.contains("rtn-minmax") &&
                     out.contains("tinystories/quantized = 12.2500") && out.contains("down_proj"),
                 qPrintable(out));
    }

    // quantize --preset / export --preset on stories260K (width 64, FFN 172): the row lengths
    // force llama-quantize's fallbacks (Q2_K -> Q4_0; 172 is not whole 32-blocks -> F16), which
    // the file shows tensor by tensor; the file holds the session's bytes; a session quantized
    // without the preset, or for another one, and an unknown preset are refused with no output.
    void preset_export()
    {
        QString out;
        const QString s = path("q2k.h5"), g = path("q2k.gguf");
        QCOMPARE(run({"quantize", "--model", model_, "--tokenizer", tok_, "--method", "rtn-neuqi",
                      "--preset", "q2_k", "--out", s},
                     &out),
                 0);
        QVERIFY2(out.contains("preset Q2_K") && out.contains("Q4_0") &&
                     out.contains("kept in full precision"),
                 qPrintable(out));
        QCOMPARE(run({"export", "--session", s, "--model", model_, "--tokenizer", tok_, "--format",
                      "gguf", "--preset", "Q2_K", "--out", g},
                     &out),
                 0);
        const gguf::File f = gguf::read(g.toStdString());
        QCOMPARE(f.tensor("blk.0.attn_v.weight")->type, gguf::TensorType::Q4_0);
        QCOMPARE(f.tensor("blk.0.ffn_up.weight")->type, gguf::TensorType::Q4_0);
        QCOMPARE(f.tensor("blk.0.ffn_down.weight")->type, gguf::TensorType::F16);
        QCOMPARE(f.tensor("token_embd.weight")->type, gguf::TensorType::Q8_0);
        QCOMPARE(f.tensor("blk.0.attn_norm.weight")->type, gguf::TensorType::F32);
        const quant::QuantizedModel qm = session::read_session(s.toStdString());
        const quant::LayerResult* up = qm.find(2, "up_proj");
        QVERIFY(up && up->encoded.defined() && up->encoding == gguf::TensorType::Q4_0);
        const std::vector<uint8_t> bytes = f.read_data(*f.tensor("blk.2.ffn_up.weight"));
        QCOMPARE(static_cast<int64_t>(bytes.size()), up->encoded.numel());
        QVERIFY(std::memcmp(bytes.data(), up->encoded.data_ptr<uint8_t>(), bytes.size()) == 0);

        QCOMPARE(run({"export", "--session", session_, "--model", model_, "--tokenizer", tok_,
                      "--format", "gguf", "--preset", "Q2_K", "--out", path("no1.gguf")},
                     &out),
                 1);
        QVERIFY2(out.contains("without a preset") && out.contains("--preset Q2_K"),
                 qPrintable(out));
        QCOMPARE(run({"export", "--session", s, "--model", model_, "--tokenizer", tok_, "--format",
                      "gguf", "--preset", "Q4_K_M", "--out", path("no2.gguf")},
                     &out),
                 1);
        QVERIFY2(out.contains("quantized for Q4_0") && out.contains("Q5_0"), qPrintable(out));
        QCOMPARE(run({"quantize", "--model", model_, "--tokenizer", tok_, "--preset", "Q7_K",
                      "--out", path("no3.h5")},
                     &out),
                 1);
        QVERIFY2(out.contains("Q7_K") && out.contains("Q4_K_M"), qPrintable(out));
        for (const char* f2 : {"no1.gguf", "no2.gguf", "no3.h5"})
            QVERIFY(!QFileInfo::exists(path(f2)));
    }

    void bad_inputs_fail_cleanly()
    {
        QString out;
        // Not a session.
        QCOMPARE(run({"export", "--session", model_, "--model", model_, "--tokenizer", tok_,
                      "--out", path("x.gguf")},
                     &out),
                 1);
        QVERIFY2(out.contains("not an HDF5 file"), qPrintable(out));
        QVERIFY(!QFileInfo::exists(path("x.gguf")));
        // gguf without a model.
        QCOMPARE(run({"export", "--session", session_, "--out", path("y.gguf")}, &out), 1);
        QVERIFY2(out.contains("--model"), qPrintable(out));
        QVERIFY(!QFileInfo::exists(path("y.gguf")));
        // inspect of a missing file.
        QCOMPARE(run({"inspect", path("missing.h5")}, &out), 1);
        QVERIFY2(out.contains("missing.h5"), qPrintable(out));
    }
};

QTEST_GUILESS_MAIN(TestExportCli)
#include "tst_export_cli.moc"
