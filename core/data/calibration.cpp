#include "core/data/calibration.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <random>
#include <sstream>
#include <unordered_map>

#include <ATen/ops/empty.h>

#include "core/common/error.h"
#include "core/common/text.h"
#include "core/data/corpus.h"

namespace zp::data {

namespace {

std::string n_l(int64_t n, int64_t l)
{
    return "N = " + std::to_string(n) + " sequences of L = " + std::to_string(l) + " tokens";
}

std::vector<int32_t> read_token_ids(const std::string& path, int64_t vocab_size)
{
    const std::string text = read_file(path);
    std::vector<int32_t> ids;
    size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
            ++i;
        if (i >= text.size())
            break;
        size_t j = i;
        while (j < text.size() && !std::isspace(static_cast<unsigned char>(text[j])))
            ++j;
        const std::string word = text.substr(i, j - i);
        bool digits =
            !word.empty() && word.size() <= 10 &&
            std::all_of(word.begin(), word.end(), [](char c) { return c >= '0' && c <= '9'; });
        const long long v = digits ? std::stoll(word) : -1;
        if (!digits || v > INT32_MAX)
            throw FormatError(
                path + ": '" + word + "' at byte " + std::to_string(i) +
                " is not a token id (expected whitespace-separated non-negative integers)");
        if (vocab_size > 0 && v >= vocab_size)
            throw InvalidArgument(path + ": token id " + word + " at byte " + std::to_string(i) +
                                  " is outside the model's vocabulary of " +
                                  std::to_string(vocab_size));
        ids.push_back(static_cast<int32_t>(v));
        i = j;
    }
    return ids;
}

}  // namespace

CalibrationFormat parse_calibration_format(const std::string& name)
{
    if (name == "auto")
        return CalibrationFormat::Auto;
    if (name == "text")
        return CalibrationFormat::Text;
    if (name == "jsonl" || name == "c4")
        return CalibrationFormat::Jsonl;
    if (name == "ids" || name == "tokens")
        return CalibrationFormat::TokenIds;
    throw InvalidArgument("unknown calibration format '" + name + "' (auto, text, jsonl, ids)");
}

CalibrationFormat guess_calibration_format(const std::string& path)
{
    if (ends_with(path, ".jsonl"))
        return CalibrationFormat::Jsonl;
    if (ends_with(path, ".ids") || ends_with(path, ".tokens"))
        return CalibrationFormat::TokenIds;
    return CalibrationFormat::Text;
}

at::Tensor random_token_windows(const std::vector<int32_t>& tokens, int64_t n, int64_t l,
                                uint64_t seed, const std::string& what)
{
    const int64_t total = static_cast<int64_t>(tokens.size());
    if (total < l)
        throw InvalidArgument(what + ": too short for calibration: " + std::to_string(total) +
                              " tokens available, each of the " + n_l(n, l) + " needs " +
                              std::to_string(l));
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int64_t> start(0, total - l);
    at::Tensor out = at::empty({n, l}, at::kLong);
    int64_t* p = out.data_ptr<int64_t>();
    for (int64_t k = 0; k < n; ++k) {
        const int64_t s = start(rng);
        for (int64_t t = 0; t < l; ++t)
            p[k * l + t] = tokens[static_cast<size_t>(s + t)];
    }
    return out;
}

CalibrationSet load_calibration(const CalibrationOptions& o, const tok::Tokenizer* tok,
                                int64_t vocab_size)
{
    if (o.nsamples < 1 || o.seqlen < 1)
        throw InvalidArgument(o.path + ": calibration needs N >= 1 and L >= 1, got " +
                              n_l(o.nsamples, o.seqlen));
    CalibrationSet set;
    set.source = o.path;
    set.format = o.format == CalibrationFormat::Auto ? guess_calibration_format(o.path) : o.format;
    if (set.format != CalibrationFormat::TokenIds && tok == nullptr)
        throw InvalidArgument(o.path + ": a tokenizer is needed to calibrate on text");
    switch (set.format) {
        case CalibrationFormat::Auto:
        case CalibrationFormat::Text: {
            const std::vector<int32_t> ids = tok->encode(read_file(o.path), /*add_bos=*/false);
            set.tokens_available = static_cast<int64_t>(ids.size());
            set.ids = random_token_windows(ids, o.nsamples, o.seqlen, o.seed, o.path);
            break;
        }
        case CalibrationFormat::TokenIds: {
            const std::vector<int32_t> ids = read_token_ids(o.path, vocab_size);
            set.tokens_available = static_cast<int64_t>(ids.size());
            set.ids = random_token_windows(ids, o.nsamples, o.seqlen, o.seed, o.path);
            break;
        }
        case CalibrationFormat::Jsonl: {
            // GPTQ's C4 draw: a random document, retried until it has more than L tokens, then a
            // random window of it. Documents are tokenized when first drawn; once every document
            // has been seen without a long one the draw stops with an error instead of looping.
            const std::vector<std::string> docs = load_jsonl_texts(o.path);
            std::mt19937_64 rng(o.seed);
            std::uniform_int_distribution<size_t> pick(0, docs.size() - 1);
            std::unordered_map<size_t, std::vector<int32_t>> cache;
            size_t long_docs = 0;
            int64_t longest = 0;
            set.ids = at::empty({o.nsamples, o.seqlen}, at::kLong);
            int64_t* p = set.ids.data_ptr<int64_t>();
            for (int64_t k = 0; k < o.nsamples;) {
                const size_t d = pick(rng);
                auto it = cache.find(d);
                if (it == cache.end()) {
                    it = cache.emplace(d, tok->encode(docs[d], /*add_bos=*/false)).first;
                    const int64_t len = static_cast<int64_t>(it->second.size());
                    set.tokens_available += len;
                    longest = std::max(longest, len);
                    if (len > o.seqlen)
                        ++long_docs;
                }
                const std::vector<int32_t>& ids = it->second;
                const int64_t len = static_cast<int64_t>(ids.size());
                if (len <= o.seqlen) {
                    if (long_docs == 0 && cache.size() == docs.size())
                        throw InvalidArgument(
                            o.path +
                            ": no document is longer than L = " + std::to_string(o.seqlen) +
                            " tokens (the longest of " + std::to_string(docs.size()) + " has " +
                            std::to_string(longest) + ", " + std::to_string(set.tokens_available) +
                            " tokens in all) for " + n_l(o.nsamples, o.seqlen));
                    continue;
                }
                std::uniform_int_distribution<int64_t> start(0, len - o.seqlen - 1);
                const int64_t s = start(rng);
                for (int64_t t = 0; t < o.seqlen; ++t)
                    p[k * o.seqlen + t] = ids[static_cast<size_t>(s + t)];
                ++k;
            }
            break;
        }
    }
    if (vocab_size > 0 && set.format != CalibrationFormat::TokenIds) {
        const int64_t mx = set.ids.max().item<int64_t>();
        if (mx >= vocab_size)
            throw InvalidArgument(o.path + ": the tokenizer produced id " + std::to_string(mx) +
                                  ", outside the model's vocabulary of " +
                                  std::to_string(vocab_size));
    }
    return set;
}

}  // namespace zp::data
