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
#include "core/common/text.h"
#include "core/data/corpus.h"
#include "core/model/forward.h"

namespace zp::eval {

namespace {

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
        windows =
            data::random_windows(data::load_jsonl_texts(path), tok, L, count, opt.seed, &total);
    } else {
        const std::string text =
            protocol == PplProtocol::wikitext2 ? data::load_wikitext2(path) : read_file(path);
        const std::vector<int32_t> ids = tok.encode(text, /*add_bos=*/false);
        total = static_cast<int64_t>(ids.size());
        windows = data::contiguous_windows(ids, L, opt.max_windows);
    }
    PerplexityResult r = perplexity_of_windows(m, windows, opt, progress);
    r.tokens_total = total;
    return r;
}

}  // namespace zp::eval
