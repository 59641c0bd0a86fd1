// tokenizer.json pre-tokenizers, normalizers, added tokens and decoders, checked word by word.
// Each case builds a tokenizer whose vocabulary holds every character of the input plus the
// expected words, with ignore_merges: a word that the pre-tokenizer produces exactly comes out as
// one id, anything else falls apart into characters, so the ids spell out the split.
// Expected splits are the documented behaviour of Hugging Face tokenizers and tiktoken.
#include <QtTest/QtTest>

#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/tokenizer/tokenizer.h"

using json = nlohmann::json;

namespace {

const char* const gpt2_pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char* const llama3_pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const qwen2_pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

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

// A tokenizer.json around the given parts; vocabulary: <unk>, the words (split at '|'), every
// character of text and of the words, and the added tokens given.
std::unique_ptr<zp::tok::Tokenizer> make(const std::string& text, const QString& words,
                                         const json& pre_tokenizer,
                                         const json& normalizer = nullptr,
                                         const json& added = json::array(),
                                         const json& decoder = nullptr)
{
    json vocab = json::object();
    auto add = [&](const std::string& p) {
        if (!vocab.contains(p))
            vocab[p] = int(vocab.size());
    };
    add("<unk>");
    for (const QString& w : words.split('|'))
        add(w.toStdString());
    for (const auto& c : utf8_chars(text))
        add(c);
    for (const QString& w : words.split('|'))
        for (const auto& c : utf8_chars(w.toStdString()))
            add(c);
    json added_tokens = json::array();
    for (const auto& a : added) {
        json t = a;
        t["id"] = int(vocab.size()) + int(added_tokens.size());
        added_tokens.push_back(t);
    }
    json j;
    j["added_tokens"] = added_tokens;
    j["normalizer"] = normalizer;
    j["pre_tokenizer"] = pre_tokenizer;
    j["decoder"] = decoder;
    j["model"] = {{"type", "BPE"},
                  {"unk_token", "<unk>"},
                  {"ignore_merges", true},
                  {"vocab", vocab},
                  {"merges", json::array()}};
    return zp::tok::load_hf_tokenizer_from_json(j.dump(), "test tokenizer.json");
}

QString split_of(const zp::tok::Tokenizer& tok, const std::string& text)
{
    QStringList parts;
    for (int32_t id : tok.encode(text, false))
        parts << QString::fromStdString(tok.piece(id));
    return parts.join('|');
}

json split_regex(const char* pattern, const char* behavior = "Isolated", bool invert = false)
{
    return {{"type", "Split"},
            {"pattern", {{"Regex", pattern}}},
            {"behavior", behavior},
            {"invert", invert}};
}

}  // namespace

class TstTokenizerPreTokenizers : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void regex_split_data()
    {
        QTest::addColumn<QString>("pattern");
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("words");
        QTest::newRow("gpt2/words") << gpt2_pattern << "Hello world"
                                    << "Hello| world";
        QTest::newRow("gpt2/contractions are case-sensitive") << gpt2_pattern << "I'M here's"
                                                              << "I|'|M| here|'s";
        QTest::newRow("gpt2/numbers stay whole") << gpt2_pattern << "123456 abc"
                                                 << "123456| abc";
        QTest::newRow("gpt2/leading spaces") << gpt2_pattern << "  Hello"
                                             << " | Hello";
        QTest::newRow("gpt2/newlines") << gpt2_pattern << "a\n\nb"
                                       << "a|\n|\n|b";
        QTest::newRow("gpt2/non-latin letters") << gpt2_pattern << "нещо на"
                                                << "нещо| на";
        QTest::newRow("llama3/contractions ignore case") << llama3_pattern << "I'M HERE"
                                                         << "I|'M| HERE";
        QTest::newRow("llama3/digits in threes") << llama3_pattern << "1234567"
                                                 << "123|456|7";
        QTest::newRow("llama3/newlines kept together") << llama3_pattern << "hello\n\nworld"
                                                       << "hello|\n\n|world";
        QTest::newRow("llama3/leading spaces") << llama3_pattern << "  Hello"
                                               << " | Hello";
        QTest::newRow("llama3/punctuation run") << llama3_pattern << "a...!"
                                                << "a|...!";
        QTest::newRow("llama3/letter glued to punctuation") << llama3_pattern << "(hello"
                                                            << "(hello";
        QTest::newRow("llama3/CJK letters") << llama3_pattern
                                            << " ?\xE6\x88\x91\xE6\x83\xB3"
                                               "apple"
                                            << " ?|\xE6\x88\x91\xE6\x83\xB3"
                                               "apple";
        QTest::newRow("qwen2/single digits") << qwen2_pattern << "x2024"
                                             << "x|2|0|2|4";
    }
    void regex_split()
    {
#if !defined(ZP_HAVE_PCRE2)
        QSKIP("built without PCRE2");
#endif
        QFETCH(QString, pattern);
        QFETCH(QString, text);
        QFETCH(QString, words);
        const auto tok = make(text.toStdString(), words, split_regex(pattern.toUtf8().constData()));
        QCOMPARE(split_of(*tok, text.toStdString()), words);
    }

    // Hugging Face's documented example: "the-final--countdown" split on "-".
    void split_behavior_data()
    {
        QTest::addColumn<QString>("behavior");
        QTest::addColumn<bool>("invert");
        QTest::addColumn<QString>("words");
        QTest::newRow("Removed") << "Removed" << false << "the|final|countdown";
        QTest::newRow("Isolated") << "Isolated" << false << "the|-|final|-|-|countdown";
        QTest::newRow("MergedWithPrevious")
            << "MergedWithPrevious" << false << "the-|final-|-|countdown";
        QTest::newRow("MergedWithNext") << "MergedWithNext" << false << "the|-final|-|-countdown";
        QTest::newRow("Contiguous") << "Contiguous" << false << "the|-|final|--|countdown";
        QTest::newRow("Removed, inverted") << "Removed" << true << "-|-|-";
    }
    void split_behavior()
    {
        QFETCH(QString, behavior);
        QFETCH(bool, invert);
        QFETCH(QString, words);
        const std::string text = "the-final--countdown";
        const json pre = {{"type", "Split"},
                          {"pattern", {{"String", "-"}}},
                          {"behavior", behavior.toStdString()},
                          {"invert", invert}};
        const auto tok = make(text, words, pre);
        QCOMPARE(split_of(*tok, text), words);
    }

    // Metaspace, as in Hugging Face's own tests (metaspace.rs), including prepend_scheme "first"
    // next to added tokens: only the piece at the very start of the input gets the prefix.
    void metaspace_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("scheme");
        QTest::addColumn<bool>("split");
        QTest::addColumn<QString>("words");
        const QString m = QString::fromUtf8("\xE2\x96\x81");
        QTest::newRow("always/split") << "Hey friend!"
                                      << "always" << true << m + "Hey|" + m + "friend!";
        QTest::newRow("always/multiple spaces")
            << "Hey   friend!"
            << "always" << true << m + "Hey|" + m + "|" + m + "|" + m + "friend!";
        QTest::newRow("always/leading space not doubled") << " Hey"
                                                          << "always" << true << m + "Hey";
        QTest::newRow("never") << "Hey friend"
                               << "never" << true << "Hey|" + m + "friend";
        QTest::newRow("first/no split, around <s>")
            << " Hey <s>how <s>are <s> you"
            << "first" << false
            << m + "Hey" + m + "|<s>|how" + m + "|<s>|are" + m + "|<s>|" + m + "you";
        QTest::newRow("always/no split, around <s>")
            << "Hey <s>how"
            << "always" << false << m + "Hey" + m + "|<s>|" + m + "how";
    }
    void metaspace()
    {
        QFETCH(QString, text);
        QFETCH(QString, scheme);
        QFETCH(bool, split);
        QFETCH(QString, words);
        const json pre = {{"type", "Metaspace"},
                          {"replacement", "\xE2\x96\x81"},
                          {"prepend_scheme", scheme.toStdString()},
                          {"split", split}};
        const json added = {{{"content", "<s>"}, {"special", true}}};
        const auto tok = make(text.toStdString(), words, pre, nullptr, added);
        QCOMPARE(split_of(*tok, text.toStdString()), words);
    }

    // ByteLevel maps bytes to GPT-2's printable stand-ins after its own regex split.
    void byte_level_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<bool>("prefix");
        QTest::addColumn<QString>("words");
        const QString G = QString::fromUtf8("\xC4\xA0");  // 'Ġ' stands for ' '
        const QString C = QString::fromUtf8("\xC4\x8A");  // 'Ċ' stands for '\n'
        QTest::newRow("space becomes G") << "Hello world" << false << "Hello|" + G + "world";
        QTest::newRow("add_prefix_space") << "Hello world" << true << G + "Hello|" + G + "world";
        QTest::newRow("newline becomes C") << "a\nb" << false << "a|" + C + "|b";
        QTest::newRow("two-byte letter") << QString::fromUtf8("\xC3\xA9t\xC3\xA9") << false
                                         << QString::fromUtf8("\xC3\x83\xC2\xA9t\xC3\x83\xC2\xA9");
    }
    void byte_level()
    {
        QFETCH(QString, text);
        QFETCH(bool, prefix);
        QFETCH(QString, words);
        const json pre = {{"type", "ByteLevel"}, {"add_prefix_space", prefix}, {"use_regex", true}};
        const auto tok =
            make(text.toStdString(), words, pre, nullptr, json::array(), {{"type", "ByteLevel"}});
        QCOMPARE(split_of(*tok, text.toStdString()), words);
        QCOMPARE(QString::fromStdString(tok->decode(tok->encode(text.toStdString(), false))),
                 prefix ? " " + text : text);
    }

    // Llama-2's normalizer: Prepend "▁" (only to non-empty text) then Replace " " -> "▁"; added
    // tokens are cut out first, so each segment is normalized on its own.
    void prepend_replace_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("words");
        const QString m = QString::fromUtf8("\xE2\x96\x81");
        QTest::newRow("plain") << "Hey you" << m + "Hey" + m + "you";
        QTest::newRow("leading space") << " Hey" << m + m + "Hey";
        QTest::newRow("empty") << ""
                               << "";
        QTest::newRow("segment after <s>") << "<s>Hey"
                                           << "<s>|" + m + "Hey";
    }
    void prepend_replace()
    {
        QFETCH(QString, text);
        QFETCH(QString, words);
        const json norm = {
            {"type", "Sequence"},
            {"normalizers",
             {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
              {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}}}};
        const json added = {{{"content", "<s>"}, {"special", true}}};
        const auto tok =
            make(text.toStdString(), words.isEmpty() ? "x" : words, nullptr, norm, added);
        QCOMPARE(split_of(*tok, text.toStdString()), words);
    }

    // Added tokens: matched before anything else, longest first, lstrip/rstrip eat whitespace.
    void added_tokens_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("words");
        QTest::newRow("longest wins") << "a<|im_start|>b"
                                      << "a|<|im_start|>|b";
        QTest::newRow("shorter one") << "a<|im|>b"
                                     << "a|<|im|>|b";
        QTest::newRow("rstrip eats following spaces") << "<R>  b"
                                                      << "<R>|b";
        QTest::newRow("lstrip eats preceding spaces") << "a  <L>"
                                                      << "a|<L>";
        QTest::newRow("back to back") << "<|im|><|im_start|>"
                                      << "<|im|>|<|im_start|>";
    }
    void added_tokens()
    {
        QFETCH(QString, text);
        QFETCH(QString, words);
        const json added = {{{"content", "<|im|>"}, {"special", true}},
                            {{"content", "<|im_start|>"}, {"special", true}},
                            {{"content", "<R>"}, {"special", false}, {"rstrip", true}},
                            {{"content", "<L>"}, {"special", false}, {"lstrip", true}}};
        const auto tok = make(text.toStdString(), "a|b", nullptr, nullptr, added);
        QCOMPARE(split_of(*tok, text.toStdString()), words);
    }

    // Decoder chains of the two BPE families.
    void decoders_data()
    {
        QTest::addColumn<QString>("family");
        QTest::addColumn<QString>("pieces");
        QTest::addColumn<QString>("text");
        const QString m = QString::fromUtf8("\xE2\x96\x81");
        QTest::newRow("metaspace/always") << "metaspace-always" << m + "Hey|" + m + "friend!"
                                          << "Hey friend!";
        QTest::newRow("metaspace/never") << "metaspace-never" << m + "Hey|" + m + "friend!"
                                         << " Hey friend!";
        QTest::newRow("llama2/strip one space") << "llama2" << m + m + "Hey"
                                                << " Hey";
        QTest::newRow("llama2/byte fallback")
            << "llama2" << m + "a|<0xE2>|<0x9C>|<0x85>" << QString::fromUtf8("a\xE2\x9C\x85");
        QTest::newRow("llama2/broken bytes") << "llama2"
                                             << "<0xE2>|<0x9C>|b"
                                             << QString::fromUtf8(
                                                    "\xEF\xBF\xBD\xEF\xBF\xBD"
                                                    "b");
    }
    void decoders()
    {
        QFETCH(QString, family);
        QFETCH(QString, pieces);
        QFETCH(QString, text);
        json dec;
        if (family.startsWith("metaspace"))
            dec = {{"type", "Metaspace"},
                   {"replacement", "\xE2\x96\x81"},
                   {"prepend_scheme", family.endsWith("never") ? "never" : "always"}};
        else
            dec = {{"type", "Sequence"},
                   {"decoders",
                    {{{"type", "Replace"},
                      {"pattern", {{"String", "\xE2\x96\x81"}}},
                      {"content", " "}},
                     {{"type", "ByteFallback"}},
                     {{"type", "Fuse"}},
                     {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
        const auto tok = make("", pieces, nullptr, nullptr, json::array(), dec);
        std::vector<int32_t> ids;
        for (const QString& p : pieces.split('|')) {
            int32_t id = -1;
            for (int32_t i = 0; i < tok->vocab_size(); ++i)
                if (tok->piece(i) == p.toStdString())
                    id = i;
            QVERIFY2(id >= 0, qPrintable(p));
            ids.push_back(id);
        }
        QCOMPARE(QString::fromStdString(tok->decode(ids)), text);
    }
};

QTEST_GUILESS_MAIN(TstTokenizerPreTokenizers)
#include "tst_tokenizer_pretokenizers.moc"
