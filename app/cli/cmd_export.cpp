// zeropoint-cli export: a saved session (HDF5) [+ its model + tokenizer] -> a llama.cpp GGUF or
// importance matrix, a dequantized HF safetensors model, ZeroPoint's packed checkpoint or a GPTQ
// checkpoint (core/export/exporter.h: one table of formats, shared with the GUI's export dialog).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "app/cli/commands.h"
#include "app/cli/progress_bar.h"
#include "core/common/error.h"
#include "core/export/exporter.h"
#include "core/export/safetensors_export.h"
#include "core/export/session.h"
#include "core/model/model.h"

namespace zp::cli {

namespace {

struct ExportCliOptions {
    std::string session;
    std::string model;
    std::string tokenizer;
    std::string format = "gguf";
    std::string out;
    std::string embedding = "f16";
    std::string preset;
    std::string dtype = "f16";
    std::string name;
    bool layers = false;
    bool gptq_refit = false;
};

void print_layers(const exporter::Report& r, bool gptq)
{
    if (r.layers.empty())
        return;
    if (gptq)
        std::printf(
            "zero-point rounding per layer (added loss sum h dW^2 vs the workbench's "
            "W_hat; ratio to the layer's diag loss):\n");
    std::printf("  %-40s %-6s %12s %12s %9s %10s  %s\n", "tensor", "type", "added_loss",
                "diag_loss", "ratio", "rel_err", "note");
    for (const auto& l : r.layers) {
        const double ratio = l.diag_loss > 0 ? l.added_loss / l.diag_loss : 0.0;
        std::printf("  %-40s %-6s %12.4g %12.4g %8.2f%% %10.3g  %s\n", l.tensor.c_str(),
                    l.type.c_str(), l.added_loss, l.diag_loss, 100.0 * ratio, l.rel_error,
                    l.note.c_str());
    }
}

void run_export(const ExportCliOptions& o)
{
    const exporter::FormatInfo& info = exporter::format_info(o.format);
    if (info.needs_model && o.model.empty() && !model::is_packed_checkpoint(o.session))
        throw InvalidArgument("export --format " + o.format +
                              " needs --model (the model the "
                              "session quantized)");
    if (info.needs_tokenizer && o.tokenizer.empty())
        throw InvalidArgument("export --format " + o.format + " needs --tokenizer");
    // A packed checkpoint holds both the quantized layers and every other tensor exactly: it can
    // stand for the session and (without --model) for the model.
    quant::QuantizedModel qm;
    std::unique_ptr<model::Model> model;
    if (model::is_packed_checkpoint(o.session)) {
        io::PackedCheckpoint pc = io::load_packed(o.session);
        qm = std::move(pc.qm);
        model = std::move(pc.model);
    } else {
        qm = read_session_noted(o.session);
    }
    if (!o.model.empty())
        model = model::Model::open(o.model);
    if (model)  // trained norms (a distilled session) replace the model's own in every format
        quant::install_float_parts(*model, qm);
    exporter::Options opt;
    opt.format = info.format;
    opt.out = o.out;
    opt.tokenizer = o.tokenizer;
    opt.gguf_embedding = o.embedding;
    opt.gguf_preset = o.preset;
    opt.dtype = o.dtype;
    opt.name = o.name;
    opt.gptq_refit_scale = o.gptq_refit;
    ProgressBar bar("export");
    opt.progress = bar.callback();
    const exporter::Report r = exporter::export_quantized(model.get(), qm, opt);
    bar.finish();
    std::printf("%s", r.summary.c_str());
    const bool gptq = info.format == exporter::Format::Gptq;
    if (gptq || o.layers)
        print_layers(r, gptq);
    for (const auto& w : r.warnings)
        std::printf("warning: %s\n", w.c_str());
}

}  // namespace

void add_export_command(CLI::App& app)
{
    auto opts = std::make_shared<ExportCliOptions>();
    std::vector<std::string> names;
    std::string help;
    for (const auto& f : exporter::formats()) {
        names.push_back(f.name);
        help += std::string(help.empty() ? "" : "; ") + f.name + ": " + f.description;
    }
    CLI::App* cmd = app.add_subcommand(
        "export",
        "Export a saved session: llama.cpp GGUF / imatrix, HF safetensors (dequantized), "
        "ZeroPoint packed, GPTQ");
    cmd->add_option("--session", opts->session,
                    "session file (.h5) written by the workbench, or a packed checkpoint "
                    "directory (then --model is optional)")
        ->required();
    cmd->add_option("--model", opts->model,
                    "the model the session quantized (llama2.c .bin or HF directory)");
    cmd->add_option("--tokenizer", opts->tokenizer,
                    "tokenizer.bin, tokenizer.model, tokenizer.json or a directory (gguf: "
                    "required; directory formats: copied into the output)");
    cmd->add_option("--format", opts->format, help)
        ->check(CLI::IsMember(names))
        ->capture_default_str();
    cmd->add_option("--embedding", opts->embedding, "gguf: type of token_embd/output")
        ->check(CLI::IsMember({"f16", "q8_0"}))
        ->capture_default_str();
    cmd->add_option("--preset", opts->preset,
                    "gguf: a llama.cpp preset (Q2_K, Q3_K_S, Q3_K_M, Q3_K_L, Q4_0, Q4_K_S, Q4_K_M, "
                    "Q5_K_S, Q5_K_M, Q6_K, Q8_0, ...): every tensor in the type llama-quantize "
                    "gives it; the session must come from quantize --preset of the same name");
    cmd->add_option("--dtype", opts->dtype,
                    "safetensors: tensor dtype; gptq: dtype of the non-quantized tensors")
        ->check(CLI::IsMember({"f16", "bf16", "f32"}))
        ->capture_default_str();
    cmd->add_option("--name", opts->name, "gguf: general.name (default: the model file's name)");
    cmd->add_flag("--layers", opts->layers, "print the per-layer table for every format");
    cmd->add_flag("--gptq-refit", opts->gptq_refit,
                  "gptq: per group, also try floor/ceil of the zero-point with a least-squares "
                  "fp16 scale; keeps the lower loss");
    cmd->add_option("--out", opts->out,
                    "output file (gguf, imatrix) or directory (safetensors, packed, gptq); "
                    "written atomically")
        ->required();
    cmd->callback([opts]() { run_export(*opts); });
}

}  // namespace zp::cli
