// zeropoint-cli quantize: the sequential pipeline (RTN / GPTQ with Min-Max, NeUQI or NeUQI-int
// parameters) on a model, with a progress bar, a per-layer table and perplexity before/after.
#include <ATen/ops/zeros.h>
#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "app/cli/commands.h"
#include "app/cli/progress_bar.h"
#include "app/cli/run_option_flags.h"
#include "core/analysis/outliers.h"
#include "core/common/error.h"
#include "core/common/text.h"
#include "core/data/calibration.h"
#include "core/eval/perplexity.h"
#include "core/export/session.h"
#include "core/formats/gguf.h"
#include "core/model/forward.h"
#include "core/model/model.h"
#include "core/pipeline/pipeline.h"
#include "core/pipeline/prepare.h"
#include "core/pipeline/run_options.h"
#include "core/tokenizer/tokenizer.h"

namespace zp::cli {

namespace {

struct QuantizeOptions {
    std::string model, tokenizer;
    // The run options as given on the command line (core/pipeline/run_options.h).
    std::shared_ptr<GivenRunOptions> given = std::make_shared<GivenRunOptions>();
    std::vector<std::string> eval;
    int64_t window = 2048, eval_windows = 0;
    bool skip_original = false;
    std::string out;
};

std::string fmt(double v)
{
    char buf[32];
    if (v < 0)
        return "-";
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
}

std::string ratio(double a, double b)
{
    if (a < 0 || b <= 0)
        return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", a / b);
    return buf;
}

void run_quantize(const QuantizeOptions& o)
{
    if (!o.out.empty() && !session::available())
        throw InvalidArgument("--out " + o.out +
                              ": this build has no HDF5, so it cannot write session files");
    // The options first: a bad value is refused before any file is opened.
    pipeline::RunOptions ro;
    for (const auto& [name, value] : o.given->values)
        ro.set(name, value, pipeline::cli_flag(pipeline::run_option_spec(name)));
    for (const std::string& s : o.given->overrides)
        ro.set("override", s, "--override");
    pipeline::PipelineOptions po = ro.pipeline_options();
    const pipeline::CalibrationRequest cr = ro.calibration();
    auto model = model::Model::open(o.model);
    model->check_outer_tensors();  // a NaN embedding would otherwise pass a data-free run
    const int32_t vocab = static_cast<int32_t>(model->config().vocab_size);
    LazyTokenizer lazy(o.tokenizer, vocab, o.model);
    auto tokenizer = [&]() { return lazy.get(); };
    if (!o.eval.empty())
        tokenizer();

    const pipeline::PreparedCalibration pc = pipeline::prepare_run(*model, po, cr, tokenizer);
    if (pc.drawn)
        std::fprintf(stderr, "calibration: %lld x %lld tokens from %s (%lld tokens available)%s\n",
                     static_cast<long long>(po.calibration.size(0)),
                     static_cast<long long>(po.calibration.size(1)), cr.path.c_str(),
                     static_cast<long long>(pc.tokens_available),
                     pc.seqlen < cr.seqlen ? " (sequences shortened to the model's context)" : "");

    eval::PerplexityOptions eo;
    eo.window = o.window;
    eo.max_windows = o.eval_windows;
    if (o.eval_windows > 0)
        eo.c4_windows = o.eval_windows;
    std::tie(eo.device, eo.dtype) = model::compute_device(po.device, ro.text("eval_dtype"));
    if (!o.eval.empty())
        std::fprintf(stderr, "evaluation on %s in %s\n", eo.device.str().c_str(),
                     c10::toString(eo.dtype));
    std::vector<double> ppl_before;
    // Every evaluation window passes through every block, so evaluations keep the blocks read
    // from disk; the pipeline reads each block once and holds one at a time, so it runs without
    // (a kept copy of the whole model during quantization: +0.4 GB peak on SmolLM2-135M).
    if (!o.eval.empty() && !o.skip_original)
        model->set_keep_blocks(true);
    for (const std::string& file : o.eval) {
        if (o.skip_original) {
            ppl_before.push_back(-1.0);
            continue;
        }
        ProgressBar bar("perplexity (original)");
        ppl_before.push_back(eval::perplexity_of_file(*model, *lazy.get(), file,
                                                      eval::guess_protocol(file), eo,
                                                      bar.callback())
                                 .perplexity);
    }

    model->set_keep_blocks(false);
    quant::QuantizedModel q;
    {
        ProgressBar bar("quantize");
        po.progress = bar.callback();
        q = pipeline::quantize_model(*model, po);
        bar.finish();
    }

    std::printf("%5s %-10s %-14s %4s %6s %11s %8s %11s %8s %8s %7s\n", "block", "layer", "method",
                "bits", "group", "diag loss", "/minmax", "proxy loss", "/rtn-mm", "rel err", "sec");
    for (const quant::LayerResult& l : q.layers) {
        if (l.skipped) {
            std::printf("%5lld %-10s %-14s (full precision)\n", static_cast<long long>(l.block),
                        l.name.c_str(), "skip");
            continue;
        }
        const std::string m =
            std::string(l.algorithm == quant::Algorithm::GPTQ ? "gptq-" : "rtn-") + l.param_method;
        std::printf("%5lld %-10s %-14s %4d %6lld %11s %8s %11s %8s %8.4f %7.2f\n",
                    static_cast<long long>(l.block), l.name.c_str(), m.c_str(), l.bits,
                    static_cast<long long>(l.group_size), fmt(l.diag_loss).c_str(),
                    ratio(l.diag_loss, l.diag_loss_minmax).c_str(), fmt(l.proxy_loss).c_str(),
                    ratio(l.proxy_loss, l.proxy_loss_rtn_minmax).c_str(), l.relative_weight_error,
                    l.seconds);
    }
    {
        // Super-weights the chosen parameters clip (beyond 10 standard deviations of the layer,
        // reconstructed more than half a step off), from the original weights on disk.
        auto original = model::Model::open(o.model);
        int64_t flagged = 0;
        for (const quant::LayerResult& l : q.layers) {
            if (l.skipped || !l.codes.defined())
                continue;
            const std::string input = zp::model::input_group(l.name).input;
            const quant::GroupTransform* t = q.transforms.find(l.block, input);
            if (t && !t->identity())
                continue;  // its codes quantize W Q^-T, not W
            const auto clipped =
                analysis::clipped_outliers(original->block(l.block).linear(l.name), l, 10.0);
            if (clipped.empty())
                continue;
            ++flagged;
            const analysis::ClippedWeight& c = clipped.front();
            std::printf(
                "warning: block %lld %s: %zu weight(s) beyond 10 sigma clipped; largest "
                "(%lld, %lld) = %.4g (%.1f sigma) reconstructed as %.4g (step %.3g)\n",
                static_cast<long long>(l.block), l.name.c_str(), clipped.size(),
                static_cast<long long>(c.row), static_cast<long long>(c.col), c.value, c.sigmas,
                c.reconstructed, c.step);
        }
        if (flagged > 0)
            std::printf("%lld layer(s) clip super-weights (a Min-Max range keeps them)\n",
                        static_cast<long long>(flagged));
    }
    if (!q.transforms.empty()) {
        // The activation side: one row per linear-input group.
        std::printf("\n%5s %-10s %-8s %6s %5s %12s %12s %10s %10s %7s\n", "block", "input",
                    "transform", "width", "rblk", "max|x|", "max|xQ|", "A err", "A err+T", "sec");
        double build = 0.0;
        for (const quant::GroupTransform* t : q.transforms.all()) {
            build += t->seconds;
            const double before = t->act_max.defined() ? t->act_max.max().item<double>() : 0.0;
            const double after =
                t->act_max_after.defined() ? t->act_max_after.max().item<double>() : 0.0;
            std::printf("%5lld %-10s %-8s %6lld %5lld %12.4g %12.4g %10.4g %10.4g %7.2f\n",
                        static_cast<long long>(t->block), t->input.c_str(),
                        quant::transform_kind_info(t->kind).name, static_cast<long long>(t->width),
                        static_cast<long long>(t->rotation_block), before, after,
                        t->act_error_plain, t->act_error, t->seconds);
        }
        std::printf("A%d (clip %s), transforms built in %.2f s\n", po.abits,
                    q.config.extra["aclip"].c_str(), build);
        if (q.config.extra.count("stage2_seconds"))
            std::printf("stage 2 (%s epochs) took %s s\n",
                        q.config.extra["finetune_epochs"].c_str(),
                        q.config.extra["stage2_seconds"].c_str());
        for (const quant::GroupTransform* t : q.transforms.all())
            if (t->input == "q_proj" && t->stage2_loss_before >= 0.0)
                std::printf("block %lld stage 2: block-output MSE %.4g -> %.4g%s\n",
                            static_cast<long long>(t->block), t->stage2_loss_before,
                            t->stage2_loss_after,
                            t->stage2_loss_after == t->stage2_loss_before ? " (stage-1 kept)" : "");
    }
    if (!po.preset.empty()) {
        // Per type: layers and the weighted loss against Min-Max on the same grid.
        std::map<std::string, std::pair<int, std::pair<double, double>>> per_type;
        int kept = 0;
        for (const quant::LayerResult& l : q.layers) {
            if (l.skipped) {
                ++kept;
                continue;
            }
            auto& e = per_type[gguf::tensor_type_traits(uint32_t(l.encoding)).name];
            ++e.first;
            e.second.first += l.diag_loss;
            e.second.second += l.diag_loss_minmax;
        }
        std::printf("method %s, preset %s, %s s\n", po.method.c_str(), po.preset.c_str(),
                    q.config.extra["seconds"].c_str());
        for (const auto& [type, e] : per_type)
            std::printf("  %-5s %4d layers, loss sum h dW^2 %.4g (Min-Max on the same grid %.4g)\n",
                        type.c_str(), e.first, e.second.first, e.second.second);
        if (kept > 0)
            std::printf("  %d layers kept in full precision (the preset writes them F16)\n", kept);
    } else {
        std::printf("method %s, %d-bit, group %lld, %s s\n", po.method.c_str(), po.bits,
                    static_cast<long long>(po.group_size), q.config.extra["seconds"].c_str());
    }
    if (!o.eval.empty())
        model->set_keep_blocks(true);
    for (size_t i = 0; i < o.eval.size(); ++i) {
        const std::string& file = o.eval[i];
        ProgressBar bar("perplexity (quantized)");
        const double after =
            eval::perplexity_of_file(*model, *lazy.get(), file, eval::guess_protocol(file), eo,
                                     bar.callback())
                .perplexity;
        bar.finish();
        std::string stem = file.substr(file.find_last_of('/') + 1);
        stem = stem.substr(0, stem.find('.'));
        if (o.skip_original) {
            std::printf("perplexity on %s: quantized %.4f\n", file.c_str(), after);
        } else {
            std::printf("perplexity on %s: original %.4f, quantized %.4f\n", file.c_str(),
                        ppl_before[i], after);
            q.perplexity[stem + "/original"] = ppl_before[i];
        }
        q.perplexity[stem + "/quantized"] = after;
    }
    if (!o.out.empty()) {
        session::write_session(q, o.out);
        std::printf("session written to %s\n", o.out.c_str());
    }
}

}  // namespace

void add_quantize_command(CLI::App& app)
{
    auto o = std::make_shared<QuantizeOptions>();
    CLI::App* cmd = app.add_subcommand(
        "quantize", "Quantize every decoder linear (RTN or GPTQ, Min-Max/NeUQI parameters)");
    cmd->add_option("--model", o->model, "HF model directory or llama2.c checkpoint")->required();
    cmd->add_option("--tokenizer", o->tokenizer,
                    "tokenizer.bin, tokenizer.model, tokenizer.json or a GGUF file (default: the "
                    "model's own, from a GGUF file or beside an HF model; a llama2.c checkpoint "
                    "needs one for text calibration and --eval)");
    // The run options: generated from the one table (names, defaults, ranges, help).
    add_run_option_flags(cmd, o->given, "quantize");
    cmd->add_option(
        "--eval", o->eval,
        "perplexity before/after on this file (wikitext2 .raw, C4 .jsonl or text); repeatable");
    cmd->add_option("--window", o->window, "perplexity window in tokens (clamped to the context)")
        ->capture_default_str();
    cmd->add_option("--eval-windows", o->eval_windows,
                    "evaluate at most this many windows (0: all; C4: 256)")
        ->capture_default_str();
    cmd->add_flag("--skip-original-eval", o->skip_original,
                  "with --eval: evaluate the quantized model only (when the original's "
                  "perplexity is already known)");
    cmd->add_option("--out", o->out,
                    "write the session (HDF5: parameters, codes, diagnostics, perplexities)");
    cmd->callback([o]() { run_quantize(*o); });
}

}  // namespace zp::cli
