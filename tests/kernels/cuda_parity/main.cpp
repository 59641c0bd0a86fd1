// CPU vs CUDA parity for the kernels (quantize / dequantize / the two-stage solver / the NeUQI
// search, small groups included) and the engine above them (GPTQ, one block's forward, the whole
// model's logits and perplexity in float32, the sequential pipeline on the demo model), without
// Qt, so that a GPU machine with no Qt can run it (packaging/gpu-check.sh). Prints one line per
// check and "N passed, N failed"; with --json FILE also writes the checks as JSON. Exits 77
// (skip) without a CUDA device. --cpu: the CPU against itself, to smoke-test the checks here.
#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/demo/demo_model.h"
#include "core/eval/perplexity.h"
#include "core/model/forward.h"
#include "core/pipeline/pipeline.h"
#include "core/quant/gptq.h"
#include "kernels/quantize.h"
#include "kernels/zero_point.h"

namespace {

int passed = 0, failed = 0;
// The device compared against the CPU: CUDA, or the CPU itself with --cpu (a smoke test of every
// check's code path on a machine without a GPU; it compares the CPU with itself).
at::Device dev(at::kCUDA, 0);
std::string dev_name = "cuda";
nlohmann::json checks = nlohmann::json::array();

void expect(bool ok, const std::string& what, double value = std::nan(""), double limit = 0.0)
{
    std::printf("%s: %s\n", ok ? "PASS" : "FAIL", what.c_str());
    std::fflush(stdout);
    (ok ? passed : failed)++;
    nlohmann::json c = {{"check", what}, {"pass", ok}};
    if (!std::isnan(value)) {
        c["value"] = value;
        c["limit"] = limit;
    }
    checks.push_back(c);
}

double max_rel(const at::Tensor& a, const at::Tensor& ref, double floor_ = 1e-30)
{
    return ((a.cpu().to(at::kDouble) - ref.cpu().to(at::kDouble)).abs() /
            ref.cpu().to(at::kDouble).abs().clamp_min(floor_))
        .max()
        .item<double>();
}

// A check that throws is a failure, recorded under its name, and the run goes on.
template <typename F>
void guarded(const std::string& what, F&& f)
{
    try {
        f();
    } catch (const std::exception& e) {
        const std::string msg = e.what();
        expect(false, what + " threw: " + msg.substr(0, msg.find('\n')));
    }
}

void kernel_checks()
{
    using namespace zp::kernels;
    at::manual_seed(7);
    for (int bits : {2, 3, 4, 8}) {
        for (int64_t g : {int64_t(-1), int64_t(128), int64_t(8), int64_t(3)}) {
            const std::string tag = std::to_string(bits) + "bit/g" + std::to_string(g);
            guarded(tag, [&] {
                const int64_t rows = g > 0 && g <= 8 ? 16 : 64;
                at::Tensor w = at::randn({rows, 1024 - (g == 3 ? 1 : 0)}, at::kFloat) * 0.02;
                at::Tensor h = at::rand({w.size(1)}, at::kFloat) + 0.1;
                SearchConfig cfg;
                cfg.bits = bits;
                cfg.group_size = g;
                SearchResult cpu = neuqi_search(w, h, cfg);
                SearchResult gpu = neuqi_search(w.to(dev), h.to(dev), cfg);
                double rel = max_rel(gpu.loss, cpu.loss);
                expect(rel < 1e-6,
                       tag + " search loss CPU vs CUDA, max rel diff " + std::to_string(rel), rel,
                       1e-6);
                at::Tensor codes_c = quantize(w, cpu.scale, cpu.zero, bits, g);
                at::Tensor codes_g =
                    quantize(w.to(dev), cpu.scale.to(dev), cpu.zero.to(dev), bits, g).cpu();
                expect(codes_c.equal(codes_g), tag + " quantize codes identical");
                at::Tensor dq_c = dequantize(codes_c, cpu.scale, cpu.zero, g);
                at::Tensor dq_g =
                    dequantize(codes_g.to(dev), cpu.scale.to(dev), cpu.zero.to(dev), g).cpu();
                expect(dq_c.equal(dq_g), tag + " dequantize identical");
                if (g == 3)
                    return;  // the explicit solve takes whole groups only
                at::Tensor scales =
                    cpu.scale.to(at::kDouble).unsqueeze(2) * at::linspace(0.5, 1.0, 9, at::kDouble);
                ZeroPointSolve a = solve_zero_point(w, h, scales, bits, g);
                ZeroPointSolve b = solve_zero_point(w.to(dev), h.to(dev), scales.to(dev), bits, g);
                double rel2 = max_rel(b.loss, a.loss);
                expect(rel2 < 1e-9,
                       tag + " two-stage solve CPU vs CUDA, max rel diff " + std::to_string(rel2),
                       rel2, 1e-9);
            });
        }
    }
}

void gptq_checks()
{
    using namespace zp;
    for (const char* method : {"minmax", "neuqi"}) {
        const std::string tag = std::string("gptq-") + method + " 2bit/g128 256x512";
        guarded(tag, [&] {
            at::manual_seed(11);
            at::Tensor W = at::randn({256, 512}, at::kFloat) * 0.02;
            at::Tensor X = at::randn({2048, 512}, at::kDouble);
            at::Tensor H = X.t().matmul(X) / 2048.0;
            quant::GptqConfig cfg;
            cfg.quant.method = quant::parse_method(method);
            cfg.quant.bits = 2;
            cfg.quant.group_size = 128;
            quant::GptqResult c = quant::gptq_quantize(W, H, cfg);
            quant::GptqResult g = quant::gptq_quantize(W.to(dev), H.to(dev), cfg);
            const double lc =
                quant::proxy_loss(c.dequantized.to(at::kDouble) - W.to(at::kDouble), H);
            const double lg =
                quant::proxy_loss(g.dequantized.cpu().to(at::kDouble) - W.to(at::kDouble), H);
            const double rel = std::abs(lg - lc) / lc;
            expect(rel < 1e-3,
                   tag + " proxy loss CPU " + std::to_string(lc) + " vs CUDA " + std::to_string(lg),
                   rel, 1e-3);
            const double codes_same =
                c.codes.eq(g.codes.cpu()).to(at::kDouble).mean().item<double>();
            expect(codes_same > 0.99,
                   tag + " codes identical on " + std::to_string(100.0 * codes_same) + "%",
                   codes_same, 0.99);
        });
    }
}

void model_checks()
{
    using namespace zp;
    demo::DemoModelSpec spec;
    spec.blocks = 2;
    std::unique_ptr<model::Model> m = demo::make_demo_model(spec);
    at::manual_seed(3);
    at::Tensor ids = at::randint(0, spec.vocab, {2, 128}, at::kLong);
    guarded("block forward float32", [&] {
        const model::BlockWeights w = m->block(0);
        at::Tensor x = at::randn({2, 64, spec.hidden}, at::kFloat);
        at::Tensor yc = model::block_forward(m->config(), w, x);
        at::Tensor yg = model::block_forward(m->config(), w.to(dev, at::kFloat), x.to(dev));
        double rel = (yg.cpu() - yc).abs().max().item<double>() / yc.abs().max().item<double>();
        expect(rel < 1e-4,
               "block forward float32 CPU vs CUDA, max diff / max " + std::to_string(rel), rel,
               1e-4);
    });
    guarded("model logits float32", [&] {
        model::ForwardOptions fc, fg;
        fg.device = dev;
        at::Tensor lc = model::model_forward(*m, ids, fc);
        at::Tensor lg = model::model_forward(*m, ids.to(dev), fg);
        double rel = (lg.cpu() - lc).abs().max().item<double>() / lc.abs().max().item<double>();
        expect(rel < 1e-4,
               "model logits float32 CPU vs CUDA, max diff / max " + std::to_string(rel), rel,
               1e-4);
    });
    for (at::ScalarType dt : {at::kFloat, at::kBFloat16, at::kHalf}) {
        if (dt == at::kHalf && dev.is_cpu())
            continue;  // no float16 matrix products on the CPU
        const std::string name = c10::toString(dt);
        guarded("perplexity " + name, [&] {
            eval::PerplexityOptions oc, og;
            og.device = dev;
            og.dtype = dt;
            const double pc = eval::perplexity_of_windows(*m, ids, oc).perplexity;
            const double pg = eval::perplexity_of_windows(*m, ids, og).perplexity;
            const double rel = std::abs(pg - pc) / pc;
            const double limit = dt == at::kFloat ? 1e-5 : 2e-2;
            expect(rel < limit,
                   "perplexity CPU float32 " + std::to_string(pc) + " vs CUDA " + name + " " +
                       std::to_string(pg),
                   rel, limit);
        });
    }
    guarded("pipeline gptq-neuqi", [&] {
        at::Tensor calib = at::randint(0, spec.vocab, {8, 128}, at::kLong);
        auto run = [&](const std::string& device) {
            std::unique_ptr<model::Model> mm = demo::make_demo_model(spec);
            pipeline::PipelineOptions po;
            po.method = "gptq-neuqi";
            po.bits = 3;
            po.group_size = 64;
            po.calibration = calib;
            po.device = device;
            pipeline::quantize_model(*mm, po);
            return eval::perplexity_of_windows(*mm, ids).perplexity;
        };
        const double pc = run("cpu"), pg = run(dev_name);
        const double rel = std::abs(pg - pc) / pc;
        expect(rel < 1e-2,
               "pipeline gptq-neuqi 3bit/g64 on the demo model, perplexity after: CPU " +
                   std::to_string(pc) + " vs CUDA " + std::to_string(pg),
               rel, 1e-2);
    });
}

}  // namespace

int main(int argc, char** argv)
{
    std::string json_path;
    bool self = false;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--json") == 0 && i + 1 < argc)
            json_path = argv[++i];
        else if (std::strcmp(argv[i], "--cpu") == 0)
            self = true;
    }
    if (self) {
        dev = at::Device(at::kCPU);
        dev_name = "cpu";
    }
    auto write_json = [&](const char* status) {
        if (json_path.empty())
            return;
        std::ofstream(json_path) << nlohmann::json{{"status", status},
                                                   {"passed", passed},
                                                   {"failed", failed},
                                                   {"checks", checks}}
                                        .dump(2)
                                 << "\n";
    };
    if (!self && !zp::kernels::cuda_kernels_available()) {
        std::printf(
            "SKIP: no CUDA device (or this build has no CUDA kernels): CPU-vs-CUDA parity not "
            "checked\n");
        write_json("skipped");
        return 77;
    }
    kernel_checks();
    gptq_checks();
    model_checks();
    std::printf("%d passed, %d failed\n", passed, failed);
    write_json(failed == 0 ? "passed" : "failed");
    return failed == 0 ? 0 : 1;
}
