// The real stories260K model must generate exactly what llama2.c's run.c prints, whether loaded as
// a llama2.c checkpoint (interleaved RoPE pairs, permuted on read) or as the HF directory the
// converter writes (rotate_half, safetensors reader), single file or sharded.
// The precompiled header may already hold Qt, whose `slots` macro breaks ATen's ivalue headers
// (pulled in by ATen/ops/*): this file uses Q_SLOTS instead.
#undef slots
#include <ATen/TensorOperators.h>
#include <ATen/ops/empty.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <random>

#include "core/common/error.h"
#include "core/export/hf_export.h"
#include "core/formats/safetensors.h"
#include "core/model/forward.h"
#include "core/model/model.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/common/test_util.h"

#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest/QtTest>

using namespace zp;

namespace {

// Splits an HF directory's model.safetensors into two shards + model.safetensors.index.json.
void shard_model(const QString& from_dir, const QString& to_dir)
{
    io::SafetensorsFile f((from_dir + "/model.safetensors").toStdString());
    std::vector<std::pair<std::string, at::Tensor>> a, b;
    nlohmann::json map;
    int i = 0;
    for (const auto& name : f.names()) {
        const bool first = i++ % 2 == 0;
        (first ? a : b).emplace_back(name, f.tensor(name));
        map[name] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    }
    io::save_safetensors((to_dir + "/model-00001-of-00002.safetensors").toStdString(), a);
    io::save_safetensors((to_dir + "/model-00002-of-00002.safetensors").toStdString(), b);
    std::ofstream((to_dir + "/model.safetensors.index.json").toStdString())
        << nlohmann::json{{"metadata", nlohmann::json::object()}, {"weight_map", map}}.dump(1);
    QFile::copy(from_dir + "/config.json", to_dir + "/config.json");
}

// Deterministic token ids in 3..511 (no BOS/EOS inside), [B, T] int64.
at::Tensor random_ids(int64_t B, int64_t T, uint64_t seed)
{
    at::Tensor ids = at::empty({B, T}, at::kLong);
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int64_t> dist(3, 511);
    int64_t* p = ids.data_ptr<int64_t>();
    for (int64_t i = 0; i < B * T; ++i)
        p[i] = dist(rng);
    return ids;
}

// run.c's encoder as written there (quadratic rescans), the reference for the fast one.
std::vector<int32_t> naive_encode(const std::vector<std::string>& pieces,
                                  const std::vector<float>& scores, const std::string& text)
{
    std::map<std::string, int32_t> index;
    for (size_t i = 0; i < pieces.size(); ++i)
        index.emplace(pieces[i], static_cast<int32_t>(i));
    auto find = [&](const std::string& s) {
        auto it = index.find(s);
        return it == index.end() ? -1 : it->second;
    };
    std::vector<int32_t> ids{1};
    if (text.empty())
        return ids;
    ids.push_back(find(" "));
    for (size_t i = 0; i < text.size();) {
        size_t j = i + 1;
        while (j < text.size() && j - i < 4 && (static_cast<unsigned char>(text[j]) & 0xC0) == 0x80)
            ++j;
        const int32_t id = find(text.substr(i, j - i));
        if (id >= 0)
            ids.push_back(id);
        else
            for (size_t k = i; k < j; ++k)
                ids.push_back(static_cast<unsigned char>(text[k]) + 3);
        i = j;
    }
    while (true) {
        float best = -1e10f;
        int32_t best_id = -1;
        size_t at = 0;
        for (size_t i = 0; i + 1 < ids.size(); ++i) {
            const int32_t id =
                find(pieces[static_cast<size_t>(ids[i])] + pieces[static_cast<size_t>(ids[i + 1])]);
            if (id >= 0 && scores[static_cast<size_t>(id)] > best) {
                best = scores[static_cast<size_t>(id)];
                best_id = id;
                at = i;
            }
        }
        if (best_id < 0)
            return ids;
        ids[at] = best_id;
        ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(at) + 1);
    }
}

// tokenizer.bin read directly (pieces and scores) for the reference encoder.
void read_tokenizer_bin(const QString& path, int n, std::vector<std::string>& pieces,
                        std::vector<float>& scores)
{
    std::ifstream in(path.toStdString(), std::ios::binary);
    int32_t max_len = 0;
    in.read(reinterpret_cast<char*>(&max_len), 4);
    for (int i = 0; i < n; ++i) {
        float sc = 0;
        int32_t len = 0;
        in.read(reinterpret_cast<char*>(&sc), 4);
        in.read(reinterpret_cast<char*>(&len), 4);
        std::string p(static_cast<size_t>(len), '\0');
        in.read(p.data(), len);
        pieces.push_back(p);
        scores.push_back(sc);
    }
}

QString read_text(const QString& path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return QString::fromUtf8(f.readAll());
}

}  // namespace

class TestGreedy : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    QString model_bin_, tok_bin_, expected_path_;

    QString model_path(const QString& kind) const
    {
        if (kind == "llama2c")
            return model_bin_;
        return tmp_.path() + "/" + kind;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(tmp_.isValid());
        model_bin_ = zp::test::asset("models/stories260K.bin");
        tok_bin_ = zp::test::asset("tokenizers/tok512.bin");
        expected_path_ = zp::test::asset("models/stories260K.greedy200.txt");
        if (model_bin_.isEmpty() || tok_bin_.isEmpty() || expected_path_.isEmpty())
            return;  // each test skips with the reason
        auto m = model::Model::open(model_bin_.toStdString());
        exporter::export_hf(*m, (tmp_.path() + "/hf").toStdString());
        QDir().mkpath(tmp_.path() + "/hf-sharded");
        shard_model(tmp_.path() + "/hf", tmp_.path() + "/hf-sharded");
    }

    void config_from_header()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        auto m = model::Model::open(bin.toStdString());
        const auto& c = m->config();
        QCOMPARE(m->format(), std::string("llama2c"));
        QCOMPARE(c.hidden_size, 64);
        QCOMPARE(c.intermediate_size, 172);
        QCOMPARE(c.num_layers, 5);
        QCOMPARE(c.num_heads, 8);
        QCOMPARE(c.num_kv_heads, 4);
        QCOMPARE(c.vocab_size, 512);
        QCOMPARE(c.max_position, 512);
        QVERIFY(c.tie_word_embeddings);
        // The trained RMSNorm gains are far from 1: a loader that dropped them would still run.
        const double dev = (m->block(0).input_norm - 1.0).abs().max().item<double>();
        QVERIFY2(dev > 0.1, qPrintable(QString("max |gain - 1| = %1").arg(dev)));
    }

    void greedy200_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::newRow("llama2c") << "llama2c";
        QTest::newRow("hf") << "hf";
        QTest::newRow("hf-sharded") << "hf-sharded";
    }

    void greedy200()
    {
        QFETCH(QString, kind);
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        ZP_REQUIRE_ASSET(tokp, "tokenizers/tok512.bin");
        ZP_REQUIRE_ASSET(expected_path, "models/stories260K.greedy200.txt");
        auto m = model::Model::open(model_path(kind).toStdString());
        QCOMPARE(m->format(), std::string(kind == "llama2c" ? "llama2c" : "hf"));
        auto tok = tok::load_llama2c_tokenizer(tokp.toStdString(), 512);
        std::string text;
        model::generate_greedy(*m, {tok->bos_id()}, 200, {tok->bos_id()},
                               [&](int32_t prev, int32_t next) {
                                   text += tok->decode_piece(prev, next);
                                   return true;
                               });
        QCOMPARE(QString::fromStdString(text), read_text(expected_path));
    }

    // The KV-cache path (one token at a time) and the full forward pass (no cache, causal mask)
    // must give the same logits at every position; a batch of two equals each row alone.
    void forward_matches_kv_cache_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::newRow("llama2c") << "llama2c";
        QTest::newRow("hf") << "hf";
    }

    void forward_matches_kv_cache()
    {
        QFETCH(QString, kind);
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        auto m = model::Model::open(model_path(kind).toStdString());
        const int64_t T = 48;
        at::Tensor ids = random_ids(2, T, 7);
        ids.select(1, 0).fill_(1);
        at::Tensor full = model::model_forward(*m, ids);  // [2, T, V]
        QCOMPARE(full.sizes().vec(), std::vector<int64_t>({2, T, 512}));
        for (int64_t b = 0; b < 2; ++b) {
            model::Generator g(*m);
            double max_diff = 0.0;
            for (int64_t t = 0; t < T; ++t) {
                at::Tensor step = g.feed({static_cast<int32_t>(ids[b][t].item<int64_t>())});
                max_diff = std::max(max_diff, (step - full[b][t]).abs().max().item<double>());
            }
            QVERIFY2(max_diff < 1e-4,
                     qPrintable(QString("row %1: max |diff| = %2").arg(b).arg(max_diff)));
            at::Tensor alone = model::model_forward(*m, ids.narrow(0, b, 1));
            QVERIFY((alone[0] - full[b]).abs().max().item<double>() < 1e-4);
        }
    }

    // block_forward reports the inputs of the linear layers the quantization pipeline needs, and
    // a replaced block changes the model's output.
    void block_api()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        auto m = model::Model::open(bin.toStdString());
        const auto& c = m->config();
        at::Tensor ids = random_ids(3, 10, 11);
        at::Tensor h = model::embed_tokens(*m, ids, at::kCPU, at::kFloat);
        std::map<std::string, std::vector<int64_t>> seen;
        model::BlockWeights w = m->block(2);
        at::Tensor out = model::block_forward(
            c, w, h, 0, nullptr,
            [&](const std::string& n, const at::Tensor& x) { seen[n] = x.sizes().vec(); });
        QCOMPARE(out.sizes().vec(), h.sizes().vec());
        QCOMPARE(seen.size(), size_t(4));
        QCOMPARE(seen["q_proj"], std::vector<int64_t>({3, 10, 64}));
        QCOMPARE(seen["o_proj"], std::vector<int64_t>({3, 10, 64}));
        QCOMPARE(seen["gate_proj"], std::vector<int64_t>({3, 10, 64}));
        QCOMPARE(seen["down_proj"], std::vector<int64_t>({3, 10, 172}));

        at::Tensor before = model::model_forward(*m, ids);
        QVERIFY(!m->is_replaced(2));
        m->set_linear(2, "down_proj", w.down * 0.0);
        QVERIFY(m->is_replaced(2));
        QVERIFY((m->block(2).down).abs().max().item<double>() == 0.0);
        at::Tensor after = model::model_forward(*m, ids);
        QVERIFY((after - before).abs().max().item<double>() > 1e-3);
        QVERIFY_EXCEPTION_THROWN(m->set_linear(2, "down_proj", w.up), zp::InvalidArgument);
        m->reset_block(2);
        QVERIFY((model::model_forward(*m, ids) - before).abs().max().item<double>() == 0.0);
    }

    void tokenizer_round_trip_data()
    {
        QTest::addColumn<QString>("text");
        QTest::newRow("story") << "Once upon a time, there was a little girl named Lily.";
        QTest::newRow("quotes") << "Lily's mom said, \"Lily, let's go to the park.\"";
        QTest::newRow("newline") << "She was sad.\nThe end.";
        QTest::newRow("utf8-byte-fallback") << QString::fromUtf8(
            "caf\xc3\xa9 \xc3\xbc"
            "ber \xe4\xb8\xad 5");
    }

    void tokenizer_round_trip()
    {
        QFETCH(QString, text);
        ZP_REQUIRE_ASSET(tokp, "tokenizers/tok512.bin");
        auto tok = tok::load_llama2c_tokenizer(tokp.toStdString(), 512);
        QCOMPARE(tok->vocab_size(), 512);
        const std::string s = text.toStdString();
        std::vector<int32_t> ids = tok->encode(s, true);
        QCOMPARE(ids.front(), 1);
        QVERIFY(ids.size() < s.size() + 2);
        QCOMPARE(QString::fromStdString(tok->decode(ids)), text);
        std::string streamed;
        for (size_t i = 1; i < ids.size(); ++i)
            streamed += tok->decode_piece(ids[i - 1], ids[i]);
        QCOMPARE(QString::fromStdString(streamed), text);
    }

    // The heap-based merge makes exactly run.c's choices (scores tie in tok512: leftmost wins).
    void tokenizer_matches_run_c_data()
    {
        QTest::addColumn<QString>("asset");
        QTest::newRow("tinystories") << "text/tinystories_val.txt";
        QTest::newRow("wikitext2") << "text/wikitext2_test.raw";
        QTest::newRow("c4") << "text/c4_demo.jsonl";
    }

    void tokenizer_matches_run_c()
    {
        QFETCH(QString, asset);
        ZP_REQUIRE_ASSET(tokp, "tokenizers/tok512.bin");
        const QString path = zp::test::asset(asset);
        if (path.isEmpty())
            QSKIP(qPrintable("asset " + asset + " not found under ZP_ASSETS_DIR"));
        std::vector<std::string> pieces;
        std::vector<float> scores;
        read_tokenizer_bin(tokp, 512, pieces, scores);
        auto tok = tok::load_llama2c_tokenizer(tokp.toStdString(), 512);
        const std::string all = read_text(path).toStdString();
        for (size_t start : {size_t(0), all.size() / 3, all.size() / 2}) {
            // A slice starting on a character boundary, a few hundred bytes long.
            size_t b = start;
            while (b < all.size() && (static_cast<unsigned char>(all[b]) & 0xC0) == 0x80)
                ++b;
            size_t e = std::min(all.size(), b + 600);
            while (e < all.size() && (static_cast<unsigned char>(all[e]) & 0xC0) == 0x80)
                ++e;
            const std::string text = all.substr(b, e - b);
            QCOMPARE(tok->encode(text, true), naive_encode(pieces, scores, text));
            QCOMPARE(tok->decode(tok->encode(text, true)), text);
        }
    }

    void tokenizer_merges()
    {
        ZP_REQUIRE_ASSET(tokp, "tokenizers/tok512.bin");
        auto tok = tok::load_llama2c_tokenizer(tokp.toStdString(), 512);
        // " the" (id 265) is one piece after merges; a whole code point in the vocabulary is one
        // id (\u00e9 is 485); a missing one falls back to its bytes, id = byte + 3 (410 is " ").
        QCOMPARE(tok->encode("the", true), std::vector<int32_t>({1, 265}));
        QCOMPARE(tok->encode("\xc3\xa9", false), std::vector<int32_t>({410, 485}));
        QCOMPARE(tok->encode("\xc3\xbc", false), std::vector<int32_t>({410, 0xc3 + 3, 0xbc + 3}));
        QCOMPARE(tok->decode({1, 0xc3 + 3, 0xbc + 3}), std::string("\xc3\xbc"));
        QVERIFY(tok->encode("", true) == std::vector<int32_t>({1}));
    }

    // The command line prints the same text (streamed, plus the final newline of run.c).
    void cli_generate_and_convert()
    {
        ZP_REQUIRE_ASSET(bin, "models/stories260K.bin");
        ZP_REQUIRE_ASSET(tokp, "tokenizers/tok512.bin");
        ZP_REQUIRE_ASSET(expected_path, "models/stories260K.greedy200.txt");
        const QString cli = zp::test::cli_path();
        if (cli.isEmpty() || !QFileInfo::exists(cli))
            QSKIP("zeropoint-cli not built (ZP_CLI unset or missing)");
        const QString out_dir = tmp_.path() + "/cli-hf";
        QProcess conv;
        conv.start(cli, {"convert", "--model", bin, "--out", out_dir});
        QVERIFY(conv.waitForFinished(120000));
        QCOMPARE(conv.exitCode(), 0);
        QVERIFY(QFileInfo::exists(out_dir + "/config.json"));
        QVERIFY(QFileInfo::exists(out_dir + "/model.safetensors"));
        for (const QString& model : {bin, out_dir}) {
            QProcess p;
            p.start(cli, {"generate", "--model", model, "--tokenizer", tokp, "--steps", "200"});
            QVERIFY(p.waitForFinished(120000));
            QCOMPARE(p.exitCode(), 0);
            QCOMPARE(QString::fromUtf8(p.readAllStandardOutput()), read_text(expected_path) + "\n");
        }
    }
};

QTEST_GUILESS_MAIN(TestGreedy)
#include "tst_greedy.moc"
