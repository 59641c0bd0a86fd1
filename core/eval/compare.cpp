#include "core/eval/compare.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <ATen/ATen.h>

#include "core/common/error.h"
#include "core/common/text.h"
#include "core/data/corpus.h"
#include "core/model/forward.h"
#include "core/pipeline/run_options.h"

namespace zp::eval {

at::Tensor windows_of_file(const model::Model& m, const tok::Tokenizer& tok,
                           const std::string& path, PplProtocol protocol,
                           const PerplexityOptions& opt, int64_t* tokens_total)
{
    const int64_t L = std::max<int64_t>(2, std::min(opt.window, m.config().max_position));
    int64_t total = 0;
    at::Tensor windows;
    if (protocol == PplProtocol::c4) {
        const int64_t count =
            opt.max_windows > 0 ? std::min(opt.max_windows, opt.c4_windows) : opt.c4_windows;
        windows =
            data::random_windows(data::load_jsonl_texts(path), tok, L, count, opt.seed, &total);
    } else {
        std::string text;
        if (protocol == PplProtocol::wikitext2) {
            text = data::load_wikitext2(path);
        } else {
            text = read_file(path);
        }
        const std::vector<int32_t> ids = tok.encode(text, /*add_bos=*/false);
        total = static_cast<int64_t>(ids.size());
        if (total < L)
            throw InvalidArgument(path + ": " + std::to_string(total) +
                                  " tokens, fewer than one window of " + std::to_string(L));
        windows = data::contiguous_windows(ids, L, opt.max_windows);
    }
    if (tokens_total)
        *tokens_total = total;
    return windows;
}

CompareResult compare_quantized(model::Model& m, const quant::QuantizedModel& qm,
                                const tok::Tokenizer& tok, const at::Tensor& windows,
                                const CompareOptions& o, const ProgressFn& progress)
{
    CompareResult r;
    r.prompt = o.prompt;
    const int64_t nwin = windows.size(0);
    const double total = 2.0 * nwin + 2.0 * o.steps;
    double base = 0.0;
    auto sub = [&](const std::string& stage) -> ProgressFn {
        return [&, stage](double done, double, const std::string&) {
            return !progress || progress(base + done, total, stage);
        };
    };
    std::vector<int32_t> prompt = tok.encode(o.prompt, true);
    if (prompt.empty())
        prompt.push_back(0);
    std::vector<int32_t> stops;
    if (tok.eos_id() >= 0)
        stops.push_back(tok.eos_id());
    auto generate = [&](const std::string& stage) {
        int64_t n = 0;
        std::vector<int32_t> ids = model::generate_greedy(
            m, prompt, o.steps, stops,
            [&](int32_t, int32_t) {
                ++n;
                if (progress && !progress(base + n, total, stage))
                    throw Cancelled();
                return true;
            },
            o.ppl.device, o.ppl.dtype);
        std::vector<int32_t> tail(ids.begin() + std::min(ids.size(), prompt.size()), ids.end());
        base += o.steps;
        return tok.decode(tail);
    };
    // Which blocks to restore: those that were not replaced before.
    std::vector<int64_t> restore;
    for (int64_t b = 0; b < m.config().num_layers; ++b)
        if (!m.is_replaced(b))
            restore.push_back(b);
    try {
        r.original = perplexity_of_windows(m, windows, o.ppl, sub("perplexity, original model"));
        base += nwin;
        r.text_original = generate("generating, original model");
        pipeline::install_run(m, qm);
        r.quantized = perplexity_of_windows(m, windows, o.ppl, sub("perplexity, quantized model"));
        base += nwin;
        r.text_quantized = generate("generating, quantized model");
    } catch (...) {
        for (int64_t b : restore)
            m.reset_block(b);
        throw;
    }
    for (int64_t b : restore)
        m.reset_block(b);
    if (progress)
        progress(total, total, "done");
    return r;
}

}  // namespace zp::eval
