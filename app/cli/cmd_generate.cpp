// zeropoint-cli generate: greedy text generation, streamed like llama2.c's run.c.
#include <CLI/CLI.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include <ATen/ATen.h>

#include "app/cli/commands.h"
#include "core/common/error.h"
#include "core/common/text.h"
#include "core/export/gguf_export.h"
#include "core/export/session.h"
#include "core/model/forward.h"
#include "core/model/model.h"
#include "core/pipeline/pipeline.h"
#include "core/pipeline/run_options.h"
#include "core/tokenizer/tokenizer.h"

namespace zp::cli {

namespace {

struct GenerateOptions {
    std::string device = "cpu";
    std::string model;
    std::string tokenizer;
    std::string prompt;
    int64_t steps = 256;
    std::string session;                // apply this session's quantized weights
    std::string weights = "workbench";  // workbench: W_hat; gguf: what the GGUF export holds
    bool print_ids = false;
    std::string logits;  // write float32 logits [tokens, vocab] of the generated text
};

// run.c prints nothing for a lone control byte (a <0x0A>-style piece of a broken code point).
void print_piece(const std::string& piece)
{
    if (piece.size() == 1) {
        const unsigned char b = static_cast<unsigned char>(piece[0]);
        if (b < 0x80 && !(std::isprint(b) || std::isspace(b)))
            return;
    }
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
}

// Replaces every quantized linear of the model with the session's weights: the workbench's W_hat,
// or (gguf) exactly what `export --format gguf` writes for the layer (fp16-snapped Q4_1/Q5_1
// parameters, Q8_0 re-quantization, F16 fallbacks).
void apply_session(model::Model& model, const std::string& path, bool gguf_weights)
{
    const quant::QuantizedModel qm = read_session_noted(path);
    if (!qm.config.model_config_hash.empty() &&
        qm.config.model_config_hash != pipeline::config_hash(model.config()))
        throw InvalidArgument("--session " + path + ": the session was made for another model (" +
                              qm.config.model_path + ")");
    int64_t n = 0;
    for (const quant::LayerResult& l : qm.layers)
        n += !l.skipped && l.codes.defined();
    if (!gguf_weights)
        pipeline::install_run(model, qm);
    else
        gguf::install_gguf_weights(model, qm);
    std::fprintf(stderr, "session %s: %lld quantized layers applied (%s weights)\n", path.c_str(),
                 static_cast<long long>(n), gguf_weights ? "gguf" : "workbench");
}

void run_generate(const GenerateOptions& o)
{
    auto model = model::Model::open(o.model);
    const int32_t vocab = static_cast<int32_t>(model->config().vocab_size);
    // A llama2.c tokenizer.bin does not store its size; the model header does.
    std::unique_ptr<tok::Tokenizer> tok = ends_with(o.tokenizer, ".bin")
                                              ? tok::load_llama2c_tokenizer(o.tokenizer, vocab)
                                              : tok::load_tokenizer(o.tokenizer);
    tok::check_vocab_matches(*tok, vocab, o.tokenizer, o.model);
    if (!o.session.empty())
        apply_session(*model, o.session, o.weights == "gguf");

    std::vector<int32_t> prompt = tok->encode(o.prompt, /*add_bos=*/true);
    if (prompt.empty()) {
        const int32_t start = tok->bos_id() >= 0 ? tok->bos_id() : tok->eos_id();
        if (start < 0)
            throw InvalidArgument(o.tokenizer +
                                  ": has no BOS/EOS token to start from; give --prompt");
        prompt.push_back(start);
    }
    std::vector<int32_t> stop;
    if (tok->bos_id() >= 0)
        stop.push_back(tok->bos_id());  // llama2.c's stories are delimited by BOS
    if (tok->eos_id() >= 0)
        stop.push_back(tok->eos_id());
    for (int64_t id : model->config().eos_ids)
        stop.push_back(static_cast<int32_t>(id));

    const auto t0 = std::chrono::steady_clock::now();
    int64_t generated = 0;
    auto on_token = [&](int32_t prev, int32_t next) {
        print_piece(tok->decode_piece(prev, next));
        ++generated;
        return true;
    };
    const auto [device, dtype] = model::compute_device(o.device);
    const std::vector<int32_t> ids =
        model::generate_greedy(*model, prompt, o.steps, stop, on_token, device, dtype);
    std::printf("\n");
    std::fflush(stdout);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (generated > 1 && s > 0)
        std::fprintf(stderr, "achieved tok/s: %f\n", static_cast<double>(generated) / s);
    if (o.print_ids) {
        std::string line = "ids:";
        for (int32_t id : ids)
            line += " " + std::to_string(id);
        std::fprintf(stderr, "%s\n", line.c_str());
    }
    if (!o.logits.empty()) {
        // One uncached pass over the whole sequence: logits[t] predicts token t + 1.
        const at::Tensor t =
            at::tensor(std::vector<int64_t>(ids.begin(), ids.end()), at::kLong).reshape({1, -1});
        model::ForwardOptions fo;
        fo.device = device;
        fo.dtype = dtype;
        const at::Tensor l =
            model::model_forward(*model, t, fo).to(at::kCPU).to(at::kFloat).contiguous();
        std::ofstream out(o.logits, std::ios::binary);
        out.write(reinterpret_cast<const char*>(l.data_ptr<float>()),
                  static_cast<std::streamsize>(l.numel() * sizeof(float)));
        if (!out)
            throw IoError("cannot write logits to '" + o.logits + "'");
        std::fprintf(stderr, "logits: [%lld, %lld] float32 written to %s\n",
                     static_cast<long long>(l.size(1)), static_cast<long long>(l.size(2)),
                     o.logits.c_str());
    }
}

}  // namespace

void add_generate_command(CLI::App& app)
{
    auto opts = std::make_shared<GenerateOptions>();
    CLI::App* cmd = app.add_subcommand("generate", "Greedy text generation (temperature 0)");
    cmd->add_option("--model", opts->model,
                    "HF model directory (config.json + safetensors) or llama2.c checkpoint .bin")
        ->required();
    cmd->add_option("--tokenizer", opts->tokenizer,
                    "tokenizer.bin (llama2.c), tokenizer.model (SentencePiece) or tokenizer.json")
        ->required();
    cmd->add_option("--prompt", opts->prompt, "text to continue (empty: start from BOS)");
    cmd->add_option("--steps", opts->steps,
                    "positions to run, prompt included (0 or more than the context: the context)")
        ->capture_default_str();
    cmd->add_option("--device", opts->device, "cpu (float32) or cuda[:N] (bfloat16)")
        ->capture_default_str();
    cmd->add_option("--session", opts->session,
                    "generate with this session's quantized weights (from quantize --out)");
    cmd->add_option("--weights", opts->weights,
                    "with --session: workbench (W_hat) or gguf (exactly what the GGUF export "
                    "stores: fp16-snapped Q4_1/Q5_1, Q8_0, F16 fallbacks)")
        ->check(CLI::IsMember({"workbench", "gguf"}))
        ->capture_default_str();
    cmd->add_flag("--print-ids", opts->print_ids,
                  "print the token ids (prompt included) to stderr after the text");
    cmd->add_option("--logits", opts->logits,
                    "write the float32 logits [tokens, vocab] of the whole sequence to this file");
    cmd->callback([opts]() { run_generate(*opts); });
}

}  // namespace zp::cli
