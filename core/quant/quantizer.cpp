#include "core/quant/quantizer.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/nonzero.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/where.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "core/common/error.h"
#include "core/common/text.h"
#include "core/quant/protect.h"
#include "kernels/quantize.h"
#include "kernels/zero_point.h"

namespace zp::quant {

const std::vector<MethodInfo>& methods()
{
    static const std::vector<MethodInfo> table = {
        {Method::MinMax, "minmax", "Min-Max",
         "s = (max - min)/(2^k - 1), z = round(-min/s): the conventional rule"},
        {Method::NeUQI, "neuqi", "NeUQI",
         "near-optimal scale (coarse-to-fine over s0*i/T) with the optimal real-valued zero-point"},
        {Method::NeUQIInt, "neuqi-int", "NeUQI (integer z)",
         "all T scales with the best integer zero-point in 0..2^k-1 (the paper's ablation)"},
    };
    return table;
}

const MethodInfo& method_info(Method m)
{
    for (const MethodInfo& i : methods())
        if (i.method == m)
            return i;
    return methods().front();
}

Method parse_method(const std::string& name)
{
    std::string names;
    for (const MethodInfo& i : methods()) {
        if (name == i.name)
            return i.method;
        names += (names.empty() ? "" : ", ") + std::string(i.name);
    }
    throw InvalidArgument("unknown quantization method '" + name + "' (choose one of: " + names +
                          ")");
}

ProtectSetting parse_protect(const std::string& text)
{
    ProtectSetting p;
    if (text == "off")
        return p;
    if (text == "auto" || text == "all") {
        p.mode = text == "auto" ? ProtectSetting::Mode::Auto : ProtectSetting::Mode::All;
        return p;
    }
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(v > 0.0) || !std::isfinite(v))
        throw InvalidArgument("protect '" + text +
                              "': expected off, auto, all or a number of standard deviations > 0");
    p.mode = ProtectSetting::Mode::Sigmas;
    p.sigmas = v;
    return p;
}

std::string format_protect(const ProtectSetting& p)
{
    switch (p.mode) {
        case ProtectSetting::Mode::Off:
            return "off";
        case ProtectSetting::Mode::Auto:
            return "auto";
        case ProtectSetting::Mode::All:
            return "all";
        case ProtectSetting::Mode::Sigmas:
            break;
    }
    return format_real(p.sigmas);
}

void validate_config(const QuantConfig& c, int64_t cols, const std::string& what)
{
    if (c.bits < 2 || c.bits > 8)
        throw InvalidArgument(what + ": bits must be in 2..8, got " + std::to_string(c.bits));
    if (!(c.clip > 0.0 && c.clip <= 1.0))
        throw InvalidArgument(what + ": clip factor must be in (0, 1], got " +
                              std::to_string(c.clip));
    if (c.grid < 1)
        throw InvalidArgument(what + ": grid T must be >= 1, got " + std::to_string(c.grid));
    if (c.method == Method::NeUQI && !c.full_grid && (c.coarse < 1 || c.grid % c.coarse != 0))
        throw InvalidArgument(what + ": coarse count " + std::to_string(c.coarse) +
                              " must divide the grid T = " + std::to_string(c.grid));
    // A group size that does not divide the row is valid: the last group is shorter (GPTQ's
    // rule), e.g. 576 in groups of 128 is 4 x 128 + 64.
    if (c.group_size != -1 && c.group_size <= 0)
        throw InvalidArgument(what + ": group size must be positive or -1 (channel-wise), got " +
                              std::to_string(c.group_size));
    if (cols < 1)
        throw InvalidArgument(what + ": the weight has no columns");
    if (c.protect.mode == ProtectSetting::Mode::Sigmas &&
        !(c.protect.sigmas > 0.0 && std::isfinite(c.protect.sigmas)))
        throw InvalidArgument(what + ": protect must be a number of standard deviations > 0, got " +
                              std::to_string(c.protect.sigmas));
}

void validate_weights(const at::Tensor& w, const std::string& what)
{
    at::Tensor bad = ~at::isfinite(w);
    if (bad.any().item<bool>()) {
        at::Tensor where = at::nonzero(bad).select(0, 0).cpu();
        std::ostringstream os;
        os << what << ": non-finite value (NaN or Inf) at index [";
        for (int64_t d = 0; d < where.size(0); ++d)
            os << (d ? ", " : "") << where[d].item<int64_t>();
        os << "] (" << bad.sum().item<int64_t>() << " such values)";
        throw NumericError(os.str());
    }
}

at::Tensor damp_hessian(const at::Tensor& H, double damp)
{
    at::Tensor Hd = H.to(at::kDouble).clone();
    double mean = Hd.diagonal().mean().item<double>();
    Hd.diagonal().add_(damp * mean);
    return Hd;
}

at::Tensor damped_hessian_diagonal(const at::Tensor& H, double damp)
{
    at::Tensor d = H.to(at::kDouble).diagonal().clone();
    return d + damp * d.mean().item<double>();
}

bool has_heavy_tail(const at::Tensor& W, double k)
{
    const at::Tensor w = W.to(at::kDouble);
    const double sd = w.std().item<double>();
    if (!(sd > 0.0))
        return false;
    return (w - w.mean()).abs().max().item<double>() >= k * sd;
}

namespace {

double proxy_loss(const at::Tensor& dW, const at::Tensor& H)
{
    at::Tensor d = dW.to(at::kDouble);
    return (d.matmul(H) * d).sum().item<double>();
}

}  // namespace

LayerQuant quantize_layer(const at::Tensor& W_in, const at::Tensor& H, const QuantConfig& c,
                          const std::string& what, const at::Tensor& importance)
{
    auto t0 = std::chrono::steady_clock::now();
    if (!W_in.defined() || W_in.dim() != 2)
        throw InvalidArgument(what + ": expected a 2-D weight [out, in]");
    const int64_t cols = W_in.size(1);
    validate_config(c, cols, what);
    at::Tensor W = W_in.scalar_type() == at::kDouble ? W_in : W_in.to(at::kFloat);
    validate_weights(W, what);
    LayerQuant out;
    out.group_size = kernels::resolve_group_size(c.group_size, cols);
    if (importance.defined()) {
        if (importance.dim() != 1 || importance.size(0) != cols)
            throw InvalidArgument(what + ": importance must have " + std::to_string(cols) +
                                  " values");
        validate_weights(importance, what + " importance");
        out.importance = importance.to(W.device()).to(at::kDouble);
        if ((out.importance < 0).any().item<bool>())
            throw NumericError(what + ": importance must be >= 0");
    } else if (H.defined()) {
        if (H.dim() != 2 || H.size(0) != cols || H.size(1) != cols)
            throw InvalidArgument(what + ": Hessian must be [" + std::to_string(cols) + ", " +
                                  std::to_string(cols) + "]");
        validate_weights(H, what + " Hessian");
        out.importance = damped_hessian_diagonal(H).to(W.device());
        if ((out.importance < 0).any().item<bool>())
            throw NumericError(what + ": negative Hessian diagonal (importance must be >= 0)");
    } else {
        out.importance = at::ones({cols}, W.options().dtype(at::kDouble));
    }
    const at::Tensor& h = out.importance;
    // Auto: without calibration, NeUQI keeps zero and every weight representable.
    Method method = c.method;
    ProtectSetting::Mode protect = c.protect.mode;
    if (protect == ProtectSetting::Mode::Auto) {
        const bool data_free = !importance.defined() && !H.defined();
        protect = data_free && method != Method::MinMax &&
                          c.protect.model_heavy_tail.value_or(has_heavy_tail(W))
                      ? ProtectSetting::Mode::All
                      : ProtectSetting::Mode::Off;
        if (protect == ProtectSetting::Mode::All)
            method = Method::NeUQIInt;
    }
    if (method == Method::MinMax)
        protect = ProtectSetting::Mode::Off;
    out.method = method;
    at::Tensor s_mm, z_mm;
    kernels::minmax_params(W, c.bits, out.group_size, 1.0, &s_mm, &z_mm);
    if (protect == ProtectSetting::Mode::All) {
        // Every group gets the protected search: the plain one would be overwritten anyway.
        out.scale = s_mm;
        out.zero = z_mm;
        out.group_loss_minmax = kernels::group_loss(W, h, s_mm, z_mm, c.bits, out.group_size, true);
    } else {
        switch (method) {
            case Method::MinMax: {
                kernels::minmax_params(W, c.bits, out.group_size, c.clip, &out.scale, &out.zero);
                out.group_loss =
                    kernels::group_loss(W, h, out.scale, out.zero, c.bits, out.group_size, true);
                out.group_loss_minmax =
                    c.clip == 1.0
                        ? out.group_loss
                        : kernels::group_loss(W, h, s_mm, z_mm, c.bits, out.group_size, true);
                break;
            }
            case Method::NeUQI: {
                kernels::SearchConfig sc;
                sc.bits = c.bits;
                sc.group_size = out.group_size;
                sc.grid = c.grid;
                sc.coarse = c.coarse;
                sc.full_grid = c.full_grid;
                kernels::SearchResult r = kernels::neuqi_search(W, h, sc);
                out.scale = r.scale;
                out.zero = r.zero;
                out.group_loss = r.loss;
                out.group_loss_minmax = r.minmax_loss;
                break;
            }
            case Method::NeUQIInt: {
                kernels::SearchResult r =
                    kernels::neuqi_int_search(W, h, c.bits, out.group_size, c.grid);
                out.scale = r.scale;
                out.zero = r.zero;
                out.group_loss = r.loss;
                out.group_loss_minmax = r.minmax_loss;
                break;
            }
        }
    }
    if (protect == ProtectSetting::Mode::All || protect == ProtectSetting::Mode::Sigmas) {
        ProtectOptions po;
        po.all = protect == ProtectSetting::Mode::All;
        po.sigmas = c.protect.sigmas;
        po.bits = c.bits;
        po.group_size = out.group_size;
        po.grid = c.grid;
        po.coarse = c.coarse;
        po.full_grid = c.full_grid;
        po.integer_zero = method == Method::NeUQIInt;
        at::Tensor mask = protect_outlier_groups(W, h, po, &out.scale, &out.zero);
        out.protected_groups = mask.sum().item<int64_t>();
        if (out.protected_groups > 0 || po.all) {
            at::Tensor loss =
                kernels::group_loss(W, h, out.scale, out.zero, c.bits, out.group_size, true);
            // Min-Max is feasible, so this only catches rounding at the last digit.
            at::Tensor m = mask.to(W.device()) & (loss > out.group_loss_minmax);
            out.scale = at::where(m, s_mm, out.scale);
            out.zero = at::where(m, z_mm, out.zero);
            out.group_loss = at::where(m, out.group_loss_minmax, loss);
        }
    }
    out.codes = kernels::quantize(W, out.scale, out.zero, c.bits, out.group_size);
    out.dequantized = kernels::dequantize(out.codes, out.scale, out.zero, out.group_size);
    at::Tensor W_mm = kernels::fake_quantize(W, s_mm, z_mm, c.bits, out.group_size);
    at::Tensor dW = (out.dequantized - W).to(at::kDouble);
    at::Tensor dW_mm = (W_mm - W).to(at::kDouble);
    out.diagnostics.diag_loss = (dW * dW * h).sum().item<double>();
    out.diagnostics.diag_loss_minmax = (dW_mm * dW_mm * h).sum().item<double>();
    if (H.defined()) {
        at::Tensor Hd = H.to(at::kDouble).to(W.device());
        out.diagnostics.proxy_loss = proxy_loss(dW, Hd);
        out.diagnostics.proxy_loss_minmax = proxy_loss(dW_mm, Hd);
    }
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
}

}  // namespace zp::quant
