#include "core/quant/ruquant_finetune.h"

#include <ATen/ATen.h>
#include <torch/optim/adamw.h>

#include <chrono>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "core/common/error.h"
#include "core/model/forward.h"
#include "core/quant/ruquant_transforms.h"

namespace zp::quant {

namespace {

// Forward value q(x), gradient of the identity.
at::Tensor straight_through(const at::Tensor& x, const at::Tensor& q)
{
    return x + (q - x).detach();
}

// Min-Max per output channel as kernels::minmax_params computes it (quantize_math.h): s = clip *
// range / (2^b - 1), z = round(-min / s - (1 - clip)(2^b - 1) / (2 clip)), a constant row s = 1.
at::Tensor minmax_rows(const at::Tensor& w, int bits, double clip)
{
    const double levels = std::ldexp(1.0, bits) - 1.0;
    const at::Tensor d = w.detach();
    const at::Tensor lo = std::get<0>(d.min(1, true)), hi = std::get<0>(d.max(1, true));
    const at::Tensor range = hi - lo;
    const at::Tensor flat = range <= 0;
    const at::Tensor s = at::where(flat, at::ones_like(range), clip * range / levels);
    at::Tensor z = -lo / s;
    if (clip < 1.0)
        z = z - (1.0 - clip) * levels / (2.0 * clip);
    z = at::where(flat, -lo, z).round();
    const at::Tensor q = ((d / s).round() + z).clamp(0.0, levels);
    return (q - z) * s;
}

struct Group {
    std::string input;
    std::vector<std::string> layers;
    GroupTransform fixed;             // the transform without its Householder
    at::Tensor v;                     // trainable [width]
    std::vector<at::Tensor> w_fixed;  // W Q_fixed^-T per layer (no grad)
};

at::Tensor reflect(const at::Tensor& y, const at::Tensor& v)
{
    return y - (2.0 / v.dot(v)) * y.matmul(v).unsqueeze(-1) * v;
}

}  // namespace

FinetuneReport finetune_householder(const model::ModelConfig& c, const model::BlockWeights& w_orig,
                                    int64_t block, TransformSet& set, const at::Tensor& inputs,
                                    const FinetuneOptions& o)
{
    const auto t0 = std::chrono::steady_clock::now();
    if (!inputs.defined() || inputs.dim() != 3 || inputs.size(2) != c.hidden_size)
        throw InvalidArgument("stage 2: inputs must be [N, L, " + std::to_string(c.hidden_size) +
                              "]");
    if (o.epochs < 0 || o.batch < 1 || !(o.lr > 0.0))
        throw InvalidArgument("stage 2: epochs >= 0, batch >= 1 and lr > 0 are required");
    const at::Device dev = inputs.device();
    const at::TensorOptions f32 = at::TensorOptions().dtype(at::kFloat).device(dev);
    at::AutoGradMode grad_on(true);

    std::vector<Group> groups;
    for (const model::LinearGroup& lg : model::linear_input_groups()) {
        const GroupTransform* t = set.find(block, lg.input);
        if (!t || t->kind != TransformKind::RUQuant)
            throw InvalidArgument("stage 2: block " + std::to_string(block) + " " + lg.input +
                                  " has no RUQuant transform");
        Group g;
        g.input = lg.input;
        g.layers = lg.layers;
        g.fixed = *t;
        g.fixed.householder = at::Tensor();
        const at::Tensor u =
            t->householder.defined() ? t->householder : at::zeros({t->width}, at::kDouble);
        // A zero vector has no direction to train from: start from a tiny random one.
        at::Tensor init = u.to(f32);
        if (!(init.abs().max().item<double>() > 0.0))
            init = at::full({t->width}, 1e-3, f32);
        g.v = init.clone().set_requires_grad(true);
        for (const std::string& n : lg.layers)
            g.w_fixed.push_back(g.fixed.apply_weight(w_orig.linear(n).to(dev, at::kFloat)));
        groups.push_back(std::move(g));
    }
    const model::BlockWeights w_fp = w_orig.to(dev, at::kFloat);

    const ActivationQuantConfig act = o.act;
    at::Tensor hadamard_qk;
    if (act.qk_hadamard && act.qk.bits < 16)
        hadamard_qk = hadamard(c.head_dim).to(f32);
    model::ActivationHooks hooks;
    std::map<std::string, Group*> by_input;
    for (Group& g : groups)
        by_input[g.input] = &g;
    hooks.linear_input = [&](int64_t, const std::string& name, const at::Tensor& x) {
        Group* g = by_input.at(name);
        const at::Tensor y = reflect(g->fixed.apply(x), g->v);
        return straight_through(y, fake_quant_per_token(y.detach(), act.linear));
    };
    hooks.attention = [&](int64_t, const std::string& which, const at::Tensor& t) {
        if (which == "v")
            return straight_through(t, fake_quant_per_token(t.detach(), act.v));
        if (act.qk.bits >= 16)
            return t;
        const at::Tensor r = hadamard_qk.defined() ? t.matmul(hadamard_qk) : t;
        return straight_through(r, fake_quant_per_token(r.detach(), act.qk));
    };
    auto quantized_weights = [&]() {
        model::BlockWeights w = w_fp;
        for (Group& g : groups)
            for (size_t i = 0; i < g.layers.size(); ++i) {
                const at::Tensor wt = reflect(g.w_fixed[i], g.v);  // rows: W Q^-T
                w.linear(g.layers[i]) =
                    straight_through(wt, minmax_rows(wt, o.wbits, o.wclip).to(wt.scalar_type()));
            }
        return w;
    };

    const int64_t N = inputs.size(0);
    // The full-precision block on the same inputs: the target.
    std::vector<at::Tensor> targets;
    {
        at::NoGradGuard no_grad;
        for (int64_t s = 0; s < N; s += o.batch)
            targets.push_back(model::block_forward(
                c, w_fp, inputs.narrow(0, s, std::min(o.batch, N - s)).to(at::kFloat)));
    }
    auto mean_loss = [&]() {
        at::NoGradGuard no_grad;
        const model::BlockWeights w = quantized_weights();
        double sum = 0.0;
        int64_t k = 0;
        for (int64_t s = 0; s < N; s += o.batch, ++k) {
            const at::Tensor x = inputs.narrow(0, s, std::min(o.batch, N - s)).to(at::kFloat);
            const at::Tensor y = model::block_forward(c, w, x, 0, nullptr, {}, &hooks, block);
            sum += (y - targets[size_t(k)]).pow(2).mean().item<double>() * double(x.size(0));
        }
        return sum / double(N);
    };

    FinetuneReport r;
    r.loss_before = mean_loss();
    std::vector<at::Tensor> params;
    for (Group& g : groups)
        params.push_back(g.v);
    torch::optim::AdamW opt(params, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
    for (int e = 0; e < o.epochs; ++e) {
        report_progress(o.progress, double(e), double(o.epochs),
                        "block " + std::to_string(block) + " stage 2: epoch " +
                            std::to_string(e + 1) + "/" + std::to_string(o.epochs));
        int64_t k = 0;
        for (int64_t s = 0; s < N; s += o.batch, ++k) {
            const at::Tensor x = inputs.narrow(0, s, std::min(o.batch, N - s)).to(at::kFloat);
            opt.zero_grad();
            const model::BlockWeights w = quantized_weights();
            const at::Tensor y = model::block_forward(c, w, x, 0, nullptr, {}, &hooks, block);
            at::Tensor loss = (y - targets[size_t(k)]).pow(2).mean();
            if (!std::isfinite(loss.item<double>()))
                throw NumericError("stage 2: block " + std::to_string(block) +
                                   ": the loss became NaN/Inf at epoch " + std::to_string(e + 1));
            loss.backward();
            opt.step();
            ++r.steps;
        }
    }
    r.loss_after = o.epochs > 0 ? mean_loss() : r.loss_before;
    r.kept = r.loss_after <= r.loss_before;
    if (!r.kept)
        r.loss_after = r.loss_before;  // training made it worse: the stage-1 vectors stay

    for (Group& g : groups) {
        GroupTransform t = *set.find(block, g.input);
        if (r.kept) {
            const at::Tensor v = g.v.detach().to(at::kCPU).to(at::kDouble);
            t.householder = v / v.norm();
        }
        t.stage2_loss_before = r.loss_before;
        t.stage2_loss_after = r.loss_after;
        set.add(std::move(t));
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
}

}  // namespace zp::quant
