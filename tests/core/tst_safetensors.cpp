// safetensors reader and writer: round trips of every dtype the engine uses, and one test per way a
// file can lie (each must throw FormatError naming the file and what is wrong).
// The precompiled header may already hold Qt, whose `slots` macro breaks ATen's ivalue headers
// (pulled in by ATen/ops/*): this file uses Q_SLOTS instead.
#undef slots
#include <ATen/TensorOperators.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/equal.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "core/common/error.h"
#include "core/formats/safetensors.h"
#include "tests/common/test_util.h"

#include <QTemporaryDir>
#include <QtTest/QtTest>

using namespace zp;

namespace {

// A file with an explicit header length field (defaults to the true length), header text and
// `data_bytes` zero bytes of data.
void write_raw(const std::string& path, const std::string& header, size_t data_bytes,
               int64_t header_len = -1)
{
    std::ofstream f(path, std::ios::binary);
    const uint64_t n = header_len < 0 ? header.size() : static_cast<uint64_t>(header_len);
    for (int i = 0; i < 8; ++i)
        f.put(static_cast<char>((n >> (8 * i)) & 0xff));
    f << header;
    f << std::string(data_bytes, '\0');
}

}  // namespace

class TestSafetensors : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    std::string file(const char* name) const { return (tmp_.path() + "/" + name).toStdString(); }

private Q_SLOTS:
    void round_trip_data()
    {
        QTest::addColumn<int>("type");
        QTest::addColumn<QString>("dtype");
        QTest::newRow("F32") << int(at::kFloat) << "F32";
        QTest::newRow("F16") << int(at::kHalf) << "F16";
        QTest::newRow("BF16") << int(at::kBFloat16) << "BF16";
        QTest::newRow("I64") << int(at::kLong) << "I64";
        QTest::newRow("F64") << int(at::kDouble) << "F64";
        QTest::newRow("I32") << int(at::kInt) << "I32";
        QTest::newRow("U8") << int(at::kByte) << "U8";
        QTest::newRow("BOOL") << int(at::kBool) << "BOOL";
    }

    void round_trip()
    {
        QFETCH(int, type);
        QFETCH(QString, dtype);
        const auto st = static_cast<at::ScalarType>(type);
        // Values exactly representable in every dtype (small integers, halves) so equality is
        // exact.
        at::Tensor a = (at::arange(24, at::kDouble) * 0.5 - 3.0).reshape({2, 3, 4});
        if (st == at::kBool || st == at::kByte)
            a = at::arange(24, at::kDouble).remainder(2).reshape({2, 3, 4});
        a = a.to(st);
        at::Tensor b = a.transpose(0, 2);  // non-contiguous input
        at::Tensor scalar = a.reshape({-1}).narrow(0, 5, 1).reshape({});
        at::Tensor empty = a.reshape({-1}).narrow(0, 0, 0).reshape({0, 7});
        const std::string path = file("rt.safetensors");
        io::save_safetensors(path, {{"a", a}, {"b.t", b}, {"scalar", scalar}, {"empty", empty}},
                             {{"format", "pt"}, {"note", "round trip"}});
        io::SafetensorsFile f(path);
        QCOMPARE(f.names(), std::vector<std::string>({"a", "b.t", "empty", "scalar"}));
        QCOMPARE(f.metadata().at("note"), std::string("round trip"));
        QCOMPARE(QString::fromStdString(f.info("a").dtype), dtype);
        QCOMPARE(f.info("a").scalar_type, st);
        QCOMPARE(f.info("b.t").shape, std::vector<int64_t>({4, 3, 2}));
        QCOMPARE(f.info("scalar").shape, std::vector<int64_t>{});
        QCOMPARE(f.info("empty").shape, std::vector<int64_t>({0, 7}));
        QVERIFY(at::equal(f.tensor("a"), a));
        QVERIFY(at::equal(f.tensor("b.t"), b.contiguous()));
        QVERIFY(at::equal(f.tensor("scalar"), scalar));
        QCOMPARE(f.tensor("empty").numel(), int64_t(0));
        QVERIFY(f.contains("a"));
        QVERIFY(!f.contains("c"));
    }

    // No temporary file is left next to the target, and a second save replaces the first.
    void atomic_overwrite()
    {
        QTemporaryDir dir;
        const std::string path = (dir.path() + "/m.safetensors").toStdString();
        io::save_safetensors(path, {{"x", at::arange(4, at::kFloat)}});
        io::save_safetensors(path, {{"y", at::arange(6, at::kFloat)}});
        QCOMPARE(QDir(dir.path()).entryList(QDir::Files), QStringList({"m.safetensors"}));
        io::SafetensorsFile f(path);
        QCOMPARE(f.names(), std::vector<std::string>({"y"}));
    }

    void writer_rejects()
    {
        const std::string path = file("bad_write.safetensors");
        at::Tensor x = at::arange(4, at::kFloat);
        QVERIFY_EXCEPTION_THROWN(io::save_safetensors(path, {{"x", x}, {"x", x}}), InvalidArgument);
        QVERIFY_EXCEPTION_THROWN(io::save_safetensors(path, {{"__metadata__", x}}),
                                 InvalidArgument);
        QVERIFY_EXCEPTION_THROWN(io::save_safetensors(path, {{"u", at::Tensor()}}),
                                 InvalidArgument);
        QVERIFY(!QFileInfo::exists(QString::fromStdString(path)));
    }

    void missing_file_is_io_error()
    {
        const std::string path = file("does_not_exist.safetensors");
        try {
            io::SafetensorsFile f(path);
            QFAIL("no exception");
        } catch (const IoError& e) {
            QVERIFY2(std::string(e.what()).find(path) != std::string::npos, e.what());
        }
    }

    void absent_tensor_names_file_and_tensor()
    {
        const std::string path = file("one.safetensors");
        io::save_safetensors(path, {{"x", at::arange(4, at::kFloat)}});
        io::SafetensorsFile f(path);
        try {
            f.info("model.norm.weight");
            QFAIL("no exception");
        } catch (const FormatError& e) {
            const std::string m = e.what();
            QVERIFY2(m.find(path) != std::string::npos &&
                         m.find("model.norm.weight") != std::string::npos,
                     e.what());
        }
    }

    // One row per failure mode: the header (and the header length written, -1 = true length),
    // the data bytes that follow, and words the message must contain besides the file name.
    void rejects_bad_files_data()
    {
        QTest::addColumn<QByteArray>("header");
        QTest::addColumn<int>("data_bytes");
        QTest::addColumn<qint64>("header_len");
        QTest::addColumn<QStringList>("words");
        const QByteArray ok = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
        QTest::newRow("empty-file") << QByteArray() << 0 << qint64(-2) << QStringList{"truncated"};
        QTest::newRow("truncated-data")
            << ok << 10 << qint64(-1) << QStringList{"'w'", "[0, 16]", "outside the data area"};
        QTest::newRow("header-length-beyond-file")
            << ok << 16 << qint64(1 << 20)
            << QStringList{"header length 1048576", "end of the file"};
        QTest::newRow("header-not-json")
            << QByteArray("{\"w\": [") << 0 << qint64(-1) << QStringList{"not valid JSON"};
        QTest::newRow("header-not-object")
            << QByteArray("[1,2]") << 0 << qint64(-1) << QStringList{"not a JSON object"};
        QTest::newRow("offsets-outside-data")
            << QByteArray(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[16,32]}})") << 16
            << qint64(-1) << QStringList{"'w'", "[16, 32]", "outside the data area of 16 bytes"};
        QTest::newRow("offsets-reversed")
            << QByteArray(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})") << 16
            << qint64(-1) << QStringList{"'w'", "end before they begin"};
        QTest::newRow("overlapping-offsets")
            << QByteArray(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                          R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})")
            << 24 << qint64(-1) << QStringList{"'a'", "'b'", "overlap"};
        QTest::newRow("unknown-dtype")
            << QByteArray(R"({"w":{"dtype":"F7","shape":[2,2],"data_offsets":[0,16]}})") << 16
            << qint64(-1) << QStringList{"'w'", "dtype 'F7'"};
        QTest::newRow("shape-bytes-mismatch")
            << QByteArray(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}})") << 16
            << qint64(-1) << QStringList{"'w'", "[2,3]", "24 bytes", "span 16"};
        QTest::newRow("shape-overflow")
            << QByteArray(
                   R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}})")
            << 16 << qint64(-1) << QStringList{"'w'", "more than 2^64"};
        QTest::newRow("negative-dim")
            << QByteArray(R"({"w":{"dtype":"F32","shape":[-1,4],"data_offsets":[0,16]}})") << 16
            << qint64(-1) << QStringList{"'w'", "negative dimension"};
        QTest::newRow("missing-dtype")
            << QByteArray(R"({"w":{"shape":[2,2],"data_offsets":[0,16]}})") << 16 << qint64(-1)
            << QStringList{"'w'", "missing field 'dtype'"};
        QTest::newRow("offsets-not-pair")
            << QByteArray(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0]}})") << 16
            << qint64(-1) << QStringList{"'w'", "data_offsets"};
        QTest::newRow("metadata-not-string")
            << QByteArray(
                   R"({"__metadata__":{"step":5},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})")
            << 16 << qint64(-1) << QStringList{"__metadata__", "'step'", "not a string"};
    }

    void rejects_bad_files()
    {
        QFETCH(QByteArray, header);
        QFETCH(int, data_bytes);
        QFETCH(qint64, header_len);
        QFETCH(QStringList, words);
        const std::string path = file("bad.safetensors");
        if (header_len == -2)
            std::ofstream(path, std::ios::binary) << "abc";  // shorter than the length field
        else
            write_raw(path, header.toStdString(), static_cast<size_t>(data_bytes), header_len);
        try {
            io::SafetensorsFile f(path);
            QFAIL("no exception");
        } catch (const FormatError& e) {
            const QString m = QString::fromUtf8(e.what());
            QVERIFY2(m.contains(QString::fromStdString(path)), e.what());
            for (const QString& w : words)
                QVERIFY2(m.contains(w), qPrintable("'" + w + "' not in: " + m));
        }
    }
};

QTEST_GUILESS_MAIN(TestSafetensors)
#include "tst_safetensors.moc"
