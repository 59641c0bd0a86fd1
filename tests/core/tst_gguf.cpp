// GGUF: block packing (Q4_1/Q5_1/Q8_0, F16/BF16/F32) round trips, writer -> reader round trips,
// one test per malformed file the reader must refuse (FormatError naming the file and the field),
// the llama.cpp test vocabulary read by our reader, and the independent check: llama.cpp's gguf-py
// (PyPI `gguf`) reads every file we export -- synthetic tensors, stories260K quantized by RTN, and
// an imatrix -- and its dequantized weights must equal ZeroPoint's W_hat bit for bit. The
// precompiled header may already hold Qt, whose `slots` macro breaks ATen's headers.
#undef slots
#include <ATen/ATen.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/export/gguf_export.h"
#include "core/formats/gguf.h"
#include "core/formats/gguf_blocks.h"
#include "core/model/model.h"
#include "core/quant/result.h"
#include "core/tokenizer/tokenizer.h"
#include "kernels/quantize.h"
#include "kernels/zero_point.h"
#include "tests/common/test_util.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest/QtTest>

using namespace zp;
using gguf::TensorType;

namespace {

// ---- a hand-made GGUF byte builder, independent of the writer under test ----

struct RawKv {
    std::string key;
    uint32_t type = 0;
    std::string value;  // encoded bytes
};
struct RawTensor {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type = 0;
    uint64_t offset = 0;
    int64_t n_dims = -1;  // -1: ne.size()
    uint64_t bytes = 0;   // data bytes it owns (zeros)
};
struct RawGguf {
    std::string magic = "GGUF";
    uint32_t version = 3;
    int64_t tensor_count = -1, kv_count = -1;  // -1: true counts
    std::vector<RawKv> kvs;
    std::vector<RawTensor> tensors;
    uint64_t alignment = 32;
};

template <typename T>
std::string le(T v)
{
    std::string s(sizeof(T), '\0');
    std::memcpy(s.data(), &v, sizeof(T));
    return s;
}
std::string str(const std::string& s)
{
    return le<uint64_t>(s.size()) + s;
}

std::string build(const RawGguf& g)
{
    std::string b = g.magic + le<uint32_t>(g.version);
    b +=
        le<uint64_t>(g.tensor_count < 0 ? g.tensors.size() : static_cast<uint64_t>(g.tensor_count));
    b += le<uint64_t>(g.kv_count < 0 ? g.kvs.size() : static_cast<uint64_t>(g.kv_count));
    for (const RawKv& kv : g.kvs)
        b += str(kv.key) + le<uint32_t>(kv.type) + kv.value;
    uint64_t data = 0;
    for (const RawTensor& t : g.tensors) {
        b += str(t.name) +
             le<uint32_t>(static_cast<uint32_t>(t.n_dims < 0 ? t.ne.size() : t.n_dims));
        for (uint64_t d : t.ne)
            b += le<uint64_t>(d);
        b += le<uint32_t>(t.type) + le<uint64_t>(t.offset);
        data += (t.bytes + g.alignment - 1) / g.alignment * g.alignment;
    }
    b.resize((b.size() + g.alignment - 1) / g.alignment * g.alignment, '\0');
    b += std::string(data, '\0');
    return b;
}

// A valid file: two metadata keys, an F32 [4, 2] tensor and a Q4_1 [32] tensor.
RawGguf valid_raw()
{
    RawGguf g;
    g.kvs.push_back({"general.architecture", 8, str("llama")});
    g.kvs.push_back({"general.alignment", 4, le<uint32_t>(32)});
    g.tensors.push_back({"a", {4, 2}, 0, 0, -1, 32});
    g.tensors.push_back({"b", {32}, 3, 32, -1, 20});
    return g;
}

void write_bytes(const std::string& path, const std::string& bytes)
{
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void write_f32(const std::string& path, const at::Tensor& t)
{
    const at::Tensor c = t.to(at::kFloat).contiguous();
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.nbytes()));
}

bool bit_equal(const at::Tensor& a, const at::Tensor& b)
{
    const at::Tensor x = a.to(at::kFloat).contiguous(), y = b.to(at::kFloat).contiguous();
    return x.sizes() == y.sizes() && std::memcmp(x.data_ptr(), y.data_ptr(), x.nbytes()) == 0;
}

// Test-side llama q/k permutation, written from core/formats/LAYOUTS.md (independent of the
// exporter's).
at::Tensor permute_rows(const at::Tensor& w, int64_t n_head)
{
    const int64_t hd = w.size(0) / n_head;
    std::vector<int64_t> idx;
    for (int64_t h = 0; h < n_head; ++h)
        for (int64_t i = 0; i < hd / 2; ++i) {
            idx.push_back(h * hd + i);
            idx.push_back(h * hd + i + hd / 2);
        }
    return w.index_select(0, at::tensor(idx, at::kLong));
}

const char* type_name(TensorType t)
{
    return gguf::tensor_type_traits(static_cast<uint32_t>(t)).name;
}

// Min-Max or NeUQI parameters + codes of one weight, as a LayerResult.
quant::LayerResult quantize_layer(const at::Tensor& w, int64_t block, const std::string& name,
                                  int bits, int64_t group, bool neuqi)
{
    quant::LayerResult l;
    l.block = block;
    l.name = name;
    l.bits = bits;
    l.out_features = w.size(0);
    l.in_features = w.size(1);
    // GPTQ's rule: a group size that does not divide the row ends in a shorter group.
    const int64_t g = group > 0 && group < w.size(1) ? group : w.size(1);
    l.group_size = g;
    at::Tensor s, z;
    if (neuqi) {
        kernels::SearchConfig cfg;
        cfg.bits = bits;
        cfg.group_size = g;
        cfg.grid = 256;
        cfg.coarse = 16;
        const at::Tensor h =
            (w.to(at::kDouble) * w.to(at::kDouble)).sum(0) + 1e-3;  // a data-free stand-in
        kernels::SearchResult r = kernels::neuqi_search(w.to(at::kDouble), h, cfg);
        s = r.scale;
        z = r.zero;
        l.param_method = "neuqi";
        l.hessian_diag = h;
    } else {
        kernels::minmax_params(w.to(at::kDouble), bits, g, 1.0, &s, &z);
        l.param_method = "minmax";
        l.hessian_diag = at::ones({w.size(1)}, at::kDouble);
    }
    l.scale = s.to(at::kFloat).contiguous();
    l.zero = z.to(at::kFloat).contiguous();
    l.codes =
        kernels::quantize(w.to(at::kFloat), l.scale, l.zero, bits, g).to(at::kByte).contiguous();
    return l;
}

}  // namespace

using MutFn = std::function<std::string(RawGguf&)>;
Q_DECLARE_METATYPE(MutFn)

class TestGguf : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    std::string file(const std::string& name) const
    {
        return (tmp_.path() + "/").toStdString() + name;
    }

    QString run_python_check(const std::string& manifest_path)
    {
        return test::run_python_reader(
            QFINDTESTDATA("python/check_gguf.py"), {QString::fromStdString(manifest_path)},
            "python3 -m pip install gguf (packaging/setup.sh test does)");
    }
#define ZP_PYTHON_CHECK(manifest) ZP_PYTHON_READER(run_python_check(manifest))

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(tmp_.isValid());
    }

    // ---- blocks ----

    void affine_blocks_round_trip_data()
    {
        QTest::addColumn<int>("bits");
        QTest::addColumn<int>("group");
        QTest::addColumn<bool>("neuqi");
        QTest::addColumn<int>("cols");
        QTest::newRow("2bit/g32/minmax") << 2 << 32 << false << 256;
        QTest::newRow("3bit/g64/neuqi") << 3 << 64 << true << 256;
        QTest::newRow("4bit/g32/neuqi") << 4 << 32 << true << 256;
        QTest::newRow("4bit/channel/minmax") << 4 << -1 << false << 256;
        QTest::newRow("5bit/g128/neuqi") << 5 << 128 << true << 256;
        QTest::newRow("5bit/g32/minmax") << 5 << 32 << false << 256;
        // A shorter last group of whole blocks: 576 = 4 x 128 + 64, 320 = 2 x 128 + 64.
        QTest::newRow("4bit/g128/neuqi/576") << 4 << 128 << true << 576;
        QTest::newRow("3bit/g128/minmax/320") << 3 << 128 << false << 320;
        QTest::newRow("5bit/g96/neuqi/576") << 5 << 96 << true << 576;  // 96 = 3 blocks, 6 groups
    }
    void affine_blocks_round_trip()
    {
        QFETCH(int, bits);
        QFETCH(int, group);
        QFETCH(bool, neuqi);
        QFETCH(int, cols);
        const at::Tensor w = test::make_weights("outlier", 6, cols, 11 + bits).to(at::kFloat);
        const quant::LayerResult l = quantize_layer(w, 0, "q_proj", bits, group, neuqi);
        const at::Tensor what = quant::QuantizedModel::dequantize(l);
        const gguf::AffineBlocks a = gguf::snap_affine(what, l.scale, l.zero, bits, l.group_size);
        // d, m are fp16 values; codes fit the bit width.
        QVERIFY(bit_equal(a.d, a.d.to(at::kHalf)));
        QVERIFY(bit_equal(a.m, a.m.to(at::kHalf)));
        QVERIFY(a.codes.max().item<int64_t>() <= (1 << bits) - 1);
        const TensorType type = gguf::affine_type_for_bits(bits);
        QCOMPARE(type, bits == 5 ? TensorType::Q5_1 : TensorType::Q4_1);
        const std::vector<uint8_t> data = gguf::pack_affine(a, type);
        const size_t bsize = bits == 5 ? 24 : 20;
        QCOMPARE(data.size(), size_t(6 * cols / 32) * bsize);
        const at::Tensor back = gguf::dequantize(data, type, 6, cols);
        QVERIFY(bit_equal(back, a.w_hat));
        // Every block carries its group's (d, m) = (fp16(s), fp16(-s z)), block b of a row being in
        // group b * 32 / g (the last group shorter when g does not divide the row).
        const int64_t g = group < 0 ? cols : group, G = (cols + g - 1) / g;
        QCOMPARE(l.scale.size(1), G);
        for (int64_t r = 0; r < 6; ++r)
            for (int64_t b = 0; b < cols / 32; ++b) {
                uint16_t db, mb;
                std::memcpy(&db, data.data() + (r * cols / 32 + b) * bsize, 2);
                std::memcpy(&mb, data.data() + (r * cols / 32 + b) * bsize + 2, 2);
                const int64_t j = b * 32 / g;
                const float s = l.scale[r][j].item<float>(), z = l.zero[r][j].item<float>();
                QCOMPARE(db, gguf::fp16_bits(s));
                QCOMPARE(mb, gguf::fp16_bits(static_cast<float>(-double(s) * double(z))));
            }
        // The snap moves W_hat by no more than the fp16 rounding of (d, m) allows.
        const double rel = (a.w_hat - what).norm().item<double>() / what.norm().item<double>();
        QVERIFY2(rel < 2e-3, qPrintable(QString::number(rel)));
        // Layout by hand: block 0 of row 0, element j in the low nibble of byte j, j+16 high.
        const uint8_t* blk = data.data();
        const auto* codes = a.codes.data_ptr<uint8_t>();
        const int qs_at = bits == 5 ? 8 : 4;
        uint32_t qh = 0;
        if (bits == 5)
            std::memcpy(&qh, blk + 4, 4);
        for (int j = 0; j < 16; ++j) {
            QCOMPARE(int(blk[qs_at + j] & 0x0F), int(codes[j] & 0x0F));
            QCOMPARE(int(blk[qs_at + j] >> 4), int(codes[j + 16] & 0x0F));
            if (bits == 5) {
                QCOMPARE(int((qh >> j) & 1), int(codes[j] >> 4));
                QCOMPARE(int((qh >> (j + 16)) & 1), int(codes[j + 16] >> 4));
            }
        }
        uint16_t d0;
        std::memcpy(&d0, blk, 2);
        QCOMPARE(gguf::fp16_value(d0), a.d[0][0].item<float>());
    }

    void affine_codes_match_workbench()
    {
        // Encoding the workbench's own W_hat keeps (almost) every code: the fp16 snap moves a value
        // by far less than half a step.
        const at::Tensor w = test::make_weights("gaussian", 16, 128, 5).to(at::kFloat);
        const quant::LayerResult l = quantize_layer(w, 0, "up_proj", 4, 32, true);
        const gguf::LinearEncoding e = gguf::encode_linear(l);
        QCOMPARE(e.type, TensorType::Q4_1);
        QCOMPARE(e.codes_changed, int64_t(0));
        QVERIFY(e.note.empty());
    }

    void q8_0_round_trip()
    {
        const at::Tensor w = test::make_weights("laplace", 5, 96, 3).to(at::kFloat);
        at::Tensor what;
        const std::vector<uint8_t> data = gguf::quantize_q8_0(w, &what);
        QCOMPARE(data.size(), size_t(5 * 3 * 34));
        QVERIFY(bit_equal(gguf::dequantize(data, TensorType::Q8_0, 5, 96), what));
        QVERIFY((what - w).abs().max().item<double>() <= w.abs().max().item<double>() / 127.0);
        // A zero block stays zero (d = 0).
        const std::vector<uint8_t> z = gguf::quantize_q8_0(at::zeros({1, 32}), nullptr);
        QVERIFY(gguf::dequantize(z, TensorType::Q8_0, 1, 32).abs().max().item<float>() == 0.0f);
    }

    void float_round_trip_data()
    {
        QTest::addColumn<int>("type");
        QTest::newRow("F32") << int(TensorType::F32);
        QTest::newRow("F16") << int(TensorType::F16);
        QTest::newRow("BF16") << int(TensorType::BF16);
    }
    void float_round_trip()
    {
        QFETCH(int, type);
        const auto t = static_cast<TensorType>(type);
        const at::Tensor w = test::make_weights("gaussian", 3, 7, 1).to(at::kFloat);
        const at::ScalarType st = t == TensorType::F32   ? at::kFloat
                                  : t == TensorType::F16 ? at::kHalf
                                                         : at::kBFloat16;
        QVERIFY(bit_equal(gguf::dequantize(gguf::encode_float(w, t), t, 3, 7), w.to(st)));
    }

    void fit_rules()
    {
        QVERIFY(gguf::blocks_fit(64, 32));
        QVERIFY(gguf::blocks_fit(128, -1));
        QVERIFY(!gguf::blocks_fit(172, -1));  // stories260K's down_proj
        QVERIFY(!gguf::blocks_fit(96, 48));
        // A group size that does not divide the row: whole blocks when the row and the group are
        // multiples of 32 (then so is the shorter last group).
        QVERIFY(gguf::blocks_fit(576, 128));  // 4 x 128 + 64: SmolLM2's hidden size
        QVERIFY(gguf::blocks_fit(1536, 1024));
        QVERIFY(!gguf::blocks_fit(172, 64));  // 2 x 64 + 44
        QVERIFY(!gguf::blocks_fit(576, 48));
        QCOMPARE(gguf::affine_type_for_bits(3), TensorType::Q4_1);
        QCOMPARE(gguf::affine_type_for_bits(8), TensorType::Q8_0);
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, gguf::affine_type_for_bits(9));
    }

    // ---- container ----

    void writer_reader_round_trip()
    {
        gguf::Writer w;
        w.set("general.alignment", gguf::Value::of_u32(64));
        gguf::Value v;
        const std::vector<gguf::ValueType> scalars = {
            gguf::ValueType::u8,  gguf::ValueType::i8,  gguf::ValueType::u16, gguf::ValueType::i16,
            gguf::ValueType::u32, gguf::ValueType::i32, gguf::ValueType::u64, gguf::ValueType::i64};
        for (size_t k = 0; k < scalars.size(); ++k) {
            gguf::Value s;
            s.type = scalars[k];
            s.u = 200 + k;
            s.i = -100 - static_cast<int64_t>(k);
            w.set("t.scalar" + std::to_string(k), s);
        }
        w.set("t.f32", gguf::Value::of_f32(0.1f));
        gguf::Value f64;
        f64.type = gguf::ValueType::f64;
        f64.f = 0.1;
        w.set("t.f64", f64);
        w.set("t.bool", gguf::Value::of_bool(true));
        w.set("t.string", gguf::Value::of_string(std::string("caf\xc3\xa9 \0x", 8)));
        w.set("t.strings", gguf::Value::of_strings({"a", "", "<0x0A>"}));
        w.set("t.f32s", gguf::Value::of_f32s({1.5f, -2.25f}));
        w.set("t.i32s", gguf::Value::of_i32s({1, -2, 3}));
        gguf::Value empty = gguf::Value::of_strings({});
        w.set("t.empty", empty);

        const at::Tensor a = test::make_weights("gaussian", 4, 64, 2).to(at::kFloat);
        const std::vector<uint8_t> q8 = gguf::quantize_q8_0(a);
        w.add_tensor("q8", {64, 4}, TensorType::Q8_0, q8);
        w.add_tensor("f32", {7}, TensorType::F32,
                     gguf::encode_float(at::arange(7, at::kFloat), TensorType::F32));
        w.add_tensor(
            "f16_3d", {2, 3, 4}, TensorType::F16,
            gguf::encode_float(at::arange(24, at::kFloat).reshape({4, 3, 2}), TensorType::F16));
        const uint64_t size = w.write(file("rt.gguf"));
        QCOMPARE(QFileInfo(QString::fromStdString(file("rt.gguf"))).size(), qint64(size));

        const gguf::File f = gguf::read(file("rt.gguf"));
        QCOMPARE(f.version, 3u);
        QCOMPARE(f.alignment, uint64_t(64));
        QCOMPARE(f.data_offset % 64, uint64_t(0));
        for (size_t k = 0; k < scalars.size(); ++k) {
            const gguf::Value* s = f.find("t.scalar" + std::to_string(k));
            QVERIFY(s);
            QCOMPARE(s->type, scalars[k]);
            const bool is_signed =
                scalars[k] == gguf::ValueType::i8 || scalars[k] == gguf::ValueType::i16 ||
                scalars[k] == gguf::ValueType::i32 || scalars[k] == gguf::ValueType::i64;
            if (is_signed)
                QCOMPARE(s->i, -100 - static_cast<int64_t>(k));
            else
                QCOMPARE(s->u, uint64_t(200 + k));
        }
        QCOMPARE(float(f.find("t.f32")->f), 0.1f);
        QCOMPARE(f.find("t.f64")->f, 0.1);
        QCOMPARE(f.find("t.bool")->b, true);
        QCOMPARE(f.find("t.string")->s, std::string("caf\xc3\xa9 \0x", 8));
        QCOMPARE(f.find("t.strings")->as, (std::vector<std::string>{"a", "", "<0x0A>"}));
        QCOMPARE(f.find("t.f32s")->af, (std::vector<double>{1.5, -2.25}));
        QCOMPARE(f.find("t.i32s")->ai, (std::vector<int64_t>{1, -2, 3}));
        QCOMPARE(f.find("t.empty")->array_size(), size_t(0));
        QCOMPARE(f.kv.size(), size_t(8 + 9));
        QCOMPARE(f.tensors.size(), size_t(3));
        QCOMPARE(f.tensors[0].offset, uint64_t(0));
        QCOMPARE(f.tensors[1].offset, uint64_t(320));  // 272 bytes padded to 64
        QVERIFY(f.read_data(*f.tensor("q8")) == q8);
        QVERIFY(bit_equal(gguf::dequantize(f.read_data(*f.tensor("f32")), TensorType::F32, 1, 7),
                          at::arange(7, at::kFloat).reshape({1, 7})));
        QCOMPARE(f.tensor("f16_3d")->ne, (std::vector<uint64_t>{2, 3, 4}));
    }

    void writer_refuses_bad_input()
    {
        gguf::Writer w;
        QVERIFY_THROWS_EXCEPTION(
            InvalidArgument, w.add_tensor("x", {33}, TensorType::Q8_0, std::vector<uint8_t>(34)));
        QVERIFY_THROWS_EXCEPTION(
            InvalidArgument, w.add_tensor("x", {32}, TensorType::Q8_0, std::vector<uint8_t>(33)));
        QVERIFY_THROWS_EXCEPTION(
            InvalidArgument,
            w.add_tensor(std::string(64, 'n'), {1}, TensorType::F32, std::vector<uint8_t>(4)));
        QVERIFY_THROWS_EXCEPTION(
            InvalidArgument,
            w.add_tensor("x", {1, 1, 1, 1, 1}, TensorType::F32, std::vector<uint8_t>(4)));
        w.add_tensor("x", {1}, TensorType::F32, std::vector<uint8_t>(4));
        QVERIFY_THROWS_EXCEPTION(InvalidArgument,
                                 w.add_tensor("x", {1}, TensorType::F32, std::vector<uint8_t>(4)));
        QVERIFY_THROWS_EXCEPTION(InvalidArgument,
                                 w.set("general.alignment", gguf::Value::of_u32(48)));
        // A failed write leaves no file behind.
        QVERIFY_THROWS_EXCEPTION(IoError, w.write(file("no/such/dir/x.gguf")));
    }

    // Streaming: tensors given as producers (encoded while write() runs) give the same bytes as
    // tensors held in memory; a producer that throws, returns the wrong size, or a cancel through
    // the progress callback leaves no file (and no temporary) behind.
    void streamed_write_matches_in_memory()
    {
        const at::Tensor a = test::make_weights("gaussian", 8, 64, 5).to(at::kFloat);
        const at::Tensor b = test::make_weights("outlier", 3, 96, 6).to(at::kFloat);
        struct T {
            std::string name;
            std::vector<uint64_t> ne;
            TensorType type;
            std::vector<uint8_t> data;
        };
        const std::vector<T> ts = {
            {"q8", {64, 8}, TensorType::Q8_0, gguf::quantize_q8_0(a)},
            {"f32",
             {7},
             TensorType::F32,
             gguf::encode_float(at::arange(7, at::kFloat), TensorType::F32)},
            {"f16", {96, 3}, TensorType::F16, gguf::encode_float(b, TensorType::F16)},
            {"bf16", {64, 8}, TensorType::BF16, gguf::encode_float(a, TensorType::BF16)},
        };
        auto meta = [](gguf::Writer& w) {
            w.set("general.architecture", gguf::Value::of_string("llama"));
            w.set("t.strings", gguf::Value::of_strings({"a", "bc", ""}));
            w.set("general.alignment", gguf::Value::of_u32(64));
        };
        auto read_all = [](const std::string& path) {
            std::ifstream in(path, std::ios::binary);
            return std::string(std::istreambuf_iterator<char>(in), {});
        };
        gguf::Writer mem;
        meta(mem);
        for (const T& t : ts)
            mem.add_tensor(t.name, t.ne, t.type, t.data);
        const uint64_t mem_size = mem.write(file("mem.gguf"));

        // All streamed, then mixed (in-memory and streamed tensors in one file).
        for (int mixed = 0; mixed < 2; ++mixed) {
            gguf::Writer st;
            meta(st);
            int produced = 0;
            std::vector<std::string> stages;
            for (size_t k = 0; k < ts.size(); ++k) {
                if (mixed && k % 2 == 0) {
                    st.add_tensor(ts[k].name, ts[k].ne, ts[k].type, ts[k].data);
                    continue;
                }
                const T* t = &ts[k];
                st.add_tensor(t->name, t->ne, t->type, gguf::TensorProducer([t, &produced] {
                                  ++produced;
                                  return t->data;
                              }));
            }
            QCOMPARE(produced, 0);  // nothing is encoded before write()
            const std::string out = file("stream" + std::to_string(mixed) + ".gguf");
            const uint64_t size =
                st.write(out, [&](double done, double total, const std::string& s) {
                    stages.push_back(s);
                    return done <= total;
                });
            QCOMPARE(produced, mixed ? 2 : 4);
            QCOMPARE(size, mem_size);
            QVERIFY(read_all(out) == read_all(file("mem.gguf")));
            QCOMPARE(stages, (std::vector<std::string>{"q8", "f32", "f16", "bf16", "written"}));
        }

        auto no_file_left = [this](const std::string& name) {
            const QDir dir(tmp_.path());
            for (const QString& e : dir.entryList(QDir::Files))
                if (e.startsWith(QString::fromStdString(name)))
                    return false;
            return true;
        };
        {
            // A producer that throws after some data is already on disk: no file, no temporary.
            gguf::Writer w;
            meta(w);
            w.add_tensor("ok", ts[0].ne, ts[0].type, ts[0].data);
            w.add_tensor("bad", {7}, TensorType::F32,
                         gguf::TensorProducer([]() -> std::vector<uint8_t> {
                             throw NumericError("producer failed");
                         }));
            QVERIFY_THROWS_EXCEPTION(NumericError, w.write(file("throws.gguf")));
            QVERIFY(no_file_left("throws.gguf"));
        }
        {
            gguf::Writer w;
            w.add_tensor("short", {7}, TensorType::F32,
                         gguf::TensorProducer([] { return std::vector<uint8_t>(27); }));
            QVERIFY_THROWS_EXCEPTION(InvalidArgument, w.write(file("short.gguf")));
            QVERIFY(no_file_left("short.gguf"));
            QVERIFY_THROWS_EXCEPTION(InvalidArgument, w.add_tensor("null", {7}, TensorType::F32,
                                                                   gguf::TensorProducer{}));
        }
        {
            // Cancel through progress, at the second tensor: Cancelled, the producer not called.
            gguf::Writer w;
            meta(w);
            int produced = 0;
            for (const T& t : ts)
                w.add_tensor(t.name, t.ne, t.type, gguf::TensorProducer([&t, &produced] {
                                 ++produced;
                                 return t.data;
                             }));
            QVERIFY_THROWS_EXCEPTION(
                Cancelled,
                w.write(file("cancel.gguf"),
                        [](double done, double, const std::string&) { return done < 1; }));
            QCOMPARE(produced, 1);
            QVERIFY(no_file_left("cancel.gguf"));
        }
    }

    void valid_raw_file_reads()
    {
        write_bytes(file("raw.gguf"), build(valid_raw()));
        const gguf::File f = gguf::read(file("raw.gguf"));
        QCOMPARE(f.tensors.size(), size_t(2));
        QCOMPARE(f.find("general.architecture")->s, std::string("llama"));
        QCOMPARE(f.tensor("b")->bytes, uint64_t(20));
    }

    void malformed_data()
    {
        using Mut =
            std::function<std::string(RawGguf&)>;  // edits the file, may post-edit the bytes
        QTest::addColumn<Mut>("mutate");
        QTest::addColumn<QString>("expected");
        auto built = [](RawGguf& g) { return build(g); };
        QTest::newRow("empty file") << Mut([](RawGguf&) { return std::string(); }) << "magic";
        QTest::newRow("magic") << Mut([=](RawGguf& g) {
            g.magic = "GGML";
            return built(g);
        }) << "magic";
        QTest::newRow("version 2") << Mut([=](RawGguf& g) {
            g.version = 2;
            return built(g);
        }) << "version";
        QTest::newRow("version 4") << Mut([=](RawGguf& g) {
            g.version = 4;
            return built(g);
        }) << "version";
        QTest::newRow("truncated header") << Mut([=](RawGguf& g) {
            g.tensors.clear();
            g.kvs.resize(1);
            return built(g).substr(0, 24 + 8 + 20 + 4 + 3);  // inside the value's length
        }) << "truncated";
        QTest::newRow("kv_count too large") << Mut([=](RawGguf& g) {
            g.kv_count = int64_t(1) << 40;
            return built(g);
        }) << "kv_count";
        QTest::newRow("tensor_count too large") << Mut([=](RawGguf& g) {
            g.tensor_count = int64_t(1) << 40;
            return built(g);
        }) << "tensor_count";
        QTest::newRow("key length past end") << Mut([=](RawGguf& g) {
            std::string b = built(g);
            const uint64_t n = uint64_t(1) << 40;
            std::memcpy(&b[24], &n, 8);  // the first key's length
            return b;
        }) << "key/value #0 key";
        QTest::newRow("string value past end") << Mut([=](RawGguf& g) {
            g.kvs[0].value = le<uint64_t>(1000000) + "llama";
            return built(g);
        }) << "general.architecture";
        QTest::newRow("unknown value type") << Mut([=](RawGguf& g) {
            g.kvs[0].type = 13;
            return built(g);
        }) << "value type 13";
        QTest::newRow("array of arrays") << Mut([=](RawGguf& g) {
            g.kvs.push_back({"x.nested", 9, le<uint32_t>(9) + le<uint64_t>(0)});
            return built(g);
        }) << "array of arrays";
        QTest::newRow("array element type") << Mut([=](RawGguf& g) {
            g.kvs.push_back({"x.arr", 9, le<uint32_t>(77) + le<uint64_t>(0)});
            return built(g);
        }) << "element type 77";
        QTest::newRow("array length past end") << Mut([=](RawGguf& g) {
            g.kvs.push_back({"x.arr", 9, le<uint32_t>(4) + le<uint64_t>(uint64_t(1) << 40)});
            return built(g);
        }) << "x.arr";
        QTest::newRow("bool not 0/1") << Mut([=](RawGguf& g) {
            g.kvs.push_back({"x.flag", 7, std::string(1, '\x02')});
            return built(g);
        }) << "bool value 2";
        QTest::newRow("duplicate key") << Mut([=](RawGguf& g) {
            g.kvs.push_back(g.kvs[0]);
            return built(g);
        }) << "duplicate key";
        QTest::newRow("empty key") << Mut([=](RawGguf& g) {
            g.kvs[0].key = "";
            return built(g);
        }) << "empty key";
        QTest::newRow("alignment not a power of two") << Mut([=](RawGguf& g) {
            g.kvs[1].value = le<uint32_t>(48);
            return built(g);
        }) << "general.alignment";
        QTest::newRow("alignment zero") << Mut([=](RawGguf& g) {
            g.kvs[1].value = le<uint32_t>(0);
            return built(g);
        }) << "general.alignment";
        QTest::newRow("alignment not u32") << Mut([=](RawGguf& g) {
            g.kvs[1] = {"general.alignment", 10, le<uint64_t>(32)};
            return built(g);
        }) << "expected u32";
        QTest::newRow("n_dims 5") << Mut([=](RawGguf& g) {
            g.tensors[0].ne = {4, 2, 1, 1, 1};
            return built(g);
        }) << "tensor a n_dims";
        QTest::newRow("n_dims 0") << Mut([=](RawGguf& g) {
            g.tensors[0].ne = {};
            return built(g);
        }) << "tensor a n_dims";
        QTest::newRow("dimension negative") << Mut([=](RawGguf& g) {
            g.tensors[0].ne = {uint64_t(1) << 63, 1};
            return built(g);
        }) << "negative";
        QTest::newRow("element count overflow") << Mut([=](RawGguf& g) {
            g.tensors[0].ne = {uint64_t(1) << 40, uint64_t(1) << 40};
            return built(g);
        }) << "overflow";
        QTest::newRow("unknown type id") << Mut([=](RawGguf& g) {
            g.tensors[1].type = 4;
            return built(g);
        }) << "type id 4";
        QTest::newRow("row not whole blocks") << Mut([=](RawGguf& g) {
            g.tensors[1].ne = {16};
            return built(g);
        }) << "tensor b ne[0]";
        QTest::newRow("offset not aligned") << Mut([=](RawGguf& g) {
            g.tensors[1].offset = 16;
            return built(g);
        }) << "not a multiple of the alignment";
        QTest::newRow("offset not the running sum") << Mut([=](RawGguf& g) {
            g.tensors[1].offset = 64;
            return built(g);
        }) << "expected 32";
        QTest::newRow("tensor data past end") << Mut([=](RawGguf& g) {
            std::string b = built(g);
            b.resize(b.size() - 16);
            return b;
        }) << "tensor b data";
        QTest::newRow("name too long") << Mut([=](RawGguf& g) {
            g.tensors[0].name = std::string(64, 'w');
            return built(g);
        }) << "name has 64 bytes";
        QTest::newRow("empty tensor name") << Mut([=](RawGguf& g) {
            g.tensors[0].name = "";
            return built(g);
        }) << "empty name";
        QTest::newRow("duplicate tensor name") << Mut([=](RawGguf& g) {
            g.tensors[1].name = "a";
            return built(g);
        }) << "duplicate tensor name";
    }
    void malformed()
    {
        QFETCH(MutFn, mutate);
        QFETCH(QString, expected);
        RawGguf g = valid_raw();
        const std::string path = file("bad.gguf");
        write_bytes(path, mutate(g));
        try {
            gguf::read(path);
            QFAIL("the reader accepted a malformed file");
        } catch (const FormatError& e) {
            const QString msg = QString::fromUtf8(e.what());
            QVERIFY2(msg.contains(QString::fromStdString(path)), qPrintable(msg));
            QVERIFY2(msg.contains(expected), qPrintable(msg + " (expected: " + expected + ")"));
        }
    }

    void missing_file()
    {
        QVERIFY_THROWS_EXCEPTION(IoError, gguf::read(file("does-not-exist.gguf")));
    }

    // llama.cpp's own vocabulary-only GGUF, read by our reader.
    void reads_llama_cpp_vocab_file()
    {
        ZP_REQUIRE_ASSET(path, "tokenizers/ggml-vocab-llama-spm.gguf");
        const gguf::File f = gguf::read(path.toStdString());
        QCOMPARE(f.find("tokenizer.ggml.model")->s, std::string("llama"));
        QCOMPARE(f.find("tokenizer.ggml.tokens")->as.size(), size_t(32000));
        QCOMPARE(f.find("tokenizer.ggml.scores")->af.size(), size_t(32000));
        QCOMPARE(f.find("tokenizer.ggml.token_type")->array_type, gguf::ValueType::i32);
        QCOMPARE(f.find("tokenizer.ggml.tokens")->as[3], std::string("<0x00>"));
        ZP_REQUIRE_ASSET(gpt2, "tokenizers/ggml-vocab-gpt-2.gguf");
        const gguf::File g = gguf::read(gpt2.toStdString());
        QCOMPARE(g.find("tokenizer.ggml.model")->s, std::string("gpt2"));
        QCOMPARE(g.find("tokenizer.ggml.merges")->as.size(), size_t(50000));
    }

    // Our SentencePiece tokenizer metadata equals llama.cpp's for the same vocabulary.
    void sentencepiece_metadata_matches_llama_cpp()
    {
#if !defined(ZP_HAVE_SENTENCEPIECE)
        QSKIP("built without sentencepiece");
#else
        if (const std::string why = tok::sentencepiece_unavailable(); !why.empty())
            QSKIP(why.c_str());
        ZP_REQUIRE_ASSET(model_path, "tokenizers/llama2_tokenizer.model");
        ZP_REQUIRE_ASSET(vocab_path, "tokenizers/ggml-vocab-llama-spm.gguf");
        gguf::Writer w;
        gguf::add_tokenizer_metadata(w, model_path.toStdString(), 32000);
        w.write(file("spm_vocab.gguf"));
        const gguf::File ours = gguf::read(file("spm_vocab.gguf"));
        const gguf::File ref = gguf::read(vocab_path.toStdString());
        for (const char* key :
             {"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"}) {
            const gguf::Value* a = ours.find(key);
            const gguf::Value* b = ref.find(key);
            QVERIFY2(a && b, key);
            QCOMPARE(a->array_type, b->array_type);
            QVERIFY2(a->as == b->as && a->af == b->af && a->ai == b->ai, key);
        }
        for (const char* key : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                "tokenizer.ggml.unknown_token_id"})
            QCOMPARE(ours.find(key)->u, ref.find(key)->u);
#endif
    }

    // ---- independent reader (gguf-py) ----

    void python_reads_synthetic_file()
    {
        gguf::Writer w;
        w.set("general.architecture", gguf::Value::of_string("llama"));
        w.set("test.u32", gguf::Value::of_u32(7));
        w.set("test.f32", gguf::Value::of_f32(1e-5f));
        w.set("test.bool", gguf::Value::of_bool(true));
        w.set("test.strings", gguf::Value::of_strings({"<unk>", "\xe2\x96\x81the"}));
        nlohmann::json m;
        m["file"] = file("syn.gguf");
        m["tensor_count"] = 6;
        m["metadata"]["general.architecture"] = {{"type", "STRING"}, {"value", "llama"}};
        m["metadata"]["test.u32"] = {{"type", "UINT32"}, {"value", 7}};
        m["metadata"]["test.f32"] = {{"type", "FLOAT32"}, {"value", 1e-5f}};
        m["metadata"]["test.bool"] = {{"type", "BOOL"}, {"value", true}};
        m["metadata"]["test.strings"] = {{"type", "ARRAY"},
                                         {"element_type", "STRING"},
                                         {"count", 2},
                                         {"first", {"<unk>", "\xe2\x96\x81the"}}};
        auto expect = [&](const std::string& name, TensorType t, const at::Tensor& values) {
            write_f32(file(name + ".f32"), values);
            m["tensors"].push_back({{"name", name},
                                    {"type", type_name(t)},
                                    {"shape", {values.size(1), values.size(0)}},
                                    {"expected", file(name + ".f32")}});
        };
        const int64_t rows = 8, cols = 128;
        for (int bits : {3, 4, 5}) {
            const at::Tensor wt =
                test::make_weights("outlier", rows, cols, 100 + bits).to(at::kFloat);
            const quant::LayerResult l =
                quantize_layer(wt, 0, "q_proj", bits, bits == 4 ? -1 : 64, true);
            const gguf::LinearEncoding e = gguf::encode_linear(l);
            const std::string name = "w" + std::to_string(bits);
            w.add_tensor(name, {uint64_t(cols), uint64_t(rows)}, e.type, e.data);
            expect(name, e.type, e.w_hat);
        }
        const at::Tensor x = test::make_weights("gaussian", rows, cols, 9).to(at::kFloat);
        at::Tensor xq;
        w.add_tensor("q8", {uint64_t(cols), uint64_t(rows)}, TensorType::Q8_0,
                     gguf::quantize_q8_0(x, &xq));
        expect("q8", TensorType::Q8_0, xq);
        w.add_tensor("f16", {uint64_t(cols), uint64_t(rows)}, TensorType::F16,
                     gguf::encode_float(x, TensorType::F16));
        expect("f16", TensorType::F16, x.to(at::kHalf));
        w.add_tensor("bf16", {uint64_t(cols), uint64_t(rows)}, TensorType::BF16,
                     gguf::encode_float(x, TensorType::BF16));
        expect("bf16", TensorType::BF16, x.to(at::kBFloat16));
        w.write(file("syn.gguf"));
        std::ofstream(file("syn.json")) << m.dump(1);
        ZP_PYTHON_CHECK(file("syn.json"));
    }

    void stories260k_export_data()
    {
        QTest::addColumn<int>("bits");
        QTest::addColumn<int>("group");
        QTest::addColumn<int>("embedding");
        QTest::newRow("4bit/g32/neuqi/F16 embd") << 4 << 32 << int(TensorType::F16);
        QTest::newRow("3bit/channel/Q8_0 embd") << 3 << -1 << int(TensorType::Q8_0);
        QTest::newRow("5bit/g64") << 5 << 64 << int(TensorType::F16);
        QTest::newRow("4bit/g64 (ffn_down: 172 = 2 x 64 + 44)") << 4 << 64 << int(TensorType::F16);
        QTest::newRow("8bit/g32 (Q8_0 re-quantization)") << 8 << 32 << int(TensorType::F16);
    }
    void stories260k_export()
    {
        QFETCH(int, bits);
        QFETCH(int, group);
        QFETCH(int, embedding);
        ZP_REQUIRE_ASSET(model_path, "models/stories260K.bin");
        ZP_REQUIRE_ASSET(tok_path, "tokenizers/tok512.bin");
        auto model = model::Model::open(model_path.toStdString());
        const model::ModelConfig& c = model->config();

        // RTN by hand (Min-Max for even blocks, NeUQI for odd ones), then W_hat into the model: the
        // encoding's W_hat, which is exactly what the file dequantizes to.
        quant::QuantizedModel qm;
        qm.config.bits = bits;
        qm.config.group_size = group;
        qm.config.method = "rtn-mixed";
        for (int64_t i = 0; i < c.num_layers; ++i) {
            const model::BlockWeights b = model->block(i);
            for (const std::string& name : model::linear_names())
                qm.layers.push_back(
                    quantize_layer(b.linear(name), i, name, bits, group, i % 2 == 1));
        }
        std::vector<std::string> f16_names;
        for (const quant::LayerResult& l : qm.layers) {
            const gguf::LinearEncoding e = gguf::encode_linear(l);
            model->set_linear(l.block, l.name, e.w_hat);
            if (e.type == TensorType::F16)
                f16_names.push_back(gguf::linear_tensor_name(l.block, l.name));
        }
        // hidden 172 is not a multiple of 32: every down_proj is F16, and only those.
        QCOMPARE(f16_names.size(), size_t(c.num_layers));
        for (const std::string& n : f16_names)
            QVERIFY2(n.find("ffn_down") != std::string::npos, n.c_str());

        gguf::ExportOptions opt;
        opt.embedding_type = static_cast<TensorType>(embedding);
        const std::string out = file("stories_" + std::to_string(bits) + ".gguf");
        const gguf::ExportReport rep =
            gguf::export_model(*model, &qm, tok_path.toStdString(), out, opt);
        QCOMPARE(rep.file_bytes, uint64_t(QFileInfo(QString::fromStdString(out)).size()));
        int down_warnings = 0;
        for (const std::string& wmsg : rep.warnings) {
            down_warnings +=
                wmsg.find("ffn_down") != std::string::npos && wmsg.find("F16") != std::string::npos;
            // In groups of 64 the reason is the last group of 44 columns, not whole blocks.
            if (group == 64 && bits <= 5)
                QVERIFY2(
                    wmsg.find("last group of 44 columns (172 = 2 x 64 + 44)") != std::string::npos,
                    wmsg.c_str());
        }
        QCOMPARE(down_warnings, int(c.num_layers));
        for (const auto& t : rep.tensors)
            if (t.name.find("ffn_down") != std::string::npos)
                QVERIFY2(t.type == TensorType::F16 && t.note.find("F16") != std::string::npos,
                         t.name.c_str());
        const TensorType lin = gguf::affine_type_for_bits(bits);
        double q8_err = 0.0;
        int64_t changed = 0;
        for (const auto& t : rep.tensors) {
            changed += t.codes_changed;
            if (lin == TensorType::Q8_0 && t.type == TensorType::Q8_0 &&
                t.name.rfind("blk.", 0) == 0)
                q8_err = std::max(q8_err, t.rel_error);
        }
        qInfo(
            "stories260K %d-bit g%d: %llu bytes, %zu tensors, file_type %u, codes changed by the "
            "fp16 snap: %lld%s",
            bits, group, static_cast<unsigned long long>(rep.file_bytes), rep.tensors.size(),
            rep.file_type, static_cast<long long>(changed),
            lin == TensorType::Q8_0
                ? qPrintable(QString(", Q8_0 re-quantization max rel. error %1").arg(q8_err))
                : "");

        // C++ side: our reader and dequantizer give back exactly the model's weights.
        const gguf::File f = gguf::read(out);
        QCOMPARE(f.find("general.architecture")->s, std::string("llama"));
        // tokenizer.bin pieces carry plain spaces; GGUF escapes them as U+2581 (llama.cpp's
        // llama2.c converter does the same, and its tokenizer looks pieces up that way).
        int escaped = 0;
        for (const std::string& tk : f.find("tokenizer.ggml.tokens")->as) {
            QVERIFY2(tk.find(' ') == std::string::npos, tk.c_str());
            escaped += tk.rfind("\xe2\x96\x81", 0) == 0;
        }
        QVERIFY(escaped > 50);  // tok512: 91 pieces start with a space
        nlohmann::json m;
        m["file"] = out;
        m["tensor_count"] = 2 + c.num_layers * 9;  // token_embd, output_norm (tied: no output)
        auto u32 = [](uint64_t v) { return nlohmann::json{{"type", "UINT32"}, {"value", v}}; };
        auto f32 = [](double v) {
            return nlohmann::json{{"type", "FLOAT32"}, {"value", float(v)}};
        };
        m["metadata"]["general.architecture"] = {{"type", "STRING"}, {"value", "llama"}};
        m["metadata"]["general.quantization_version"] = u32(2);
        m["metadata"]["general.file_type"] = u32(lin == TensorType::Q4_1   ? 3
                                                 : lin == TensorType::Q5_1 ? 9
                                                                           : 7);
        m["metadata"]["llama.context_length"] = u32(512);
        m["metadata"]["llama.embedding_length"] = u32(64);
        m["metadata"]["llama.block_count"] = u32(5);
        m["metadata"]["llama.feed_forward_length"] = u32(172);
        m["metadata"]["llama.attention.head_count"] = u32(8);
        m["metadata"]["llama.attention.head_count_kv"] = u32(4);
        m["metadata"]["llama.rope.dimension_count"] = u32(8);
        m["metadata"]["llama.rope.freq_base"] = f32(10000.0);
        m["metadata"]["llama.attention.layer_norm_rms_epsilon"] = f32(1e-5);
        m["metadata"]["tokenizer.ggml.model"] = {{"type", "STRING"}, {"value", "llama"}};
        m["metadata"]["tokenizer.ggml.bos_token_id"] = u32(1);
        m["metadata"]["tokenizer.ggml.eos_token_id"] = u32(2);
        m["metadata"]["tokenizer.ggml.unknown_token_id"] = u32(0);
        m["metadata"]["tokenizer.ggml.add_bos_token"] = {{"type", "BOOL"}, {"value", true}};
        m["metadata"]["tokenizer.ggml.tokens"] = {{"type", "ARRAY"},
                                                  {"element_type", "STRING"},
                                                  {"count", 512},
                                                  {"first", {"<unk>", "<s>", "</s>", "<0x00>"}}};
        m["metadata"]["tokenizer.ggml.token_type"] = {
            {"type", "ARRAY"}, {"element_type", "INT32"}, {"count", 512}, {"first", {2, 3, 3, 6}}};
        m["metadata"]["tokenizer.ggml.scores"] = {
            {"type", "ARRAY"}, {"element_type", "FLOAT32"}, {"count", 512}};

        int n = 0;
        auto expect = [&](const std::string& name, TensorType t, const at::Tensor& values) {
            const gguf::TensorInfo* info = f.tensor(name);
            QVERIFY2(info, name.c_str());
            QCOMPARE(info->type, t);
            const int64_t rows = values.dim() == 2 ? values.size(0) : 1, cols = values.size(-1);
            QVERIFY2(bit_equal(gguf::dequantize(f.read_data(*info), t, rows, cols),
                               values.reshape({rows, cols})),
                     name.c_str());
            const std::string ref = file("ref" + std::to_string(n++) + ".f32");
            write_f32(ref, values);
            nlohmann::json shape = nlohmann::json::array({cols});
            if (values.dim() == 2)
                shape.push_back(rows);
            m["tensors"].push_back(
                {{"name", name}, {"type", type_name(t)}, {"shape", shape}, {"expected", ref}});
        };
        const at::Tensor embd = model->embed_tokens();
        if (opt.embedding_type == TensorType::Q8_0) {
            at::Tensor q;
            gguf::quantize_q8_0(embd, &q);
            expect("token_embd.weight", TensorType::Q8_0, q);
        } else {
            expect("token_embd.weight", TensorType::F16, embd.to(at::kHalf).to(at::kFloat));
        }
        expect("output_norm.weight", TensorType::F32, model->final_norm());
        QVERIFY(!f.tensor("output.weight"));  // tied
        for (int64_t i = 0; i < c.num_layers; ++i) {
            const model::BlockWeights b = model->block(i);
            const std::string blk = "blk." + std::to_string(i) + ".";
            expect(blk + "attn_norm.weight", TensorType::F32, b.input_norm);
            expect(blk + "ffn_norm.weight", TensorType::F32, b.post_norm);
            for (const std::string& name : model::linear_names()) {
                at::Tensor wv = b.linear(name);
                if (name == "q_proj")
                    wv = permute_rows(wv, c.num_heads);
                else if (name == "k_proj")
                    wv = permute_rows(wv, c.num_kv_heads);
                const TensorType t = name == "down_proj" ? TensorType::F16 : lin;
                expect(gguf::linear_tensor_name(i, name), t,
                       t == TensorType::F16 ? wv.to(at::kHalf).to(at::kFloat) : wv);
            }
        }
        std::ofstream(file("stories.json")) << m.dump(1);
        ZP_PYTHON_CHECK(file("stories.json"));
    }

    // The exporter's llama q/k permutation (HF halves -> interleaved pairs) undoes the loader's:
    // attn_q/attn_k of an unquantized export equal the wq/wk rows stored in the llama2.c file.
    // export_model streams: progress once per tensor (named) plus "written", the report's
    // figures are filled in as the tensors are encoded, and a cancel mid-way leaves no file.
    void export_streams_and_cancels()
    {
        ZP_REQUIRE_ASSET(model_path, "models/stories260K.bin");
        ZP_REQUIRE_ASSET(tok_path, "tokenizers/tok512.bin");
        auto model = model::Model::open(model_path.toStdString());
        std::vector<std::string> stages;
        gguf::ExportOptions opt;
        opt.progress = [&](double, double, const std::string& s) {
            stages.push_back(s);
            return true;
        };
        const gguf::ExportReport rep =
            gguf::export_model(*model, nullptr, tok_path.toStdString(), file("stream.gguf"), opt);
        QCOMPARE(stages.size(), rep.tensors.size() + 1);
        QCOMPARE(stages.front(), std::string("token_embd.weight"));
        QCOMPARE(stages.back(), std::string("written"));
        for (const auto& t : rep.tensors)
            if (t.type == TensorType::F16)
                QVERIFY2(t.rel_error > 0 && t.rel_error < 1e-3, t.name.c_str());
        QCOMPARE(gguf::read(file("stream.gguf")).tensors.size(), rep.tensors.size());

        opt.progress = [](double done, double, const std::string&) { return done < 10; };
        QVERIFY_THROWS_EXCEPTION(Cancelled,
                                 gguf::export_model(*model, nullptr, tok_path.toStdString(),
                                                    file("cancelled.gguf"), opt));
        for (const QString& e : QDir(tmp_.path()).entryList(QDir::Files))
            QVERIFY2(!e.startsWith("cancelled.gguf"), qPrintable(e));
    }

    // A GGUF file is its own tokenizer for an export (a llama.cpp model opened as input): the
    // tokenizer.ggml.* metadata is copied unchanged; a vocabulary of another size is refused.
    void gguf_file_as_export_tokenizer()
    {
        ZP_REQUIRE_ASSET(model_path, "models/stories260K.bin");
        ZP_REQUIRE_ASSET(tok_path, "tokenizers/tok512.bin");
        auto model = model::Model::open(model_path.toStdString());
        gguf::export_model(*model, nullptr, tok_path.toStdString(), file("tok_src.gguf"), {});
        gguf::export_model(*model, nullptr, file("tok_src.gguf"), file("tok_copy.gguf"), {});
        const gguf::File a = gguf::read(file("tok_src.gguf")),
                         b = gguf::read(file("tok_copy.gguf"));
        int copied = 0;
        for (const auto& [key, v] : a.kv) {
            if (key.rfind("tokenizer.ggml.", 0) != 0)
                continue;
            const gguf::Value* w = b.find(key);
            QVERIFY2(w, key.c_str());
            QVERIFY2(w->type == v.type && w->array_type == v.array_type && w->u == v.u &&
                         w->i == v.i && w->f == v.f && w->b == v.b && w->s == v.s &&
                         w->au == v.au && w->ai == v.ai && w->af == v.af && w->as == v.as,
                     key.c_str());
            ++copied;
        }
        QVERIFY(copied >= 6);
        gguf::Writer w;
        QVERIFY_THROWS_EXCEPTION(FormatError,
                                 gguf::add_tokenizer_metadata(w, file("tok_src.gguf"), 1000));
    }

    void llama_permutation_restores_llama2c_rows()
    {
        ZP_REQUIRE_ASSET(model_path, "models/stories260K.bin");
        ZP_REQUIRE_ASSET(tok_path, "tokenizers/tok512.bin");
        auto model = model::Model::open(model_path.toStdString());
        const gguf::ExportReport rep =
            gguf::export_model(*model, nullptr, tok_path.toStdString(), file("f16.gguf"));
        QCOMPARE(rep.file_type, 1u);  // mostly F16
        const gguf::File f = gguf::read(file("f16.gguf"));
        std::ifstream in(model_path.toStdString(), std::ios::binary);
        int32_t h[7];
        in.read(reinterpret_cast<char*>(h), sizeof h);
        const int64_t dim = h[0], layers = h[2], heads = h[3], kv_heads = h[4],
                      vocab = std::abs(h[5]);
        const int64_t kv_dim = dim / heads * kv_heads;
        auto read_floats = [&](int64_t offset_floats, int64_t rows, int64_t cols) {
            at::Tensor t = at::empty({rows, cols}, at::kFloat);
            in.seekg(28 + offset_floats * 4);
            in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes()));
            return t;
        };
        const int64_t wq0 = vocab * dim + layers * dim;
        const at::Tensor wq = read_floats(wq0, dim, dim);
        const at::Tensor wk = read_floats(wq0 + layers * dim * dim, kv_dim, dim);
        QVERIFY(bit_equal(gguf::dequantize(f.read_data(*f.tensor("blk.0.attn_q.weight")),
                                           TensorType::F16, dim, dim),
                          wq.to(at::kHalf)));
        QVERIFY(bit_equal(gguf::dequantize(f.read_data(*f.tensor("blk.0.attn_k.weight")),
                                           TensorType::F16, kv_dim, dim),
                          wk.to(at::kHalf)));
        // ... and the HF-layout weights the engine holds are not (they are permuted).
        QVERIFY(!bit_equal(model->block(0).q.to(at::kHalf), wq.to(at::kHalf)));
    }

    void imatrix_export()
    {
        quant::QuantizedModel qm;
        qm.config.calibration_source = "tinystories_val.txt";
        qm.config.calibration_samples = 16;
        qm.config.calibration_seqlen = 128;
        const at::Tensor w = test::make_weights("gaussian", 64, 96, 4).to(at::kFloat);
        qm.layers.push_back(quantize_layer(w, 0, "q_proj", 4, 32, true));
        qm.layers.push_back(quantize_layer(w, 2, "down_proj", 4, 32, false));
        const gguf::ExportReport rep = gguf::export_imatrix(qm, file("imatrix.gguf"));
        QCOMPARE(rep.tensors.size(), size_t(4));
        const gguf::File f = gguf::read(file("imatrix.gguf"));
        QCOMPARE(f.find("general.type")->s, std::string("imatrix"));
        const gguf::TensorInfo* s = f.tensor("blk.0.attn_q.weight.in_sum2");
        QVERIFY(s);
        QCOMPARE(s->ne, (std::vector<uint64_t>{96, 1}));
        const at::Tensor sum2 = gguf::dequantize(f.read_data(*s), TensorType::F32, 1, 96);
        const at::Tensor cnt = gguf::dequantize(
            f.read_data(*f.tensor("blk.0.attn_q.weight.counts")), TensorType::F32, 1, 1);
        QCOMPARE(cnt.item<float>(), 2048.0f);
        const at::Tensor expected =
            (qm.layers[0].hessian_diag * 2048.0).to(at::kFloat).reshape({1, 96});
        QVERIFY(bit_equal(sum2, expected));

        nlohmann::json m;
        m["file"] = file("imatrix.gguf");
        m["tensor_count"] = 4;
        m["metadata"]["general.type"] = {{"type", "STRING"}, {"value", "imatrix"}};
        m["metadata"]["imatrix.chunk_count"] = {{"type", "UINT32"}, {"value", 16}};
        m["metadata"]["imatrix.chunk_size"] = {{"type", "UINT32"}, {"value", 128}};
        m["metadata"]["imatrix.datasets"] = {{"type", "ARRAY"},
                                             {"element_type", "STRING"},
                                             {"count", 1},
                                             {"first", {"tinystories_val.txt"}}};
        write_f32(file("im0.f32"), expected);
        write_f32(file("im1.f32"), at::full({1}, 2048.0f));
        m["tensors"].push_back({{"name", "blk.0.attn_q.weight.in_sum2"},
                                {"type", "F32"},
                                {"shape", {96, 1}},
                                {"expected", file("im0.f32")}});
        m["tensors"].push_back({{"name", "blk.2.ffn_down.weight.counts"},
                                {"type", "F32"},
                                {"shape", {1, 1}},
                                {"expected", file("im1.f32")}});
        std::ofstream(file("imatrix.json")) << m.dump(1);

        quant::QuantizedModel none;
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, gguf::export_imatrix(none, file("none.gguf")));
        QVERIFY(!QFileInfo::exists(QString::fromStdString(file("none.gguf"))));
        ZP_PYTHON_CHECK(file("imatrix.json"));
    }

    void export_refuses_oversized_tokenizer()
    {
        ZP_REQUIRE_ASSET(model_path, "models/stories260K.bin");
        // tok512 fits; a 32000-piece SentencePiece model does not fit a 512-row embedding.
#if defined(ZP_HAVE_SENTENCEPIECE)
        if (const std::string why = tok::sentencepiece_unavailable(); !why.empty())
            QSKIP(why.c_str());
        ZP_REQUIRE_ASSET(spm, "tokenizers/llama2_tokenizer.model");
        auto model = model::Model::open(model_path.toStdString());
        QVERIFY_THROWS_EXCEPTION(FormatError, gguf::export_model(*model, nullptr, spm.toStdString(),
                                                                 file("bad_tok.gguf")));
        QVERIFY(!QFileInfo::exists(QString::fromStdString(file("bad_tok.gguf"))));
#else
        QSKIP("built without sentencepiece");
#endif
    }
};

QTEST_GUILESS_MAIN(TestGguf)
#include "tst_gguf.moc"
