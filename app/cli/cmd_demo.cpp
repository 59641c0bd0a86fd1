// zeropoint-cli demo: the built-in demo without a GUI. A synthetic LLaMA-shaped layer is quantized
// with every method at 2, 3 and 4 bits; then one group's L(z) is drawn in the terminal.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "app/cli/commands.h"
#include "core/analysis/loss_curves.h"
#include "core/demo/synthetic.h"
#include "core/quant/quantizer.h"

namespace zp::cli {

namespace {

void ascii_curve(const analysis::ZCurve& c)
{
    const int height = 12;
    double lo = *std::min_element(c.loss.begin(), c.loss.end());
    double hi = *std::max_element(c.loss.begin(), c.loss.end());
    std::vector<std::string> rows(height, std::string(c.z.size(), ' '));
    for (size_t k = 0; k < c.z.size(); ++k) {
        int y = hi > lo ? static_cast<int>((c.loss[k] - lo) / (hi - lo) * (height - 1) + 0.5) : 0;
        rows[height - 1 - y][k] = '*';
    }
    auto col = [&](double z) {
        return static_cast<int>((z - c.z.front()) / (c.z.back() - c.z.front()) * (c.z.size() - 1) +
                                0.5);
    };
    std::string axis(c.z.size(), '-');
    for (double b : c.breakpoints)
        axis[std::clamp(col(b), 0, static_cast<int>(axis.size()) - 1)] = '|';
    axis[std::clamp(col(c.z_opt), 0, static_cast<int>(axis.size()) - 1)] = 'O';
    for (const std::string& r : rows)
        std::printf("  %s\n", r.c_str());
    std::printf("  %s\n  z from %.2f to %.2f; | = break points, O = optimum z* = %.4f (L = %.3e)\n",
                axis.c_str(), c.z.front(), c.z.back(), c.z_opt, c.loss_opt);
}

void run_demo()
{
    const int64_t out = 256, in = 1024;
    at::Tensor w = demo::synthetic_weight(out, in, 7);
    at::Tensor H;  // the demo's importance stands for a calibrated Hessian diagonal
    at::Tensor h = demo::synthetic_importance(in, 7);
    std::printf(
        "ZeroPoint demo: a synthetic LLaMA-like layer %ldx%ld (heavy tails, outlier input "
        "channels),\n"
        "importance = a synthetic Hessian diagonal. Loss = sum_i h_i (Q(w_i) - w_i)^2, h "
        "normalised per "
        "group.\n\n",
        static_cast<long>(out), static_cast<long>(in));
    std::printf("%-20s %4s %6s %14s %14s %9s\n", "method", "bits", "group", "diag loss", "Min-Max",
                "ratio");
    for (int bits : {2, 3, 4})
        for (int64_t g : {int64_t(-1), int64_t(128)})
            for (const quant::MethodInfo& m : quant::methods()) {
                quant::QuantConfig cfg;
                cfg.method = m.method;
                cfg.bits = bits;
                cfg.group_size = g;
                cfg.grid = m.method == quant::Method::NeUQIInt ? 256 : 2048;
                quant::LayerQuant r = quant::quantize_layer(w, H, cfg, "demo layer", h);
                std::printf("%-20s %4d %6s %14.4e %14.4e %9.3f\n", m.label, bits,
                            g < 0 ? "row" : std::to_string(g).c_str(), r.diagnostics.diag_loss,
                            r.diagnostics.diag_loss_minmax,
                            r.diagnostics.diag_loss / r.diagnostics.diag_loss_minmax);
            }
    // One group up close: L(z) at NeUQI's chosen scale.
    std::vector<double> wg(128), hg(128);
    for (int i = 0; i < 128; ++i) {
        wg[i] = w[0][i].item<float>();
        hg[i] = h[i].item<double>();
    }
    analysis::ScaleLandscape L = analysis::scale_landscape(wg, hg, 2);
    analysis::ZCurve c = analysis::loss_curve_z(wg, hg, 2, L.chosen_scale, L.chosen_zero - 1.5,
                                                L.chosen_zero + 1.5, 72);
    std::printf(
        "\nRow 0, columns 0..127, 2 bits: Min-Max s0 = %.4g (z = %.0f, L = %.3e); NeUQI s = %.4g = "
        "s0 * %d/%d, "
        "z = %.4f, L = %.3e (%.1f%% of Min-Max)\nL(z) at NeUQI's scale:\n",
        L.s0, L.minmax_zero, L.minmax_loss, L.chosen_scale, L.chosen, L.grid, L.chosen_zero,
        L.chosen_loss, 100.0 * L.chosen_loss / L.minmax_loss);
    ascii_curve(c);
    std::printf(
        "\nL(z) is piecewise quadratic: each element changes level at a break point. NeUQI finds "
        "the exact "
        "best real z for every candidate scale, then keeps the best scale; Min-Max fixes both from "
        "the range.\n");
}

}  // namespace

void add_demo_command(CLI::App& app)
{
    CLI::App* cmd = app.add_subcommand(
        "demo", "The built-in demo: every method on a synthetic layer, one L(z) curve");
    cmd->callback([] { run_demo(); });
}

}  // namespace zp::cli
