// zeropoint-cli bench-forward: forward throughput of one LLaMA-2-7B-shaped decoder block (random
// weights) against the matrix-multiply throughput measured in the same run, the physical ceiling
// of a block made of GEMMs.
#include <CLI/CLI.hpp>

#include <ATen/Functions.h>
#include <ATen/Parallel.h>
#include <ATen/TensorOperators.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include <nlohmann/json.hpp>

#include "app/cli/commands.h"
#include "app/cli/json_report.h"
#include "core/model/config.h"
#include "core/model/forward.h"
#include "core/model/model.h"

namespace zp::cli {

namespace {

struct ForwardBenchOptions {
    int64_t hidden = 4096, inter = 11008, heads = 32, kv_heads = 32;
    int64_t seqlen = 2048, batch = 1;
    int reps = 2;
    int threads = 0;
    std::string device = "cpu";
    std::string dtype = "auto";  // compute dtype: auto (the device's), float32, bfloat16, float16
    std::string json;
};

double now_s()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void sync(const at::Tensor& t)
{
    if (t.is_cuda())
        t.cpu();
}

void run_forward_bench(const ForwardBenchOptions& o)
{
    at::set_num_threads(o.threads > 0 ? o.threads
                                      : std::max(1u, std::thread::hardware_concurrency()));
    auto [device, dtype] = model::compute_device(o.device, o.dtype);
    model::ModelConfig c;
    c.hidden_size = o.hidden;
    c.intermediate_size = o.inter;
    c.num_layers = 1;
    c.num_heads = o.heads;
    c.num_kv_heads = o.kv_heads;
    c.head_dim = o.hidden / o.heads;
    c.vocab_size = 32000;
    c.max_position = std::max<int64_t>(4096, o.seqlen);
    c.rms_norm_eps = 1e-5;
    at::manual_seed(0);
    auto opts = at::TensorOptions().dtype(dtype).device(device);
    auto lin = [&](int64_t out, int64_t in) {
        return at::randn({out, in}, opts) * (1.0 / std::sqrt(double(in)));
    };
    model::BlockWeights w;
    w.input_norm = at::ones({o.hidden}, opts);
    w.post_norm = at::ones({o.hidden}, opts);
    w.q = lin(c.q_dim(), o.hidden);
    w.k = lin(c.kv_dim(), o.hidden);
    w.v = lin(c.kv_dim(), o.hidden);
    w.o = lin(o.hidden, c.q_dim());
    w.gate = lin(o.inter, o.hidden);
    w.up = lin(o.inter, o.hidden);
    w.down = lin(o.hidden, o.inter);
    at::Tensor x = at::randn({o.batch, o.seqlen, o.hidden}, opts);
    const double tokens = double(o.batch * o.seqlen);
    // FLOPs of the block: the seven projections (2 per multiply-add) plus attention's QK^T and PV
    // (causal: half of the full square), the rest (norms, RoPE, SiLU, softmax) is not counted.
    const double proj = 2.0 * tokens *
                        double(o.hidden * c.q_dim() + 2 * o.hidden * c.kv_dim() +
                               c.q_dim() * o.hidden + 3 * o.hidden * o.inter);
    const double attn = 2.0 * 2.0 * double(o.batch) * double(o.heads) * double(o.seqlen) *
                        double(o.seqlen) * double(c.head_dim) / 2.0;
    std::printf(
        "decoder block %ldx%ld (ffn %ld, %ld heads, %ld KV heads), batch %ld x %ld tokens, %s %s, "
        "%d threads\n",
        long(o.hidden), long(o.hidden), long(o.inter), long(o.heads), long(o.kv_heads),
        long(o.batch), long(o.seqlen), device.str().c_str(), c10::toString(dtype),
        at::get_num_threads());
    model::block_forward(c, w, x.narrow(1, 0, std::min<int64_t>(64, o.seqlen)));  // warm-up
    double best = 1e30;
    for (int r = 0; r < o.reps; ++r) {
        double t0 = now_s();
        at::Tensor y = model::block_forward(c, w, x);
        sync(y);
        best = std::min(best, now_s() - t0);
    }
    // The ceiling: the block's largest GEMM shape, [tokens, hidden] x [hidden, inter], same dtype.
    at::Tensor a = x.reshape({-1, o.hidden});
    at::Tensor b = w.gate.t();
    at::matmul(a.narrow(0, 0, std::min<int64_t>(256, a.size(0))), b);  // warm-up
    double gemm = 1e30;
    for (int r = 0; r < o.reps; ++r) {
        double t0 = now_s();
        at::Tensor y = at::matmul(a, b);
        sync(y);
        gemm = std::min(gemm, now_s() - t0);
    }
    const double gemm_flops = 2.0 * tokens * double(o.hidden) * double(o.inter) / gemm;
    const double block_flops = (proj + attn) / best;
    std::printf("block forward      %8.3f s  %10.1f tokens/s  %8.1f GFLOP/s\n", best, tokens / best,
                block_flops / 1e9);
    std::printf("GEMM %ldx%ldx%ld  %8.3f s                     %8.1f GFLOP/s\n", long(a.size(0)),
                long(o.hidden), long(o.inter), gemm, gemm_flops / 1e9);
    std::printf(
        "ratio block / GEMM throughput: %.2f  (1.0 = the block runs at the speed of its largest "
        "GEMM; "
        "tokens/s at the GEMM ceiling: %.1f)\n",
        block_flops / gemm_flops, tokens / ((proj + attn) / gemm_flops));
    if (o.json.empty())
        return;
    nlohmann::json j = {{"bench", "block_forward"},
                        {"device", device.str()},
                        {"dtype", c10::toString(dtype)},
                        {"hidden", o.hidden},
                        {"ffn", o.inter},
                        {"heads", o.heads},
                        {"kv_heads", o.kv_heads},
                        {"batch", o.batch},
                        {"seqlen", o.seqlen},
                        {"block_s", best},
                        {"tokens_per_s", tokens / best},
                        {"block_gflops", block_flops / 1e9},
                        {"gemm_s", gemm},
                        {"gemm_gflops", gemm_flops / 1e9},
                        {"block_over_gemm", block_flops / gemm_flops}};
    j.update(device_memory_json(device.is_cuda(), device.index()));
    write_json_report(o.json, j);
}

}  // namespace

void add_bench_forward_command(CLI::App& app)
{
    auto opt = std::make_shared<ForwardBenchOptions>();
    CLI::App* cmd = app.add_subcommand(
        "bench-forward",
        "Forward throughput of a LLaMA-2-7B-shaped decoder block against GEMM throughput");
    cmd->add_option("--hidden", opt->hidden, "hidden size")->capture_default_str();
    cmd->add_option("--ffn", opt->inter, "FFN (intermediate) size")->capture_default_str();
    cmd->add_option("--heads", opt->heads, "attention heads")->capture_default_str();
    cmd->add_option("--kv-heads", opt->kv_heads, "KV heads")->capture_default_str();
    cmd->add_option("--seqlen", opt->seqlen, "tokens per sequence")->capture_default_str();
    cmd->add_option("--batch", opt->batch, "sequences")->capture_default_str();
    cmd->add_option("--reps", opt->reps, "timed repetitions (best is kept)")->capture_default_str();
    cmd->add_option("--threads", opt->threads, "intra-op threads (0 = all hardware threads)");
    cmd->add_option("--device", opt->device, "cpu or cuda[:N]")->capture_default_str();
    cmd->add_option("--dtype", opt->dtype,
                    "compute dtype: auto (float32 on the CPU, bfloat16 on CUDA), float32, "
                    "bfloat16 or float16")
        ->check(CLI::IsMember({"auto", "float32", "bfloat16", "float16"}))
        ->capture_default_str();
    cmd->add_option("--json", opt->json, "also write the figures as JSON to this file");
    cmd->callback([opt] { run_forward_bench(*opt); });
}

}  // namespace zp::cli
