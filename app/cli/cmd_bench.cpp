// zeropoint-cli bench: the NeUQI search per layer against the tensor-op baseline written the way
// the official implementation works, on LLaMA-2-7B layer shapes. Reports ratios measured in the
// same run on the same rows, and the agreement of the losses.
#include <CLI/CLI.hpp>

#include <ATen/Parallel.h>
#include <ATen/TensorOperators.h>
#include <ATen/ops/abs.h>

#include <chrono>
#include <cstdio>
#include <sstream>
#include <thread>

#include "app/cli/commands.h"
#include "core/common/error.h"
#include "core/demo/synthetic.h"
#include "kernels/zero_point.h"

namespace zp::cli {

namespace {

struct BenchOptions {
    std::vector<std::string> shapes = {"4096x4096", "11008x4096", "4096x11008"};
    std::vector<int> bits = {2, 4};
    std::vector<int64_t> groups = {-1, 128};
    int64_t baseline_rows = 16;
    int64_t rows = 0;  // 0: the whole layer for the fast search
    int threads = 0;
    std::string device = "cpu";
};

double seconds_since(std::chrono::steady_clock::time_point t0)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void run_bench(const BenchOptions& o)
{
    // libtorch defaults to one thread per physical core; use every hardware thread unless told.
    at::set_num_threads(o.threads > 0 ? o.threads
                                      : std::max(1u, std::thread::hardware_concurrency()));
    const bool cuda = o.device == "cuda";
    if (cuda && !kernels::cuda_kernels_available())
        throw InvalidArgument(
            "bench --device cuda: no CUDA device or no CUDA kernels in this build");
    std::printf(
        "NeUQI search per layer (coarse-to-fine, T = 2048, 96 solves per group), %s, %d threads\n",
        cuda ? "CUDA" : "CPU", at::get_num_threads());
    std::printf(
        "baseline: the same search with tensor ops per scale candidate (argsort, gather, cumsum, "
        "clamp, "
        "argmin), on the first %ld rows, extrapolated to the layer by its row count\n\n",
        static_cast<long>(o.baseline_rows));
    std::printf("%-11s %4s %6s | %12s %12s | %12s %12s %8s | %10s\n", "shape", "bits", "group",
                "fast/layer s", "base/layer s", "fast rows s", "base rows s", "speedup",
                "max rel dL");
    for (const std::string& shape : o.shapes) {
        int64_t out = 0, in = 0;
        char x = 0;
        std::istringstream is(shape);
        if (!(is >> out >> x >> in) || x != 'x' || out <= 0 || in <= 0)
            throw InvalidArgument("bench: bad shape '" + shape +
                                  "' (expected OUTxIN, e.g. 4096x4096)");
        at::Tensor w = demo::synthetic_weight(out, in, 1234);
        at::Tensor h = demo::synthetic_importance(in, 1234);
        if (cuda) {
            w = w.cuda();
            h = h.cuda();
        }
        for (int bits : o.bits)
            for (int64_t g : o.groups) {
                kernels::SearchConfig cfg;
                cfg.bits = bits;
                cfg.group_size = g;
                const int64_t fast_rows = o.rows > 0 ? std::min(o.rows, out) : out;
                const int64_t base_rows = std::min(o.baseline_rows, out);
                at::Tensor wf = w.narrow(0, 0, fast_rows);
                auto t0 = std::chrono::steady_clock::now();
                kernels::SearchResult fast = kernels::neuqi_search(wf, h, cfg);
                if (cuda)
                    fast.loss.cpu();  // synchronise
                double t_fast = seconds_since(t0);
                at::Tensor wb = w.narrow(0, 0, base_rows);
                t0 = std::chrono::steady_clock::now();
                kernels::SearchResult fast_b = kernels::neuqi_search(wb, h, cfg);
                if (cuda)
                    fast_b.loss.cpu();
                double t_fast_b = seconds_since(t0);
                t0 = std::chrono::steady_clock::now();
                kernels::SearchResult base = kernels::neuqi_search_tensor_ops(wb, h, cfg);
                if (cuda)
                    base.loss.cpu();
                double t_base = seconds_since(t0);
                double rel = ((fast_b.loss - base.loss).abs() / base.loss.clamp_min(1e-300))
                                 .max()
                                 .item<double>();
                double fast_layer =
                    t_fast * static_cast<double>(out) / static_cast<double>(fast_rows);
                double base_layer =
                    t_base * static_cast<double>(out) / static_cast<double>(base_rows);
                std::printf("%-11s %4d %6s | %12.3f %12.1f | %12.3f %12.3f %7.1fx | %10.2e\n",
                            shape.c_str(), bits, g < 0 ? "row" : std::to_string(g).c_str(),
                            fast_layer, base_layer, t_fast_b, t_base, t_base / t_fast_b, rel);
                std::fflush(stdout);
            }
    }
    std::printf(
        "\nfast/layer: measured on %s; base/layer: extrapolated from the baseline rows. speedup: "
        "baseline "
        "time / fast time on the same rows. max rel dL: largest relative difference of the "
        "per-group "
        "losses between the two on those rows.\n",
        o.rows > 0 ? "the first --rows rows, extrapolated" : "the whole layer");
}

}  // namespace

void add_bench_command(CLI::App& app)
{
    auto opt = std::make_shared<BenchOptions>();
    CLI::App* cmd =
        app.add_subcommand("bench", "Benchmark the NeUQI search against the tensor-op baseline");
    cmd->add_option("--shapes", opt->shapes, "layer shapes OUTxIN")
        ->delimiter(',')
        ->capture_default_str();
    cmd->add_option("--bits", opt->bits, "bit widths")
        ->delimiter(',')
        ->check(CLI::Range(2, 8))
        ->capture_default_str();
    cmd->add_option("--groups", opt->groups, "group sizes (-1 = channel-wise)")
        ->delimiter(',')
        ->capture_default_str();
    cmd->add_option("--baseline-rows", opt->baseline_rows, "rows the baseline runs on")
        ->capture_default_str();
    cmd->add_option("--rows", opt->rows, "rows the fast search runs on (0 = whole layer)")
        ->capture_default_str();
    cmd->add_option("--threads", opt->threads,
                    "intra-op threads for both sides (0 = all hardware threads)");
    cmd->add_option("--device", opt->device, "cpu or cuda")
        ->check(CLI::IsMember({"cpu", "cuda"}))
        ->capture_default_str();
    cmd->callback([opt] { run_bench(*opt); });
}

}  // namespace zp::cli
