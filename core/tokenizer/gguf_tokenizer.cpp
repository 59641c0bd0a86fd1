// A tokenizer from a GGUF file's tokenizer.ggml.* metadata, built as the equivalent tokenizer.json
// in memory and run by the engine's BPE (hf_tokenizer.cpp). What llama.cpp does for each kind
// (src/llama-vocab.cpp):
//   "gpt2": byte-level BPE over the merges; the text is first split by the regular expressions of
//           the pre-tokenizer type (tokenizer.ggml.pre), one after the other (each later one splits
//           the pieces of the earlier ones, matches and gaps alike), then byte-mapped.
//   "llama": SentencePiece: spaces become U+2581, a space is prepended (add_space_prefix), and the
//           adjacent pair whose concatenation is the best-scoring piece is merged first; characters
//           outside the vocabulary fall back to <0xXX> byte pieces. As merges: every split of a
//           normal piece into two normal pieces, ranked by the piece's score.
// Control tokens are never matched in the text (llama.cpp tokenizes with parse_special = false) and
// never printed; user-defined tokens are matched.
#include <algorithm>
#include <cstring>
#include <map>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/formats/gguf.h"
#include "core/tokenizer/tokenizer.h"

namespace zp::tok {
namespace {

using json = nlohmann::json;

const char* const metaspace = "\xE2\x96\x81";  // U+2581

// llama.cpp's token types (tokenizer.ggml.token_type).
enum TokenType : int64_t {
    normal = 1,
    unknown = 2,
    control = 3,
    user_defined = 4,
    unused = 5,
    byte = 6
};

// The regular expressions of a BPE pre-tokenizer type, as llama.cpp's llm_tokenizer_bpe lists them.
struct PreTokenizer {
    std::vector<std::string> regexes;
    bool ignore_merges = false;  // a word that is itself a token is not merged (llama3)
    bool add_bos = false;        // llama.cpp's default before tokenizer.ggml.add_bos_token
};

const char* const re_gpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
const char* const re_llama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const re_qwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

bool one_of(const std::string& s, std::initializer_list<const char*> names)
{
    for (const char* n : names)
        if (s == n)
            return true;
    return false;
}

// nullopt-like: regexes empty and false return for an unknown type.
bool pre_tokenizer_of(const std::string& pre, PreTokenizer& out)
{
    if (one_of(pre, {"llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral"})) {
        out = {{re_llama3}, true, true};
    } else if (one_of(pre, {"qwen2", "deepseek-r1-qwen", "megrez", "stablelm2"})) {
        out = {{re_qwen2}, false, false};
    } else if (one_of(pre, {"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone",
                            "minerva-7b"})) {
        out = {{R"(\p{N})", re_gpt2}, false, false};
    } else if (one_of(pre, {"gpt-2", "phi-2", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de",
                            "mpt", "olmo", "jais"})) {
        out = {{re_gpt2}, false, false};
    } else if (pre == "default") {
        out = {{R"([\p{P}\$\+<=>\^~\|]+)", re_gpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"}, false, false};
    } else {
        return false;
    }
    return true;
}

struct Meta {
    const gguf::File& f;
    [[noreturn]] void fail(const std::string& key, const std::string& what) const
    {
        throw FormatError(f.path + ": metadata " + key + ": " + what);
    }
    const gguf::Value* get(const std::string& key) const { return f.find(key); }
    const std::vector<std::string>& strings(const std::string& key) const
    {
        const gguf::Value* v = get(key);
        if (!v)
            fail(key, "is missing");
        if (v->type != gguf::ValueType::array || v->array_type != gguf::ValueType::string)
            fail(key, "expected an array of strings");
        return v->as;
    }
    std::string string(const std::string& key, const std::string& dflt) const
    {
        const gguf::Value* v = get(key);
        if (!v)
            return dflt;
        if (v->type != gguf::ValueType::string)
            fail(key,
                 std::string("has type ") + gguf::value_type_name(v->type) + ", expected string");
        return v->s;
    }
    bool boolean(const std::string& key, bool dflt) const
    {
        const gguf::Value* v = get(key);
        if (!v)
            return dflt;
        if (v->type != gguf::ValueType::boolean)
            fail(key,
                 std::string("has type ") + gguf::value_type_name(v->type) + ", expected bool");
        return v->b;
    }
    // A token id; -1 when absent. Must index the vocabulary.
    int64_t token_id(const std::string& key, size_t vocab) const
    {
        const gguf::Value* v = get(key);
        if (!v)
            return -1;
        int64_t id = -1;
        switch (v->type) {
            case gguf::ValueType::u8:
            case gguf::ValueType::u16:
            case gguf::ValueType::u32:
            case gguf::ValueType::u64:
                id = v->u > static_cast<uint64_t>(INT32_MAX) ? -2 : static_cast<int64_t>(v->u);
                break;
            case gguf::ValueType::i8:
            case gguf::ValueType::i16:
            case gguf::ValueType::i32:
            case gguf::ValueType::i64:
                id = v->i;
                break;
            default:
                fail(key,
                     std::string("has type ") + gguf::value_type_name(v->type) + ", expected u32");
        }
        if (id == -1)
            return -1;  // llama.cpp's "none"
        if (id < 0 || id >= static_cast<int64_t>(vocab))
            fail(key, "token id outside the vocabulary of " + std::to_string(vocab));
        return id;
    }
    // The array as numbers (token types: i32; scores: f32), one per token.
    std::vector<double> numbers(const std::string& key, size_t n, bool required) const
    {
        const gguf::Value* v = get(key);
        if (!v) {
            if (required)
                fail(key, "is missing");
            return {};
        }
        if (v->type != gguf::ValueType::array)
            fail(key, "expected an array");
        std::vector<double> out;
        if (!v->af.empty() || v->array_type == gguf::ValueType::f32 ||
            v->array_type == gguf::ValueType::f64)
            out.assign(v->af.begin(), v->af.end());
        else if (!v->ai.empty())
            out.assign(v->ai.begin(), v->ai.end());
        else
            out.assign(v->au.begin(), v->au.end());
        if (out.size() != n)
            fail(key, std::to_string(out.size()) + " entries for " + std::to_string(n) +
                          " tokens (tokenizer.ggml.tokens)");
        return out;
    }
};

// Wraps the BPE tokenizer with llama.cpp's rules for BOS and control tokens.
class GgufTokenizer final : public Tokenizer {
public:
    std::unique_ptr<Tokenizer> inner;
    std::vector<std::string> tokens;
    std::vector<char> hidden;  // control tokens: never printed
    int32_t bos = -1, eos = -1;
    bool add_bos = false;

    std::vector<int32_t> encode(const std::string& text, bool want_bos) const override
    {
        std::vector<int32_t> ids = inner->encode(text, false);
        if (want_bos && add_bos && bos >= 0)
            ids.insert(ids.begin(), bos);
        return ids;
    }
    std::string decode(const std::vector<int32_t>& ids) const override
    {
        std::vector<int32_t> kept;
        kept.reserve(ids.size());
        for (int32_t id : ids)
            if (id >= 0 && id < vocab_size() && !hidden[id])
                kept.push_back(id);
        return inner->decode(kept);
    }
    std::string decode_piece(int32_t prev, int32_t id) const override
    {
        if (id < 0 || id >= vocab_size() || hidden[id])
            return {};
        return inner->decode_piece(prev, id);
    }
    int32_t vocab_size() const override { return static_cast<int32_t>(tokens.size()); }
    int32_t bos_id() const override { return bos; }
    int32_t eos_id() const override { return eos; }
    std::string piece(int32_t id) const override
    {
        return id >= 0 && id < vocab_size() ? tokens[id] : std::string();
    }
};

std::vector<std::string> utf8_chars(const std::string& s)
{
    std::vector<std::string> out;
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const size_t n = c < 0x80         ? 1
                         : (c >> 5) == 6  ? 2
                         : (c >> 4) == 14 ? 3
                         : (c >> 3) == 30 ? 4
                                          : 1;
        out.push_back(s.substr(i, n));
        i += n;
    }
    return out;
}

// SentencePiece scores as BPE merges: every split of a normal piece into two normal pieces, best
// score first (ties: by the halves' ids, which keeps the order deterministic).
json spm_merges(const std::vector<std::string>& tokens, const std::vector<double>& scores,
                const std::vector<int64_t>& types,
                const std::unordered_map<std::string, int32_t>& ids)
{
    struct Merge {
        double score;
        int32_t left, right;
        size_t cut;  // bytes of the left half
        int32_t piece;
    };
    std::vector<Merge> merges;
    for (size_t i = 0; i < tokens.size(); ++i) {
        if (types[i] != normal)
            continue;
        const auto chars = utf8_chars(tokens[i]);
        size_t cut = 0;
        for (size_t k = 0; k + 1 < chars.size(); ++k) {
            cut += chars[k].size();
            const auto l = ids.find(tokens[i].substr(0, cut));
            const auto r = ids.find(tokens[i].substr(cut));
            if (l == ids.end() || r == ids.end() || types[l->second] != normal ||
                types[r->second] != normal)
                continue;
            merges.push_back({scores[i], l->second, r->second, cut, static_cast<int32_t>(i)});
        }
    }
    std::stable_sort(merges.begin(), merges.end(), [](const Merge& a, const Merge& b) {
        if (a.score != b.score)
            return a.score > b.score;
        return a.left != b.left ? a.left < b.left : a.right < b.right;
    });
    json out = json::array();
    for (const Merge& m : merges) {
        const std::string& p = tokens[m.piece];
        out.push_back(json::array({p.substr(0, m.cut), p.substr(m.cut)}));
    }
    return out;
}

}  // namespace

std::unique_ptr<Tokenizer> load_gguf_tokenizer(const std::string& path)
{
    const gguf::File f = gguf::read(path);
    const Meta m{f};
    const std::string model = m.string("tokenizer.ggml.model", "");
    if (model.empty())
        m.fail("tokenizer.ggml.model", "is missing (the file carries no tokenizer)");
    if (model != "gpt2" && model != "llama")
        m.fail("tokenizer.ggml.model",
               "'" + model + "' is not supported (gpt2: byte-level BPE, llama: SentencePiece)");
    const std::vector<std::string>& tokens = m.strings("tokenizer.ggml.tokens");
    if (tokens.empty())
        m.fail("tokenizer.ggml.tokens", "is empty");
    const size_t n = tokens.size();
    std::vector<int64_t> types(n, normal);
    {
        const std::vector<double> t = m.numbers("tokenizer.ggml.token_type", n, false);
        for (size_t i = 0; i < t.size(); ++i)
            types[i] = static_cast<int64_t>(t[i]);
    }

    auto tok = std::make_unique<GgufTokenizer>();
    tok->tokens = tokens;
    tok->hidden.assign(n, 0);
    for (size_t i = 0; i < n; ++i)
        tok->hidden[i] = types[i] == control;
    tok->bos = static_cast<int32_t>(m.token_id("tokenizer.ggml.bos_token_id", n));
    tok->eos = static_cast<int32_t>(m.token_id("tokenizer.ggml.eos_token_id", n));
    const int64_t unk = m.token_id("tokenizer.ggml.unknown_token_id", n);

    // The vocabulary; a repeated piece keeps its first id (as a dictionary lookup would).
    std::unordered_map<std::string, int32_t> ids;
    ids.reserve(n);
    json vocab = json::object();
    for (size_t i = 0; i < n; ++i)
        if (ids.emplace(tokens[i], static_cast<int32_t>(i)).second)
            vocab[tokens[i]] = static_cast<int32_t>(i);
    json added = json::array();
    for (size_t i = 0; i < n; ++i)
        if (types[i] == user_defined && !tokens[i].empty())
            added.push_back({{"id", i}, {"content", tokens[i]}, {"special", false}});

    json j;
    j["version"] = "1.0";
    j["added_tokens"] = added;
    if (model == "gpt2") {
        const std::string pre = m.string("tokenizer.ggml.pre", "default");
        PreTokenizer pt;
        if (!pre_tokenizer_of(pre, pt))
            m.fail("tokenizer.ggml.pre",
                   "'" + pre +
                       "' is not a supported pre-tokenizer type (supported: llama-bpe/llama3, "
                       "qwen2, smollm/starcoder, gpt-2 and the types llama.cpp treats alike, "
                       "default)");
        tok->add_bos = m.boolean("tokenizer.ggml.add_bos_token", pt.add_bos);
        json pres = json::array();
        for (const std::string& re : pt.regexes)
            pres.push_back({{"type", "Split"},
                            {"pattern", {{"Regex", re}}},
                            {"behavior", "Isolated"},
                            {"invert", false}});
        pres.push_back({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}});
        j["normalizer"] = nullptr;
        j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", pres}};
        j["decoder"] = {{"type", "ByteLevel"}};
        const std::vector<std::string>& merges = m.strings("tokenizer.ggml.merges");
        json ml = json::array();
        for (size_t i = 0; i < merges.size(); ++i) {
            const size_t sp = merges[i].find(' ', 1);
            if (sp == std::string::npos || sp + 1 >= merges[i].size())
                m.fail("tokenizer.ggml.merges[" + std::to_string(i) + "]",
                       "\"" + merges[i] + "\" is not \"left right\"");
            ml.push_back(json::array({merges[i].substr(0, sp), merges[i].substr(sp + 1)}));
        }
        j["model"] = {{"type", "BPE"},          {"vocab", vocab},
                      {"merges", ml},           {"ignore_merges", pt.ignore_merges},
                      {"byte_fallback", false}, {"fuse_unk", false}};
    } else {
        const std::vector<double> scores = m.numbers("tokenizer.ggml.scores", n, true);
        if (!m.get("tokenizer.ggml.token_type"))
            m.fail("tokenizer.ggml.token_type", "is missing (a llama vocabulary needs it)");
        tok->add_bos = m.boolean("tokenizer.ggml.add_bos_token", true);
        const bool prefix = m.boolean("tokenizer.ggml.add_space_prefix", true);
        json norms = json::array();
        if (prefix)
            norms.push_back({{"type", "Prepend"}, {"prepend", metaspace}});
        norms.push_back(
            {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", metaspace}});
        j["normalizer"] = {{"type", "Sequence"}, {"normalizers", norms}};
        j["pre_tokenizer"] = nullptr;
        json decs = json::array(
            {{{"type", "Replace"}, {"pattern", {{"String", metaspace}}}, {"content", " "}},
             {{"type", "ByteFallback"}},
             {{"type", "Fuse"}}});
        if (prefix)
            decs.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
        j["decoder"] = {{"type", "Sequence"}, {"decoders", decs}};
        int64_t unk_id = unk;
        for (size_t i = 0; i < n && unk_id < 0; ++i)
            if (types[i] == unknown)
                unk_id = static_cast<int64_t>(i);
        j["model"] = {{"type", "BPE"},
                      {"vocab", vocab},
                      {"merges", spm_merges(tokens, scores, types, ids)},
                      {"byte_fallback", true},
                      {"fuse_unk", true}};
        if (unk_id >= 0)
            j["model"]["unk_token"] = tokens[unk_id];
    }
    json config = json::object();
    config["bos_token"] = tok->bos >= 0 ? json(tokens[tok->bos]) : json(nullptr);
    config["eos_token"] = tok->eos >= 0 ? json(tokens[tok->eos]) : json(nullptr);
    try {
        tok->inner =
            load_hf_tokenizer_from_json(j.dump(), path + " (tokenizer.ggml.*)", config.dump());
    } catch (const json::exception& e) {
        throw FormatError(path + ": tokenizer.ggml.*: " + e.what());
    }
    return tok;
}

}  // namespace zp::tok
