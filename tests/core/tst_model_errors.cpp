// Model readers: one test per failure mode (config.json, HF weights, sharded index, llama2.c
// checkpoint, llama2.c tokenizer), each asserting the exception type and that the message names
// the file and what is wrong; and a sharded, mixed-dtype Qwen2/Qwen3 model that must load and run.
// The precompiled header may already hold Qt, whose `slots` macro breaks ATen's ivalue headers
// (pulled in by ATen/ops/*): this file uses Q_SLOTS instead.
#undef slots
#include <ATen/TensorOperators.h>
#include <ATen/ops/empty.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <string>

#include "core/common/error.h"
#include "core/export/hf_export.h"
#include "core/formats/safetensors.h"
#include "core/model/config.h"
#include "core/model/forward.h"
#include "core/model/model.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/common/expect_error.h"
#include "tests/common/test_util.h"

#include <QTemporaryDir>
#include <QtTest/QtTest>

using namespace zp;
using nlohmann::json;

namespace {

at::Tensor random_tensor(std::vector<int64_t> shape, std::mt19937_64& rng, double scale = 0.2)
{
    at::Tensor t = at::empty(shape, at::kFloat);
    std::normal_distribution<float> d(0.0f, static_cast<float>(scale));
    float* p = t.data_ptr<float>();
    for (int64_t i = 0; i < t.numel(); ++i)
        p[i] = d(rng);
    return t;
}

json tiny_config(const std::string& arch)
{
    return json{{"architectures", {arch}},
                {"hidden_size", 16},
                {"intermediate_size", 24},
                {"num_hidden_layers", 2},
                {"num_attention_heads", 4},
                {"num_key_value_heads", 2},
                {"vocab_size", 32},
                {"max_position_embeddings", 64},
                {"rms_norm_eps", 1e-5},
                {"rope_theta", 10000.0},
                {"tie_word_embeddings", false},
                {"bos_token_id", 1},
                {"eos_token_id", 2}};
}

// The tensors a config implies (HF names), deterministic.
std::vector<std::pair<std::string, at::Tensor>> tiny_weights(const model::ModelConfig& c,
                                                             uint64_t seed)
{
    std::mt19937_64 rng(seed);
    std::vector<std::pair<std::string, at::Tensor>> w;
    const int64_t H = c.hidden_size, I = c.intermediate_size, Q = c.q_dim(), KV = c.kv_dim();
    auto norm = [&](int64_t n) { return random_tensor({n}, rng, 0.1) + 1.0; };
    w.emplace_back("model.embed_tokens.weight", random_tensor({c.vocab_size, H}, rng, 1.0));
    for (int64_t l = 0; l < c.num_layers; ++l) {
        auto n = [&](const char* part) { return model::block_tensor_name(l, part); };
        w.emplace_back(n("input_layernorm.weight"), norm(H));
        w.emplace_back(n("self_attn.q_proj.weight"), random_tensor({Q, H}, rng));
        w.emplace_back(n("self_attn.k_proj.weight"), random_tensor({KV, H}, rng));
        w.emplace_back(n("self_attn.v_proj.weight"), random_tensor({KV, H}, rng));
        w.emplace_back(n("self_attn.o_proj.weight"), random_tensor({H, Q}, rng));
        if (c.attention_bias) {
            w.emplace_back(n("self_attn.q_proj.bias"), random_tensor({Q}, rng));
            w.emplace_back(n("self_attn.k_proj.bias"), random_tensor({KV}, rng));
            w.emplace_back(n("self_attn.v_proj.bias"), random_tensor({KV}, rng));
        }
        if (c.qk_norm) {
            w.emplace_back(n("self_attn.q_norm.weight"), norm(c.head_dim));
            w.emplace_back(n("self_attn.k_norm.weight"), norm(c.head_dim));
        }
        w.emplace_back(n("post_attention_layernorm.weight"), norm(H));
        w.emplace_back(n("mlp.gate_proj.weight"), random_tensor({I, H}, rng));
        w.emplace_back(n("mlp.up_proj.weight"), random_tensor({I, H}, rng));
        w.emplace_back(n("mlp.down_proj.weight"), random_tensor({H, I}, rng));
    }
    w.emplace_back("model.norm.weight", norm(H));
    if (!c.tie_word_embeddings)
        w.emplace_back("lm_head.weight", random_tensor({c.vocab_size, H}, rng));
    return w;
}

void write_text(const QString& path, const std::string& text)
{
    std::ofstream(path.toStdString(), std::ios::binary) << text;
}

// A complete single-file HF directory; `edit` may change the tensors before they are written.
void write_tiny_hf(
    const QString& dir, const json& cfg,
    const std::function<void(std::vector<std::pair<std::string, at::Tensor>>&)>& edit = {})
{
    QDir().mkpath(dir);
    write_text(dir + "/config.json", cfg.dump(2));
    auto c = model::parse_hf_config_text(cfg.dump(), "config.json");
    auto w = tiny_weights(c, 5);
    if (edit)
        edit(w);
    io::save_safetensors((dir + "/model.safetensors").toStdString(), w);
}

// llama2.c checkpoint: header + `floats` zero floats.
void write_llama2c(const QString& path, std::vector<int32_t> header, size_t floats)
{
    std::ofstream f(path.toStdString(), std::ios::binary);
    f.write(reinterpret_cast<const char*>(header.data()),
            static_cast<std::streamsize>(header.size() * sizeof(int32_t)));
    std::vector<float> z(floats, 0.0f);
    f.write(reinterpret_cast<const char*>(z.data()), static_cast<std::streamsize>(z.size() * 4));
}

// Float count of a llama2.c checkpoint (dim, hidden, layers, heads, kv heads, vocab, seq).
size_t llama2c_floats(int64_t dim, int64_t hidden, int64_t L, int64_t nh, int64_t nkv, int64_t V,
                      int64_t seq, bool shared)
{
    const int64_t hd = dim / nh, kv = nkv * hd;
    int64_t n =
        V * dim + L * (2 * dim + 2 * dim * dim + 2 * kv * dim + 3 * hidden * dim) + dim + seq * hd;
    if (!shared)
        n += V * dim;
    return static_cast<size_t>(n);
}

using zp::test::expect_error;

}  // namespace

class TestModelErrors : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    int counter_ = 0;
    QString fresh_dir() { return tmp_.path() + "/m" + QString::number(counter_++); }

private Q_SLOTS:
    // --- config.json ---------------------------------------------------------------------
    void config_missing_field_data()
    {
        QTest::addColumn<QString>("field");
        for (const char* f : {"architectures", "hidden_size", "intermediate_size",
                              "num_hidden_layers", "num_attention_heads", "vocab_size"})
            QTest::newRow(f) << f;
    }

    void config_missing_field()
    {
        QFETCH(QString, field);
        const QString dir = fresh_dir();
        json cfg = tiny_config("LlamaForCausalLM");
        write_tiny_hf(dir, cfg);
        cfg.erase(field.toStdString());
        write_text(dir + "/config.json", cfg.dump());
        expect_error<FormatError>([&] { model::Model::open(dir.toStdString()); },
                                  dir + "/config.json", {"'" + field + "'", "missing"});
    }

    void config_bad_values_data()
    {
        QTest::addColumn<QString>("key");
        QTest::addColumn<QString>("value");  // JSON
        QTest::addColumn<QStringList>("words");
        QTest::newRow("unsupported-architecture")
            << "architectures"
            << R"(["GPT2LMHeadModel"])"
            << QStringList{"unsupported architecture", "GPT2LMHeadModel"};
        QTest::newRow("hidden-size-string")
            << "hidden_size"
            << R"("64")" << QStringList{"'hidden_size'", "not an integer"};
        QTest::newRow("kv-heads-not-dividing")
            << "num_key_value_heads"
            << "3" << QStringList{"'num_key_value_heads'", "= 3"};
        QTest::newRow("negative-layers") << "num_hidden_layers"
                                         << "-2" << QStringList{"'num_hidden_layers'", "-2"};
        QTest::newRow("rope-scaling-unsupported")
            << "rope_scaling"
            << R"({"rope_type":"yarn","factor":4})" << QStringList{"rope_scaling", "'yarn'"};
        QTest::newRow("tie-not-bool")
            << "tie_word_embeddings"
            << R"("yes")" << QStringList{"'tie_word_embeddings'", "not a boolean"};
    }

    void config_bad_values()
    {
        QFETCH(QString, key);
        QFETCH(QString, value);
        QFETCH(QStringList, words);
        const QString dir = fresh_dir();
        write_tiny_hf(dir, tiny_config("LlamaForCausalLM"));
        json cfg = tiny_config("LlamaForCausalLM");
        cfg[key.toStdString()] = json::parse(value.toStdString());
        write_text(dir + "/config.json", cfg.dump());
        expect_error<FormatError>([&] { model::Model::open(dir.toStdString()); },
                                  dir + "/config.json", words);
    }

    void config_not_json()
    {
        const QString dir = fresh_dir();
        write_tiny_hf(dir, tiny_config("LlamaForCausalLM"));
        write_text(dir + "/config.json", "{\"hidden_size\": 16,");
        expect_error<FormatError>([&] { model::Model::open(dir.toStdString()); },
                                  dir + "/config.json", {"not valid JSON"});
    }

    void config_missing_file()
    {
        const QString dir = fresh_dir();
        QDir().mkpath(dir);
        expect_error<IoError>([&] { model::Model::open(dir.toStdString()); }, dir + "/config.json",
                              {"cannot open"});
    }

    void config_llama3_rope_scaling()
    {
        json cfg = tiny_config("LlamaForCausalLM");
        cfg["rope_scaling"] = {{"rope_type", "llama3"},
                               {"factor", 8.0},
                               {"low_freq_factor", 1.0},
                               {"high_freq_factor", 4.0},
                               {"original_max_position_embeddings", 16}};
        auto c = model::parse_hf_config_text(cfg.dump(), "config.json");
        QCOMPARE(QString::fromStdString(c.rope_scaling.type), QString("llama3"));
        at::Tensor plain = model::rope_inv_freq(
            model::parse_hf_config_text(tiny_config("LlamaForCausalLM").dump(), "config.json"));
        at::Tensor scaled = model::rope_inv_freq(c);
        // head_dim 4: frequency 1 (wavelength 2 pi, between 16/4 and 16/1) is blended,
        // frequency 0.01 (wavelength 628 > 16) is divided by the factor.
        const double smooth = (16.0 / (2.0 * M_PI) - 1.0) / (4.0 - 1.0);
        QVERIFY(std::abs(scaled[0].item<double>() - ((1.0 - smooth) / 8.0 + smooth)) < 1e-12);
        QVERIFY(std::abs(scaled[1].item<double>() - plain[1].item<double>() / 8.0) < 1e-12);
        QVERIFY(std::abs(plain[1].item<double>() - 0.01) < 1e-12);
        // The config survives a write/read cycle.
        auto back = model::parse_hf_config_text(model::to_hf_config_json(c), "again");
        QCOMPARE(back.rope_scaling.factor, 8.0);
        QCOMPARE(back.rope_scaling.original_max_position, int64_t(16));
    }

    // --- HF weights ------------------------------------------------------------------------
    void hf_missing_tensor()
    {
        const QString dir = fresh_dir();
        write_tiny_hf(dir, tiny_config("LlamaForCausalLM"), [](auto& w) {
            for (auto it = w.begin(); it != w.end(); ++it)
                if (it->first == "model.layers.1.mlp.up_proj.weight") {
                    w.erase(it);
                    break;
                }
        });
        expect_error<FormatError>([&] { model::Model::open(dir.toStdString()); },
                                  dir + "/model.safetensors",
                                  {"model.layers.1.mlp.up_proj.weight"});
    }

    void hf_wrong_shape()
    {
        const QString dir = fresh_dir();
        write_tiny_hf(dir, tiny_config("LlamaForCausalLM"), [](auto& w) {
            for (auto& [name, t] : w)
                if (name == "model.layers.0.self_attn.k_proj.weight")
                    t = t.narrow(0, 0, 4).contiguous();
        });
        expect_error<FormatError>([&] { model::Model::open(dir.toStdString()); },
                                  dir + "/model.safetensors",
                                  {"model.layers.0.self_attn.k_proj.weight", "[4, 16]", "[8, 16]"});
    }

    void hf_integer_weight()
    {
        const QString dir = fresh_dir();
        write_tiny_hf(dir, tiny_config("LlamaForCausalLM"), [](auto& w) {
            for (auto& [name, t] : w)
                if (name == "model.layers.0.mlp.gate_proj.weight")
                    t = t.to(at::kLong);
        });
        auto m = model::Model::open(dir.toStdString());  // headers are fine
        expect_error<FormatError>([&] { m->block(0); }, dir + "/model.safetensors",
                                  {"model.layers.0.mlp.gate_proj.weight", "I64"});
    }

    void hf_no_weights()
    {
        const QString dir = fresh_dir();
        QDir().mkpath(dir);
        write_text(dir + "/config.json", tiny_config("LlamaForCausalLM").dump());
        expect_error<IoError>([&] { model::Model::open(dir.toStdString()); }, dir,
                              {"model.safetensors"});
    }

    void hf_corrupt_safetensors()
    {
        const QString dir = fresh_dir();
        write_tiny_hf(dir, tiny_config("LlamaForCausalLM"));
        QFile::resize(dir + "/model.safetensors", 10000);  // truncated download
        expect_error<FormatError>([&] { model::Model::open(dir.toStdString()); },
                                  dir + "/model.safetensors", {"outside the data area"});
    }

    void index_errors_data()
    {
        QTest::addColumn<QString>("index");
        QTest::addColumn<QString>("file");  // relative to the model dir
        QTest::addColumn<QStringList>("words");
        QTest::addColumn<bool>("io");
        QTest::newRow("not-json") << "{\"weight_map\": "
                                  << "model.safetensors.index.json" << QStringList{"not valid JSON"}
                                  << false;
        QTest::newRow("no-weight-map")
            << R"({"metadata": {}})"
            << "model.safetensors.index.json" << QStringList{"'weight_map'"} << false;
        QTest::newRow("missing-shard")
            << R"({"weight_map": {"model.norm.weight": "model-00009-of-00009.safetensors"}})"
            << "model-00009-of-00009.safetensors" << QStringList{"cannot open"} << true;
        QTest::newRow("tensor-not-in-shard")
            << R"({"weight_map": {"model.nonsense.weight": "a.safetensors"}})"
            << "a.safetensors" << QStringList{"model.nonsense.weight"} << false;
        QTest::newRow("shard-escapes-dir")
            << R"({"weight_map": {"model.norm.weight": "../a.safetensors"}})"
            << "model.safetensors.index.json" << QStringList{"../a.safetensors"} << false;
    }

    void index_errors()
    {
        QFETCH(QString, index);
        QFETCH(QString, file);
        QFETCH(QStringList, words);
        QFETCH(bool, io);
        const QString dir = fresh_dir();
        QDir().mkpath(dir);
        write_text(dir + "/config.json", tiny_config("LlamaForCausalLM").dump());
        write_text(dir + "/model.safetensors.index.json", index.toStdString());
        io::save_safetensors((dir + "/a.safetensors").toStdString(),
                             {{"model.norm.weight", at::empty({16}, at::kFloat).fill_(1.0)}});
        auto open = [&] { model::Model::open(dir.toStdString()); };
        if (io)
            expect_error<IoError>(open, dir + "/" + file, words);
        else
            expect_error<FormatError>(open, dir + "/" + file, words);
    }

    // A sharded checkpoint with mixed dtypes (F32, F16, BF16) loads as float32, matches the
    // tensors written, and runs; every architecture's extras (Qwen2 biases, Qwen3 q/k norms) load.
    void sharded_index_model_data()
    {
        QTest::addColumn<QString>("arch");
        QTest::newRow("llama") << "LlamaForCausalLM";
        QTest::newRow("mistral") << "MistralForCausalLM";
        QTest::newRow("qwen2") << "Qwen2ForCausalLM";
        QTest::newRow("qwen3") << "Qwen3ForCausalLM";
    }

    void sharded_index_model()
    {
        QFETCH(QString, arch);
        const QString dir = fresh_dir();
        QDir().mkpath(dir);
        json cfg = tiny_config(arch.toStdString());
        write_text(dir + "/config.json", cfg.dump());
        auto c = model::parse_hf_config_text(cfg.dump(), "config.json");
        auto w = tiny_weights(c, 9);
        const at::ScalarType types[3] = {at::kFloat, at::kHalf, at::kBFloat16};
        std::vector<std::pair<std::string, at::Tensor>> shards[3];
        json map;
        for (size_t i = 0; i < w.size(); ++i) {
            const size_t s = i % 3;
            shards[s].emplace_back(w[i].first, w[i].second.to(types[s]));
            w[i].second = w[i].second.to(types[s]).to(at::kFloat);  // what the reader must return
            map[w[i].first] = "model-0000" + std::to_string(s + 1) + "-of-00003.safetensors";
        }
        for (int s = 0; s < 3; ++s)
            io::save_safetensors(
                (dir + QString("/model-0000%1-of-00003.safetensors").arg(s + 1)).toStdString(),
                shards[s]);
        write_text(dir + "/model.safetensors.index.json", json{{"weight_map", map}}.dump());

        auto m = model::Model::open(dir.toStdString());
        QCOMPARE(m->format(), std::string("hf"));
        QCOMPARE(m->config().attention_bias, arch == "Qwen2ForCausalLM");
        QCOMPARE(m->config().qk_norm, arch == "Qwen3ForCausalLM");
        model::BlockWeights b1 = m->block(1);
        QCOMPARE(b1.q_bias.defined(), arch == "Qwen2ForCausalLM");
        QCOMPARE(b1.q_norm.defined(), arch == "Qwen3ForCausalLM");
        for (const auto& [name, t] : w) {
            at::Tensor got;
            if (name == "model.embed_tokens.weight")
                got = m->embed_tokens();
            else if (name == "model.norm.weight")
                got = m->final_norm();
            else if (name == "lm_head.weight")
                got = m->lm_head();
            else if (name.rfind("model.layers.1.", 0) == 0 &&
                     name.find("mlp.down_proj") != std::string::npos)
                got = b1.down;
            else if (name == "model.layers.1.self_attn.k_proj.weight")
                got = b1.k;
            if (got.defined()) {
                QCOMPARE(got.scalar_type(), at::kFloat);
                QVERIFY2((got - t).abs().max().item<double>() == 0.0, name.c_str());
            }
        }
        at::Tensor ids = at::empty({2, 7}, at::kLong);
        for (int64_t i = 0; i < 14; ++i)
            ids.data_ptr<int64_t>()[i] = (i * 5 + 3) % 32;
        at::Tensor logits = model::model_forward(*m, ids);
        QCOMPARE(logits.sizes().vec(), std::vector<int64_t>({2, 7, 32}));
        QVERIFY(logits.isfinite().all().item<bool>());
        // The KV-cache path agrees with the full pass on this architecture too.
        model::Generator g(*m);
        at::Tensor step;
        for (int64_t t = 0; t < 7; ++t)
            step = g.feed({static_cast<int32_t>(ids[1][t].item<int64_t>())});
        QVERIFY((step - logits[1][6]).abs().max().item<double>() < 1e-4);

        // Export and reload gives the same model.
        const QString out = fresh_dir();
        exporter::export_hf(*m, out.toStdString());
        auto m2 = model::Model::open(out.toStdString());
        QVERIFY((model::model_forward(*m2, ids) - logits).abs().max().item<double>() == 0.0);
    }

    // --- llama2.c checkpoint -------------------------------------------------------------------
    void llama2c_errors_data()
    {
        QTest::addColumn<QVector<int>>("header");
        QTest::addColumn<int>("float_delta");  // floats relative to the size the header implies
        QTest::addColumn<QStringList>("words");
        const QVector<int> ok{16, 24, 2, 4, 2, 32, 8};
        QTest::newRow("truncated-weights") << ok << -10 << QStringList{"truncated", "needs"};
        QTest::newRow("trailing-bytes") << ok << 5 << QStringList{"20 bytes more", "header"};
        QTest::newRow("separate-classifier-missing")
            << QVector<int>{16, 24, 2, 4, 2, -32, 8} << 0 << QStringList{"truncated", "vocab -32"};
        QTest::newRow("zero-dim") << QVector<int>{0, 24, 2, 4, 2, 32, 8} << 0
                                  << QStringList{"'dim' = 0"};
        QTest::newRow("heads-not-dividing") << QVector<int>{18, 24, 2, 4, 2, 32, 8} << 0
                                            << QStringList{"'dim' = 18", "n_heads = 4"};
        QTest::newRow("kv-heads-not-dividing")
            << QVector<int>{16, 24, 2, 4, 3, 32, 8} << 0 << QStringList{"'n_kv_heads' = 3"};
    }

    void llama2c_errors()
    {
        QFETCH(QVector<int>, header);
        QFETCH(int, float_delta);
        QFETCH(QStringList, words);
        const QString path = fresh_dir() + ".bin";
        const int64_t n =
            header[0] > 0 && header[0] % header[3] == 0 && header[3] % header[4] == 0
                ? static_cast<int64_t>(llama2c_floats(header[0], header[1], header[2], header[3],
                                                      header[4], 32, header[6], true))
                : 100;
        write_llama2c(path, std::vector<int32_t>(header.begin(), header.end()),
                      static_cast<size_t>(n + float_delta));
        expect_error<FormatError>([&] { model::Model::open(path.toStdString()); }, path, words);
    }

    // A separate classifier (negative vocab size) is read from the end of the file, and q/k rows
    // are permuted per head from interleaved pairs to HF halves: row 2j + p -> row p * d/2 + j.
    void llama2c_layout()
    {
        const int64_t dim = 16, hidden = 24, L = 2, nh = 4, nkv = 2, V = 32, seq = 8, hd = 4;
        const size_t n = llama2c_floats(dim, hidden, L, nh, nkv, V, seq, false);
        std::vector<float> data(n);
        for (size_t i = 0; i < n; ++i)
            data[i] = static_cast<float>(i % 9973) * 1e-3f;
        const QString path = fresh_dir() + ".bin";
        {
            std::ofstream f(path.toStdString(), std::ios::binary);
            const int32_t h[7] = {16, 24, 2, 4, 2, -32, 8};
            f.write(reinterpret_cast<const char*>(h), sizeof h);
            f.write(reinterpret_cast<const char*>(data.data()),
                    static_cast<std::streamsize>(n * 4));
        }
        auto m = model::Model::open(path.toStdString());
        QVERIFY(!m->config().tie_word_embeddings);
        QCOMPARE(m->config().vocab_size, V);
        auto at_float = [&](size_t i) { return static_cast<double>(data[i]); };
        // lm_head: the last V * dim floats.
        QCOMPARE(m->lm_head()[3][5].item<double>(), at_float(n - V * dim + 3 * dim + 5));
        QCOMPARE(m->embed_tokens()[3][5].item<double>(), at_float(3 * dim + 5));
        // Layer 1's wq starts after the embedding, rms_att [L][dim] and layer 0's wq.
        const size_t wq1 = V * dim + L * dim + dim * dim;
        model::BlockWeights b = m->block(1);
        for (int64_t head = 0; head < nh; ++head)
            for (int64_t j = 0; j < hd / 2; ++j)
                for (int64_t p = 0; p < 2; ++p) {
                    const int64_t old_row = head * hd + 2 * j + p,
                                  new_row = head * hd + p * hd / 2 + j;
                    QCOMPARE(b.q[new_row][7].item<double>(), at_float(wq1 + old_row * dim + 7));
                }
        // k (kv heads) likewise; v is not permuted.
        const size_t wk0 = V * dim + L * dim + L * dim * dim;
        const int64_t kv = nkv * hd;
        QCOMPARE(b.k.size(0), kv);
        QCOMPARE(m->block(0).k[1][0].item<double>(), at_float(wk0 + 2 * dim));  // row 2 -> row 1
        const size_t wv0 = wk0 + L * kv * dim;
        QCOMPARE(m->block(0).v[1][0].item<double>(), at_float(wv0 + 1 * dim));
    }

    void llama2c_header_truncated()
    {
        const QString path = fresh_dir() + ".bin";
        write_text(path, std::string("\x10\0\0\0\x18\0\0\0", 8));
        expect_error<FormatError>([&] { model::Model::open(path.toStdString()); }, path,
                                  {"truncated", "8 bytes"});
    }

    void llama2c_truncated_real_checkpoint()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        const QString path = fresh_dir() + ".bin";
        QVERIFY(QFile::copy(bin, path));
        QFile::setPermissions(path, QFile::ReadOwner | QFile::WriteOwner);
        QVERIFY(QFile::resize(path, 500000));
        expect_error<FormatError>([&] { model::Model::open(path.toStdString()); }, path,
                                  {"truncated", "500000 bytes", "1056540"});
    }

    void model_path_missing()
    {
        const QString path = tmp_.path() + "/nothing-here.bin";
        expect_error<IoError>([&] { model::Model::open(path.toStdString()); }, path, {});
    }

    // --- llama2.c tokenizer ------------------------------------------------------------------
    void tokenizer_errors_data()
    {
        QTest::addColumn<int>("cut");    // keep this many bytes of tok512.bin (0 = all)
        QTest::addColumn<int>("patch");  // overwrite token 5's length with this (0 = no patch)
        QTest::addColumn<int>("vocab");
        QTest::addColumn<QStringList>("words");
        QTest::newRow("empty") << 2 << 0 << 512 << QStringList{"max_token_length"};
        QTest::newRow("truncated-in-token")
            << 3000 << 0 << 512 << QStringList{"truncated at token"};
        QTest::newRow("vocab-larger-than-file")
            << 0 << 0 << 600 << QStringList{"truncated at token 512"};
        QTest::newRow("length-lies") << 0 << 1000 << 512 << QStringList{"token 5", "length 1000"};
        QTest::newRow("negative-length") << 0 << -3 << 512 << QStringList{"token 5", "length -3"};
    }

    void tokenizer_errors()
    {
        QFETCH(int, cut);
        QFETCH(int, patch);
        QFETCH(int, vocab);
        QFETCH(QStringList, words);
        ZP_REQUIRE_ASSET(tokp, "tokenizers/tok512.bin");
        QFile in(tokp);
        QVERIFY(in.open(QIODevice::ReadOnly));
        QByteArray data = in.readAll();
        if (cut > 0)
            data.truncate(cut);
        if (patch != 0) {
            // max_token_length (4 bytes), then tokens 0..4: score, length, bytes.
            int off = 4;
            for (int i = 0; i < 5; ++i) {
                int32_t len;
                std::memcpy(&len, data.constData() + off + 4, 4);
                off += 8 + len;
            }
            const int32_t v = patch;
            std::memcpy(data.data() + off + 4, &v, 4);
        }
        const QString path = fresh_dir() + ".bin";
        write_text(path, data.toStdString());
        expect_error<FormatError>([&] { tok::load_llama2c_tokenizer(path.toStdString(), vocab); },
                                  path, words);
    }
};

QTEST_GUILESS_MAIN(TestModelErrors)
#include "tst_model_errors.moc"
