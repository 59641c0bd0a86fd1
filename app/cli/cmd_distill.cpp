// zeropoint-cli distill: NeUQI's lightweight distillation of a saved session (core/MATHS.md
// section 7; core/pipeline/distill.h). The codes stay as they are; the scales, zero-points and
// RMSNorm gains are trained against the original model, and a new session is written.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "app/cli/commands.h"
#include "app/cli/progress_bar.h"
#include "app/cli/run_option_flags.h"
#include "core/analysis/distill_movement.h"
#include "core/common/error.h"
#include "core/common/text.h"
#include "core/eval/perplexity.h"
#include "core/export/session.h"
#include "core/model/forward.h"
#include "core/model/model.h"
#include "core/pipeline/distill.h"
#include "core/pipeline/pipeline.h"
#include "core/pipeline/prepare.h"
#include "core/pipeline/run_options.h"
#include "core/tokenizer/tokenizer.h"

namespace zp::cli {

namespace {

struct DistillCliOptions {
    std::string session, model, tokenizer, out;
    std::shared_ptr<GivenRunOptions> given = std::make_shared<GivenRunOptions>();
    std::vector<std::string> eval;
    int64_t window = 2048, eval_windows = 0;
};

void run_distill(const DistillCliOptions& o)
{
    if (!session::available())
        throw InvalidArgument("this build has no HDF5, so it cannot read or write session files");
    if (o.out == o.session)
        throw InvalidArgument("--out " + o.out +
                              ": give a new file; the input session is left untouched");
    // The options first: a bad value is refused before any file is opened.
    pipeline::RunOptions ro;
    for (const auto& [name, value] : o.given->values)
        ro.set(name, value, pipeline::cli_flag(pipeline::run_option_spec(name)));
    pipeline::DistillOptions d = ro.distill_options();
    const pipeline::CalibrationRequest cr = ro.calibration();
    if (cr.path.empty())
        throw InvalidArgument("--calib is required: distillation trains on calibration text");

    const quant::QuantizedModel qm = read_session_noted(o.session);
    auto teacher = model::Model::open(o.model);
    if (!qm.config.model_config_hash.empty() &&
        qm.config.model_config_hash != pipeline::config_hash(teacher->config()))
        throw InvalidArgument("--session " + o.session + ": made for another model (" +
                              qm.config.model_path + "), not " + o.model);
    const int32_t vocab = static_cast<int32_t>(teacher->config().vocab_size);
    LazyTokenizer lazy(o.tokenizer, vocab, o.model);
    auto tokenizer = [&]() { return lazy.get(); };
    if (!o.eval.empty())
        tokenizer();
    pipeline::PipelineOptions po;  // only to draw the calibration windows
    po.method = "rtn-minmax";
    const pipeline::PreparedCalibration pc = pipeline::prepare_run(*teacher, po, cr, tokenizer);
    d.calibration = po.calibration;
    d.calibration_source = po.calibration_source;
    std::fprintf(stderr, "distillation data: %lld x %lld tokens from %s\n",
                 static_cast<long long>(d.calibration.size(0)),
                 static_cast<long long>(d.calibration.size(1)), pc.source.c_str());
    teacher->set_keep_blocks(true);

    // Perplexity of the session as it is, then after training, on a second model instance.
    eval::PerplexityOptions eo;
    eo.window = o.window;
    eo.max_windows = o.eval_windows;
    if (o.eval_windows > 0)
        eo.c4_windows = o.eval_windows;
    std::tie(eo.device, eo.dtype) = model::compute_device(d.device, ro.text("eval_dtype"));
    if (!o.eval.empty())
        std::fprintf(stderr, "evaluation on %s in %s\n", eo.device.str().c_str(),
                     c10::toString(eo.dtype));
    std::unique_ptr<model::Model> student;
    auto perplexities = [&](const quant::QuantizedModel& q, const char* label) {
        std::vector<double> out;
        if (o.eval.empty())
            return out;
        if (!student) {
            student = model::Model::open(o.model);
            student->set_keep_blocks(true);
        }
        pipeline::install_run(*student, q);
        for (const std::string& file : o.eval) {
            ProgressBar bar(std::string("perplexity (") + label + ")");
            out.push_back(eval::perplexity_of_file(*student, *lazy.get(), file,
                                                   eval::guess_protocol(file), eo, bar.callback())
                              .perplexity);
            bar.finish();
        }
        return out;
    };
    const std::vector<double> before = perplexities(qm, "session");

    pipeline::DistillResult r;
    {
        ProgressBar bar("distill");
        d.progress = bar.callback();
        r = pipeline::distill(*teacher, qm, d);
        bar.finish();
    }
    const std::vector<double> after = perplexities(r.model, "distilled");
    std::printf("distillation: %lld steps, %lld tokens, %.1f s; loss %.6g -> %.6g\n",
                static_cast<long long>(r.steps), static_cast<long long>(r.tokens), r.seconds,
                r.loss_before, r.loss_after);
    const size_t n = r.loss.size();
    for (size_t i = 0; i < n; i += std::max<size_t>(1, n / 10))
        std::printf("  step %5zu  loss %.6g\n", i + 1, r.loss[i]);
    // How far the parameters moved (the GUI's heatmap), largest scale movement first.
    std::vector<analysis::LayerMovement> moved = analysis::distill_movement(qm, r.model);
    std::sort(moved.begin(), moved.end(), [](const auto& a, const auto& b) {
        return (std::isnan(b.scale) ? -1.0 : b.scale) < (std::isnan(a.scale) ? -1.0 : a.scale);
    });
    for (size_t i = 0; i < std::min<size_t>(3, moved.size()); ++i)
        std::printf(
            "  moved most: block %lld %s: scales %.3g%%, zero-points %.3g%% (mean relative)\n",
            static_cast<long long>(moved[i].block), moved[i].name.c_str(), 100.0 * moved[i].scale,
            100.0 * moved[i].zero);
    for (size_t i = 0; i < o.eval.size(); ++i) {
        std::printf("perplexity on %s: session %.4f, distilled %.4f\n", o.eval[i].c_str(),
                    before[i], after[i]);
        std::string stem = o.eval[i].substr(o.eval[i].find_last_of('/') + 1);
        stem = stem.substr(0, stem.find('.'));
        r.model.perplexity[stem + "/quantized"] = before[i];
        r.model.perplexity[stem + "/distilled"] = after[i];
    }
    session::write_session(r.model, o.out);
    std::printf("session written to %s\n", o.out.c_str());
}

}  // namespace

void add_distill_command(CLI::App& app)
{
    auto o = std::make_shared<DistillCliOptions>();
    CLI::App* cmd = app.add_subcommand(
        "distill",
        "Train a session's scales, zero-points and norms against the original model (codes "
        "frozen; NeUQI's lightweight distillation); writes a new session");
    cmd->add_option("--session", o->session, "the quantized session (.h5) to distil")->required();
    cmd->add_option("--model", o->model, "the original model the session was made from")
        ->required();
    cmd->add_option("--tokenizer", o->tokenizer,
                    "tokenizer.bin, tokenizer.model, tokenizer.json or the .gguf");
    add_run_option_flags(cmd, o->given, "distill");
    cmd->add_option("--eval", o->eval,
                    "perplexity before/after on this file (wikitext2 .raw, C4 .jsonl or text); "
                    "repeatable");
    cmd->add_option("--window", o->window, "perplexity window in tokens (clamped to the context)")
        ->capture_default_str();
    cmd->add_option("--eval-windows", o->eval_windows,
                    "evaluate at most this many windows (0: all; C4: 256)")
        ->capture_default_str();
    cmd->add_option("--out", o->out, "the new session (written only when training completes)")
        ->required();
    cmd->callback([o]() { run_distill(*o); });
}

}  // namespace zp::cli
