// Command-line flags generated from the one table of run options (core/pipeline/run_options.h):
// its names, defaults, ranges, choices and help, for the options a command takes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace CLI {
class App;
}
namespace zp::tok {
class Tokenizer;
}

namespace zp::cli {

// The values given on the command line, by table name, checked against the table after parsing.
struct GivenRunOptions {
    std::map<std::string, std::string> values;
    std::vector<std::string> overrides;
};

// Adds a flag to `cmd` for every option of the table that `command` ("quantize" or "distill")
// takes; values land in *given.
void add_run_option_flags(CLI::App* cmd, const std::shared_ptr<GivenRunOptions>& given,
                          const std::string& command);

// The --tokenizer of a run, loaded on first use (text calibration, --eval) and checked against
// the model's vocabulary: a llama2.c tokenizer.bin (which does not store its size) or anything
// tok::load_tokenizer takes. InvalidArgument when none was given.
// The tokenizer a command uses without --tokenizer: a GGUF file carries its own
// (tokenizer.ggml.*) and an HF directory holds tokenizer.json or tokenizer.model, so the model's
// path; a llama2.c checkpoint has none: "" (the caller says --tokenizer is required).
std::string default_tokenizer(const std::string& model, const std::string& given);

class LazyTokenizer {
public:
    LazyTokenizer(std::string path, int32_t vocab, std::string model_path);
    ~LazyTokenizer();
    const tok::Tokenizer* get();

private:
    std::string path_, model_;
    int32_t vocab_;
    std::unique_ptr<tok::Tokenizer> tok_;
};

}  // namespace zp::cli
