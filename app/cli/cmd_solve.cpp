// zeropoint-cli solve: quantization parameters of one weight matrix from a safetensors file.
#include <CLI/CLI.hpp>

#include <ATen/TensorOperators.h>

#include <cstdio>
#include <map>

#include "app/cli/commands.h"
#include "core/common/error.h"
#include "core/formats/safetensors.h"
#include "core/quant/quantizer.h"

namespace zp::cli {

namespace {

struct SolveOptions {
    std::string input, weight, importance, output, method = "neuqi";
    int bits = 2;
    int64_t group = -1;
    int grid = 2048, coarse = 64;
    bool full_grid = false;
    double clip = 1.0;
};

at::Tensor read_matrix(const io::SafetensorsFile& f, const std::string& name, int64_t rank,
                       const char* role)
{
    if (!f.contains(name)) {
        std::string names;
        for (const std::string& n : f.names())
            names += (names.empty() ? "" : ", ") + n;
        throw FormatError(f.path() + ": no tensor named '" + name + "' (the " + role +
                          "); the file holds: " + names);
    }
    const io::SafetensorInfo& info = f.info(name);
    if (static_cast<int64_t>(info.shape.size()) != rank)
        throw FormatError(f.path() + ": tensor '" + name + "' has rank " +
                          std::to_string(info.shape.size()) + ", the " + role + " must have rank " +
                          std::to_string(rank));
    if (info.dtype != "F32" && info.dtype != "F64" && info.dtype != "F16" && info.dtype != "BF16")
        throw FormatError(f.path() + ": tensor '" + name + "' has dtype " + info.dtype + ", the " +
                          role + " must be F32, F64, F16 or BF16");
    return f.tensor(name);
}

void run_solve(const SolveOptions& o)
{
    io::SafetensorsFile f(o.input);
    at::Tensor w = read_matrix(f, o.weight, 2, "weight matrix");
    w = w.scalar_type() == at::kDouble ? w : w.to(at::kFloat);
    quant::validate_weights(w, o.input + ": tensor '" + o.weight + "'");
    at::Tensor H;  // no Hessian here: the importance vector (if any) is used as given
    quant::QuantConfig cfg;
    cfg.method = quant::parse_method(o.method);
    cfg.bits = o.bits;
    cfg.group_size = o.group;
    cfg.grid = o.grid;
    cfg.coarse = o.coarse;
    cfg.full_grid = o.full_grid;
    cfg.clip = o.clip;
    quant::validate_config(cfg, w.size(1), o.input + ": tensor '" + o.weight + "'");
    at::Tensor imp;
    if (!o.importance.empty()) {
        imp = read_matrix(f, o.importance, 1, "importance vector").to(at::kDouble);
        if (imp.size(0) != w.size(1))
            throw FormatError(o.input + ": importance '" + o.importance + "' has " +
                              std::to_string(imp.size(0)) + " values, the weight has " +
                              std::to_string(w.size(1)) + " input columns");
        quant::validate_weights(imp, o.input + ": tensor '" + o.importance + "'");
        if ((imp < 0).any().item<bool>())
            throw NumericError(
                o.input + ": tensor '" + o.importance + "': importance must be >= 0 (found " +
                std::to_string((imp < 0).sum().item<int64_t>()) + " negative values)");
    }
    quant::LayerQuant r =
        quant::quantize_layer(w, H, cfg, o.input + ": tensor '" + o.weight + "'", imp);
    std::map<std::string, std::string> meta = {
        {"method", quant::method_info(cfg.method).name},
        {"bits", std::to_string(cfg.bits)},
        {"group_size", std::to_string(r.group_size)},
        {"source", o.input},
        {"weight", o.weight},
        {"loss",
         "sum_i h_i (Q(w_i) - w_i)^2 per (row, group), h normalised to sum 1 in each group"},
    };
    io::save_safetensors(o.output,
                         {{"scales", r.scale},
                          {"zeros", r.zero},
                          {"loss", r.group_loss},
                          {"loss_minmax", r.group_loss_minmax},
                          {"codes", r.codes}},
                         meta);
    double mean = r.group_loss.mean().item<double>(),
           mean_mm = r.group_loss_minmax.mean().item<double>();
    // A group size that does not divide the row: the last group of each row is shorter.
    const int64_t tail = w.size(1) % r.group_size;
    const std::string last =
        tail != 0 ? " (the last of each row " + std::to_string(tail) + ")" : std::string();
    std::printf(
        "%s: %s %d-bit, %s, %ld x %ld, %ld groups of %ld%s\n", o.weight.c_str(),
        quant::method_info(cfg.method).label, cfg.bits,
        r.group_size == w.size(1) ? "channel-wise" : ("g" + std::to_string(r.group_size)).c_str(),
        static_cast<long>(w.size(0)), static_cast<long>(w.size(1)),
        static_cast<long>(r.group_loss.numel()), static_cast<long>(r.group_size), last.c_str());
    std::printf("mean group loss   %.6e\nMin-Max           %.6e\nratio to Min-Max  %.4f\n", mean,
                mean_mm, mean_mm > 0 ? mean / mean_mm : 1.0);
    std::printf("groups better than Min-Max: %ld of %ld;  time %.3f s\nwrote %s\n",
                static_cast<long>((r.group_loss < r.group_loss_minmax).sum().item<int64_t>()),
                static_cast<long>(r.group_loss.numel()), r.seconds, o.output.c_str());
}

}  // namespace

void add_solve_command(CLI::App& app)
{
    auto opt = std::make_shared<SolveOptions>();
    CLI::App* cmd = app.add_subcommand(
        "solve", "Quantization parameters of one weight matrix (safetensors in and out)");
    cmd->add_option("input", opt->input, "safetensors file holding the weight")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("--weight,-w", opt->weight, "name of the weight tensor [out, in]")->required();
    cmd->add_option("--importance,-i", opt->importance,
                    "name of an importance vector [in] (default: all ones)");
    std::string methods;
    for (const auto& m : quant::methods())
        methods += (methods.empty() ? "" : "|") + std::string(m.name);
    cmd->add_option("--method,-m", opt->method, methods)->capture_default_str();
    cmd->add_option("--bits,-b", opt->bits, "bits per weight, 2..8")->capture_default_str();
    cmd->add_option("--group,-g", opt->group, "group size in columns, -1 = channel-wise")
        ->capture_default_str();
    cmd->add_option("--grid", opt->grid, "scale grid T")->capture_default_str();
    cmd->add_option("--coarse", opt->coarse, "coarse candidates (NeUQI)")->capture_default_str();
    cmd->add_flag("--full-grid", opt->full_grid,
                  "NeUQI over all T scales instead of coarse-to-fine");
    cmd->add_option("--clip", opt->clip, "Min-Max clip factor in (0, 1]")->capture_default_str();
    cmd->add_option("--out,-o", opt->output,
                    "output safetensors (scales, zeros, loss, loss_minmax, codes)")
        ->required();
    cmd->callback([opt] { run_solve(*opt); });
}

}  // namespace zp::cli
