#include "app/gui/activationdata.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

#include "core/common/error.h"
#include "core/data/calibration.h"
#include "core/demo/demo_model.h"
#include "core/model/forward.h"
#include "core/model/model.h"
#include "core/quant/act_quant.h"
#include "core/tokenizer/tokenizer.h"

namespace {

// Thrown by the observer once it has the group's input: the rest of the block is not computed.
struct StopForward {};

void check(const zp::ProgressFn& progress, double done, double total, const std::string& what)
{
    if (progress && !progress(done, total, what))
        throw zp::Cancelled();
}

// Row-wise ||a - x|| / ||x|| (0 for a zero row).
std::vector<double> rowErrors(const at::Tensor& a, const at::Tensor& x)
{
    const at::Tensor num = (a - x).norm(2, {1});
    const at::Tensor den = x.norm(2, {1});
    const at::Tensor r = at::where(den > 0, num / den.clamp_min(1e-300), at::zeros_like(num));
    const at::Tensor c = r.contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

double setError(const at::Tensor& a, const at::Tensor& x)
{
    const double n = x.norm().item<double>();
    return n > 0 ? (a - x).norm().item<double>() / n : 0.0;
}

double meanGapOver(const at::Tensor& m, int bits, double clip)
{
    if (bits >= 16 || m.size(0) == 0)
        return 0.0;
    const at::Tensor c = m.contiguous();
    double sum = 0.0;
    for (int64_t t = 0; t < c.size(0); ++t)
        sum += tokenIntervals(c.data_ptr<double>() + t * c.size(1), c.size(1), bits, clip).meanGap;
    return sum / static_cast<double>(c.size(0));
}

}  // namespace

TokenIntervals tokenIntervals(const double* x, int64_t n, int bits, double clip)
{
    TokenIntervals r;
    if (n <= 0 || bits < 2 || bits > 15)
        return r;
    const int levels = 1 << bits;
    double mn = x[0], mx = x[0];
    for (int64_t i = 1; i < n; ++i) {
        mn = std::min(mn, x[i]);
        mx = std::max(mx, x[i]);
    }
    const double lo = mn * clip, hi = mx * clip;
    const double s = std::clamp((hi - lo) / (levels - 1), 1e-5, 1e4);
    const double z = std::nearbyint(std::clamp(-lo / s, -1e4, 1e4));
    r.step = s;
    r.zero = z;
    r.edges.resize(levels + 1);
    for (int q = 0; q <= levels; ++q)
        r.edges[q] = s * (q - z - 0.5);
    r.midpoints.resize(levels);
    for (int q = 0; q < levels; ++q)
        r.midpoints[q] = s * (q - z);
    std::vector<double> sum(levels, 0.0);
    r.counts.assign(levels, 0);
    for (int64_t i = 0; i < n; ++i) {
        const double q = std::clamp(std::nearbyint(x[i] / s) + z, 0.0, levels - 1.0);
        const int k = static_cast<int>(q);
        sum[k] += x[i];
        r.counts[k] += 1;
    }
    r.centroids.assign(levels, NAN);
    double gap = 0.0;
    for (int q = 0; q < levels; ++q)
        if (r.counts[q] > 0) {
            r.centroids[q] = sum[q] / static_cast<double>(r.counts[q]);
            gap += std::abs(r.centroids[q] - r.midpoints[q]) / s;
            r.nonEmpty += 1;
        }
    r.meanGap = r.nonEmpty > 0 ? gap / r.nonEmpty : 0.0;
    return r;
}

std::vector<double> ActivationData::tokenValues(int64_t token, bool transformed) const
{
    const at::Tensor& m = transformed ? y : x;
    if (!m.defined() || token < 0 || token >= m.size(0))
        return {};
    const at::Tensor row = m[token].contiguous();
    return std::vector<double>(row.data_ptr<double>(), row.data_ptr<double>() + row.numel());
}

std::shared_ptr<const ActivationCapture::Entry> ActivationCapture::find(
    const std::string& key) const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return last_ && last_->key == key ? last_ : nullptr;
}

void ActivationCapture::store(std::shared_ptr<const Entry> e)
{
    std::lock_guard<std::mutex> lock(mutex_);
    last_ = std::move(e);
}

QStringList activationGroups()
{
    QStringList g;
    for (const zp::model::LinearGroup& lg : zp::model::linear_input_groups())
        g << QString::fromUtf8(lg.input);
    return g;
}

ActivationData computeActivations(const ModelPtr& model, const QuantizedModelPtr& run,
                                  const ActivationRequest& rq, ActivationCapture* cache,
                                  const zp::ProgressFn& progress)
{
    if (!model || !model->hasWeights())
        throw zp::InvalidArgument("the activations need the model's weights (open the model)");
    const std::string group = rq.group.toStdString();
    const zp::model::LinearGroup* lg = nullptr;
    for (const zp::model::LinearGroup& g : zp::model::linear_input_groups())
        if (group == g.input)
            lg = &g;
    if (!lg)
        throw zp::InvalidArgument("unknown linear-input group '" + group +
                                  "' (q_proj, o_proj, gate_proj or down_proj)");
    const std::string key = model->source().toStdString() + "|" + rq.textPath.toStdString() + "|" +
                            rq.textFormat.toStdString() + "|" + rq.tokenizer.toStdString() + "|" +
                            std::to_string(rq.nsamples) + "x" + std::to_string(rq.seqlen) + "|" +
                            std::to_string(rq.seed) + "|" + std::to_string(rq.block) + "|" + group;
    std::shared_ptr<const ActivationCapture::Entry> cap = cache ? cache->find(key) : nullptr;
    const double total = rq.block + 4.0;
    if (!cap) {
        std::unique_ptr<zp::model::Model> engine = model->openEngine();
        const zp::model::ModelConfig& c = engine->config();
        if (rq.block < 0 || rq.block >= c.num_layers)
            throw zp::InvalidArgument("block " + std::to_string(rq.block) +
                                      " is outside the model (" + std::to_string(c.num_layers) +
                                      " blocks)");
        const int64_t L = std::min<int64_t>(rq.seqlen, c.max_position);
        auto entry = std::make_shared<ActivationCapture::Entry>();
        entry->key = key;
        check(progress, 0, total, "drawing the tokens");
        at::Tensor ids;
        std::unique_ptr<zp::tok::Tokenizer> tok;
        try {
            tok = openTokenizer(*model, rq.tokenizer);
        } catch (const zp::Error&) {
            // Without a tokenizer only .ids files can be read; the tokens then have no text.
        }
        if (rq.textPath.isEmpty()) {
            if (!model->isDemo())
                throw zp::InvalidArgument(
                    "choose a text file for the activations (the job's calibration file, "
                    "WikiText-2 .raw, C4 .jsonl or plain text)");
            ids = zp::demo::demo_calibration(*engine, rq.nsamples, L, rq.seed);
            entry->textSource = QStringLiteral("demo text sampled from the model");
        } else {
            zp::data::CalibrationOptions co;
            co.path = rq.textPath.toStdString();
            co.format = zp::data::parse_calibration_format(rq.textFormat.toStdString());
            co.nsamples = rq.nsamples;
            co.seqlen = L;
            co.seed = rq.seed;
            if (!tok && co.format != zp::data::CalibrationFormat::TokenIds &&
                zp::data::guess_calibration_format(co.path) !=
                    zp::data::CalibrationFormat::TokenIds)
                tok = openTokenizer(*model, rq.tokenizer);  // throws, naming what is missing
            ids = zp::data::load_calibration(co, tok.get(), c.vocab_size).ids;
            entry->textSource = rq.textPath.section('/', -1);
        }
        entry->textSource += QStringLiteral(": %1 x %2 tokens (seed %3)")
                                 .arg(ids.size(0))
                                 .arg(ids.size(1))
                                 .arg(rq.seed);
        if (tok) {
            const at::Tensor flat = ids.reshape({-1}).contiguous();
            for (int64_t i = 0; i < flat.numel(); ++i)
                entry->tokenText << QString::fromStdString(
                    tok->piece(static_cast<int32_t>(flat.data_ptr<int64_t>()[i])));
        }
        // The full-precision model up to the chosen block (no activation hooks: the group's input
        // as the original model computes it).
        at::Tensor h = zp::model::embed_tokens(*engine, ids, at::kCPU, at::kFloat);
        for (int64_t b = 0; b < rq.block; ++b) {
            check(progress, b + 1, total,
                  "block " + std::to_string(b + 1) + "/" + std::to_string(rq.block + 1) +
                      ": forward");
            h = zp::model::block_forward(c, engine->block(b), h, 0, nullptr, {}, nullptr, b);
        }
        check(progress, rq.block + 1, total,
              "block " + std::to_string(rq.block + 1) + "/" + std::to_string(rq.block + 1) + ": " +
                  group + " input");
        const zp::model::BlockWeights w = engine->block(rq.block);
        try {
            zp::model::block_forward(
                c, w, h, 0, nullptr,
                [&](const std::string& name, const at::Tensor& input) {
                    if (name != group)
                        return;
                    entry->x = input.reshape({-1, input.size(-1)}).to(at::kDouble).contiguous();
                    throw StopForward{};
                },
                nullptr, rq.block);
        } catch (const StopForward&) {
        }
        if (!entry->x.defined())
            throw zp::Error("internal: the block forward never reached " + group);
        for (const std::string& name : lg->layers)
            entry->weights.push_back(w.linear(name));
        cap = entry;
        if (cache)
            cache->store(cap);
    }

    ActivationData d;
    d.block = rq.block;
    d.group = rq.group;
    d.x = cap->x;
    d.tokens = d.x.size(0);
    d.width = d.x.size(1);
    d.tokenText = cap->tokenText;
    d.textSource = cap->textSource;
    d.abits = rq.abits;
    d.aclip = rq.aclip;

    check(progress, rq.block + 2, total, group + ": transform");
    zp::quant::GroupTransform t;
    const zp::quant::GroupTransform* fromRun =
        run && rq.useRunTransform ? run->transforms.find(rq.block, group) : nullptr;
    if (fromRun && fromRun->width == d.width) {
        t = *fromRun;
        d.fromRun = true;
        d.transformSource =
            QStringLiteral("the run's %1 transform (built from %2 calibration tokens)")
                .arg(QString::fromUtf8(zp::quant::transform_kind_info(t.kind).label))
                .arg(t.tokens);
    } else {
        const at::Tensor amax = d.x.abs().amax(0);
        const int64_t n =
            std::min<int64_t>(d.tokens, std::max<int64_t>(1, rq.transform.rotation_tokens));
        t = zp::quant::build_group_transform(amax, d.x.narrow(0, 0, n), cap->weights, rq.transform,
                                             rq.block, group);
        t.tokens = d.tokens;
        d.transformSource =
            QStringLiteral("%1 built here from these %2 tokens (seed %3)")
                .arg(QString::fromUtf8(zp::quant::transform_kind_info(t.kind).label))
                .arg(n)
                .arg(rq.transform.seed);
    }
    d.kind = t.kind;

    check(progress, rq.block + 3, total, group + ": stages and quantization error");
    for (const auto& [name, v] : t.stages(d.x)) {
        d.stageNames << QString::fromStdString(name);
        const at::Tensor m = v.to(at::kDouble).abs().amax(0).contiguous();
        d.stageMax.emplace_back(m.data_ptr<double>(), m.data_ptr<double>() + m.numel());
        d.y = v.to(at::kDouble).contiguous();  // the last stage is x Q
    }
    if (rq.abits < 16) {
        zp::quant::ActQuantConfig q;
        q.bits = rq.abits;
        q.clip = rq.aclip;
        const at::Tensor plain = zp::quant::fake_quant_per_token(d.x, q);
        const at::Tensor back =
            t.identity() ? plain : t.invert(zp::quant::fake_quant_per_token(d.y, q));
        d.errorPlain = rowErrors(plain, d.x);
        d.errorTransformed = rowErrors(back, d.x);
        d.setErrorPlain = setError(plain, d.x);
        d.setErrorTransformed = setError(back, d.x);
        d.gapPlain = meanGapOver(d.x, rq.abits, rq.aclip);
        d.gapTransformed = meanGapOver(d.y, rq.abits, rq.aclip);
    } else {
        d.errorPlain.assign(d.tokens, 0.0);
        d.errorTransformed.assign(d.tokens, 0.0);
    }
    check(progress, total, total, "done");
    return d;
}
