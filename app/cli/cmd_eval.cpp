// zeropoint-cli eval: perplexity of a model on WikiText-2, C4 (JSON lines) or plain text.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <tuple>

#include "app/cli/commands.h"
#include "app/cli/progress_bar.h"
#include "app/cli/run_option_flags.h"
#include "core/common/error.h"
#include "core/common/text.h"
#include "core/eval/perplexity.h"
#include "core/model/forward.h"
#include "core/model/model.h"
#include "core/tokenizer/tokenizer.h"

namespace zp::cli {

namespace {

struct EvalOptions {
    std::string device = "cpu";
    std::string dtype = "auto";  // compute dtype (model::compute_device)
    std::string model;
    std::string tokenizer;
    std::string data;
    std::string protocol = "auto";
    int64_t window = 2048;
    int64_t max_windows = 0;
    int64_t c4_windows = 256;
    uint64_t seed = 0;
    int64_t batch = 1;
};

void run_eval(const EvalOptions& o)
{
    auto model = model::Model::open(o.model);
    const int32_t vocab = static_cast<int32_t>(model->config().vocab_size);
    const std::string tok_path = default_tokenizer(o.model, o.tokenizer);
    if (tok_path.empty())
        throw InvalidArgument("--tokenizer is required for " + o.model +
                              " (a llama2.c checkpoint has no tokenizer of its own: give its "
                              "tokenizer.bin)");
    std::unique_ptr<tok::Tokenizer> tok = ends_with(tok_path, ".bin")
                                              ? tok::load_llama2c_tokenizer(tok_path, vocab)
                                              : tok::load_tokenizer(tok_path);
    tok::check_vocab_matches(*tok, vocab, tok_path, o.model);
    const eval::PplProtocol protocol =
        o.protocol == "auto" ? eval::guess_protocol(o.data) : eval::parse_protocol(o.protocol);
    eval::PerplexityOptions opt;
    opt.window = o.window;
    opt.max_windows = o.max_windows;
    opt.c4_windows = o.c4_windows;
    opt.seed = o.seed;
    opt.batch = o.batch;
    std::tie(opt.device, opt.dtype) = model::compute_device(o.device, o.dtype);
    // Every window passes through every block: keep them in memory instead of re-reading.
    model->set_keep_blocks(true);
    ProgressBar bar("perplexity");
    const eval::PerplexityResult r =
        eval::perplexity_of_file(*model, *tok, o.data, protocol, opt, bar.callback());
    bar.finish();
    const char* names[] = {"wikitext2", "c4", "text"};
    std::printf(
        "perplexity %.4f  (%s, %s %s, %lld windows of %lld tokens, %lld tokens scored, "
        "mean NLL %.6f nats)\n",
        r.perplexity, names[static_cast<int>(protocol)], opt.device.str().c_str(),
        c10::toString(opt.dtype), static_cast<long long>(r.windows),
        static_cast<long long>(r.window), static_cast<long long>(r.tokens_scored),
        r.nll_sum / static_cast<double>(r.tokens_scored));
}

}  // namespace

void add_eval_command(CLI::App& app)
{
    auto opts = std::make_shared<EvalOptions>();
    CLI::App* cmd = app.add_subcommand("eval", "Perplexity (GPTQ protocol: windows of L tokens)");
    cmd->add_option("--model", opts->model,
                    "GGUF file, HF model directory (safetensors) or llama2.c checkpoint")
        ->required();
    cmd->add_option("--tokenizer", opts->tokenizer,
                    "tokenizer.bin, tokenizer.model, tokenizer.json or a GGUF file (default: the "
                    "model's own, from a GGUF file or beside an HF model; a llama2.c checkpoint "
                    "needs one)");
    cmd->add_option("--data", opts->data, "wiki.test.raw, C4 .jsonl or a text file")->required();
    cmd->add_option("--protocol", opts->protocol, "auto (by file name), wikitext2, c4 or text")
        ->check(CLI::IsMember({"auto", "wikitext2", "c4", "text"}))
        ->capture_default_str();
    cmd->add_option("--window", opts->window, "tokens per window (clamped to the context)")
        ->capture_default_str();
    cmd->add_option("--max-windows", opts->max_windows, "evaluate at most this many (0: all)")
        ->capture_default_str();
    cmd->add_option("--c4-windows", opts->c4_windows, "random windows for the c4 protocol")
        ->capture_default_str();
    cmd->add_option("--seed", opts->seed, "seed of the c4 window draws")->capture_default_str();
    cmd->add_option("--batch", opts->batch, "windows per forward pass")->capture_default_str();
    cmd->add_option("--device", opts->device, "cpu (float32) or cuda[:N] (bfloat16 unless --dtype)")
        ->capture_default_str();
    cmd->add_option("--dtype", opts->dtype,
                    "compute dtype: auto (float32 on the CPU, bfloat16 on CUDA), float32, bfloat16 "
                    "or float16 (the last two on CUDA only)")
        ->check(CLI::IsMember(model::compute_dtype_names()))
        ->capture_default_str();
    cmd->callback([opts]() { run_eval(*opts); });
}

}  // namespace zp::cli
