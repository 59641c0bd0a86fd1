#include "core/data/corpus.h"

#include <algorithm>
#include <random>
#include <sstream>

#include <ATen/ops/empty.h>
#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/common/text.h"

namespace zp::data {

std::string load_wikitext2(const std::string& path)
{
    const std::string raw = read_file(path);
    std::string out;
    out.reserve(raw.size() + raw.size() / 16);
    size_t i = 0;
    while (i < raw.size()) {
        size_t j = raw.find('\n', i);
        if (j == std::string::npos)
            j = raw.size();
        size_t e = j;
        if (e > i && raw[e - 1] == '\r')
            --e;
        if (e > i) {
            if (!out.empty())
                out += "\n\n";
            out.append(raw, i, e - i);
        }
        i = j + 1;
    }
    return out;
}

std::vector<std::string> load_jsonl_texts(const std::string& path)
{
    std::istringstream in(read_file(path));
    std::vector<std::string> texts;
    std::string line;
    for (int64_t n = 1; std::getline(in, line); ++n) {
        if (line.find_first_not_of(" \t\r") == std::string::npos)
            continue;
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception& e) {
            throw FormatError(path + ": line " + std::to_string(n) +
                              " is not valid JSON: " + e.what());
        }
        if (!j.is_object() || !j.contains("text") || !j["text"].is_string())
            throw FormatError(path + ": line " + std::to_string(n) + " has no string field 'text'");
        texts.push_back(j["text"].get<std::string>());
    }
    if (texts.empty())
        throw FormatError(path + ": no documents (expected one {\"text\": ...} per line)");
    return texts;
}

at::Tensor contiguous_windows(const std::vector<int32_t>& tokens, int64_t window,
                              int64_t max_windows)
{
    int64_t n = static_cast<int64_t>(tokens.size()) / window;
    if (max_windows > 0)
        n = std::min(n, max_windows);
    if (n == 0)
        throw InvalidArgument("the text has " + std::to_string(tokens.size()) +
                              " tokens, fewer than one window of " + std::to_string(window));
    at::Tensor w = at::empty({n, window}, at::kLong);
    int64_t* p = w.data_ptr<int64_t>();
    for (int64_t i = 0; i < n * window; ++i)
        p[i] = tokens[static_cast<size_t>(i)];
    return w;
}

at::Tensor random_windows(const std::vector<std::string>& docs, const tok::Tokenizer& tok,
                          int64_t window, int64_t count, uint64_t seed, int64_t* tokens_total)
{
    if (docs.empty() || count <= 0)
        throw InvalidArgument("random_windows: no documents or no windows requested");
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<size_t> pick(0, docs.size() - 1);
    // Documents are tokenized when first drawn; a corpus with no long document must still end.
    std::unordered_map<size_t, std::vector<int32_t>> cache;
    size_t long_docs = 0;
    int64_t total = 0;
    at::Tensor w = at::empty({count, window}, at::kLong);
    int64_t* p = w.data_ptr<int64_t>();
    for (int64_t k = 0; k < count;) {
        const size_t d = pick(rng);
        auto it = cache.find(d);
        if (it == cache.end()) {
            it = cache.emplace(d, tok.encode(docs[d], /*add_bos=*/false)).first;
            total += static_cast<int64_t>(it->second.size());
            if (static_cast<int64_t>(it->second.size()) > window)
                ++long_docs;
        }
        const auto& t = it->second;
        if (static_cast<int64_t>(t.size()) <= window) {
            if (cache.size() == docs.size() && long_docs == 0)
                throw InvalidArgument("no document has more than " + std::to_string(window) +
                                      " tokens; use a shorter window");
            continue;
        }
        std::uniform_int_distribution<int64_t> start(0,
                                                     static_cast<int64_t>(t.size()) - window - 1);
        const int64_t s = start(rng);
        for (int64_t i = 0; i < window; ++i)
            p[k * window + i] = t[static_cast<size_t>(s + i)];
        ++k;
    }
    if (tokens_total)
        *tokens_total = total;
    return w;
}

}  // namespace zp::data
