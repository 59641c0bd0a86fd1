// zeropoint-cli bench: the NeUQI search per layer against the tensor-op baseline written the way
// the official implementation works, on LLaMA-2-7B layer shapes. Reports ratios measured in the
// same run on the same rows, and the agreement of the losses.
#include <CLI/CLI.hpp>

#include <ATen/Parallel.h>
#include <ATen/TensorOperators.h>
#include <ATen/ops/abs.h>

#include <ATen/Functions.h>

#include <chrono>
#include <cstdio>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "app/cli/commands.h"
#include "app/cli/json_report.h"
#include "core/common/error.h"
#include "core/demo/demo_model.h"
#include "core/demo/synthetic.h"
#include "core/model/forward.h"
#include "core/pipeline/pipeline.h"
#include "kernels/device_info.h"
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
    std::string json;  // also write the rows here
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
    nlohmann::json rows = nlohmann::json::array();
    if (cuda) {
        // The first launches pay for the context, the modules and the kernels' self-check.
        kernels::SearchConfig warm;
        at::Tensor w = demo::synthetic_weight(16, 256, 1).cuda();
        kernels::neuqi_search(w, demo::synthetic_importance(256, 1).cuda(), warm).loss.cpu();
    }
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
                rows.push_back({{"shape", shape},
                                {"bits", bits},
                                {"group", g},
                                {"fast_rows", fast_rows},
                                {"fast_layer_s", fast_layer},
                                {"baseline_rows", base_rows},
                                {"baseline_layer_s", base_layer},
                                {"fast_on_baseline_rows_s", t_fast_b},
                                {"baseline_s", t_base},
                                {"speedup", t_base / t_fast_b},
                                {"max_rel_loss_diff", rel}});
            }
    }
    nlohmann::json report = {{"bench", "neuqi_search"},
                             {"device", cuda ? "cuda" : "cpu"},
                             {"threads", at::get_num_threads()},
                             {"rows", rows}};
    report.update(device_memory_json(cuda));
    write_json_report(o.json, report);
    std::printf(
        "\nfast/layer: measured on %s; base/layer: extrapolated from the baseline rows. speedup: "
        "baseline "
        "time / fast time on the same rows. max rel dL: largest relative difference of the "
        "per-group "
        "losses between the two on those rows.\n",
        o.rows > 0 ? "the first --rows rows, extrapolated" : "the whole layer");
}

// One LLaMA-2-7B-shaped decoder block (the demo model's seeded synthetic weights at these sizes)
// through the whole sequential pipeline with random calibration tokens: H collection, the
// parameter search and GPTQ of its seven linears, the quantized block's rerun.
struct BlockBenchOptions {
    int64_t hidden = 4096, inter = 11008, heads = 32;
    int64_t nsamples = 128, seqlen = 2048, batch = 8;
    std::string method = "gptq-neuqi";
    int bits = 2;
    int64_t group = 128;
    int threads = 0;
    std::string device = "cpu";
    std::string json;
};

void run_block_bench(const BlockBenchOptions& o)
{
    at::set_num_threads(o.threads > 0 ? o.threads
                                      : std::max(1u, std::thread::hardware_concurrency()));
    const bool cuda = o.device.rfind("cuda", 0) == 0;
    model::compute_device(o.device);  // InvalidArgument for a device this build cannot use
    demo::DemoModelSpec spec;
    spec.blocks = 1;
    spec.hidden = o.hidden;
    spec.ffn = o.inter;
    spec.heads = o.heads;
    spec.context = std::max<int64_t>(o.seqlen, 16);
    auto t0 = std::chrono::steady_clock::now();
    std::unique_ptr<model::Model> m = demo::make_demo_model(spec);
    const double t_model = seconds_since(t0);
    at::manual_seed(0);
    pipeline::PipelineOptions po;
    po.method = o.method;
    po.bits = o.bits;
    po.group_size = o.group;
    po.calibration = at::randint(0, spec.vocab, {o.nsamples, o.seqlen}, at::kLong);
    po.calibration_source = "random tokens";
    po.device = o.device;
    po.batch = o.batch;
    std::printf(
        "one decoder block %ldx%ld (ffn %ld, %ld heads), %s %d-bit g%ld, %ld x %ld "
        "calibration tokens, %s, %d threads\n",
        long(o.hidden), long(o.hidden), long(o.inter), long(o.heads), o.method.c_str(), o.bits,
        long(o.group), long(o.nsamples), long(o.seqlen), o.device.c_str(), at::get_num_threads());
    std::fflush(stdout);
    t0 = std::chrono::steady_clock::now();
    quant::QuantizedModel qm = pipeline::quantize_model(*m, po);
    const double t_block = seconds_since(t0);
    nlohmann::json layers = nlohmann::json::array();
    for (const quant::LayerResult& l : qm.layers) {
        std::printf("  %-10s %6.2f s  proxy loss %.6g (RTN Min-Max %.6g)\n", l.name.c_str(),
                    l.seconds, l.proxy_loss, l.proxy_loss_rtn_minmax);
        layers.push_back({{"layer", l.name},
                          {"seconds", l.seconds},
                          {"proxy_loss", l.proxy_loss},
                          {"proxy_loss_rtn_minmax", l.proxy_loss_rtn_minmax}});
    }
    std::printf("block: %.2f s (model built in %.2f s); a 32-block 7B at this rate: %.1f min\n",
                t_block, t_model, 32.0 * t_block / 60.0);
    nlohmann::json report = {{"bench", "pipeline_block"},
                             {"device", o.device},
                             {"method", o.method},
                             {"bits", o.bits},
                             {"group", o.group},
                             {"hidden", o.hidden},
                             {"ffn", o.inter},
                             {"heads", o.heads},
                             {"calibration", {o.nsamples, o.seqlen}},
                             {"block_s", t_block},
                             {"model_build_s", t_model},
                             {"projected_32_blocks_min", 32.0 * t_block / 60.0},
                             {"layers", layers}};
    report.update(device_memory_json(cuda));
    write_json_report(o.json, report);
}

}  // namespace

void add_bench_block_command(CLI::App& app)
{
    auto opt = std::make_shared<BlockBenchOptions>();
    CLI::App* cmd = app.add_subcommand(
        "bench-block",
        "One LLaMA-2-7B-shaped decoder block through the whole pipeline (synthetic weights, random "
        "calibration tokens)");
    cmd->add_option("--hidden", opt->hidden, "hidden size")->capture_default_str();
    cmd->add_option("--ffn", opt->inter, "FFN (intermediate) size")->capture_default_str();
    cmd->add_option("--heads", opt->heads, "attention heads")->capture_default_str();
    cmd->add_option("--nsamples", opt->nsamples, "calibration sequences")->capture_default_str();
    cmd->add_option("--seqlen", opt->seqlen, "tokens per calibration sequence")
        ->capture_default_str();
    cmd->add_option("--batch", opt->batch, "calibration sequences per forward pass")
        ->capture_default_str();
    cmd->add_option("--method", opt->method, "pipeline method")->capture_default_str();
    cmd->add_option("--bits", opt->bits, "bits per weight")
        ->check(CLI::Range(2, 8))
        ->capture_default_str();
    cmd->add_option("--group", opt->group, "columns per group (-1: channel-wise)")
        ->capture_default_str();
    cmd->add_option("--threads", opt->threads, "intra-op threads (0 = all hardware threads)");
    cmd->add_option("--device", opt->device, "cpu or cuda[:N]")->capture_default_str();
    cmd->add_option("--json", opt->json, "also write the figures as JSON to this file");
    cmd->callback([opt] { run_block_bench(*opt); });
}

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
    cmd->add_option("--json", opt->json, "also write the rows as JSON to this file");
    cmd->callback([opt] { run_bench(*opt); });
    // bench-block lives here with the other benchmarks of the search and the pipeline.
    add_bench_block_command(app);
}

}  // namespace zp::cli
