#include "core/quant/act_quant.h"

#include <ATen/ATen.h>

#include <cmath>
#include <string>

#include "core/common/error.h"
#include "core/quant/ruquant_transforms.h"

namespace zp::quant {

namespace {

void check(const ActQuantConfig& c)
{
    if (c.bits < 2)
        throw InvalidArgument("activation bits must be at least 2, got " + std::to_string(c.bits));
    if (!(c.clip > 0.0 && c.clip <= 1.0))
        throw InvalidArgument("activation clip ratio must be in (0, 1], got " +
                              std::to_string(c.clip));
}

}  // namespace

at::Tensor fake_quant_per_token(const at::Tensor& x, const ActQuantConfig& c)
{
    check(c);
    if (c.bits >= 16)
        return x;
    if (!x.defined() || x.dim() < 1)
        throw InvalidArgument("activation quantization needs a tensor of at least one dimension");
    const at::ScalarType work = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
    const at::Tensor v = x.to(work);
    const double levels = std::ldexp(1.0, c.bits) - 1.0;
    const at::Tensor lo = std::get<0>(v.min(-1, /*keepdim=*/true)) * c.clip;
    const at::Tensor hi = std::get<0>(v.max(-1, /*keepdim=*/true)) * c.clip;
    const at::Tensor s = ((hi - lo) / levels).clamp(1e-5, 1e4);
    const at::Tensor z = (-lo / s).clamp(-1e4, 1e4).round();
    const at::Tensor q = ((v / s).round() + z).clamp(0.0, levels);
    return ((q - z) * s).to(x.scalar_type());
}

std::shared_ptr<const model::ActivationHooks> activation_quant_hooks(const ActivationQuantConfig& c,
                                                                     int64_t head_dim)
{
    return activation_quant_hooks(c, head_dim, nullptr, true);
}

void measure_activation_error(GroupTransform& t, const at::Tensor& x, const ActQuantConfig& q)
{
    if (q.bits >= 16) {
        t.act_error_plain = t.act_error = 0.0;
        return;
    }
    const at::Tensor xd = x.detach().to(at::kCPU).to(at::kFloat).reshape({-1, t.width});
    const double n = xd.to(at::kDouble).norm().item<double>();
    if (!(n > 0.0)) {
        t.act_error_plain = t.act_error = 0.0;
        return;
    }
    auto err = [&](const at::Tensor& y) {
        return (y.to(at::kDouble) - xd.to(at::kDouble)).norm().item<double>() / n;
    };
    t.act_error_plain = err(fake_quant_per_token(xd, q));
    t.act_error =
        t.identity() ? t.act_error_plain : err(t.invert(fake_quant_per_token(t.apply(xd), q)));
}

std::shared_ptr<const model::ActivationHooks> activation_quant_hooks(
    const ActivationQuantConfig& c, int64_t head_dim,
    std::shared_ptr<const TransformSet> transforms, bool quantize_untransformed)
{
    for (const ActQuantConfig* q : {&c.linear, &c.qk, &c.v})
        check(*q);  // before any forward
    at::Tensor H;
    if (c.qk_hadamard && c.qk.bits < 16)
        H = hadamard(head_dim).to(at::kFloat);  // InvalidArgument unless a power of two
    auto hooks = std::make_shared<model::ActivationHooks>();
    const ActQuantConfig linear = c.linear, qk = c.qk, v = c.v;
    if (transforms) {
        hooks->linear_input = [linear, transforms, quantize_untransformed](
                                  int64_t block, const std::string& name, const at::Tensor& x) {
            if (const GroupTransform* t = transforms->find(block, name))
                return fake_quant_per_token(t->apply(x), linear);
            return quantize_untransformed ? fake_quant_per_token(x, linear) : x;
        };
    } else if (linear.bits < 16) {
        hooks->linear_input = [linear](int64_t, const std::string&, const at::Tensor& x) {
            return fake_quant_per_token(x, linear);
        };
    }
    if (qk.bits < 16 || v.bits < 16)
        hooks->attention = [qk, v, H](int64_t, const std::string& which, const at::Tensor& t) {
            if (which == "v")
                return fake_quant_per_token(t, v);
            if (qk.bits >= 16)
                return t;
            const at::Tensor r = H.defined() ? t.matmul(H.to(t.device(), t.scalar_type())) : t;
            return fake_quant_per_token(r, qk);
        };
    return hooks;
}

}  // namespace zp::quant
