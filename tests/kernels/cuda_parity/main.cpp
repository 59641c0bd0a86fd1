// CPU vs CUDA parity for quantize / fake-quantize / the two-stage solver / the NeUQI search.
// Prints one line per check and "N passed, N failed"; exits 77 (skip) without a CUDA device.
#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "kernels/quantize.h"
#include "kernels/zero_point.h"

namespace {

int passed = 0, failed = 0;

void expect(bool ok, const std::string& what)
{
    std::printf("%s: %s\n", ok ? "PASS" : "FAIL", what.c_str());
    (ok ? passed : failed)++;
}

}  // namespace

int main()
{
    using namespace zp::kernels;
    if (!cuda_kernels_available()) {
        std::printf(
            "SKIP: no CUDA device (or this build has no CUDA kernels): CPU-vs-CUDA parity not "
            "checked\n");
        return 77;
    }
    at::manual_seed(7);
    for (int bits : {2, 3, 4, 8}) {
        for (int64_t g : {int64_t(-1), int64_t(128)}) {
            at::Tensor w = at::randn({64, 1024}, at::kFloat) * 0.02;
            at::Tensor h = at::rand({1024}, at::kFloat) + 0.1;
            std::string tag = std::to_string(bits) + "bit/g" + std::to_string(g);
            SearchConfig cfg;
            cfg.bits = bits;
            cfg.group_size = g;
            SearchResult cpu = neuqi_search(w, h, cfg);
            SearchResult gpu = neuqi_search(w.cuda(), h.cuda(), cfg);
            double rel = ((gpu.loss.cpu() - cpu.loss).abs() / cpu.loss.clamp_min(1e-30))
                             .max()
                             .item<double>();
            expect(rel < 1e-6,
                   tag + " search loss CPU vs CUDA, max rel diff " + std::to_string(rel));
            at::Tensor codes_c = quantize(w, cpu.scale, cpu.zero, bits, g);
            at::Tensor codes_g =
                quantize(w.cuda(), cpu.scale.cuda(), cpu.zero.cuda(), bits, g).cpu();
            expect(codes_c.equal(codes_g), tag + " quantize codes identical");
            at::Tensor dq_c = dequantize(codes_c, cpu.scale, cpu.zero, g);
            at::Tensor dq_g =
                dequantize(codes_g.cuda(), cpu.scale.cuda(), cpu.zero.cuda(), g).cpu();
            expect(dq_c.equal(dq_g), tag + " dequantize identical");
            at::Tensor scales =
                cpu.scale.to(at::kDouble).unsqueeze(2) * at::linspace(0.5, 1.0, 9, at::kDouble);
            ZeroPointSolve a = solve_zero_point(w, h, scales, bits, g);
            ZeroPointSolve b = solve_zero_point(w.cuda(), h.cuda(), scales.cuda(), bits, g);
            double rel2 =
                ((b.loss.cpu() - a.loss).abs() / a.loss.clamp_min(1e-30)).max().item<double>();
            expect(rel2 < 1e-9,
                   tag + " two-stage solve CPU vs CUDA, max rel diff " + std::to_string(rel2));
        }
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
