#include "core/pipeline/distill.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/optim/adamw.h>

#include <unistd.h>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>

#include "core/common/error.h"
#include "core/model/forward.h"

namespace zp::pipeline {

namespace {

// Column -> group index [in] (int64) on `device`.
at::Tensor group_index(int64_t in, int64_t group_size, at::Device device)
{
    return at::arange(in, at::TensorOptions().dtype(at::kLong).device(device))
        .div(group_size, "floor");
}

struct DequantFunction : public torch::autograd::Function<DequantFunction> {
    static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& scale,
                              const at::Tensor& zero, const at::Tensor& codes, int64_t group_size)
    {
        const at::Tensor gi = group_index(codes.size(1), group_size, codes.device());
        const at::Tensor cf = codes.to(scale.scalar_type());
        ctx->save_for_backward({scale, zero, codes});
        ctx->saved_data["group_size"] = group_size;
        return (cf - zero.index_select(1, gi)) * scale.index_select(1, gi);
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list grads)
    {
        const auto saved = ctx->get_saved_variables();
        const at::Tensor &scale = saved[0], &zero = saved[1], &codes = saved[2];
        const int64_t g = ctx->saved_data["group_size"].toInt();
        const at::Tensor dW = grads[0].to(scale.scalar_type());
        const at::Tensor gi = group_index(codes.size(1), g, codes.device());
        const at::Tensor cf = codes.to(scale.scalar_type());
        // dL/ds = sum_group dW (code - z),  dL/dz = -sum_group dW s.
        at::Tensor ds =
            at::zeros_like(scale).index_add_(1, gi, dW * (cf - zero.index_select(1, gi)));
        at::Tensor dz = at::zeros_like(zero).index_add_(1, gi, dW).mul_(scale).neg_();
        return {ds, dz, at::Tensor(), at::Tensor()};
    }
};

// Teacher states: in memory, or in a temporary file (one [L, hidden] float32 record per sequence).
class TeacherStates {
public:
    TeacherStates(int64_t n, int64_t l, int64_t hidden, bool on_disk)
        : n_(n), l_(l), hidden_(hidden), on_disk_(on_disk)
    {
        if (on_disk_) {
            const char* dir = std::getenv("TMPDIR");
            path_ = std::string(dir && *dir ? dir : "/tmp") + "/zeropoint-teacher-XXXXXX";
            const int fd = ::mkstemp(path_.data());
            if (fd < 0)
                throw IoError(path_ +
                              ": cannot create the teacher-state file: " + std::strerror(errno));
            ::close(fd);
        } else {
            mem_ = at::empty({n, l, hidden}, at::kFloat);
        }
    }
    ~TeacherStates()
    {
        if (on_disk_)
            ::unlink(path_.c_str());
    }
    void put(int64_t first, const at::Tensor& states)  // [k, L, hidden]
    {
        check_range(first, states.size(0));
        const at::Tensor s = states.detach().to(at::kCPU, at::kFloat).contiguous();
        if (!on_disk_) {
            mem_.narrow(0, first, s.size(0)).copy_(s);
            return;
        }
        std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(first * record()));
        f.write(reinterpret_cast<const char*>(s.data_ptr<float>()),
                static_cast<std::streamsize>(s.numel() * 4));
        if (!f)
            throw IoError(path_ + ": cannot write the teacher states (disk full?)");
    }
    at::Tensor get(int64_t first, int64_t k) const
    {
        check_range(first, k);
        if (!on_disk_)
            return mem_.narrow(0, first, k);
        at::Tensor out = at::empty({k, l_, hidden_}, at::kFloat);
        std::ifstream f(path_, std::ios::binary);
        f.seekg(static_cast<std::streamoff>(first * record()));
        f.read(reinterpret_cast<char*>(out.data_ptr<float>()),
               static_cast<std::streamsize>(out.numel() * 4));
        if (!f)
            throw IoError(path_ + ": cannot read the teacher states back");
        return out;
    }

private:
    int64_t record() const { return l_ * hidden_ * 4; }
    void check_range(int64_t first, int64_t k) const
    {
        if (first < 0 || k < 0 || first + k > n_)
            throw InvalidArgument("teacher states: sequences [" + std::to_string(first) + ", " +
                                  std::to_string(first + k) + ") outside the " +
                                  std::to_string(n_) + " stored");
    }
    int64_t n_, l_, hidden_;
    bool on_disk_;
    std::string path_;
    at::Tensor mem_;
};

struct TrainLinear {
    const quant::LayerResult* layer = nullptr;
    at::Tensor codes, scale, zero;  // scale, zero trainable
    int64_t group = 0;
};

struct TrainBlock {
    model::BlockWeights base;  // float parts (trainable where listed) and skipped linears
    std::map<std::string, TrainLinear> linears;
    std::vector<std::pair<std::string, at::Tensor*>> parts;  // (part name, tensor in base)
};

}  // namespace

at::Tensor dequantize_trainable(const at::Tensor& codes, const at::Tensor& scale,
                                const at::Tensor& zero, int64_t group_size)
{
    if (!codes.defined() || codes.dim() != 2 || codes.scalar_type() != at::kByte)
        throw InvalidArgument("dequantize_trainable: codes must be uint8 [out, in]");
    if (group_size < 1)
        throw InvalidArgument("dequantize_trainable: group size must be >= 1");
    const int64_t groups = (codes.size(1) + group_size - 1) / group_size;
    for (const at::Tensor* t : {&scale, &zero})
        if (!t->defined() || t->dim() != 2 || t->size(0) != codes.size(0) || t->size(1) != groups)
            throw InvalidArgument("dequantize_trainable: scale and zero must be [" +
                                  std::to_string(codes.size(0)) + ", " + std::to_string(groups) +
                                  "]");
    return DequantFunction::apply(scale, zero, codes, group_size);
}

DistillResult distill(const model::Model& original, const quant::QuantizedModel& qm,
                      const DistillOptions& o)
{
    const auto t_start = std::chrono::steady_clock::now();
    const model::ModelConfig& c = original.config();
    if (!o.calibration.defined() || o.calibration.dim() != 2 || o.calibration.size(0) < 1 ||
        o.calibration.size(1) < 2)
        throw InvalidArgument("distillation needs calibration sequences [N, L] (L >= 2)");
    if (o.calibration.min().item<int64_t>() < 0 ||
        o.calibration.max().item<int64_t>() >= c.vocab_size)
        throw InvalidArgument("calibration token ids outside the model's vocabulary of " +
                              std::to_string(c.vocab_size));
    if (o.epochs < 1 || o.batch < 1 || !(o.lr >= 0.0) || !(o.warmup >= 0.0 && o.warmup < 1.0))
        throw InvalidArgument("distillation: epochs >= 1, batch >= 1, lr >= 0, warmup in [0, 1)");
    bool transformed = false;
    for (const quant::GroupTransform* t : qm.transforms.all())
        transformed = transformed || !t->identity();
    const auto abits = qm.config.extra.find("abits");
    if (transformed || (abits != qm.config.extra.end() && abits->second != "16"))
        throw InvalidArgument(
            "distillation trains weight-only results; this one quantizes activations (abits " +
            (abits != qm.config.extra.end() ? abits->second : std::string("?")) +
            (transformed ? ", with transforms)" : ")"));
    const at::Device dev = model::compute_device(o.device).first;
    const int64_t N = o.calibration.size(0), L = o.calibration.size(1);
    const int64_t steps_per_epoch = (N + o.batch - 1) / o.batch;
    const int64_t total_steps = steps_per_epoch * o.epochs;
    // Progress units: teacher blocks + 2 evaluation passes + steps.
    const double total = double(c.num_layers) + 2.0 * double(N) + double(total_steps);
    double done = 0.0;

    // 1. The teacher's final states, block-major over all sequences.
    TeacherStates teacher(N, L, c.hidden_size, N * L * c.hidden_size * 4 > o.teacher_memory_bytes);
    {
        at::NoGradGuard no_grad;
        at::Tensor h = model::embed_tokens(original, o.calibration, dev, at::kFloat);
        for (int64_t b = 0; b < c.num_layers; ++b) {
            report_progress(
                o.progress, done, total,
                "teacher: block " + std::to_string(b + 1) + "/" + std::to_string(c.num_layers));
            const model::BlockWeights w = original.block(b).to(dev, at::kFloat);
            for (int64_t s = 0; s < N; s += o.batch) {
                const int64_t k = std::min(o.batch, N - s);
                h.narrow(0, s, k).copy_(model::block_forward(c, w, h.narrow(0, s, k)));
            }
            done += 1.0;
        }
        const at::Tensor fn = original.final_norm().to(dev, at::kFloat);
        for (int64_t s = 0; s < N; s += o.batch) {
            const int64_t k = std::min(o.batch, N - s);
            teacher.put(s, model::rms_norm(h.narrow(0, s, k), fn, c.rms_norm_eps));
        }
    }

    // 2. The student: trainable scale / zero per quantized linear, float parts per block.
    std::vector<TrainBlock> blocks(static_cast<size_t>(c.num_layers));
    std::vector<at::Tensor> params;
    auto trained_part = [&](const std::string& name, const at::Tensor& own) {
        auto it = qm.float_parts.find(name);  // a distilled result resumes from its own
        return (it != qm.float_parts.end() ? it->second : own).to(dev, at::kFloat).clone();
    };
    for (int64_t b = 0; b < c.num_layers; ++b) {
        TrainBlock& tb = blocks[size_t(b)];
        tb.base = original.block(b).to(dev, at::kFloat, /*copy=*/true);
        for (const model::BlockPart& p : model::block_parts(c)) {
            at::Tensor& t = tb.base.*p.member;
            if (p.linear || !t.defined())
                continue;
            t = trained_part(model::block_tensor_name(b, p.name), t);
            const std::string part = p.name;
            const bool trainable =
                o.train_float_parts && part.find("o_proj.bias") == std::string::npos;
            if (trainable) {
                t.set_requires_grad(true);
                params.push_back(t);
                tb.parts.emplace_back(part, &t);
            }
        }
    }
    for (const quant::LayerResult& l : qm.layers) {
        if (l.block < 0 || l.block >= c.num_layers)
            throw InvalidArgument("the result has block " + std::to_string(l.block) +
                                  ", the model only " + std::to_string(c.num_layers));
        if (l.skipped || !l.codes.defined())
            continue;
        TrainLinear tl;
        tl.layer = &l;
        tl.group = l.group_size <= 0 ? l.in_features : l.group_size;
        tl.codes = l.codes.to(dev);
        tl.scale = l.scale.to(dev, at::kFloat).clone().set_requires_grad(true);
        tl.zero = l.zero.to(dev, at::kFloat).clone().set_requires_grad(true);
        const at::Tensor& want = blocks[size_t(l.block)].base.linear(l.name);
        if (tl.codes.sizes() != want.sizes())
            throw InvalidArgument("block " + std::to_string(l.block) + " " + l.name +
                                  ": the result's codes do not match the model's shape");
        dequantize_trainable(tl.codes, tl.scale.detach(), tl.zero.detach(), tl.group);  // checks
        params.push_back(tl.scale);
        params.push_back(tl.zero);
        blocks[size_t(l.block)].linears[l.name] = tl;
    }
    at::Tensor final_norm = trained_part("model.norm.weight", original.final_norm());
    if (o.train_float_parts) {
        final_norm.set_requires_grad(true);
        params.push_back(final_norm);
    }
    if (params.empty())
        throw InvalidArgument("distillation: the result has no quantized layer to train");

    auto student_block = [&](int64_t b) {
        const TrainBlock& tb = blocks[size_t(b)];
        model::BlockWeights w = tb.base;
        for (const auto& [name, tl] : tb.linears)
            w.linear(name) = dequantize_trainable(tl.codes, tl.scale, tl.zero, tl.group);
        return w;
    };
    auto embed = [&](int64_t s, int64_t k) {
        return model::embed_tokens(original, o.calibration.narrow(0, s, k), dev, at::kFloat);
    };
    // Mean loss over all sequences, no graph.
    auto evaluate = [&](const char* what) {
        at::NoGradGuard no_grad;
        double sum = 0.0;
        for (int64_t s = 0; s < N; s += o.batch) {
            const int64_t k = std::min(o.batch, N - s);
            report_progress(o.progress, done, total, std::string(what));
            at::Tensor h = embed(s, k);
            for (int64_t b = 0; b < c.num_layers; ++b)
                h = model::block_forward(c, student_block(b), h, 0, nullptr, {}, nullptr, b);
            const at::Tensor out = model::rms_norm(h, final_norm, c.rms_norm_eps);
            sum += (out - teacher.get(s, k).to(dev)).pow(2).mean().item<double>() * double(k);
            done += double(k);
        }
        return sum / double(N);
    };

    DistillResult r;
    r.loss_before = evaluate("loss before training");
    if (!std::isfinite(r.loss_before))
        throw NumericError("distillation: the quantized model's loss is NaN/Inf before training");

    torch::optim::AdamW opt(
        params,
        torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).weight_decay(o.weight_decay));
    const int64_t warm = static_cast<int64_t>(std::ceil(o.warmup * double(total_steps)));
    int64_t step = 0;
    for (int e = 0; e < o.epochs; ++e) {
        for (int64_t s = 0; s < N; s += o.batch, ++step) {
            const int64_t k = std::min(o.batch, N - s);
            // Cosine schedule with linear warm-up.
            double lr = o.lr;
            if (step < warm)
                lr = o.lr * double(step + 1) / double(warm);
            else if (total_steps > warm)
                lr = o.lr * 0.5 *
                     (1.0 + std::cos(M_PI * double(step - warm) / double(total_steps - warm)));
            for (auto& g : opt.param_groups())
                static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);

            // Forward without a graph, keeping each block's input.
            std::vector<at::Tensor> inputs(size_t(c.num_layers));
            at::Tensor h;
            {
                at::NoGradGuard no_grad;
                h = embed(s, k);
                for (int64_t b = 0; b < c.num_layers; ++b) {
                    inputs[size_t(b)] = h;
                    h = model::block_forward(c, student_block(b), h, 0, nullptr, {}, nullptr, b);
                }
            }
            opt.zero_grad();
            at::Tensor hn = h.detach().set_requires_grad(true);
            at::Tensor loss =
                (model::rms_norm(hn, final_norm, c.rms_norm_eps) - teacher.get(s, k).to(dev))
                    .pow(2)
                    .mean();
            const double lv = loss.item<double>();
            if (!std::isfinite(lv))
                throw NumericError("distillation: the loss became NaN/Inf at step " +
                                   std::to_string(step + 1));
            loss.backward();
            at::Tensor grad = hn.grad();
            // Backward block by block, each block's forward recomputed with a graph.
            for (int64_t b = c.num_layers - 1; b >= 0; --b) {
                at::Tensor hin = inputs[size_t(b)].detach().set_requires_grad(b > 0);
                at::Tensor y =
                    model::block_forward(c, student_block(b), hin, 0, nullptr, {}, nullptr, b);
                y.backward(grad);
                if (b > 0)
                    grad = hin.grad();
                inputs[size_t(b)] = at::Tensor();
            }
            opt.step();
            r.loss.push_back(lv);
            done += 1.0;
            char buf[96];
            std::snprintf(buf, sizeof buf, "step %lld/%lld loss %.5g",
                          static_cast<long long>(step + 1), static_cast<long long>(total_steps),
                          lv);
            report_progress(o.progress, done, total, buf);
            if (o.on_step)
                o.on_step(step + 1, total_steps, lv);
        }
    }
    r.steps = step;
    r.tokens = int64_t(o.epochs) * N * L;
    r.loss_after = evaluate("loss after training");

    // 3. The trained result: same codes, trained parameters, float parts, recomputed errors.
    r.model = qm;
    for (quant::LayerResult& l : r.model.layers) {
        auto& tb = blocks[size_t(l.block)];
        auto it = tb.linears.find(l.name);
        if (l.skipped || it == tb.linears.end())
            continue;
        l.scale = it->second.scale.detach().to(at::kCPU, at::kFloat).contiguous();
        l.zero = it->second.zero.detach().to(at::kCPU, at::kFloat).contiguous();
        const at::Tensor What = quant::QuantizedModel::dequantize(l);
        const at::Tensor W = original.block(l.block).linear(l.name);
        l.relative_weight_error = quant::relative_error(What, W);
        l.diag_loss = quant::weighted_loss(What, W, l);
    }
    if (o.train_float_parts) {
        for (int64_t b = 0; b < c.num_layers; ++b)
            for (const auto& [part, t] : blocks[size_t(b)].parts)
                r.model.float_parts[model::block_tensor_name(b, part)] =
                    t->detach().to(at::kCPU, at::kFloat).contiguous();
        r.model.float_parts["model.norm.weight"] =
            final_norm.detach().to(at::kCPU, at::kFloat).contiguous();
    }
    r.model.distill_loss.insert(r.model.distill_loss.end(), r.loss.begin(), r.loss.end());
    auto& x = r.model.config.extra;
    char buf[64];
    auto num = [&](double v) {
        std::snprintf(buf, sizeof buf, "%.17g", v);
        return std::string(buf);
    };
    x["distill.lr"] = num(o.lr);
    x["distill.epochs"] = std::to_string(o.epochs);
    x["distill.warmup"] = num(o.warmup);
    x["distill.batch"] = std::to_string(o.batch);
    x["distill.norms"] = o.train_float_parts ? "true" : "false";
    x["distill.calibration_source"] = o.calibration_source;
    x["distill.sequences"] = std::to_string(N);
    x["distill.seqlen"] = std::to_string(L);
    x["distill.tokens"] = std::to_string(r.tokens);
    x["distill.loss_before"] = num(r.loss_before);
    x["distill.loss_after"] = num(r.loss_after);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    x["distill.seconds"] = num(r.seconds);
    report_progress(o.progress, total, total, "done");
    return r;
}

}  // namespace zp::pipeline
