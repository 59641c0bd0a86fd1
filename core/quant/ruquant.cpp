#include "core/quant/ruquant.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/common/error.h"
#include "core/model/architecture.h"
#include "core/quant/ruquant_transforms.h"

namespace zp::quant {

const std::vector<TransformKindInfo>& transform_kinds()
{
    static const std::vector<TransformKindInfo> table = {
        {TransformKind::None, "none", "none (RTN WxAy)", "no transform: the plain baseline"},
        {TransformKind::Smooth, "smooth", "SmoothQuant",
         "per-channel smoothing scales (alpha) fused into the weights"},
        {TransformKind::DuQuant, "duquant", "DuQuant-style",
         "smoothing, greedy block rotation onto flat targets, zig-zag permutation, a second "
         "rotation"},
        {TransformKind::RUQuant, "ruquant", "RUQuant",
         "smoothing, Householder + Givens block rotations onto random uniform targets, zig-zag, "
         "a second rotation and one global Householder"},
    };
    return table;
}

const TransformKindInfo& transform_kind_info(TransformKind kind)
{
    for (const TransformKindInfo& k : transform_kinds())
        if (k.kind == kind)
            return k;
    throw Error("internal: unknown transform kind");
}

TransformKind parse_transform_kind(const std::string& name)
{
    std::string names;
    for (const TransformKindInfo& k : transform_kinds()) {
        if (name == k.name)
            return k.kind;
        names += (names.empty() ? "" : ", ") + std::string(k.name);
    }
    throw InvalidArgument("unknown transform '" + name + "' (choose one of: " + names + ")");
}

int64_t default_rotation_block(int64_t width)
{
    for (int64_t b = 128; b > 1; b /= 2)
        if (width % b == 0)
            return b;
    return 1;
}

namespace {

// SplitMix64: decorrelated seeds for (run seed, block, group, stage).
uint64_t mix_seed(uint64_t seed, int64_t block, const std::string& input, int stage)
{
    uint64_t h = seed;
    auto step = [&](uint64_t v) {
        h += 0x9E3779B97F4A7C15ULL + v;
        uint64_t z = h;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        h = z ^ (z >> 31);
    };
    step(static_cast<uint64_t>(block));
    for (unsigned char ch : input)
        step(ch);
    step(static_cast<uint64_t>(stage));
    return h;
}

int input_order(const std::string& input)
{
    return model::group_order(input);
}

at::ScalarType work_type(const at::Tensor& x)
{
    return x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

// y [n, width] through blockdiag(R) (R [b, b]) in y's dtype.
at::Tensor block_mul(const at::Tensor& y, const at::Tensor& R)
{
    const int64_t b = R.size(0);
    return y.reshape({-1, b}).matmul(R.to(y.device(), y.scalar_type())).reshape(y.sizes());
}

at::Tensor householder_mul(const at::Tensor& y, const at::Tensor& u)
{
    const at::Tensor uu = u.to(y.device(), y.scalar_type());
    return y - 2.0 * y.matmul(uu).unsqueeze(-1) * uu;
}

// The orthogonal chain R0, P, R1, H on rows of y [n, width]; `each` sees every stage's output.
template <class F>
at::Tensor chain(const GroupTransform& t, at::Tensor y, F each)
{
    if (t.r0.defined()) {
        y = block_mul(y, t.r0);
        each("R0", y);
    }
    if (t.perm.defined()) {
        y = y.index_select(1, t.perm.to(y.device()));
        each("permuted", y);
    }
    if (t.r1.defined()) {
        y = block_mul(y, t.r1);
        each("R1", y);
    }
    if (t.householder.defined()) {
        y = householder_mul(y, t.householder);
        each("householder", y);
    }
    return y;
}

at::Tensor rows_of(const at::Tensor& x, int64_t width, const char* what)
{
    if (!x.defined() || x.dim() < 1 || x.size(-1) != width)
        throw InvalidArgument(std::string("transform ") + what + ": expected [..., " +
                              std::to_string(width) + "]");
    return x.reshape({-1, width}).to(work_type(x));
}

}  // namespace

bool GroupTransform::identity() const
{
    return !smooth.defined() && !r0.defined() && !perm.defined() && !r1.defined() &&
           !householder.defined();
}

at::Tensor GroupTransform::apply(const at::Tensor& x) const
{
    if (identity())
        return x;
    at::Tensor y = rows_of(x, width, "input");
    if (smooth.defined())
        y = y / smooth.to(y.device(), y.scalar_type());
    y = chain(*this, y, [](const char*, const at::Tensor&) {});
    return y.reshape(x.sizes()).to(x.scalar_type());
}

at::Tensor GroupTransform::apply_weight(const at::Tensor& w) const
{
    if (identity())
        return w;
    if (!w.defined() || w.dim() != 2 || w.size(1) != width)
        throw InvalidArgument("transform weight: expected [out, " + std::to_string(width) + "]");
    at::Tensor y = w.to(work_type(w));
    if (smooth.defined())
        y = y * smooth.to(y.device(), y.scalar_type());
    y = chain(*this, y, [](const char*, const at::Tensor&) {});
    return y.to(w.scalar_type());
}

at::Tensor GroupTransform::invert(const at::Tensor& x) const
{
    if (identity())
        return x;
    at::Tensor y = rows_of(x, width, "inverse");
    if (householder.defined())
        y = householder_mul(y, householder);  // H^-1 = H
    if (r1.defined())
        y = block_mul(y, r1.t());
    if (perm.defined()) {
        at::Tensor inv = at::empty_like(perm);
        inv.index_put_({perm}, at::arange(width, perm.options()));
        y = y.index_select(1, inv.to(y.device()));
    }
    if (r0.defined())
        y = block_mul(y, r0.t());
    if (smooth.defined())
        y = y * smooth.to(y.device(), y.scalar_type());
    return y.reshape(x.sizes()).to(x.scalar_type());
}

std::vector<std::pair<std::string, at::Tensor>> GroupTransform::stages(const at::Tensor& x) const
{
    std::vector<std::pair<std::string, at::Tensor>> out;
    at::Tensor y = rows_of(x, width, "input");
    out.emplace_back("input", y);
    if (smooth.defined()) {
        y = y / smooth.to(y.device(), y.scalar_type());
        out.emplace_back("smoothed", y);
    }
    chain(*this, y, [&](const char* name, const at::Tensor& t) { out.emplace_back(name, t); });
    return out;
}

at::Tensor GroupTransform::matrix() const
{
    return apply(at::eye(width, at::TensorOptions().dtype(at::kDouble)));
}

void GroupTransform::check(const std::string& where) const
{
    auto bad = [&](const std::string& why) {
        throw InvalidArgument(where + ": transform of block " + std::to_string(block) + " " +
                              input + ": " + why);
    };
    if (width < 1)
        bad("width " + std::to_string(width));
    auto vec = [&](const at::Tensor& t, const char* name) {
        if (t.defined() && (t.dim() != 1 || t.size(0) != width))
            bad(std::string(name) + " must be [" + std::to_string(width) + "]");
    };
    vec(smooth, "smooth");
    vec(perm, "perm");
    vec(householder, "householder");
    vec(act_max, "act_max");
    vec(act_max_after, "act_max_after");
    if (smooth.defined() && !(smooth > 0).all().item<bool>())
        bad("smoothing scales must be positive");
    if (perm.defined()) {
        if (perm.scalar_type() != at::kLong)
            bad("perm must be int64");
        const at::Tensor sorted = std::get<0>(perm.sort());
        if (!at::equal(sorted, at::arange(width, perm.options())))
            bad("perm is not a permutation of 0.." + std::to_string(width - 1));
    }
    for (const at::Tensor* r : {&r0, &r1}) {
        if (!r->defined())
            continue;
        if (r->dim() != 2 || r->size(0) != rotation_block || r->size(1) != rotation_block ||
            rotation_block < 1 || width % rotation_block != 0)
            bad("block rotation must be [b, b] with b = " + std::to_string(rotation_block) +
                " dividing " + std::to_string(width));
    }
    for (const at::Tensor* t : {&smooth, &r0, &r1, &householder})
        if (t->defined() && (!t->is_floating_point() || !t->isfinite().all().item<bool>()))
            bad("a transform holds NaN/Inf or is not floating point");
}

GroupTransform build_group_transform(const at::Tensor& act_max, const at::Tensor& rows,
                                     const std::vector<at::Tensor>& weights,
                                     const TransformOptions& o, int64_t block,
                                     const std::string& input)
{
    const auto t0 = std::chrono::steady_clock::now();
    const std::string what = "block " + std::to_string(block) + " " + input;
    if (!rows.defined() || rows.dim() != 2 || rows.size(0) < 1)
        throw InvalidArgument(what + ": transform needs calibration rows [n, width]");
    const int64_t width = rows.size(1);
    if (!act_max.defined() || act_max.dim() != 1 || act_max.size(0) != width)
        throw InvalidArgument(what + ": activation maxima must be [" + std::to_string(width) + "]");
    if (!(o.alpha >= 0.0 && o.alpha <= 1.0))
        throw InvalidArgument(what + ": smoothing alpha must be in [0, 1], got " +
                              std::to_string(o.alpha));
    GroupTransform t;
    t.block = block;
    t.input = input;
    t.kind = o.kind;
    t.width = width;
    t.act_max = act_max.detach().to(at::kCPU).to(at::kDouble).contiguous();
    const at::Tensor x = rows.detach().to(at::kCPU).to(at::kDouble).contiguous();
    if (!x.isfinite().all().item<bool>() || !t.act_max.isfinite().all().item<bool>())
        throw NumericError(what + ": calibration activations contain NaN or Inf");

    if (o.kind != TransformKind::None) {
        at::Tensor wmax;
        for (const at::Tensor& w : weights) {
            if (!w.defined() || w.dim() != 2 || w.size(1) != width)
                throw InvalidArgument(what + ": weights must be [out, " + std::to_string(width) +
                                      "]");
            const at::Tensor m = std::get<0>(w.detach().to(at::kCPU).to(at::kDouble).abs().max(0));
            wmax = wmax.defined() ? at::maximum(wmax, m) : m;
        }
        if (!wmax.defined())
            throw InvalidArgument(what + ": no weights to smooth against");
        t.smooth =
            (t.act_max.clamp_min(1e-5).pow(o.alpha) / wmax.clamp_min(1e-5).pow(1.0 - o.alpha))
                .clamp_min(1e-5)
                .contiguous();
    }
    if (o.kind == TransformKind::DuQuant || o.kind == TransformKind::RUQuant) {
        const int64_t b = o.block > 0 ? o.block : default_rotation_block(width);
        if (width % b != 0)
            throw InvalidArgument(what + ": rotation block " + std::to_string(b) +
                                  " does not divide the width " + std::to_string(width) +
                                  " (choose a divisor; the default is the largest power of two "
                                  "up to 128 that divides it)");
        t.rotation_block = b;
        BlockRotationOptions ro;
        ro.block = b;
        ro.greedy_steps = o.greedy_steps;
        ro.code_variant = o.code_variant;
        if (o.kind == TransformKind::DuQuant) {
            ro.givens_rounds = 0;
            ro.flat_target = true;
        } else {
            ro.givens_rounds = o.givens_rounds;
        }
        at::Tensor y = x / t.smooth;
        ro.seed = mix_seed(o.seed, block, input, 0);
        t.r0 = greedy_block_rotation(y, ro);
        y = block_diag_apply(y, t.r0);
        const std::vector<int64_t> p = zigzag_permutation(y.abs().amax(0), b);
        t.perm = at::tensor(p, at::TensorOptions().dtype(at::kLong));
        y = y.index_select(1, t.perm);
        ro.seed = mix_seed(o.seed, block, input, 1);
        t.r1 = greedy_block_rotation(y, ro);
        if (o.kind == TransformKind::RUQuant) {
            y = block_diag_apply(y, t.r1);
            at::Tensor u = householder_vector_from_max_row(y, mix_seed(o.seed, block, input, 2));
            if (u.abs().max().item<double>() > 0.0)
                t.householder = u;
        }
    }
    t.act_max_after = t.apply(x).abs().amax(0).contiguous();
    t.tokens = rows.size(0);
    t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return t;
}

void TransformSet::add(GroupTransform t)
{
    auto key = std::make_pair(t.block, t.input);
    groups_[key] = std::make_shared<const GroupTransform>(std::move(t));
}

void TransformSet::remove(int64_t block, const std::string& input)
{
    groups_.erase({block, input});
}

const GroupTransform* TransformSet::find(int64_t block, const std::string& input) const
{
    auto it = groups_.find({block, input});
    return it == groups_.end() ? nullptr : it->second.get();
}

std::vector<const GroupTransform*> TransformSet::all() const
{
    std::vector<const GroupTransform*> out;
    for (const auto& [key, g] : groups_)
        out.push_back(g.get());
    std::stable_sort(out.begin(), out.end(), [](const GroupTransform* a, const GroupTransform* b) {
        return a->block != b->block ? a->block < b->block
                                    : input_order(a->input) < input_order(b->input);
    });
    return out;
}

}  // namespace zp::quant
