// HDF5 session files: a QuantizedModel written and read back is identical (every figure, every
// tensor with its dtype and shape); truncated, damaged, foreign and non-HDF5 files are refused with
// a FormatError naming the file (and the object where there is one). Skips without HDF5.
// The precompiled header may already hold Qt, whose `slots` macro breaks ATen's headers.
#undef slots
#include <ATen/ATen.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "core/common/error.h"
#include "core/export/session.h"
#include "core/formats/gguf.h"
#include "core/formats/hdf5.h"
#include "core/quant/kquant_search.h"
#include "core/quant/quantizer.h"
#include "core/quant/result.h"
#include "tests/common/test_util.h"

#include <QDir>
#include <QTemporaryDir>
#include <QtTest/QtTest>

using namespace zp;

namespace {

// W_hat from a layer's affine view (codes, scale, zero), written out here: scale * (code - zero)
// per group of group_size columns.
at::Tensor kernels_free_dequantize(const quant::LayerResult& l)
{
    const at::Tensor s = l.scale.repeat_interleave(l.group_size, 1);
    const at::Tensor z = l.zero.repeat_interleave(l.group_size, 1);
    return s * (l.codes.to(at::kFloat) - z);
}

quant::QuantizedModel make_result(int64_t rows, int64_t cols)
{
    quant::QuantizedModel qm;
    auto& c = qm.config;
    c.model_path = "/models/stories260K.bin";
    c.model_config_hash = "3f2a9c";
    c.calibration_source = "tinystories_val.txt";
    c.calibration_samples = 128;
    c.calibration_seqlen = 2048;
    c.seed = 0xFFFFFFFFFFFFFFF0ull;  // needs all 64 bits
    c.method = "gptq-neuqi";
    c.bits = 3;
    c.group_size = -1;
    c.software_version = "0.1.0";
    c.extra["override.down_proj"] = "skip";
    c.extra["note"] = "";
    qm.perplexity["wikitext2/original"] = 10.123456789012345;
    qm.perplexity["wikitext2/quantized"] = 11.5;
    const char* names[] = {"q_proj", "down_proj", "up_proj"};
    for (int i = 0; i < 3; ++i) {
        quant::LayerResult l;
        l.block = i;
        l.name = names[i];
        l.algorithm = i == 1 ? quant::Algorithm::RTN : quant::Algorithm::GPTQ;
        l.param_method = i == 0 ? "neuqi" : "minmax";
        l.bits = 3;
        l.group_size = i == 2 ? cols : 32;
        l.out_features = rows;
        l.in_features = cols;
        l.skipped = i == 1;
        if (!l.skipped) {
            const int64_t groups = cols / l.group_size;
            l.scale =
                test::make_weights("laplace", rows, groups, 7 + i).to(at::kFloat).abs() + 1e-3;
            l.zero = test::make_weights("gaussian", rows, groups, 8 + i).to(at::kFloat) * 100;
            l.codes = (test::make_weights("gaussian", rows, cols, 9 + i).abs() * 300)
                          .clamp(0, 7)
                          .to(at::kByte);
            l.hessian_diag = test::make_weights("laplace", 1, cols, 10 + i).reshape({cols}).abs();
        }
        l.diag_loss = 1.0 / 3.0 + i;
        l.diag_loss_minmax = 2.0 / 7.0;
        l.proxy_loss = i == 1 ? -1.0 : 1e-300;
        l.proxy_loss_rtn_minmax = 5e300;
        l.relative_weight_error = 0.0123;
        l.seconds = 1.5;
        qm.layers.push_back(l);
    }
    return qm;
}

// One layer of a 576-wide synthetic model quantized for real in groups of 128: 4 groups of 128
// and a last one of 64 (SmolLM2-135M's hidden size), scale and zero [rows, 5].
quant::LayerResult partial_group_layer(int64_t rows)
{
    const int64_t cols = 576;
    const at::Tensor W = test::make_weights("laplace", rows, cols, 21).to(at::kFloat);
    quant::QuantConfig c;
    c.method = quant::Method::NeUQI;
    c.bits = 3;
    c.group_size = 128;
    c.grid = 256;
    c.coarse = 16;
    const quant::LayerQuant q = quant::quantize_layer(W, at::Tensor(), c, "synthetic");
    quant::LayerResult l;
    l.block = 0;
    l.name = "q_proj";
    l.param_method = "neuqi";
    l.bits = 3;
    l.group_size = q.group_size;
    l.out_features = rows;
    l.in_features = cols;
    l.scale = q.scale;
    l.zero = q.zero;
    l.codes = q.codes;
    l.hessian_diag = q.importance;
    l.diag_loss = q.diagnostics.diag_loss;
    l.diag_loss_minmax = q.diagnostics.diag_loss_minmax;
    return l;
}

bool same_tensor(const at::Tensor& a, const at::Tensor& b)
{
    if (a.defined() != b.defined())
        return false;
    if (!a.defined())
        return true;
    return a.scalar_type() == b.scalar_type() && a.sizes() == b.sizes() && at::equal(a, b);
}

void write_bytes(const std::string& path, const std::string& bytes)
{
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_bytes(const std::string& path)
{
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

class TestSession : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    std::string file(const std::string& name) const
    {
        return (tmp_.path() + "/").toStdString() + name;
    }

    void expect_format_error(const std::string& path, const QString& needle)
    {
        try {
            session::read_session(path);
            QFAIL("read_session accepted a bad file");
        } catch (const FormatError& e) {
            const QString msg = QString::fromUtf8(e.what());
            QVERIFY2(msg.contains(QString::fromStdString(path)), qPrintable(msg));
            QVERIFY2(msg.contains(needle), qPrintable(msg + " (expected: " + needle + ")"));
        }
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(tmp_.isValid());
        if (!session::available())
            QSKIP("built without HDF5: session files are not available");
    }

    void round_trip_is_exact()
    {
        const quant::QuantizedModel a = make_result(96, 256);
        const std::string path = file("run.h5");
        session::write_session(a, path);
        const quant::QuantizedModel b = session::read_session(path);
        QCOMPARE(b.config.model_path, a.config.model_path);
        QCOMPARE(b.config.model_config_hash, a.config.model_config_hash);
        QCOMPARE(b.config.calibration_source, a.config.calibration_source);
        QCOMPARE(b.config.calibration_samples, a.config.calibration_samples);
        QCOMPARE(b.config.calibration_seqlen, a.config.calibration_seqlen);
        QCOMPARE(b.config.seed, a.config.seed);
        QCOMPARE(b.config.method, a.config.method);
        QCOMPARE(b.config.bits, a.config.bits);
        QCOMPARE(b.config.group_size, a.config.group_size);
        QCOMPARE(b.config.software_version, a.config.software_version);
        QVERIFY(b.config.extra == a.config.extra);
        QVERIFY(b.perplexity == a.perplexity);  // exact doubles
        QCOMPARE(b.layers.size(), a.layers.size());
        for (size_t i = 0; i < a.layers.size(); ++i) {
            const auto& x = a.layers[i];
            const auto& y = b.layers[i];
            QCOMPARE(y.block, x.block);
            QCOMPARE(y.name, x.name);
            QVERIFY(y.algorithm == x.algorithm);
            QCOMPARE(y.param_method, x.param_method);
            QCOMPARE(y.bits, x.bits);
            QCOMPARE(y.group_size, x.group_size);
            QCOMPARE(y.skipped, x.skipped);
            QCOMPARE(y.out_features, x.out_features);
            QCOMPARE(y.in_features, x.in_features);
            QCOMPARE(y.diag_loss, x.diag_loss);
            QCOMPARE(y.diag_loss_minmax, x.diag_loss_minmax);
            QCOMPARE(y.proxy_loss, x.proxy_loss);
            QCOMPARE(y.proxy_loss_rtn_minmax, x.proxy_loss_rtn_minmax);
            QCOMPARE(y.relative_weight_error, x.relative_weight_error);
            QCOMPARE(y.seconds, x.seconds);
            QVERIFY(same_tensor(y.scale, x.scale));
            QVERIFY(same_tensor(y.zero, x.zero));
            QVERIFY(same_tensor(y.codes, x.codes));
            QVERIFY(same_tensor(y.hessian_diag, x.hessian_diag));
        }
        const std::string text = session::summarize(b);
        QVERIFY(text.find("gptq-neuqi") != std::string::npos);
        QVERIFY(text.find("wikitext2/quantized = 11.5000") != std::string::npos);
        QVERIFY(text.find("skipped") != std::string::npos);
    }

    void empty_result_round_trips()
    {
        quant::QuantizedModel a;
        session::write_session(a, file("empty.h5"));
        const quant::QuantizedModel b = session::read_session(file("empty.h5"));
        QVERIFY(b.layers.empty());
        QVERIFY(b.perplexity.empty());
        QVERIFY(b.config.extra.empty());
    }

    void write_is_atomic()
    {
        const std::string path = file("atomic/run.h5");
        QVERIFY(QDir().mkpath(QString::fromStdString(file("atomic"))));
        write_bytes(path, "old content");
        session::write_session(make_result(8, 64), path);
        QCOMPARE(session::read_session(path).layers.size(), size_t(3));
        QCOMPARE(QDir(QString::fromStdString(file("atomic"))).entryList(QDir::Files).size(), 1);
        // A write that fails (unstorable dtype) leaves the old file and no temporary.
        quant::QuantizedModel bad = make_result(8, 64);
        bad.layers[0].codes = bad.layers[0].codes.to(at::kHalf);
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, session::write_session(bad, path));
        QCOMPARE(session::read_session(path).layers.size(), size_t(3));
        QCOMPARE(QDir(QString::fromStdString(file("atomic"))).entryList(QDir::Files).size(), 1);
        QVERIFY_THROWS_EXCEPTION(IoError, session::write_session(bad, file("no/such/dir/run.h5")));
    }

    void truncated_file()
    {
        session::write_session(make_result(256, 512), file("full.h5"));
        const std::string bytes = read_bytes(file("full.h5"));
        for (double frac : {0.9, 0.5, 0.1}) {
            const std::string path = file("cut.h5");
            write_bytes(path, bytes.substr(0, static_cast<size_t>(bytes.size() * frac)));
            expect_format_error(path, "");
        }
    }

    void damaged_file()
    {
        // A flipped byte anywhere (19 places) is either refused with a FormatError (data chunks and
        // metadata carry checksums) or lands in unused space and changes nothing: never wrong
        // numbers.
        const quant::QuantizedModel a = make_result(512, 1024);
        session::write_session(a, file("big.h5"));
        const std::string bytes = read_bytes(file("big.h5"));
        int refused = 0;
        for (int k = 1; k < 20; ++k) {
            std::string b = bytes;
            b[b.size() * k / 20] ^= 0x5A;
            write_bytes(file("damaged.h5"), b);
            try {
                const quant::QuantizedModel r = session::read_session(file("damaged.h5"));
                QCOMPARE(r.layers.size(), a.layers.size());
                for (size_t i = 0; i < a.layers.size(); ++i) {
                    QVERIFY(same_tensor(r.layers[i].codes, a.layers[i].codes));
                    QVERIFY(same_tensor(r.layers[i].scale, a.layers[i].scale));
                    QVERIFY(same_tensor(r.layers[i].zero, a.layers[i].zero));
                    QVERIFY(same_tensor(r.layers[i].hessian_diag, a.layers[i].hessian_diag));
                    QCOMPARE(r.layers[i].diag_loss, a.layers[i].diag_loss);
                }
                QVERIFY(r.perplexity == a.perplexity);
            } catch (const FormatError& e) {
                QVERIFY2(QString::fromUtf8(e.what()).contains(
                             QString::fromStdString(file("damaged.h5"))),
                         e.what());
                ++refused;
            }
        }
        qInfo(
            "%d of 19 damaged copies refused, the others hit unused bytes and read back identical",
            refused);
        QVERIFY(refused >= 15);
    }

    void foreign_hdf5_file()
    {
#if !defined(ZP_HAVE_HDF5)
        QSKIP("built without HDF5");
#else
        {
            h5::File f = h5::File::create(file("foreign.h5"));
            f.create_group("data").write_tensor("x", at::arange(10, at::kFloat));
            f.set_string("creator", "someone else");
            f.close();
        }
        expect_format_error(file("foreign.h5"), "not a ZeroPoint session");
        {
            h5::File f = h5::File::create(file("other_schema.h5"));
            f.set_string("schema", "other.tool");
            f.close();
        }
        expect_format_error(file("other_schema.h5"), "other.tool");
        {
            h5::File f = h5::File::create(file("newer.h5"));
            f.set_string("schema", session::kSchema);
            f.set_i64("schema_version", session::kSchemaVersion + 1);
            f.close();
        }
        expect_format_error(file("newer.h5"), "schema_version");
        {
            h5::File f = h5::File::create(file("no_layers.h5"));
            f.set_string("schema", session::kSchema);
            f.set_i64("schema_version", 1);
            f.close();
        }
        expect_format_error(file("no_layers.h5"), "/config");
#endif
    }

    // A group size that does not divide the row (576 = 4 x 128 + 64): scale and zero have
    // ceil(576 / 128) = 5 columns, round-trip exactly, dequantize to the same W_hat, and a file
    // whose scale has the 4 columns of a floor division is refused.
    void partial_groups_round_trip()
    {
        quant::QuantizedModel a;
        a.config.method = "rtn-neuqi";
        a.config.bits = 3;
        a.config.group_size = 128;
        a.layers.push_back(partial_group_layer(24));
        QCOMPARE(a.layers[0].scale.sizes().vec(), std::vector<int64_t>({24, 5}));
        session::write_session(a, file("partial.h5"));
        const quant::QuantizedModel b = session::read_session(file("partial.h5"));
        QCOMPARE(b.layers.size(), size_t(1));
        QCOMPARE(b.config.group_size, int64_t(128));
        QCOMPARE(b.layers[0].group_size, int64_t(128));
        QVERIFY(same_tensor(b.layers[0].scale, a.layers[0].scale));
        QVERIFY(same_tensor(b.layers[0].zero, a.layers[0].zero));
        QVERIFY(same_tensor(b.layers[0].codes, a.layers[0].codes));
        QVERIFY(at::equal(quant::QuantizedModel::dequantize(b.layers[0]),
                          quant::QuantizedModel::dequantize(a.layers[0])));
        quant::QuantizedModel bad = a;
        bad.layers[0].scale = a.layers[0].scale.narrow(1, 0, 4).contiguous();
        bad.layers[0].zero = a.layers[0].zero.narrow(1, 0, 4).contiguous();
        session::write_session(bad, file("partial_floor.h5"));
        expect_format_error(file("partial_floor.h5"), "/layers/000000/scale");
    }

    // A preset's layer (LayerResult::encoded): the GGUF bytes round-trip exactly and still
    // dequantize to what kquant_quantize returned (gguf::dequantize, llama.cpp's arithmetic); the
    // affine view stays within float32 rounding of them; bytes of the wrong length and an unknown
    // type name are refused naming the object.
    void encoded_layer_round_trips()
    {
        const at::Tensor W = test::make_weights("laplace", 16, 512, 11).to(at::kFloat);
        quant::QuantizedModel a;
        a.config.method = "rtn-neuqi";
        a.config.extra["preset"] = "Q4_K_M";
        for (gguf::TensorType t : {gguf::TensorType::Q4_K, gguf::TensorType::Q3_K,
                                   gguf::TensorType::Q5_1, gguf::TensorType::Q8_0}) {
            quant::LayerResult l;
            l.block = static_cast<int64_t>(a.layers.size());
            l.name = "down_proj";
            l.param_method = "neuqi";
            l.out_features = 16;
            l.in_features = 512;
            const quant::KquantResult k = quant::kquant_quantize(W, at::Tensor(), t);
            quant::attach_encoding(l, k);
            QVERIFY(at::equal(quant::QuantizedModel::dequantize(l), k.values));
            const at::Tensor view = kernels_free_dequantize(l);
            const double scale = W.abs().max().item<double>();
            qInfo("type %u: affine view max diff %g", unsigned(t),
                  (view - k.values).abs().max().item<double>());
            QVERIFY2((view - k.values).abs().max().item<double>() <= 1e-5 * scale,
                     "the affine view is not the encoded grid");
            a.layers.push_back(l);
        }
        session::write_session(a, file("encoded.h5"));
        const quant::QuantizedModel b = session::read_session(file("encoded.h5"));
        QCOMPARE(b.layers.size(), a.layers.size());
        for (size_t i = 0; i < a.layers.size(); ++i) {
            QVERIFY(b.layers[i].encoding == a.layers[i].encoding);
            QVERIFY(same_tensor(b.layers[i].encoded, a.layers[i].encoded));
            QVERIFY(at::equal(quant::QuantizedModel::dequantize(b.layers[i]),
                              quant::QuantizedModel::dequantize(a.layers[i])));
        }
        quant::QuantizedModel bad = a;
        bad.layers.resize(1);
        bad.layers[0].encoded = a.layers[0].encoded.narrow(0, 0, 100).clone();
        session::write_session(bad, file("encoded_short.h5"));
        expect_format_error(file("encoded_short.h5"), "/layers/000000/encoded");
    }

    void shapes_must_agree()
    {
        quant::QuantizedModel qm = make_result(8, 64);
        qm.layers[0].in_features = 128;  // contradicts codes [8, 64]
        session::write_session(qm, file("shape.h5"));
        expect_format_error(file("shape.h5"), "/layers/000000/");
    }

    void not_hdf5_and_missing()
    {
        write_bytes(file("text.h5"), "this is not an HDF5 file at all\n");
        expect_format_error(file("text.h5"), "not an HDF5 file");
        write_bytes(file("zero.h5"), "");
        expect_format_error(file("zero.h5"), "");
        QVERIFY_THROWS_EXCEPTION(IoError, session::read_session(file("missing.h5")));
    }
};

QTEST_GUILESS_MAIN(TestSession)
#include "tst_session.moc"
