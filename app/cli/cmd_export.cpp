// zeropoint-cli export: a saved session (HDF5) + its model + tokenizer -> a llama.cpp GGUF, or the
// session's Hessian diagonals -> a llama.cpp importance matrix (GGUF).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "app/cli/commands.h"
#include "app/cli/progress_bar.h"
#include "core/common/error.h"
#include "core/io/gguf_export.h"
#include "core/io/session.h"
#include "core/model/model.h"

namespace zp::cli {

namespace {

struct ExportOptions {
    std::string session;
    std::string model;
    std::string tokenizer;
    std::string format = "gguf";
    std::string out;
    std::string embedding = "f16";
    std::string name;
};

void print_report(const gguf::ExportReport& r)
{
    std::map<std::string, int> by_type;
    int64_t changed = 0;
    double q8_err = -1.0, q8_loss = 0.0, snap_loss = 0.0;
    for (const auto& t : r.tensors) {
        ++by_type[gguf::tensor_type_traits(static_cast<uint32_t>(t.type)).name];
        changed += t.codes_changed;
        if (t.type == gguf::TensorType::Q8_0 && t.note.find("re-quantized") != std::string::npos) {
            q8_err = std::max(q8_err, t.rel_error);
            q8_loss += t.added_loss;
        } else {
            snap_loss += t.added_loss;
        }
    }
    std::printf("%s: %llu bytes, %zu tensors (", r.path.c_str(),
                static_cast<unsigned long long>(r.file_bytes), r.tensors.size());
    bool first = true;
    for (const auto& [type, n] : by_type) {
        std::printf("%s%d %s", first ? "" : ", ", n, type.c_str());
        first = false;
    }
    std::printf(")\n");
    std::printf(
        "fp16 rounding (Q4_1/Q5_1 d, m; F16 fallbacks): %lld codes moved, added loss sum h dW^2 = "
        "%.4g\n",
        static_cast<long long>(changed), snap_loss);
    if (q8_err >= 0)
        std::printf(
            "Q8_0 re-quantization of 6-8-bit layers (symmetric): added loss sum h dW^2 = %.4g, "
            "worst "
            "relative weight error %.3g\n",
            q8_loss, q8_err);
    for (const auto& w : r.warnings)
        std::printf("warning: %s\n", w.c_str());
}

void run_export(const ExportOptions& o)
{
    const pipeline::QuantizedModel qm = session::read_session(o.session);
    if (o.format == "imatrix") {
        print_report(gguf::export_imatrix(qm, o.out));
        return;
    }
    if (o.model.empty() || o.tokenizer.empty())
        throw InvalidArgument("export --format gguf needs --model and --tokenizer");
    auto model = model::Model::open(o.model);
    gguf::ExportOptions opt;
    opt.embedding_type = o.embedding == "q8_0" ? gguf::TensorType::Q8_0 : gguf::TensorType::F16;
    opt.name = o.name;
    ProgressBar bar("export");
    opt.progress = bar.callback();
    const gguf::ExportReport r = gguf::export_model(*model, &qm, o.tokenizer, o.out, opt);
    bar.finish();
    print_report(r);
}

}  // namespace

void add_export_command(CLI::App& app)
{
    auto opts = std::make_shared<ExportOptions>();
    CLI::App* cmd = app.add_subcommand(
        "export", "Export a saved session to a llama.cpp GGUF model or importance matrix");
    cmd->add_option("--session", opts->session, "session file (.h5) written by the workbench")
        ->required();
    cmd->add_option("--model", opts->model,
                    "the model the session quantized (llama2.c .bin or HF directory)");
    cmd->add_option("--tokenizer", opts->tokenizer,
                    "tokenizer.bin, tokenizer.model, tokenizer.json or a directory");
    cmd->add_option("--format", opts->format,
                    "gguf: the quantized model; imatrix: the Hessian diagonals")
        ->check(CLI::IsMember({"gguf", "imatrix"}))
        ->capture_default_str();
    cmd->add_option("--embedding", opts->embedding, "type of token_embd/output in the GGUF")
        ->check(CLI::IsMember({"f16", "q8_0"}))
        ->capture_default_str();
    cmd->add_option("--name", opts->name, "general.name (default: the model file's name)");
    cmd->add_option("--out", opts->out, "output file (written atomically)")->required();
    cmd->callback([opts]() { run_export(*opts); });
}

}  // namespace zp::cli
