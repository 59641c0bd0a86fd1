// llama.cpp's tokenizer test vectors (tokenizers/ggml-vocab-*.gguf.inp/.out): every string must
// encode to exactly the reference ids, through SentencePiece itself and through tokenizer.json
// files this test writes from the same vocabularies (SentencePiece-style BPE with byte fallback,
// and GPT-2 byte-level BPE with merges as "a b" strings and as [a, b] pairs).
//
// How llama.cpp's test-tokenizer-0 reads them: the .inp text is cut at every
// "\n__ggml_vocab_test__\n" (so a string keeps its own leading spaces and inner newlines, and may
// be empty), the .out has one line of space-separated ids per string (surrounding blanks stripped),
// and it tokenizes with add_special = false: no BOS. The SentencePiece model still adds its
// dummy-prefix space itself.
#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest/QtTest>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>

#include "core/common/error.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/common/test_util.h"

using json = nlohmann::json;
using zp::tok::Tokenizer;

namespace {

const char* const metaspace = "\xE2\x96\x81";  // U+2581

struct VectorFile {
    QString tokenizer_kind;  // which tokenizer encodes it
    QString base;            // tokenizers/ggml-vocab-*.gguf
};

// Tokenizers under test: (row prefix, vectors file).
const std::vector<VectorFile>& vector_files()
{
    static const std::vector<VectorFile> files = {
        {"spm-model", "tokenizers/ggml-vocab-llama-spm.gguf"},
        {"spm-json", "tokenizers/ggml-vocab-llama-spm.gguf"},
        {"gpt2-json-strings", "tokenizers/ggml-vocab-gpt-2.gguf"},
        {"gpt2-json-pairs", "tokenizers/ggml-vocab-gpt-2.gguf"},
    };
    return files;
}

QByteArray read_all(const QString& path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return f.readAll();
}

// The strings of an .inp file, cut as llama.cpp's test cuts them.
std::vector<QByteArray> read_inputs(const QString& path)
{
    const QByteArray raw = read_all(path);
    const QByteArray sep = "\n__ggml_vocab_test__\n";
    std::vector<QByteArray> out;
    qsizetype pos = 0;
    while (pos < raw.size()) {
        const qsizetype next = raw.indexOf(sep, pos);
        if (next < 0) {
            out.push_back(raw.mid(pos));
            break;
        }
        out.push_back(raw.mid(pos, next - pos));
        pos = next + sep.size();
    }
    return out;
}

// The expected ids of an .out file, one normalized "1 2 3" line per string.
std::vector<QString> read_expected(const QString& path)
{
    std::vector<QString> out;
    for (const QByteArray& line : read_all(path).split('\n'))
        out.push_back(QString::fromUtf8(line).simplified());
    if (!out.empty() && out.back().isEmpty() && read_all(path).endsWith('\n'))
        out.pop_back();
    return out;
}

QString join_ids(const std::vector<int32_t>& ids)
{
    QStringList parts;
    for (int32_t id : ids)
        parts << QString::number(id);
    return parts.join(' ');
}

std::vector<std::string> utf8_chars(const std::string& s)
{
    std::vector<std::string> out;
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
        out.push_back(s.substr(i, n));
        i += n;
    }
    return out;
}

// A Llama-2-style tokenizer.json from a SentencePiece model: the vocabulary as is, and one merge
// per way of cutting a normal piece into two normal pieces, ranked by the merged piece's score
// (SentencePiece's BPE merges the best-scoring pair first), then by the halves' ids.
json sentencepiece_to_json(const std::string& model_path)
{
    using Kind = zp::tok::SentencePieceEntry::Kind;
    const auto entries = zp::tok::read_sentencepiece_vocab(model_path);
    json vocab = json::object();
    std::map<std::string, int32_t> ids;
    for (size_t i = 0; i < entries.size(); ++i) {
        vocab[entries[i].piece] = static_cast<int32_t>(i);
        ids.emplace(entries[i].piece, static_cast<int32_t>(i));
    }
    struct Merge {
        std::string left, right;
        float score;
        int32_t left_id, right_id;
    };
    std::vector<Merge> merges;
    for (const auto& e : entries) {
        if (e.kind != Kind::normal)
            continue;
        const auto chars = utf8_chars(e.piece);
        std::string left;
        for (size_t k = 1; k < chars.size(); ++k) {
            left += chars[k - 1];
            std::string right;
            for (size_t q = k; q < chars.size(); ++q)
                right += chars[q];
            const auto l = ids.find(left), r = ids.find(right);
            if (l == ids.end() || r == ids.end())
                continue;
            if (entries[l->second].kind != Kind::normal || entries[r->second].kind != Kind::normal)
                continue;
            merges.push_back({left, right, e.score, l->second, r->second});
        }
    }
    std::stable_sort(merges.begin(), merges.end(), [](const Merge& a, const Merge& b) {
        if (a.score != b.score)
            return a.score > b.score;
        return a.left_id != b.left_id ? a.left_id < b.left_id : a.right_id < b.right_id;
    });
    json merge_list = json::array();
    for (const auto& m : merges)
        merge_list.push_back(m.left + " " + m.right);

    json added = json::array();
    for (size_t i = 0; i < entries.size(); ++i)
        if (entries[i].kind == Kind::control || entries[i].kind == Kind::unknown)
            added.push_back({{"id", i},
                             {"content", entries[i].piece},
                             {"special", true},
                             {"normalized", false}});

    json j;
    j["version"] = "1.0";
    j["added_tokens"] = added;
    j["normalizer"] = {
        {"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", metaspace}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", metaspace}}}}};
    j["pre_tokenizer"] = nullptr;
    j["post_processor"] = {
        {"type", "TemplateProcessing"},
        {"single",
         {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}};
    j["decoder"] = {{"type", "Sequence"},
                    {"decoders",
                     {{{"type", "Replace"}, {"pattern", {{"String", metaspace}}}, {"content", " "}},
                      {{"type", "ByteFallback"}},
                      {{"type", "Fuse"}},
                      {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
    j["model"] = {{"type", "BPE"},       {"dropout", nullptr},    {"unk_token", "<unk>"},
                  {"fuse_unk", true},    {"byte_fallback", true}, {"vocab", vocab},
                  {"merges", merge_list}};
    return j;
}

// GPT-2 as a byte-level tokenizer.json from vocab.json + merges.txt.
json gpt2_to_json(const QString& vocab_path, const QString& merges_path, bool pairs)
{
    json j;
    j["version"] = "1.0";
    j["added_tokens"] = {{{"id", 50256}, {"content", "<|endoftext|>"}, {"special", true}}};
    j["normalizer"] = nullptr;
    j["pre_tokenizer"] = {{"type", "ByteLevel"},
                          {"add_prefix_space", false},
                          {"trim_offsets", true},
                          {"use_regex", true}};
    j["decoder"] = {{"type", "ByteLevel"},
                    {"add_prefix_space", true},
                    {"trim_offsets", true},
                    {"use_regex", true}};
    json merges = json::array();
    for (const QByteArray& line : read_all(merges_path).split('\n')) {
        if (line.isEmpty() || line.startsWith("#version"))
            continue;
        const std::string s = line.toStdString();
        const size_t sp = s.find(' ');
        if (pairs)
            merges.push_back({s.substr(0, sp), s.substr(sp + 1)});
        else
            merges.push_back(s);
    }
    j["model"] = {{"type", "BPE"},
                  {"vocab", json::parse(read_all(vocab_path).toStdString())},
                  {"merges", merges}};
    return j;
}

bool write_file(const QString& path, const std::string& text)
{
    QDir().mkpath(QFileInfo(path).absolutePath());
    QFile f(path);
    return f.open(QIODevice::WriteOnly) &&
           f.write(text.data(), qint64(text.size())) == qint64(text.size());
}

}  // namespace

class TstTokenizerVectors : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    std::map<QString, std::unique_ptr<Tokenizer>> cache_;

    // The tokenizer of a kind, built once; nullptr plus a skip reason where an asset is absent.
    const Tokenizer* tokenizer(const QString& kind, QString& skip)
    {
        const auto it = cache_.find(kind);
        if (it != cache_.end())
            return it->second.get();
        std::unique_ptr<Tokenizer> tok;
        if (kind.startsWith("spm")) {
            const QString model = zp::test::asset("tokenizers/llama2_tokenizer.model");
            if (model.isEmpty()) {
                skip = "asset tokenizers/llama2_tokenizer.model not found under ZP_ASSETS_DIR";
                return nullptr;
            }
            if (const std::string why = zp::tok::sentencepiece_unavailable(); !why.empty()) {
                skip = QString::fromStdString(why) + ": the .model cannot be read";
                return nullptr;
            }
            if (kind == "spm-model") {
                tok = zp::tok::load_tokenizer(model.toStdString());
            } else {
                const QString dir = tmp_.filePath(kind);
                if (!write_file(dir + "/tokenizer.json",
                                sentencepiece_to_json(model.toStdString()).dump())) {
                    skip = "cannot write " + dir;
                    return nullptr;
                }
                tok = zp::tok::load_tokenizer(
                    dir.toStdString());  // a directory: finds tokenizer.json
            }
        } else {
            const QString vocab = zp::test::asset("tokenizers/gpt2-vocab.json");
            const QString merges = zp::test::asset("tokenizers/gpt2-merges.txt");
            if (vocab.isEmpty() || merges.isEmpty()) {
                skip =
                    "assets tokenizers/gpt2-vocab.json, gpt2-merges.txt not found under "
                    "ZP_ASSETS_DIR";
                return nullptr;
            }
            const QString path = tmp_.filePath(kind + "/tokenizer.json");
            if (!write_file(path, gpt2_to_json(vocab, merges, kind.endsWith("pairs")).dump())) {
                skip = "cannot write " + path;
                return nullptr;
            }
            tok = zp::tok::load_tokenizer(path.toStdString());
        }
        return (cache_[kind] = std::move(tok)).get();
    }

private Q_SLOTS:
    void initTestCase() { QVERIFY(tmp_.isValid()); }

    // The files themselves: as many strings as expected-id lines (else the cut is wrong).
    void files_pair_up_data()
    {
        QTest::addColumn<QString>("base");
        QTest::addColumn<int>("strings");
        QTest::newRow("llama-spm") << "tokenizers/ggml-vocab-llama-spm.gguf" << 46;
        QTest::newRow("gpt-2") << "tokenizers/ggml-vocab-gpt-2.gguf" << 46;
    }
    void files_pair_up()
    {
        QFETCH(QString, base);
        QFETCH(int, strings);
        ZP_REQUIRE_ASSET(inp, base + ".inp");
        ZP_REQUIRE_ASSET(out, base + ".out");
        QCOMPARE(int(read_inputs(inp).size()), strings);
        QCOMPARE(int(read_expected(out).size()), strings);
    }

    void encode_matches_reference_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QString>("base");
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<QString>("expected");
        for (const VectorFile& f : vector_files()) {
            const QString inp = zp::test::asset(f.base + ".inp");
            const QString out = zp::test::asset(f.base + ".out");
            if (inp.isEmpty() || out.isEmpty()) {
                // One row that skips, saying why, rather than no rows at all.
                QTest::newRow(qPrintable(f.tokenizer_kind + "/absent"))
                    << f.tokenizer_kind << f.base << QByteArray() << QString();
                continue;
            }
            const auto texts = read_inputs(inp);
            const auto expected = read_expected(out);
            for (size_t i = 0; i < texts.size(); ++i)
                QTest::addRow("%s/%02d", qPrintable(f.tokenizer_kind), int(i))
                    << f.tokenizer_kind << f.base << texts[i]
                    << (i < expected.size() ? expected[i] : QString("?"));
        }
    }
    void encode_matches_reference()
    {
        QFETCH(QString, kind);
        QFETCH(QString, base);
        QFETCH(QByteArray, text);
        QFETCH(QString, expected);
        ZP_REQUIRE_ASSET(inp, base + ".inp");
        QString skip;
        const Tokenizer* tok = tokenizer(kind, skip);
        if (!tok)
            QSKIP(qPrintable(skip));
        const auto ids = tok->encode(text.toStdString(), /*add_bos=*/false);
        QCOMPARE(join_ids(ids), expected);
    }

    // Decoding the ids gives the string back (these strings are all valid UTF-8 and, for the
    // SentencePiece vocabulary, hold no characters outside it).
    void decode_round_trips_data() { encode_matches_reference_data(); }
    void decode_round_trips()
    {
        QFETCH(QString, kind);
        QFETCH(QString, base);
        QFETCH(QByteArray, text);
        ZP_REQUIRE_ASSET(inp, base + ".inp");
        QString skip;
        const Tokenizer* tok = tokenizer(kind, skip);
        if (!tok)
            QSKIP(qPrintable(skip));
        const std::string s = text.toStdString();
        const auto ids = tok->encode(s, true);
        QCOMPARE(QByteArray::fromStdString(tok->decode(ids)), text);
        // Streaming: the pieces one at a time give the same text.
        std::string streamed;
        int32_t prev = ids.empty() ? -1 : ids[0];
        for (size_t i = 1; i < ids.size(); ++i) {
            streamed += tok->decode_piece(prev, ids[i]);
            prev = ids[i];
        }
        QCOMPARE(QByteArray::fromStdString(streamed), text);
    }

    void bos_and_vocab_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<int>("bos");
        QTest::addColumn<int>("eos");
        QTest::addColumn<int>("vocab");
        QTest::newRow("spm-model") << "spm-model" << 1 << 2 << 32000;
        QTest::newRow("spm-json") << "spm-json" << 1 << 2 << 32000;
        QTest::newRow("gpt2-json") << "gpt2-json-strings" << 50256 << 50256 << 50257;
    }
    void bos_and_vocab()
    {
        QFETCH(QString, kind);
        QFETCH(int, bos);
        QFETCH(int, eos);
        QFETCH(int, vocab);
        QString skip;
        const Tokenizer* tok = tokenizer(kind, skip);
        if (!tok)
            QSKIP(qPrintable(skip));
        QCOMPARE(tok->bos_id(), bos);
        QCOMPARE(tok->eos_id(), eos);
        QCOMPARE(tok->vocab_size(), vocab);
        const auto ids = tok->encode("Hello", true);
        QVERIFY(!ids.empty());
        QCOMPARE(ids.front(), bos);
        zp::tok::check_vocab_matches(*tok, vocab, "tokenizer", "model");  // exact size: no throw
    }

    // Special tokens written in the text are cut out before pre-tokenization (Hugging Face's
    // added_tokens); the text after one is a segment of its own (Llama-2: it gets its own "▁").
    void special_tokens_split_first_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<QString>("expected");
        QTest::newRow("gpt2/endoftext inside")
            << "gpt2-json-strings" << QByteArray("Hello<|endoftext|> world") << "15496 50256 995";
        QTest::newRow("gpt2/endoftext twice")
            << "gpt2-json-pairs" << QByteArray("<|endoftext|><|endoftext|>") << "50256 50256";
        QTest::newRow("spm-json/<s> then text")
            << "spm-json" << QByteArray("<s>Hello") << "1 15043";
    }
    void special_tokens_split_first()
    {
        QFETCH(QString, kind);
        QFETCH(QByteArray, text);
        QFETCH(QString, expected);
        QString skip;
        const Tokenizer* tok = tokenizer(kind, skip);
        if (!tok)
            QSKIP(qPrintable(skip));
        QCOMPARE(join_ids(tok->encode(text.toStdString(), false)), expected);
    }

    // Arbitrary bytes (invalid UTF-8 included) encode without error into ids inside the vocabulary;
    // byte-level and byte-fallback models lose nothing, so the decoded bytes match where valid.
    void arbitrary_bytes_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::newRow("spm-model") << "spm-model";
        QTest::newRow("spm-json") << "spm-json";
        QTest::newRow("gpt2-json") << "gpt2-json-strings";
    }
    void arbitrary_bytes()
    {
        QFETCH(QString, kind);
        QString skip;
        const Tokenizer* tok = tokenizer(kind, skip);
        if (!tok)
            QSKIP(qPrintable(skip));
        std::mt19937 rng(1234);
        for (int round = 0; round < 20; ++round) {
            std::string text(size_t(64 + 97 * round), '\0');
            for (char& ch : text)
                ch = static_cast<char>(rng() & 0xFF);
            const auto ids = tok->encode(text, true);
            for (int32_t id : ids)
                QVERIFY(id >= 0 && id < tok->vocab_size());
            (void)tok->decode(ids);
        }
    }

    // Throughput over WikiText-2 (reported, not asserted: a regression shows up in the log).
    void encode_large_text_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::newRow("spm-model") << "spm-model";
        QTest::newRow("spm-json") << "spm-json";
        QTest::newRow("gpt2-json") << "gpt2-json-strings";
    }
    void encode_large_text()
    {
        QFETCH(QString, kind);
        ZP_REQUIRE_ASSET(text_path, "text/wikitext2_test.raw");
        QString skip;
        const Tokenizer* tok = tokenizer(kind, skip);
        if (!tok)
            QSKIP(qPrintable(skip));
        const std::string text = read_all(text_path).toStdString();
        const auto t0 = std::chrono::steady_clock::now();
        const auto ids = tok->encode(text, false);
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        qInfo("%s: %zu bytes -> %zu tokens in %.3f s (%.0f tokens/s)", qPrintable(kind),
              text.size(), ids.size(), s, ids.size() / std::max(s, 1e-9));
        QVERIFY(ids.size() > text.size() / 8);
        QVERIFY2(tok->decode(ids) == text, "decode(encode(text)) differs from the text");
    }
};

QTEST_GUILESS_MAIN(TstTokenizerVectors)
#include "tst_tokenizer_vectors.moc"
