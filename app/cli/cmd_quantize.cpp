// zeropoint-cli quantize: the sequential pipeline (RTN / GPTQ with Min-Max, NeUQI or NeUQI-int
// parameters) on a model, with a progress bar, a per-layer table and perplexity before/after.
#include <ATen/ops/zeros.h>
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "app/cli/commands.h"
#include "app/cli/progress_bar.h"
#include "core/common/error.h"
#include "core/common/text.h"
#include "core/data/calibration.h"
#include "core/eval/perplexity.h"
#include "core/export/session.h"
#include "core/model/forward.h"
#include "core/model/model.h"
#include "core/pipeline/pipeline.h"
#include "core/pipeline/prepare.h"
#include "core/tokenizer/tokenizer.h"

namespace zp::cli {

namespace {

struct QuantizeOptions {
    std::string model, tokenizer, method = "gptq-neuqi", calib, calib_format = "auto",
                                  device = "cpu";
    std::vector<std::string> eval;
    int bits = 2;
    int64_t group = -1;
    int64_t nsamples = 128, seqlen = 2048, batch = 8;
    uint64_t seed = 0;
    double damp = 0.01;
    int64_t gptq_block = 128;
    bool no_act_order = false, activations_on_cpu = false;
    int64_t window = 2048, eval_windows = 0;
    std::vector<std::string> overrides;
    std::string out;
};

// "3.down_proj:bits=4,group=-1,method=rtn-minmax,skip"
std::pair<std::string, pipeline::LayerOverride> parse_override(const std::string& text)
{
    const size_t colon = text.find(':');
    if (colon == std::string::npos || colon == 0)
        throw InvalidArgument("--override '" + text +
                              "': expected <block>.<layer>:bits=N,group=G,method=M,skip");
    pipeline::LayerOverride ov;
    std::stringstream ss(text.substr(colon + 1));
    std::string item;
    while (std::getline(ss, item, ',')) {
        const size_t eq = item.find('=');
        const std::string key = item.substr(0, eq),
                          value = eq == std::string::npos ? "" : item.substr(eq + 1);
        try {
            if (key == "skip" && eq == std::string::npos)
                ov.skip = true;
            else if (key == "bits")
                ov.bits = std::stoi(value);
            else if (key == "group")
                ov.group_size = std::stoll(value);
            else if (key == "method")
                ov.method = value;
            else
                throw InvalidArgument("");
        } catch (const std::exception&) {
            throw InvalidArgument("--override '" + text + "': cannot read '" + item +
                                  "' (bits=N, group=G, method=M or skip)");
        }
    }
    return {text.substr(0, colon), ov};
}

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
    auto model = model::Model::open(o.model);
    const int32_t vocab = static_cast<int32_t>(model->config().vocab_size);
    std::unique_ptr<tok::Tokenizer> tok;
    auto tokenizer = [&]() -> const tok::Tokenizer* {
        if (!tok) {
            if (o.tokenizer.empty())
                throw InvalidArgument("--tokenizer is needed for text calibration and for --eval");
            tok = ends_with(o.tokenizer, ".bin") ? tok::load_llama2c_tokenizer(o.tokenizer, vocab)
                                                 : tok::load_tokenizer(o.tokenizer);
            tok::check_vocab_matches(*tok, vocab, o.tokenizer, o.model);
        }
        return tok.get();
    };
    if (!o.eval.empty())
        tokenizer();

    pipeline::PipelineOptions po;
    po.method = o.method;
    po.bits = o.bits;
    po.group_size = o.group;
    po.damp = o.damp;
    po.gptq_block = o.gptq_block;
    po.act_order = !o.no_act_order;
    po.device = o.device;
    po.activations_on_cpu = o.activations_on_cpu;
    po.batch = o.batch;
    po.seed = o.seed;
    for (const std::string& s : o.overrides)
        po.overrides.insert(parse_override(s));
    pipeline::CalibrationRequest cr;
    cr.path = o.calib;
    cr.format = o.calib_format;
    cr.nsamples = o.nsamples;
    cr.seqlen = o.seqlen;
    cr.seed = o.seed;
    const pipeline::PreparedCalibration pc = pipeline::prepare_run(*model, po, cr, tokenizer);
    if (pc.drawn)
        std::fprintf(stderr, "calibration: %lld x %lld tokens from %s (%lld tokens available)\n",
                     static_cast<long long>(po.calibration.size(0)),
                     static_cast<long long>(po.calibration.size(1)), o.calib.c_str(),
                     static_cast<long long>(pc.tokens_available));

    eval::PerplexityOptions eo;
    eo.window = o.window;
    eo.max_windows = o.eval_windows;
    if (o.eval_windows > 0)
        eo.c4_windows = o.eval_windows;
    std::tie(eo.device, eo.dtype) = model::compute_device(o.device);
    std::vector<double> ppl_before;
    if (!o.eval.empty())
        model->set_keep_blocks(true);  // every evaluation window passes through every block
    for (const std::string& file : o.eval) {
        ProgressBar bar("perplexity (original)");
        ppl_before.push_back(eval::perplexity_of_file(
                                 *model, *tok, file, eval::guess_protocol(file), eo, bar.callback())
                                 .perplexity);
    }

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
    std::printf("method %s, %d-bit, group %lld, %s s\n", o.method.c_str(), o.bits,
                static_cast<long long>(o.group), q.config.extra["seconds"].c_str());
    for (size_t i = 0; i < o.eval.size(); ++i) {
        const std::string& file = o.eval[i];
        ProgressBar bar("perplexity (quantized)");
        const double after = eval::perplexity_of_file(
                                 *model, *tok, file, eval::guess_protocol(file), eo, bar.callback())
                                 .perplexity;
        bar.finish();
        std::printf("perplexity on %s: original %.4f, quantized %.4f\n", file.c_str(),
                    ppl_before[i], after);
        std::string stem = file.substr(file.find_last_of('/') + 1);
        stem = stem.substr(0, stem.find('.'));
        q.perplexity[stem + "/original"] = ppl_before[i];
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
                    "tokenizer.bin, tokenizer.model or tokenizer.json");
    std::vector<std::string> names;
    for (const auto& m : pipeline::pipeline_methods())
        names.push_back(m.name);
    cmd->add_option("--method", o->method, "quantization method")
        ->check(CLI::IsMember(names))
        ->capture_default_str();
    cmd->add_option("--bits", o->bits, "bits per weight (2..8)")->capture_default_str();
    cmd->add_option("--group", o->group, "columns per group (-1: channel-wise)")
        ->capture_default_str();
    cmd->add_option(
        "--calib", o->calib,
        "calibration text, .jsonl ({\"text\": ...}) or .ids file (none: data-free RTN)");
    cmd->add_option("--calib-format", o->calib_format, "auto, text, jsonl or ids")
        ->check(CLI::IsMember({"auto", "text", "jsonl", "ids"}))
        ->capture_default_str();
    cmd->add_option("--nsamples", o->nsamples, "calibration sequences N")->capture_default_str();
    cmd->add_option("--seqlen", o->seqlen, "tokens per calibration sequence L")
        ->capture_default_str();
    cmd->add_option("--seed", o->seed, "seed of the calibration draws")->capture_default_str();
    cmd->add_option("--damp", o->damp, "relative Hessian damping")->capture_default_str();
    cmd->add_option("--gptq-block", o->gptq_block, "GPTQ lazy-batch column block")
        ->capture_default_str();
    cmd->add_flag("--no-act-order", o->no_act_order, "GPTQ in natural column order");
    cmd->add_option(
        "--override", o->overrides,
        "per-layer override, repeatable: <block|*>.<layer|*>:bits=N,group=G,method=M,skip");
    cmd->add_option("--batch", o->batch, "calibration sequences per forward pass")
        ->capture_default_str();
    cmd->add_flag("--activations-on-cpu", o->activations_on_cpu,
                  "keep calibration activations in host memory");
    cmd->add_option(
        "--eval", o->eval,
        "perplexity before/after on this file (wikitext2 .raw, C4 .jsonl or text); repeatable");
    cmd->add_option("--window", o->window, "perplexity window in tokens (clamped to the context)")
        ->capture_default_str();
    cmd->add_option("--eval-windows", o->eval_windows,
                    "evaluate at most this many windows (0: all; C4: 256)")
        ->capture_default_str();
    cmd->add_option("--device", o->device, "cpu or cuda[:N]")->capture_default_str();
    cmd->add_option("--out", o->out,
                    "write the session (HDF5: parameters, codes, diagnostics, perplexities)");
    cmd->callback([o]() { run_quantize(*o); });
}

}  // namespace zp::cli
