// Weight quantizers with per-(row, group) scale and real-valued zero-point: Min-Max, NeUQI and
// NeUQI-int (core/MATHS.md sections 1-4), with the layer diagnostics of section 2.
// Tensors may live on the CPU or a CUDA device; results come back on the weights' device.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace zp::quant {

enum class Method { MinMax, NeUQI, NeUQIInt };

// Super-weight protection of the NeUQI searches (core/quant/protect.h):
//   Off: the plain search;
//   Sigmas: groups holding a weight >= sigmas standard deviations from the layer's mean are
//     searched without clipping any weight;
//   All: every group so;
//   Auto: without calibration (h = 1), in a model with super-weights (some linear holds a weight
//     at least kAutoTailSigmas standard deviations from its layer's mean), the data-free remedy:
//     All with an integer zero-point (zero and every group's extremes stay representable; README
//     "Super-weights"); in a model without, and with calibration, Off (the plain search).
constexpr double kAutoTailSigmas = 10.0;
struct ProtectSetting {
    enum class Mode { Off, Auto, All, Sigmas };
    Mode mode = Mode::Off;
    double sigmas = 0.0;
    // Auto: whether the model holds super-weights, as the pipeline found over all its linears;
    // unset (one layer quantized alone), the layer's own weights decide.
    std::optional<bool> model_heavy_tail;
};
// True when some weight of W lies at least k standard deviations from W's mean.
bool has_heavy_tail(const at::Tensor& W, double k = kAutoTailSigmas);
// "off", "auto", "all" or a number of standard deviations > 0. InvalidArgument otherwise.
ProtectSetting parse_protect(const std::string& text);
std::string format_protect(const ProtectSetting& p);

// The one table of methods: the GUI lists it, the command line accepts its names, files store them.
struct MethodInfo {
    Method method;
    const char* name;   // "minmax", "neuqi", "neuqi-int"
    const char* label;  // "Min-Max", "NeUQI", "NeUQI (integer z)"
    const char* description;
};
const std::vector<MethodInfo>& methods();
const MethodInfo& method_info(Method m);
// Throws InvalidArgument naming the accepted names.
Method parse_method(const std::string& name);

struct QuantConfig {
    Method method = Method::NeUQI;
    int bits = 2;             // 2..8
    int64_t group_size = -1;  // columns per group; -1 = channel-wise
    double clip = 1.0;        // Min-Max clip factor b in (0, 1]
    int grid = 2048;          // T
    int coarse = 64;          // coarse candidates (NeUQI)
    bool full_grid = false;   // NeUQI over all T scales
    // NeUQI / NeUQI-int: which groups are searched without clipping any weight
    // (core/quant/protect.h). Off here; the run options' default is Auto.
    ProtectSetting protect;
};

// Throws InvalidArgument (bits outside 2..8, clip outside (0, 1], grid/coarse mismatch, a group
// size of 0 or below -1 - naming `what`, e.g. the layer). A group size that does not divide the
// row length cols is valid: ceil(cols / g) groups, the last one shorter.
void validate_config(const QuantConfig& c, int64_t cols, const std::string& what);
// Throws NumericError naming `what` and the position of the first NaN/Inf.
void validate_weights(const at::Tensor& w, const std::string& what);

// H + damp * mean(diag H) * I (float64, [in, in]).
at::Tensor damp_hessian(const at::Tensor& H, double damp = 0.01);
// diag(H) + damp * mean(diag H): the importance NeUQI uses.
at::Tensor damped_hessian_diagonal(const at::Tensor& H, double damp = 0.01);

struct LayerDiagnostics {
    double diag_loss = 0.0;         // sum_rows sum_i h_i (W_hat - W)^2, h un-normalised
    double diag_loss_minmax = 0.0;  // the same for Min-Max on the same weights
    double proxy_loss = -1.0;       // tr(dW H dW^T) when H is given, else -1
    double proxy_loss_minmax = -1.0;
};

struct LayerQuant {
    at::Tensor scale, zero;        // [rows, ceil(cols / group_size)], dtype of W
    at::Tensor codes;              // uint8 [rows, cols]
    at::Tensor group_loss;         // [rows, groups] float64, h normalised per group
    at::Tensor group_loss_minmax;  // the same for Min-Max
    at::Tensor importance;         // [cols] float64, the h used (ones without calibration)
    at::Tensor dequantized;        // [rows, cols] dtype of W
    LayerDiagnostics diagnostics;
    int64_t group_size = 0;  // resolved (cols for channel-wise); the last group may be shorter
    int64_t protected_groups = 0;  // groups searched without clipping (QuantConfig::protect)
    Method method =
        Method::MinMax;  // the rule that ran (Auto turns data-free NeUQI into NeUQI-int)
    double seconds = 0.0;
};

// Quantizes W [out, in] (float32/float64/bf16/fp16; computed in float32 or float64). H: the proxy
// Hessian [in, in] (undefined tensor = no calibration: h = 1 and no proxy loss). importance: an
// explicit h [in] (>= 0) used as given instead of H's damped diagonal. `what` names the layer in
// errors.
LayerQuant quantize_layer(const at::Tensor& W, const at::Tensor& H, const QuantConfig& config,
                          const std::string& what = "weight",
                          const at::Tensor& importance = at::Tensor());

}  // namespace zp::quant
