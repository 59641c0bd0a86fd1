// zeropoint-cli convert: any readable model (llama2.c checkpoint, HF directory) -> HF directory.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "app/cli/commands.h"
#include "app/cli/progress_bar.h"
#include "core/common/error.h"
#include "core/export/hf_export.h"
#include "core/model/model.h"

namespace zp::cli {

namespace {

struct ConvertOptions {
    std::string model;
    std::string out;
    std::string dtype = "float32";
};

void run_convert(const ConvertOptions& o)
{
    at::ScalarType dtype = at::kFloat;
    if (o.dtype == "float16")
        dtype = at::kHalf;
    else if (o.dtype == "bfloat16")
        dtype = at::kBFloat16;
    auto model = model::Model::open(o.model);
    ProgressBar bar("convert");
    exporter::export_hf(*model, o.out, dtype, bar.callback());
    bar.finish();
    const auto& c = model->config();
    std::printf(
        "%s (%s, %lld layers, hidden %lld, vocab %lld) -> %s (config.json, model.safetensors)\n",
        o.model.c_str(), model->format().c_str(), static_cast<long long>(c.num_layers),
        static_cast<long long>(c.hidden_size), static_cast<long long>(c.vocab_size), o.out.c_str());
}

}  // namespace

void add_convert_command(CLI::App& app)
{
    auto opts = std::make_shared<ConvertOptions>();
    CLI::App* cmd = app.add_subcommand(
        "convert", "Convert a model (llama2.c .bin or HF directory) to an HF-layout directory");
    cmd->add_option("--model", opts->model, "llama2.c checkpoint .bin or HF model directory")
        ->required();
    cmd->add_option("--out", opts->out, "output directory (created if needed)")->required();
    cmd->add_option("--dtype", opts->dtype, "tensor dtype in the output")
        ->check(CLI::IsMember({"float32", "float16", "bfloat16"}))
        ->capture_default_str();
    cmd->callback([opts]() { run_convert(*opts); });
}

}  // namespace zp::cli
