// The built-in demo as a real engine model: a small LLaMA-shaped decoder whose linear layers are
// core/demo's seeded synthetic weights, with a syllable tokenizer and text sampled from the model
// itself. The whole pipeline (calibration, GPTQ, perplexity, generation, sessions, export) runs on
// it without a download. Because the demo text is drawn from the full-precision model, that model
// is the best possible predictor of it in expectation: a quantized model scores a perplexity at
// least as high on average.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/model/model.h"
#include "core/tokenizer/tokenizer.h"

namespace zp::demo {

// Model::path() of the demo model (and RunConfig::model_path of its sessions).
constexpr const char* kDemoModelPath = "demo";

struct DemoModelSpec {
    int64_t blocks = 4;
    int64_t hidden = 256;  // multiple of heads
    int64_t ffn = 768;
    int64_t heads = 4;
    int64_t vocab = 256;  // the demo tokenizer's size
    int64_t context = 512;
    uint64_t weight_seed = 20240531;
};

// Linear weight of (block b, layer index t in model::linear_names()) is
// demo::synthetic_weight(out, in, weight_seed + 1000 b + t), rescaled to a row RMS of about
// 1/sqrt(in); embeddings and the classifier are seeded Gaussians, the norms ones.
// InvalidArgument for sizes that cannot describe a model.
std::unique_ptr<model::Model> make_demo_model(const DemoModelSpec& spec = {});

// A vocabulary of `vocab` syllables (" ", ".", "ka", " to", "rin", ...), greedy longest-match
// encoding (letters are lower-cased, characters it cannot spell are dropped); no BOS/EOS.
std::unique_ptr<tok::Tokenizer> make_demo_tokenizer(int64_t vocab = 256);

// `count` tokens sampled from the model at temperature 1 (std::mt19937_64 seeded), as
// ceil(count / run) independent runs of `run` tokens (each starting from a uniformly drawn token,
// decoded side by side), concatenated and cut to `count`. Deterministic. CPU, float32.
std::vector<int32_t> demo_token_stream(const model::Model& m, int64_t count, uint64_t seed,
                                       int64_t run = 256);

// The demo's calibration set: N independent runs of L tokens sampled from the model (seeded).
// [N, L] int64 CPU. InvalidArgument for N or L < 1, or L beyond the demo's context.
at::Tensor demo_calibration(const model::Model& m, int64_t nsamples, int64_t seqlen, uint64_t seed);

}  // namespace zp::demo
