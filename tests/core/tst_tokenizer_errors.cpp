// One test per failure mode of the tokenizer loaders: each asserts the exception type and that
// the message names the file and the field, so a user can act on it without a debugger.
#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest/QtTest>

#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/tokenizer/tokenizer.h"

using json = nlohmann::json;

namespace {

// Runs fn; true if it threw exactly an E (its message in msg), else msg says what happened.
template <class E>
bool throws(const std::function<void()>& fn, QString& msg)
{
    try {
        fn();
        msg = "no exception was thrown";
        return false;
    } catch (const E& e) {
        msg = QString::fromStdString(e.what());
        return true;
    } catch (const std::exception& e) {
        msg = QString("another exception was thrown: ") + e.what();
        return false;
    }
}

// A small valid byte-level-free BPE tokenizer.json: a, b, c, ab, abc, <unk>.
json small_tokenizer()
{
    json j;
    j["model"] = {{"type", "BPE"},
                  {"unk_token", "<unk>"},
                  {"vocab", {{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"abc", 4}, {"<unk>", 5}}},
                  {"merges", {"a b", "ab c"}}};
    return j;
}

}  // namespace

class TstTokenizerErrors : public QObject {
    Q_OBJECT

private:
    QTemporaryDir tmp_;
    int counter_ = 0;

    // Writes bytes to a fresh file named `name` in its own folder; returns its path.
    QString write(const QString& name, const QByteArray& bytes)
    {
        const QString dir = tmp_.filePath(QString::number(counter_++));
        QDir().mkpath(dir);
        const QString path = dir + "/" + name;
        QFile f(path);
        if (!f.open(QIODevice::WriteOnly) || f.write(bytes) != bytes.size())
            return {};
        return path;
    }
    QString write_json(const json& j)
    {
        return write("tokenizer.json", QByteArray::fromStdString(j.dump()));
    }

    // Loads path and checks: exception type E, message names the file and every word in fields.
    template <class E>
    void expect(const QString& path, const QStringList& fields)
    {
        QVERIFY(!path.isEmpty());
        QString msg;
        QVERIFY2(throws<E>([&] { zp::tok::load_tokenizer(path.toStdString()); }, msg),
                 qPrintable(msg));
        QVERIFY2(msg.contains(path), qPrintable("message does not name the file: " + msg));
        for (const QString& f : fields)
            QVERIFY2(msg.contains(f), qPrintable("message lacks '" + f + "': " + msg));
    }

private Q_SLOTS:
    void initTestCase() { QVERIFY(tmp_.isValid()); }

    // The small file itself loads and encodes (so the failures below are caused by the edits).
    void small_tokenizer_loads()
    {
        const QString path = write_json(small_tokenizer());
        const auto tok = zp::tok::load_tokenizer(path.toStdString());
        QCOMPARE(tok->vocab_size(), 6);
        QCOMPARE(tok->encode("abcx", false), (std::vector<int32_t>{4, 5}));
    }

    void missing_file_data()
    {
        QTest::addColumn<QString>("name");
        QTest::newRow("tokenizer.json") << "tokenizer.json";
        QTest::newRow("tokenizer.model") << "tokenizer.model";
        QTest::newRow("tokenizer.bin") << "tokenizer.bin";
        QTest::newRow("empty directory") << "";
    }
    void missing_file()
    {
        QFETCH(QString, name);
        const QString dir = tmp_.filePath("missing-" + QString::number(counter_++));
        QDir().mkpath(dir);
        const QString path = name.isEmpty() ? dir : dir + "/" + name;
        expect<zp::IoError>(path, {});
    }

    void malformed_json_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::newRow("truncated")
            << QByteArray("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0");
        QTest::newRow("not json") << QByteArray("{ this is not json }");
        QTest::newRow("trailing comma") << QByteArray("{\"model\": {\"type\": \"BPE\",}}");
        QTest::newRow("empty") << QByteArray();
    }
    void malformed_json()
    {
        QFETCH(QByteArray, bytes);
        expect<zp::FormatError>(write("tokenizer.json", bytes), {"malformed JSON"});
    }

    void missing_vocab_data()
    {
        QTest::addColumn<QString>("edit");
        QTest::addColumn<QString>("field");
        QTest::newRow("no model") << "no model"
                                  << "model";
        QTest::newRow("no model.vocab") << "no vocab"
                                        << "model.vocab";
        QTest::newRow("model.vocab is an array") << "vocab array"
                                                 << "model.vocab";
        QTest::newRow("model.vocab id is a string") << "vocab string id"
                                                    << "model.vocab[\"b\"]";
        QTest::newRow("model.vocab id absurdly large") << "vocab huge id"
                                                       << "model.vocab";
    }
    void missing_vocab()
    {
        QFETCH(QString, edit);
        QFETCH(QString, field);
        json j = small_tokenizer();
        if (edit == "no model")
            j.erase("model");
        if (edit == "no vocab")
            j["model"].erase("vocab");
        if (edit == "vocab array")
            j["model"]["vocab"] = json::array({"a", "b"});
        if (edit == "vocab huge id")
            j["model"]["vocab"]["b"] = 2000000000;
        if (edit == "vocab string id")
            j["model"]["vocab"]["b"] = "1";
        expect<zp::FormatError>(write_json(j), {field});
    }

    void unsupported_model_type_data()
    {
        QTest::addColumn<QString>("type");
        QTest::newRow("WordPiece") << "WordPiece";
        QTest::newRow("Unigram") << "Unigram";
        QTest::newRow("WordLevel") << "WordLevel";
    }
    void unsupported_model_type()
    {
        QFETCH(QString, type);
        json j = small_tokenizer();
        j["model"]["type"] = type.toStdString();
        expect<zp::FormatError>(write_json(j), {"model.type", type});
    }

    void bad_merge_data()
    {
        QTest::addColumn<QString>("merges");  // JSON
        QTest::addColumn<QStringList>("fields");
        QTest::newRow("string names absent token")
            << "[\"a b\", \"x c\"]" << QStringList{"model.merges[1]", "\"x\""};
        QTest::newRow("pair names absent token")
            << "[[\"a\", \"b\"], [\"ab\", \"zz\"]]" << QStringList{"model.merges[1]", "\"zz\""};
        QTest::newRow("merged token absent")
            << "[\"a b\", \"b c\"]" << QStringList{"model.merges[1]", "\"bc\""};
        QTest::newRow("neither string nor pair")
            << "[\"a b\", 12]" << QStringList{"model.merges[1]", "a string or a pair"};
        QTest::newRow("string without a space") << "[\"ab\"]" << QStringList{"model.merges[0]"};
        QTest::newRow("pair of three")
            << "[[\"a\", \"b\", \"c\"]]" << QStringList{"model.merges[0]", "a string or a pair"};
    }
    void bad_merge()
    {
        QFETCH(QString, merges);
        QFETCH(QStringList, fields);
        json j = small_tokenizer();
        j["model"]["merges"] = json::parse(merges.toStdString());
        expect<zp::FormatError>(write_json(j), fields);
    }

    // Pipeline parts outside what is supported are refused by name, never silently skipped.
    void unsupported_pipeline_data()
    {
        QTest::addColumn<QString>("part");
        QTest::addColumn<QString>("value");  // JSON
        QTest::addColumn<QString>("field");
        QTest::newRow("pre_tokenizer BertPreTokenizer") << "pre_tokenizer"
                                                        << "{\"type\": \"BertPreTokenizer\"}"
                                                        << "pre_tokenizer.type";
        QTest::newRow("normalizer Lowercase in Sequence")
            << "normalizer"
            << "{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"}, {\"type\": "
               "\"Lowercase\"}]}"
            << "normalizer.normalizers[1].type";
        QTest::newRow("decoder WordPiece") << "decoder"
                                           << "{\"type\": \"WordPiece\"}"
                                           << "decoder.type";
        QTest::newRow("Split regex does not compile")
            << "pre_tokenizer"
            << "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(ab\"}, \"behavior\": "
               "\"Isolated\"}"
            << "pre_tokenizer.pattern.Regex";
        QTest::newRow("Split behavior unknown")
            << "pre_tokenizer"
            << "{\"type\": \"Split\", \"pattern\": {\"String\": \" \"}, \"behavior\": \"Sideways\"}"
            << "pre_tokenizer.behavior";
    }
    void unsupported_pipeline()
    {
        QFETCH(QString, part);
        QFETCH(QString, value);
        QFETCH(QString, field);
#if !defined(ZP_HAVE_PCRE2)
        if (value.contains("Regex"))
            QSKIP("built without PCRE2");
#endif
        json j = small_tokenizer();
        j[part.toStdString()] = json::parse(value.toStdString());
        expect<zp::FormatError>(write_json(j), {field});
    }

    void truncated_llama2c_data()
    {
        QTest::addColumn<int>("cut");  // bytes kept of a valid 3-token file
        QTest::addColumn<QString>("field");
        // Layout: int32 max_token_length, then per token float score, int32 len, bytes.
        // Tokens "<unk>" (4+4+5), "<s>" (4+4+3), "hello" (4+4+5): total 4 + 13 + 11 + 13 = 41.
        QTest::newRow("header cut") << 2 << "max_token_length";
        QTest::newRow("score/length cut") << 4 + 13 + 11 + 6 << "token 2";
        QTest::newRow("bytes cut") << 4 + 13 + 11 + 10 << "token 2";
    }
    void truncated_llama2c()
    {
        QFETCH(int, cut);
        QFETCH(QString, field);
        QByteArray bytes;
        auto put_i32 = [&](int32_t v) { bytes.append(reinterpret_cast<const char*>(&v), 4); };
        auto put_f32 = [&](float v) { bytes.append(reinterpret_cast<const char*>(&v), 4); };
        put_i32(5);
        for (const char* s : {"<unk>", "<s>", "hello"}) {
            put_f32(0.0f);
            put_i32(int32_t(std::strlen(s)));
            bytes.append(s);
        }
        QCOMPARE(bytes.size(), 41);
        // The whole file loads (so the cut is what fails).
        const QString whole = write("tokenizer.bin", bytes);
        QCOMPARE(zp::tok::load_tokenizer(whole.toStdString())->vocab_size(), 3);
        expect<zp::FormatError>(write("tokenizer.bin", bytes.left(cut)), {field});
    }

    void bad_sentencepiece_model()
    {
        if (const std::string why = zp::tok::sentencepiece_unavailable(); !why.empty())
            QSKIP(why.c_str());
        expect<zp::FormatError>(
            write("tokenizer.model", QByteArray("\x0a\x05hello not a protobuf", 20)),
            {"SentencePiece"});
    }

    void vocab_mismatch_data()
    {
        QTest::addColumn<int>("model_vocab");
        QTest::addColumn<bool>("fails");
        QTest::newRow("model smaller by 2") << 4 << true;
        QTest::newRow("model smaller by 1") << 5 << true;
        QTest::newRow("same size") << 6 << false;
        QTest::newRow("model padded larger") << 8 << false;
    }
    void vocab_mismatch()
    {
        QFETCH(int, model_vocab);
        QFETCH(bool, fails);
        const QString tok_path = write_json(small_tokenizer());
        const auto tok = zp::tok::load_tokenizer(tok_path.toStdString());
        const std::string model_path = "/models/tiny/model.safetensors";
        QString msg;
        const bool threw = throws<zp::FormatError>(
            [&] {
                zp::tok::check_vocab_matches(*tok, model_vocab, tok_path.toStdString(), model_path);
            },
            msg);
        QCOMPARE(threw, fails);
        if (!fails)
            return;
        QVERIFY2(msg.contains(tok_path), qPrintable(msg));
        QVERIFY2(msg.contains(QString::fromStdString(model_path)), qPrintable(msg));
        QVERIFY2(msg.contains("vocab"), qPrintable(msg));
        QVERIFY2(msg.contains(QString::number(model_vocab)) && msg.contains("6"), qPrintable(msg));
    }
};

QTEST_GUILESS_MAIN(TstTokenizerErrors)
#include "tst_tokenizer_errors.moc"
