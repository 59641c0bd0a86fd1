// Hugging Face tokenizer.json, model type BPE. The pipeline follows the file: added tokens are cut
// out of the raw text first, each remaining segment is normalized, pre-tokenized into words, and
// each word is merged by BPE; decoding runs the decoder chain over the pieces.
#include <algorithm>
#include <cctype>
#include <fstream>
#include <functional>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/common/json_strict.h"
#include "core/common/text.h"
#include "core/tokenizer/bpe.h"
#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/regex_split.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/utf8.h"

namespace zp::tok {
namespace {

using json = nlohmann::json;

// GPT-2's pre-tokenizer pattern, used by ByteLevel when use_regex is true.
const char* const gpt2_pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// ---- JSON access with errors that name the file and the field -------------------------------

struct Ctx {
    std::string file;
    [[noreturn]] void fail(const std::string& field, const std::string& what) const
    {
        throw FormatError(file + ": " + field + ": " + what);
    }
};

std::string type_name(const json& j)
{
    return j.type_name();
}

const json& need(const Ctx& c, const json& obj, const std::string& field, const char* key)
{
    if (!obj.is_object())
        c.fail(field, "expected an object, got " + type_name(obj));
    const auto it = obj.find(key);
    if (it == obj.end())
        c.fail(field + "." + key, "missing");
    return *it;
}

const json* opt(const json& obj, const char* key)
{
    if (!obj.is_object())
        return nullptr;
    const auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
}

std::string get_string(const Ctx& c, const json& j, const std::string& field)
{
    if (!j.is_string())
        c.fail(field, "expected a string, got " + type_name(j));
    return j.get<std::string>();
}

std::string opt_string(const Ctx& c, const json& obj, const std::string& field, const char* key,
                       const std::string& dflt)
{
    const json* j = opt(obj, key);
    return j ? get_string(c, *j, field + "." + key) : dflt;
}

bool opt_bool(const Ctx& c, const json& obj, const std::string& field, const char* key, bool dflt)
{
    const json* j = opt(obj, key);
    if (!j)
        return dflt;
    if (!j->is_boolean())
        c.fail(field + "." + key, "expected true or false, got " + type_name(*j));
    return j->get<bool>();
}

int64_t opt_int(const Ctx& c, const json& obj, const std::string& field, const char* key,
                int64_t dflt)
{
    const json* j = opt(obj, key);
    if (!j)
        return dflt;
    if (!j->is_number_integer())
        c.fail(field + "." + key, "expected an integer, got " + type_name(*j));
    return j->get<int64_t>();
}

std::string type_of(const Ctx& c, const json& obj, const std::string& field)
{
    return get_string(c, need(c, obj, field, "type"), field + ".type");
}

// A Split/Replace "pattern": {"String": "..."} or {"Regex": "..."}.
struct Pattern {
    std::string literal;
    std::shared_ptr<Regex> regex;

    std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const
    {
        if (regex)
            return regex->find_all(text);
        std::vector<std::pair<size_t, size_t>> out;
        if (literal.empty())
            return out;
        for (size_t p = text.find(literal); p != std::string_view::npos;
             p = text.find(literal, p + literal.size()))
            out.emplace_back(p, p + literal.size());
        return out;
    }
};

Pattern read_pattern(const Ctx& c, const json& obj, const std::string& field)
{
    const json& p = need(c, obj, field, "pattern");
    const std::string pf = field + ".pattern";
    Pattern out;
    if (const json* s = opt(p, "String")) {
        out.literal = get_string(c, *s, pf + ".String");
    } else if (const json* r = opt(p, "Regex")) {
        out.regex = std::make_shared<Regex>(get_string(c, *r, pf + ".Regex"),
                                            c.file + ": " + pf + ".Regex");
    } else {
        c.fail(pf, "expected {\"String\": ...} or {\"Regex\": ...}");
    }
    return out;
}

std::string replace_all(std::string_view text, const Pattern& p, const std::string& content)
{
    std::string out;
    size_t last = 0;
    for (const auto& [b, e] : p.find_all(text)) {
        out.append(text.substr(last, b - last));
        out += content;
        last = e;
    }
    out.append(text.substr(last));
    return out;
}

// ---- Normalizers -----------------------------------------------------------------------------

using Normalizer = std::function<void(std::string&)>;

void read_normalizer(const Ctx& c, const json& j, const std::string& field,
                     std::vector<Normalizer>& out)
{
    const std::string type = type_of(c, j, field);
    if (type == "Sequence") {
        const json& list = need(c, j, field, "normalizers");
        if (!list.is_array())
            c.fail(field + ".normalizers", "expected an array");
        for (size_t i = 0; i < list.size(); ++i)
            read_normalizer(c, list[i], field + ".normalizers[" + std::to_string(i) + "]", out);
    } else if (type == "Prepend") {
        const std::string prepend = get_string(c, need(c, j, field, "prepend"), field + ".prepend");
        out.push_back([prepend](std::string& s) {
            if (!s.empty())
                s.insert(0, prepend);
        });
    } else if (type == "Replace") {
        auto pattern = read_pattern(c, j, field);
        const std::string content = get_string(c, need(c, j, field, "content"), field + ".content");
        out.push_back([pattern, content](std::string& s) { s = replace_all(s, pattern, content); });
    } else if (type == "NFC") {
        // Without a Unicode normalization library NFC is taken as the identity: exact for text that
        // is already NFC, which is how nearly all text is stored (Qwen2 declares NFC).
    } else if (type == "Strip") {
        const bool left = opt_bool(c, j, field, "strip_left", true);
        const bool right = opt_bool(c, j, field, "strip_right", true);
        out.push_back([left, right](std::string& s) {
            auto ws = [](char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'; };
            size_t b = 0, e = s.size();
            if (left)
                while (b < e && ws(s[b]))
                    ++b;
            if (right)
                while (e > b && ws(s[e - 1]))
                    --e;
            s = s.substr(b, e - b);
        });
    } else {
        c.fail(field + ".type", "normalizer '" + type +
                                    "' is not supported (supported: Sequence, Prepend, "
                                    "Replace, NFC, Strip)");
    }
}

// ---- Pre-tokenizers --------------------------------------------------------------------------

struct Word {
    std::string text;
    bool at_start =
        false;  // begins at offset 0 of the whole input (Metaspace prepend_scheme "first")
};
using PreTokenizer = std::function<void(std::vector<Word>&)>;

enum class Behavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

Behavior read_behavior(const Ctx& c, const json& j, const std::string& field)
{
    const std::string b = opt_string(c, j, field, "behavior", "Isolated");
    if (b == "Removed")
        return Behavior::removed;
    if (b == "Isolated")
        return Behavior::isolated;
    if (b == "MergedWithPrevious")
        return Behavior::merged_with_previous;
    if (b == "MergedWithNext")
        return Behavior::merged_with_next;
    if (b == "Contiguous")
        return Behavior::contiguous;
    c.fail(field + ".behavior", "unknown split behavior '" + b + "'");
}

// Splits every word at the spans found by find, keeping the delimiters as behavior says.
void split_words(
    std::vector<Word>& words,
    const std::function<std::vector<std::pair<size_t, size_t>>(std::string_view)>& find,
    Behavior behavior, bool invert)
{
    std::vector<Word> out;
    for (const Word& w : words) {
        // Alternating pieces of the word, each flagged as delimiter or not.
        std::vector<std::pair<std::pair<size_t, size_t>, bool>> parts;
        size_t last = 0;
        for (const auto& [b, e] : find(w.text)) {
            if (b > last)
                parts.push_back({{last, b}, invert});
            parts.push_back({{b, e}, !invert});
            last = e;
        }
        if (last < w.text.size())
            parts.push_back({{last, w.text.size()}, invert});

        std::vector<std::pair<size_t, size_t>> pieces;
        bool prev_delim = false;
        bool pending_next = false;
        for (const auto& [span, delim] : parts) {
            if (!delim) {
                if (pending_next) {
                    pieces.back().second = span.second;
                    pending_next = false;
                } else {
                    pieces.push_back(span);
                }
                prev_delim = false;
                continue;
            }
            switch (behavior) {
                case Behavior::removed:
                    break;
                case Behavior::isolated:
                    pieces.push_back(span);
                    break;
                case Behavior::merged_with_previous:
                    if (!pieces.empty() && !prev_delim)
                        pieces.back().second = span.second;
                    else
                        pieces.push_back(span);
                    break;
                case Behavior::merged_with_next:
                    // A delimiter joins the piece after it only if that piece is not a delimiter
                    // too.
                    pieces.push_back(span);
                    pending_next = true;
                    break;
                case Behavior::contiguous:
                    if (!pieces.empty() && prev_delim)
                        pieces.back().second = span.second;
                    else
                        pieces.push_back(span);
                    break;
            }
            prev_delim = true;
        }
        for (const auto& [b, e] : pieces)
            out.push_back(Word{w.text.substr(b, e - b), w.at_start && b == 0});
    }
    words = std::move(out);
}

struct PreTokInfo {
    bool byte_level = false;  // words are byte-mapped before BPE
};

void read_pre_tokenizer(const Ctx& c, const json& j, const std::string& field,
                        std::vector<PreTokenizer>& out, PreTokInfo& info)
{
    const std::string type = type_of(c, j, field);
    if (type == "Sequence") {
        const json& list = need(c, j, field, "pretokenizers");
        if (!list.is_array())
            c.fail(field + ".pretokenizers", "expected an array");
        for (size_t i = 0; i < list.size(); ++i)
            read_pre_tokenizer(c, list[i], field + ".pretokenizers[" + std::to_string(i) + "]", out,
                               info);
    } else if (type == "ByteLevel") {
        const bool prefix = opt_bool(c, j, field, "add_prefix_space", true);
        const bool use_regex = opt_bool(c, j, field, "use_regex", true);
        std::shared_ptr<Regex> re;
        if (use_regex)
            re = std::make_shared<Regex>(gpt2_pattern, c.file + ": " + field);
        info.byte_level = true;
        out.push_back([prefix, re](std::vector<Word>& words) {
            if (prefix)
                for (Word& w : words)
                    if (w.text.empty() || w.text[0] != ' ')
                        w.text.insert(0, " ");
            if (re)
                split_words(
                    words, [&](std::string_view t) { return re->find_all(t); }, Behavior::isolated,
                    false);
            for (Word& w : words)
                w.text = byte_level::encode(w.text);
        });
    } else if (type == "Split") {
        auto pattern = read_pattern(c, j, field);
        const Behavior behavior = read_behavior(c, j, field);
        const bool invert = opt_bool(c, j, field, "invert", false);
        out.push_back([pattern, behavior, invert](std::vector<Word>& words) {
            split_words(
                words, [&](std::string_view t) { return pattern.find_all(t); }, behavior, invert);
        });
    } else if (type == "Digits") {
        const bool individual = opt_bool(c, j, field, "individual_digits", false);
        auto re =
            std::make_shared<Regex>(individual ? R"(\p{N})" : R"(\p{N}+)", c.file + ": " + field);
        out.push_back([re](std::vector<Word>& words) {
            split_words(
                words, [&](std::string_view t) { return re->find_all(t); }, Behavior::isolated,
                false);
        });
    } else if (type == "Metaspace") {
        std::string rep = opt_string(c, j, field, "replacement", "");
        if (rep.empty())
            rep = opt_string(c, j, field, "str_rep", "\xE2\x96\x81");
        std::string scheme = opt_string(c, j, field, "prepend_scheme", "");
        if (scheme.empty())
            scheme = opt_bool(c, j, field, "add_prefix_space", true) ? "always" : "never";
        if (scheme != "always" && scheme != "first" && scheme != "never")
            c.fail(field + ".prepend_scheme",
                   "expected always, first or never, got '" + scheme + "'");
        const bool split = opt_bool(c, j, field, "split", true);
        out.push_back([rep, scheme, split](std::vector<Word>& words) {
            const Pattern space{" ", nullptr};
            for (Word& w : words) {
                w.text = replace_all(w.text, space, rep);
                const bool prepend = scheme == "always" || (scheme == "first" && w.at_start);
                if (prepend && w.text.compare(0, rep.size(), rep) != 0)
                    w.text.insert(0, rep);
            }
            if (split) {
                const Pattern delim{rep, nullptr};
                split_words(
                    words, [&](std::string_view t) { return delim.find_all(t); },
                    Behavior::merged_with_next, false);
            }
        });
    } else {
        c.fail(field + ".type", "pre-tokenizer '" + type +
                                    "' is not supported (supported: Sequence, ByteLevel, "
                                    "Split, Digits, Metaspace)");
    }
}

// ---- Decoders ----------------------------------------------------------------------------------

using Decoder = std::function<void(std::vector<std::string>&)>;

struct DecoderInfo {
    bool byte_level = false;
    bool strip_after_bos = false;  // SentencePiece-style: the prefix space is dropped at the start
    std::string space_marker;      // piece character standing for a space ("▁"), if any
};

bool parse_byte_piece(const std::string& t, unsigned char& byte)
{
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>')
        return false;
    if (!std::isxdigit(static_cast<unsigned char>(t[3])) ||
        !std::isxdigit(static_cast<unsigned char>(t[4])))
        return false;
    byte = static_cast<unsigned char>(std::stoi(t.substr(3, 2), nullptr, 16));
    return true;
}

void read_decoder(const Ctx& c, const json& j, const std::string& field, std::vector<Decoder>& out,
                  DecoderInfo& info)
{
    const std::string type = type_of(c, j, field);
    if (type == "Sequence") {
        const json& list = need(c, j, field, "decoders");
        if (!list.is_array())
            c.fail(field + ".decoders", "expected an array");
        for (size_t i = 0; i < list.size(); ++i)
            read_decoder(c, list[i], field + ".decoders[" + std::to_string(i) + "]", out, info);
    } else if (type == "ByteLevel") {
        info.byte_level = true;
        out.push_back([](std::vector<std::string>& toks) {
            for (auto& t : toks)
                t = byte_level::decode(t);
        });
    } else if (type == "Replace") {
        auto pattern = read_pattern(c, j, field);
        const std::string content = get_string(c, need(c, j, field, "content"), field + ".content");
        if (content == " " && !pattern.regex)
            info.space_marker = pattern.literal;
        out.push_back([pattern, content](std::vector<std::string>& toks) {
            for (auto& t : toks)
                t = replace_all(t, pattern, content);
        });
    } else if (type == "ByteFallback") {
        // Runs of <0xXX> pieces form UTF-8 sequences; a run that is not valid UTF-8 gives one
        // U+FFFD per byte, as Hugging Face does.
        out.push_back([](std::vector<std::string>& toks) {
            std::vector<std::string> res;
            std::string run;
            size_t run_len = 0;
            auto flush = [&] {
                if (run_len == 0)
                    return;
                if (utf8::make_valid(run) == run) {
                    res.push_back(run);
                } else {
                    for (size_t k = 0; k < run_len; ++k)
                        res.push_back("\xEF\xBF\xBD");
                }
                run.clear();
                run_len = 0;
            };
            for (auto& t : toks) {
                unsigned char b;
                if (parse_byte_piece(t, b)) {
                    run += static_cast<char>(b);
                    ++run_len;
                } else {
                    flush();
                    res.push_back(std::move(t));
                }
            }
            flush();
            toks = std::move(res);
        });
    } else if (type == "Fuse") {
        out.push_back([](std::vector<std::string>& toks) {
            std::string all;
            for (auto& t : toks)
                all += t;
            toks.assign(1, all);
        });
    } else if (type == "Strip") {
        const std::string content = opt_string(c, j, field, "content", " ");
        const int64_t start = opt_int(c, j, field, "start", 0);
        const int64_t stop = opt_int(c, j, field, "stop", 0);
        if (content == " " && start > 0)
            info.strip_after_bos = true;
        out.push_back([content, start, stop](std::vector<std::string>& toks) {
            for (auto& t : toks) {
                for (int64_t k = 0;
                     k < start && !content.empty() && t.compare(0, content.size(), content) == 0;
                     ++k)
                    t.erase(0, content.size());
                for (int64_t k = 0;
                     k < stop && !content.empty() && t.size() >= content.size() &&
                     t.compare(t.size() - content.size(), content.size(), content) == 0;
                     ++k)
                    t.erase(t.size() - content.size());
            }
        });
    } else if (type == "Metaspace") {
        std::string rep = opt_string(c, j, field, "replacement", "");
        if (rep.empty())
            rep = opt_string(c, j, field, "str_rep", "\xE2\x96\x81");
        std::string scheme = opt_string(c, j, field, "prepend_scheme", "");
        if (scheme.empty())
            scheme = opt_bool(c, j, field, "add_prefix_space", true) ? "always" : "never";
        const bool strip_first = scheme != "never";
        info.space_marker = rep;
        info.strip_after_bos = info.strip_after_bos || strip_first;
        out.push_back([rep, strip_first](std::vector<std::string>& toks) {
            const Pattern p{rep, nullptr};
            // As Hugging Face does: in the first piece every marker is dropped, not only a leading
            // one.
            for (size_t i = 0; i < toks.size(); ++i)
                toks[i] = replace_all(toks[i], p, i == 0 && strip_first ? "" : " ");
        });
    } else {
        c.fail(field + ".type", "decoder '" + type +
                                    "' is not supported (supported: Sequence, ByteLevel, "
                                    "Replace, ByteFallback, Fuse, Strip, Metaspace)");
    }
}

// ---- The tokenizer ---------------------------------------------------------------------------

struct AddedToken {
    std::string content;
    int32_t id = -1;
    bool special = false;
    bool lstrip = false;
    bool rstrip = false;
    bool single_word = false;
};

class HfTokenizer final : public Tokenizer {
public:
    std::vector<std::string> pieces;
    std::unique_ptr<BpeModel> bpe;
    std::vector<AddedToken> added;  // longest content first
    std::vector<char> is_special;   // by id: special added tokens, dropped by decode
    std::vector<Normalizer> normalizers;
    std::vector<PreTokenizer> pre_tokenizers;
    std::vector<Decoder> decoders;
    PreTokInfo pre_info;
    DecoderInfo dec_info;
    bool byte_fallback = false;
    int32_t bos = -1;
    int32_t eos = -1;

    std::vector<int32_t> encode(const std::string& text, bool add_bos) const override
    {
        std::vector<int32_t> ids;
        if (add_bos && bos >= 0)
            ids.push_back(bos);
        size_t pos = 0;
        // Next occurrence of every added token at or after pos (npos: none left), so that a long
        // text is scanned once per token rather than once per match.
        std::vector<size_t> next(added.size(), 0);
        for (size_t k = 0; k < added.size(); ++k)
            next[k] = text.find(added[k].content);
        while (pos < text.size()) {
            size_t best = std::string::npos, best_k = 0;
            for (size_t k = 0; k < added.size(); ++k) {
                while (next[k] != std::string::npos &&
                       (next[k] < pos || !word_ok(text, next[k], added[k])))
                    next[k] = text.find(added[k].content, std::max(pos, next[k] + 1));
                if (next[k] < best) {  // ties keep the earlier, i.e. longer, token
                    best = next[k];
                    best_k = k;
                }
            }
            if (best == std::string::npos) {
                encode_segment(text.substr(pos), pos == 0, ids);
                break;
            }
            const AddedToken& a = added[best_k];
            size_t seg_end = best;
            if (a.lstrip)
                while (seg_end > pos && std::isspace(static_cast<unsigned char>(text[seg_end - 1])))
                    --seg_end;
            if (seg_end > pos)
                encode_segment(text.substr(pos, seg_end - pos), pos == 0, ids);
            ids.push_back(a.id);
            pos = best + a.content.size();
            if (a.rstrip)
                while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos])))
                    ++pos;
        }
        return ids;
    }

    std::string decode(const std::vector<int32_t>& ids) const override
    {
        std::vector<std::string> toks;
        toks.reserve(ids.size());
        for (int32_t id : ids) {
            if (id < 0 || id >= vocab_size() || is_control(id))
                continue;
            toks.push_back(pieces[id]);
        }
        for (const auto& d : decoders)
            d(toks);
        std::string out;
        for (const auto& t : toks)
            out += t;
        return utf8::make_valid(out);
    }

    std::string decode_piece(int32_t prev, int32_t id) const override
    {
        if (id < 0 || id >= vocab_size() || is_control(id))
            return {};
        const std::string& p = pieces[id];
        if (dec_info.byte_level)
            return byte_level::decode(p);
        unsigned char b;
        if (byte_fallback && parse_byte_piece(p, b))
            return std::string(1, static_cast<char>(b));
        std::string out = dec_info.space_marker.empty()
                              ? p
                              : replace_all(p, Pattern{dec_info.space_marker, nullptr}, " ");
        if (dec_info.strip_after_bos && prev == bos && bos >= 0 && !out.empty() && out[0] == ' ')
            out.erase(0, 1);
        return out;
    }

    int32_t vocab_size() const override { return static_cast<int32_t>(pieces.size()); }
    int32_t bos_id() const override { return bos; }
    int32_t eos_id() const override { return eos; }
    std::string piece(int32_t id) const override
    {
        return id >= 0 && id < vocab_size() ? pieces[id] : std::string();
    }

private:
    bool is_control(int32_t id) const { return id == bos || id == eos || is_special[id]; }

    // single_word tokens only match where they are not glued to a word on either side.
    static bool word_ok(const std::string& text, size_t at, const AddedToken& a)
    {
        if (!a.single_word)
            return true;
        auto word_char = [](unsigned char ch) {
            return std::isalnum(ch) || ch == '_' || ch >= 0x80;
        };
        if (at > 0 && word_char(static_cast<unsigned char>(text[at - 1])))
            return false;
        const size_t end = at + a.content.size();
        return end >= text.size() || !word_char(static_cast<unsigned char>(text[end]));
    }

    void encode_segment(std::string segment, bool at_start, std::vector<int32_t>& ids) const
    {
        for (const auto& n : normalizers)
            n(segment);
        std::vector<Word> words{Word{std::move(segment), at_start}};
        for (const auto& p : pre_tokenizers)
            p(words);
        for (const Word& w : words)
            bpe->encode_word(w.text, ids);
    }
};

int32_t find_id(const HfTokenizer& t, const std::unordered_map<std::string, int32_t>& vocab,
                const std::string& s)
{
    for (const auto& a : t.added)
        if (a.content == s)
            return a.id;
    const auto it = vocab.find(s);
    return it == vocab.end() ? -1 : it->second;
}

// A token named in tokenizer_config.json: "name" or {"content": "name"}; null means none.
int32_t config_token(const HfTokenizer& t, const std::unordered_map<std::string, int32_t>& vocab,
                     const json& v)
{
    if (v.is_string())
        return find_id(t, vocab, v.get<std::string>());
    if (v.is_object() && v.contains("content") && v["content"].is_string())
        return find_id(t, vocab, v["content"].get<std::string>());
    return -1;
}

// The special token a TemplateProcessing post-processor puts first in a single sequence.
int32_t template_bos(const HfTokenizer& t, const std::unordered_map<std::string, int32_t>& vocab,
                     const json& pp)
{
    if (!pp.is_object())
        return -1;
    const std::string type = pp.value("type", "");
    if (type == "Sequence" && pp.contains("processors") && pp["processors"].is_array()) {
        for (const auto& p : pp["processors"]) {
            const int32_t id = template_bos(t, vocab, p);
            if (id >= 0)
                return id;
        }
        return -1;
    }
    if (type != "TemplateProcessing" || !pp.contains("single") || !pp["single"].is_array() ||
        pp["single"].empty())
        return -1;
    const json& first = pp["single"][0];
    if (!first.is_object() || !first.contains("SpecialToken"))
        return -1;
    const json& st = first["SpecialToken"];
    if (!st.is_object() || !st.contains("id") || !st["id"].is_string())
        return -1;
    const std::string name = st["id"].get<std::string>();
    if (pp.contains("special_tokens") && pp["special_tokens"].contains(name)) {
        const json& ids = pp["special_tokens"][name]["ids"];
        if (ids.is_array() && ids.size() == 1 && ids[0].is_number_integer())
            return ids[0].get<int32_t>();
    }
    return find_id(t, vocab, name);
}

// Post-processors that add nothing this engine does not (BOS from the template, byte-level offsets
// that tokenization does not use); anything else (Bert's CLS/SEP, Roberta's...) would be ignored.
void check_post_processor(const Ctx& c, const json& pp, const std::string& field)
{
    const std::string type = type_of(c, pp, field);
    if (type == "Sequence") {
        const json& list = need(c, pp, field, "processors");
        if (!list.is_array())
            c.fail(field + ".processors", "expected an array, got " + type_name(list));
        for (size_t i = 0; i < list.size(); ++i)
            check_post_processor(c, list[i], field + ".processors[" + std::to_string(i) + "]");
    } else if (type != "TemplateProcessing" && type != "ByteLevel") {
        c.fail(field + ".type", "'" + type +
                                    "' is not supported (supported: TemplateProcessing, ByteLevel, "
                                    "Sequence)");
    }
}

std::unique_ptr<Tokenizer> build(const std::string& json_text, const std::string& name,
                                 const json* config)
{
    const Ctx c{name};
    json root;
    try {
        root = parse_json_strict(json_text, name);
    } catch (const json::parse_error& e) {
        throw FormatError(name + ": malformed JSON at byte " + std::to_string(e.byte) + ": " +
                          e.what());
    }
    try {
        if (!root.is_object())
            c.fail("top level", "expected an object, got " + type_name(root));
        auto tok = std::make_unique<HfTokenizer>();

        // A GPT-2-style vocab.json ({piece: id} only) is the usual wrong file to be handed here.
        if (!root.contains("model") || !root["model"].is_object()) {
            const bool vocab_only =
                !root.empty() && std::all_of(root.begin(), root.end(),
                                             [](const json& v) { return v.is_number_integer(); });
            if (vocab_only)
                c.fail("model",
                       "missing: this looks like a vocab.json ({piece: id}), not a tokenizer.json; "
                       "give the tokenizer.json (vocab.json + merges.txt alone are not loaded)");
        }
        if (!root.contains("model"))
            c.fail("model", "missing (the file has no tokenizer model)");
        const json& model = root["model"];
        if (!model.is_object())
            c.fail("model", "expected an object, got " + type_name(model));
        const json* mtype = opt(model, "type");
        const std::string type =
            mtype ? get_string(c, *mtype, "model.type") : (opt(model, "merges") ? "BPE" : "");
        if (type != "BPE")
            c.fail("model.type",
                   "'" + (type.empty() ? std::string("(none)") : type) +
                       "' is not supported (only BPE: byte-level or SentencePiece-style)");
        for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
            if (!opt_string(c, model, "model", key, "").empty())
                c.fail(std::string("model.") + key,
                       "is not supported (GPT-2/Llama-style BPE has none)");

        // Vocabulary.
        const json& vocab_j = need(c, model, "model", "vocab");
        if (!vocab_j.is_object())
            c.fail("model.vocab", "expected an object {piece: id}, got " + type_name(vocab_j));
        std::unordered_map<std::string, int32_t> vocab;
        vocab.reserve(vocab_j.size());
        std::unordered_map<int32_t, std::string> piece_of;  // a second piece with an id is refused
        piece_of.reserve(vocab_j.size());
        int64_t max_id = -1;
        for (auto it = vocab_j.begin(); it != vocab_j.end(); ++it) {
            if (!it->is_number_integer() || it->get<int64_t>() < 0 ||
                it->get<int64_t>() > INT32_MAX)
                c.fail("model.vocab[\"" + it.key() + "\"]",
                       "expected a non-negative integer id, got " + it->dump());
            const auto [other, fresh] = piece_of.emplace(it->get<int32_t>(), it.key());
            if (!fresh)
                c.fail("model.vocab[\"" + it.key() + "\"]",
                       "id " + std::to_string(it->get<int32_t>()) + " is also the id of \"" +
                           other->second + "\" (each id names one piece)");
            vocab.emplace(it.key(), it->get<int32_t>());
            max_id = std::max<int64_t>(max_id, it->get<int64_t>());
        }

        // Added tokens may lie beyond the model's vocabulary (Llama-3's specials).
        if (const json* at = opt(root, "added_tokens")) {
            if (!at->is_array())
                c.fail("added_tokens", "expected an array");
            for (size_t i = 0; i < at->size(); ++i) {
                const std::string f = "added_tokens[" + std::to_string(i) + "]";
                const json& a = (*at)[i];
                AddedToken t;
                t.content = get_string(c, need(c, a, f, "content"), f + ".content");
                const json& idj = need(c, a, f, "id");
                if (!idj.is_number_integer() || idj.get<int64_t>() < 0 ||
                    idj.get<int64_t>() > INT32_MAX)
                    c.fail(f + ".id", "expected a non-negative integer, got " + idj.dump());
                t.id = idj.get<int32_t>();
                t.special = opt_bool(c, a, f, "special", false);
                t.lstrip = opt_bool(c, a, f, "lstrip", false);
                t.rstrip = opt_bool(c, a, f, "rstrip", false);
                t.single_word = opt_bool(c, a, f, "single_word", false);
                max_id = std::max<int64_t>(max_id, t.id);
                if (!t.content.empty())
                    tok->added.push_back(std::move(t));
            }
        }
        std::stable_sort(tok->added.begin(), tok->added.end(),
                         [](const AddedToken& a, const AddedToken& b) {
                             return a.content.size() > b.content.size();
                         });
        // Ids index a dense table; one absurd id must not turn into a many-gigabyte allocation.
        const int64_t entries = static_cast<int64_t>(vocab.size() + tok->added.size());
        if (max_id >= 4 * entries + 65536)
            c.fail("model.vocab", "id " + std::to_string(max_id) + " is far beyond the " +
                                      std::to_string(entries) + " entries (ids must be dense)");
        tok->pieces.assign(static_cast<size_t>(max_id + 1), std::string());
        tok->is_special.assign(tok->pieces.size(), 0);
        for (const auto& [p, id] : vocab)
            tok->pieces[id] = p;
        for (const auto& a : tok->added) {
            tok->pieces[a.id] = a.content;
            tok->is_special[a.id] = a.special;
        }

        // Merges: "left right" strings (older files) or [left, right] pairs (newer ones).
        std::vector<BpeMerge> merges;
        // Without its merges a BPE model falls back to single characters or bytes: every text
        // would tokenize, wrongly. An explicit [] is a model without merges; absent or null is a
        // damaged file.
        if (!opt(model, "merges"))
            c.fail("model.merges", std::string(model.contains("merges") ? "null" : "missing") +
                                       ": a BPE model needs its merges ([] if it has none)");
        if (const json* mj = opt(model, "merges")) {
            if (!mj->is_array())
                c.fail("model.merges", "expected an array, got " + type_name(*mj));
            merges.reserve(mj->size());
            for (size_t i = 0; i < mj->size(); ++i) {
                const std::string f = "model.merges[" + std::to_string(i) + "]";
                const json& m = (*mj)[i];
                std::string left, right;
                if (m.is_string()) {
                    const std::string s = m.get<std::string>();
                    const size_t sp = s.find(' ');
                    if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
                        c.fail(f, "expected \"left right\" with one space, got \"" + s + "\"");
                    left = s.substr(0, sp);
                    right = s.substr(sp + 1);
                } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
                    left = m[0].get<std::string>();
                    right = m[1].get<std::string>();
                } else {
                    c.fail(f, "expected a string or a pair, got " + m.dump());
                }
                BpeMerge bm;
                for (auto [s, dst] : {std::pair{&left, &bm.left}, std::pair{&right, &bm.right}}) {
                    const auto v = vocab.find(*s);
                    if (v == vocab.end())
                        c.fail(f, "token \"" + *s + "\" is not in model.vocab");
                    *dst = v->second;
                }
                const auto v = vocab.find(left + right);
                if (v == vocab.end())
                    c.fail(f, "merged token \"" + left + right + "\" is not in model.vocab");
                bm.merged = v->second;
                merges.push_back(bm);
            }
        }

        BpeOptions opts;
        const std::string unk = opt_string(c, model, "model", "unk_token", "");
        if (!unk.empty()) {
            const auto v = vocab.find(unk);
            if (v == vocab.end())
                c.fail("model.unk_token", "\"" + unk + "\" is not in model.vocab");
            opts.unk_id = v->second;
        }
        opts.fuse_unk = opt_bool(c, model, "model", "fuse_unk", false);
        opts.byte_fallback = opt_bool(c, model, "model", "byte_fallback", false);
        opts.ignore_merges = opt_bool(c, model, "model", "ignore_merges", false);
        tok->byte_fallback = opts.byte_fallback;
        tok->bpe = std::make_unique<BpeModel>(vocab, merges, opts);

        if (const json* n = opt(root, "normalizer"))
            read_normalizer(c, *n, "normalizer", tok->normalizers);
        if (const json* p = opt(root, "pre_tokenizer"))
            read_pre_tokenizer(c, *p, "pre_tokenizer", tok->pre_tokenizers, tok->pre_info);
        if (const json* d = opt(root, "decoder"))
            read_decoder(c, *d, "decoder", tok->decoders, tok->dec_info);
        // A byte-level file without a decoder would otherwise decode to its stand-in characters
        // ("Ġworld"); what it means is the bytes.
        if (tok->decoders.empty() && tok->pre_info.byte_level) {
            tok->dec_info.byte_level = true;
            tok->decoders.push_back([](std::vector<std::string>& toks) {
                for (auto& t : toks)
                    t = byte_level::decode(t);
            });
        }

        // BOS/EOS: tokenizer_config.json says it best; else the post-processor template; else
        // the names the common families use.
        bool bos_set = false, eos_set = false;
        if (config && config->is_object()) {
            if (config->contains("bos_token")) {
                tok->bos = config_token(*tok, vocab, (*config)["bos_token"]);
                bos_set = true;
            }
            if (config->contains("eos_token")) {
                tok->eos = config_token(*tok, vocab, (*config)["eos_token"]);
                eos_set = true;
            }
        }
        if (const json* pp = opt(root, "post_processor"))
            check_post_processor(c, *pp, "post_processor");
        if (!bos_set) {
            if (const json* pp = opt(root, "post_processor"))
                tok->bos = template_bos(*tok, vocab, *pp);
            for (const char* s : {"<s>", "<|begin_of_text|>", "<|endoftext|>"})
                if (tok->bos < 0)
                    tok->bos = find_id(*tok, vocab, s);
        }
        if (!eos_set)
            for (const char* s : {"</s>", "<|end_of_text|>", "<|endoftext|>"})
                if (tok->eos < 0)
                    tok->eos = find_id(*tok, vocab, s);
        return tok;
    } catch (const json::exception& e) {
        // Every access above is checked; this is the net for a shape the checks did not foresee.
        throw FormatError(name + ": unexpected JSON structure: " + e.what());
    }
}

}  // namespace

std::unique_ptr<Tokenizer> load_hf_tokenizer_from_json(const std::string& json_text,
                                                       const std::string& name)
{
    return build(json_text, name, nullptr);
}

std::unique_ptr<Tokenizer> load_hf_tokenizer_from_json(const std::string& json_text,
                                                       const std::string& name,
                                                       const std::string& config_json_text)
{
    const json config = json::parse(config_json_text, nullptr, false);
    if (!config.is_object())
        throw FormatError(name + ": tokenizer_config: not a JSON object");
    return build(json_text, name, &config);
}

std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::string& path)
{
    const std::string text = read_file(path);
    // tokenizer_config.json beside the file names BOS/EOS; a broken one is ignored, not fatal,
    // since tokenizer.json alone is a complete tokenizer.
    json config;
    const size_t slash = path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
    std::ifstream cf(dir + "tokenizer_config.json", std::ios::binary);
    if (cf) {
        std::ostringstream ss;
        ss << cf.rdbuf();
        config = json::parse(ss.str(), nullptr, false);
        if (config.is_discarded())
            config = json();
    }
    return build(text, path, config.is_object() ? &config : nullptr);
}

}  // namespace zp::tok
