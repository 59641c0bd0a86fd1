#include "core/demo/demo_model.h"

#include <ATen/ATen.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/softmax.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <random>

#include "core/common/error.h"
#include "core/demo/synthetic.h"
#include "core/model/forward.h"
#include "core/model/weight_source.h"

namespace zp::demo {

namespace {

at::Tensor gaussian(std::vector<int64_t> shape, double std, uint64_t seed)
{
    int64_t n = 1;
    for (int64_t d : shape)
        n *= d;
    at::Tensor t = at::empty(shape, at::kFloat);
    float* p = t.data_ptr<float>();
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> g(0.0, std);
    for (int64_t i = 0; i < n; ++i)
        p[i] = static_cast<float>(g(rng));
    return t;
}

// Every tensor in memory, by HF name.
class DemoSource : public model::WeightSource {
public:
    explicit DemoSource(const DemoModelSpec& s)
    {
        if (s.blocks < 1 || s.hidden < 8 || s.ffn < 8 || s.heads < 1 || s.hidden % s.heads != 0 ||
            s.vocab < 16 || s.context < 8)
            throw InvalidArgument("demo model: bad sizes (blocks " + std::to_string(s.blocks) +
                                  ", hidden " + std::to_string(s.hidden) + ", heads " +
                                  std::to_string(s.heads) + ")");
        model::ModelConfig& c = config_;
        c.arch = model::Architecture::llama;
        c.hidden_size = s.hidden;
        c.intermediate_size = s.ffn;
        c.num_layers = s.blocks;
        c.num_heads = s.heads;
        c.num_kv_heads = s.heads;
        c.head_dim = s.hidden / s.heads;
        c.vocab_size = s.vocab;
        c.max_position = s.context;
        c.rms_norm_eps = 1e-5;
        c.bos_id = -1;
        c.eos_id = -1;
        c.eos_ids.clear();
        const uint64_t seed = s.weight_seed;
        tensors_["model.embed_tokens.weight"] = gaussian({s.vocab, s.hidden}, 1.0, seed ^ 0xe1);
        tensors_["model.norm.weight"] = at::ones({s.hidden}, at::kFloat);
        // Logits of standard deviation ~3 after the final norm: a peaked next-token distribution.
        tensors_["lm_head.weight"] =
            gaussian({s.vocab, s.hidden}, 3.0 / std::sqrt(double(s.hidden)), seed ^ 0x1e);
        const auto& names = model::linear_names();
        for (int64_t b = 0; b < s.blocks; ++b) {
            tensors_[model::block_tensor_name(b, "input_layernorm.weight")] =
                at::ones({s.hidden}, at::kFloat);
            tensors_[model::block_tensor_name(b, "post_attention_layernorm.weight")] =
                at::ones({s.hidden}, at::kFloat);
            for (size_t t = 0; t < names.size(); ++t) {
                const std::string& n = names[t];
                const std::vector<int64_t> shape = model::linear_shape(config_, n);
                const int64_t out = shape[0], in = shape[1];
                at::Tensor w = demo::synthetic_weight(out, in, seed + 1000ull * b + t);
                // synthetic_weight's rows have an RMS of about 0.02.
                w.mul_(static_cast<float>(1.0 / (0.02 * std::sqrt(double(in)))));
                tensors_[model::block_tensor_name(b, model::linear_module(n) + ".weight")] = w;
            }
        }
    }
    const model::ModelConfig& config() const override { return config_; }
    const std::string& path() const override { return path_; }
    const std::string& format() const override { return format_; }
    bool has(const std::string& name) const override { return tensors_.count(name) > 0; }
    std::vector<int64_t> shape(const std::string& name) const override
    {
        return get(name).sizes().vec();
    }
    at::Tensor load(const std::string& name) const override { return get(name).clone(); }
    std::string file_of(const std::string&) const override { return path_; }

private:
    const at::Tensor& get(const std::string& name) const
    {
        auto it = tensors_.find(name);
        if (it == tensors_.end())
            throw FormatError("demo model: no tensor '" + name + "'");
        return it->second;
    }
    model::ModelConfig config_;
    std::string path_ = kDemoModelPath, format_ = "demo";
    std::map<std::string, at::Tensor> tensors_;
};

class DemoTokenizer : public tok::Tokenizer {
public:
    explicit DemoTokenizer(int64_t vocab)
    {
        if (vocab < 16)
            throw InvalidArgument("demo tokenizer: vocabulary of " + std::to_string(vocab) +
                                  " is too small");
        const std::string cons = "bdfgklmnprstvz", vow = "aeiou", ends = "nrsl";
        std::vector<std::string> all = {" ", ".", ",", "\n"};
        for (char v : vow)
            all.push_back(std::string(1, v));
        for (char c : cons)
            for (char v : vow)
                all.push_back(std::string{c, v});
        for (char c : cons)
            for (char v : vow)
                all.push_back(std::string{' ', c, v});
        for (char e : ends)
            for (char c : cons)
                for (char v : vow)
                    all.push_back(std::string{c, v, e});
        for (char c : cons)
            all.push_back(std::string(1, c));
        all.resize(std::min<size_t>(all.size(), static_cast<size_t>(vocab)));
        while (static_cast<int64_t>(all.size()) < vocab)
            all.push_back("<unused" + std::to_string(all.size()) + ">");
        pieces_ = all;
        for (size_t i = 0; i < pieces_.size(); ++i)
            if (pieces_[i][0] != '<')
                index_.emplace(pieces_[i], static_cast<int32_t>(i));
    }
    std::vector<int32_t> encode(const std::string& text, bool) const override
    {
        std::string t;
        for (unsigned char ch : text)
            t.push_back(static_cast<char>(std::tolower(ch)));
        std::vector<int32_t> ids;
        size_t i = 0;
        while (i < t.size()) {
            bool found = false;
            for (size_t len = std::min<size_t>(3, t.size() - i); len >= 1 && !found; --len) {
                auto it = index_.find(t.substr(i, len));
                if (it != index_.end()) {
                    ids.push_back(it->second);
                    i += len;
                    found = true;
                }
            }
            if (!found)
                ++i;
        }
        return ids;
    }
    std::string decode(const std::vector<int32_t>& ids) const override
    {
        std::string s;
        for (int32_t id : ids)
            s += piece(id);
        return s;
    }
    std::string decode_piece(int32_t, int32_t id) const override { return piece(id); }
    int32_t vocab_size() const override { return static_cast<int32_t>(pieces_.size()); }
    int32_t bos_id() const override { return -1; }
    int32_t eos_id() const override { return -1; }
    std::string piece(int32_t id) const override
    {
        return id >= 0 && id < vocab_size() ? pieces_[static_cast<size_t>(id)] : std::string();
    }

private:
    std::vector<std::string> pieces_;
    std::map<std::string, int32_t> index_;
};

}  // namespace

std::unique_ptr<model::Model> make_demo_model(const DemoModelSpec& spec)
{
    auto m = std::make_unique<model::Model>(std::make_unique<DemoSource>(spec));
    m->set_keep_blocks(true);
    return m;
}

std::unique_ptr<tok::Tokenizer> make_demo_tokenizer(int64_t vocab)
{
    return std::make_unique<DemoTokenizer>(vocab);
}

std::vector<int32_t> demo_token_stream(const model::Model& m, int64_t count, uint64_t seed,
                                       int64_t run)
{
    const model::ModelConfig& c = m.config();
    const int64_t vocab = c.vocab_size;
    run = std::max<int64_t>(1, std::min(run, c.max_position));
    count = std::max<int64_t>(0, count);
    // All runs decode side by side: one batched step per position (KV cache per block).
    const int64_t B = (count + run - 1) / run;
    std::vector<int32_t> out;
    if (B == 0)
        return out;
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<model::BlockWeights> blocks;
    for (int64_t b = 0; b < c.num_layers; ++b)
        blocks.push_back(m.block(b));
    std::vector<model::KvCache> cache(static_cast<size_t>(c.num_layers));
    std::vector<std::vector<int32_t>> runs(static_cast<size_t>(B));
    at::Tensor ids = at::empty({B, 1}, at::kLong);
    for (int64_t r = 0; r < B; ++r)
        ids[r][0] = static_cast<int64_t>(u(rng) * vocab) % vocab;
    for (int64_t t = 0; t < run; ++t) {
        const int64_t* idp = ids.data_ptr<int64_t>();
        for (int64_t r = 0; r < B; ++r)
            runs[static_cast<size_t>(r)].push_back(static_cast<int32_t>(idp[r]));
        if (t + 1 == run)
            break;
        at::Tensor h = model::embed_tokens(m, ids, at::kCPU, at::kFloat);
        for (int64_t b = 0; b < c.num_layers; ++b)
            h = model::block_forward(c, blocks[static_cast<size_t>(b)], h, t,
                                     &cache[static_cast<size_t>(b)]);
        at::Tensor p =
            at::softmax(model::output_logits(m, h).select(1, 0).to(at::kDouble), -1).contiguous();
        const double* pp = p.data_ptr<double>();
        at::Tensor next = at::empty({B, 1}, at::kLong);
        int64_t* np = next.data_ptr<int64_t>();
        for (int64_t r = 0; r < B; ++r) {
            const double x = u(rng);
            double acc = 0.0;
            int64_t pick = vocab - 1;
            for (int64_t v = 0; v < vocab; ++v) {
                acc += pp[r * vocab + v];
                if (x < acc) {
                    pick = v;
                    break;
                }
            }
            np[r] = pick;
        }
        ids = next;
    }
    for (const std::vector<int32_t>& r : runs)
        for (int32_t tok : r)
            if (static_cast<int64_t>(out.size()) < count)
                out.push_back(tok);
    return out;
}

at::Tensor demo_calibration(const model::Model& m, int64_t nsamples, int64_t seqlen, uint64_t seed)
{
    if (nsamples < 1 || seqlen < 1)
        throw InvalidArgument("demo calibration: N and L must be >= 1, got " +
                              std::to_string(nsamples) + " x " + std::to_string(seqlen));
    if (seqlen > m.config().max_position)
        throw InvalidArgument("demo calibration: L = " + std::to_string(seqlen) +
                              " is longer than the demo model's context of " +
                              std::to_string(m.config().max_position));
    // N independent samples of L tokens: each row of the set is one sampled run.
    std::vector<int32_t> stream = demo_token_stream(m, nsamples * seqlen, seed ^ 0xca1b, seqlen);
    at::Tensor ids = at::empty({nsamples, seqlen}, at::kLong);
    int64_t* p = ids.data_ptr<int64_t>();
    for (size_t i = 0; i < stream.size(); ++i)
        p[i] = stream[i];
    return ids;
}

}  // namespace zp::demo
