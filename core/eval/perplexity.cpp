#include "core/eval/perplexity.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <unordered_map>

#include <ATen/ops/empty.h>
#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/model/forward.h"

namespace zp::eval {

namespace {

std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw IoError(path + ": cannot open");
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad())
        throw IoError(path + ": read failed");
    return ss.str();
}

bool ends_with(const std::string& s, const std::string& suffix)
{
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

int64_t clamp_window(const model::Model& m, int64_t window)
{
    if (window < 2)
        throw InvalidArgument("perplexity window must hold at least 2 tokens, got " +
                              std::to_string(window));
    return std::min(window, m.config().max_position);
}

}  // namespace

PplProtocol parse_protocol(const std::string& name)
{
    if (name == "wikitext2")
        return PplProtocol::wikitext2;
    if (name == "c4")
        return PplProtocol::c4;
    if (name == "text" || name == "plain")
        return PplProtocol::plain;
    throw InvalidArgument("unknown perplexity protocol '" + name + "' (wikitext2, c4, text)");
}

PplProtocol guess_protocol(const std::string& path)
{
    const std::string name = path.substr(path.find_last_of('/') + 1);
    if (ends_with(name, ".jsonl"))
        return PplProtocol::c4;
    if (ends_with(name, ".raw") || name.find("wiki") != std::string::npos)
        return PplProtocol::wikitext2;
    return PplProtocol::plain;
}

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

PerplexityResult perplexity_of_windows(const model::Model& m, const at::Tensor& windows,
                                       const PerplexityOptions& opt, const ProgressFn& progress)
{
    if (windows.dim() != 2 || windows.size(1) < 2)
        throw InvalidArgument("perplexity windows must be [N, L] with L >= 2");
    const int64_t N = windows.size(0), L = windows.size(1);
    const int64_t batch = std::max<int64_t>(1, opt.batch);
    model::ForwardOptions fo;
    fo.device = opt.device;
    fo.dtype = opt.dtype;
    double nll = 0.0;
    for (int64_t b = 0; b < N; b += batch) {
        report_progress(progress, static_cast<double>(b), static_cast<double>(N),
                        "window " + std::to_string(b + 1) + "/" + std::to_string(N));
        const int64_t n = std::min(batch, N - b);
        at::Tensor ids = windows.narrow(0, b, n).to(opt.device, at::kLong);
        at::Tensor logits = model::model_forward(m, ids, fo);  // [n, L, V] float32
        at::Tensor logp = logits.narrow(1, 0, L - 1).log_softmax(-1);
        at::Tensor target = ids.narrow(1, 1, L - 1).unsqueeze(-1);
        nll -= logp.gather(-1, target).to(at::kDouble).sum().item<double>();
    }
    report_progress(progress, static_cast<double>(N), static_cast<double>(N), "done");
    PerplexityResult r;
    r.nll_sum = nll;
    r.windows = N;
    r.window = L;
    r.tokens_scored = N * (L - 1);
    r.perplexity = std::exp(nll / static_cast<double>(r.tokens_scored));
    return r;
}

PerplexityResult perplexity_of_file(const model::Model& m, const tok::Tokenizer& tok,
                                    const std::string& path, PplProtocol protocol,
                                    const PerplexityOptions& opt, const ProgressFn& progress)
{
    const int64_t L = clamp_window(m, opt.window);
    at::Tensor windows;
    int64_t total = 0;
    if (protocol == PplProtocol::c4) {
        const int64_t count =
            opt.max_windows > 0 ? std::min(opt.max_windows, opt.c4_windows) : opt.c4_windows;
        windows = random_windows(load_jsonl_texts(path), tok, L, count, opt.seed, &total);
    } else {
        const std::string text =
            protocol == PplProtocol::wikitext2 ? load_wikitext2(path) : read_file(path);
        const std::vector<int32_t> ids = tok.encode(text, /*add_bos=*/false);
        total = static_cast<int64_t>(ids.size());
        windows = contiguous_windows(ids, L, opt.max_windows);
    }
    PerplexityResult r = perplexity_of_windows(m, windows, opt, progress);
    r.tokens_total = total;
    return r;
}

}  // namespace zp::eval
