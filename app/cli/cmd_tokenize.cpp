// zeropoint-cli tokenize: text -> ids (and back) with any tokenizer the engine reads.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "app/cli/commands.h"
#include "core/common/error.h"
#include "core/common/text.h"
#include "core/tokenizer/tokenizer.h"

namespace zp::cli {

namespace {

struct TokenizeOptions {
    std::string tokenizer;
    std::string text;
    std::string file;
    bool bos = false;
    bool decode = false;
};

void run_tokenize(const TokenizeOptions& o)
{
    std::string text = o.text;
    if (!o.file.empty())
        text = read_file(o.file);
    const auto tok = tok::load_tokenizer(o.tokenizer);
    const std::vector<int32_t> ids = tok->encode(text, o.bos);
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i)
            line += ' ';
        line += std::to_string(ids[i]);
    }
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
    if (o.decode) {
        const std::string back = tok->decode(ids) + "\n";
        std::fwrite(back.data(), 1, back.size(), stdout);
    }
    std::fflush(stdout);
}

}  // namespace

void add_tokenize_command(CLI::App& app)
{
    auto opts = std::make_shared<TokenizeOptions>();
    CLI::App* cmd =
        app.add_subcommand("tokenize", "Print the token ids of a text (space-separated, one line)");
    cmd->add_option(
           "--tokenizer", opts->tokenizer,
           "tokenizer.json, SentencePiece .model, llama2.c tokenizer.bin, or a folder holding one")
        ->required();
    auto* text = cmd->add_option("--text", opts->text, "the text to encode");
    auto* file = cmd->add_option("--file", opts->file, "a file whose whole content is encoded");
    text->excludes(file);
    file->excludes(text);
    cmd->add_flag("--bos", opts->bos, "prepend the BOS id");
    cmd->add_flag("--decode", opts->decode,
                  "also print the ids decoded back to text (second line)");
    cmd->callback([opts, text, file] {
        if (text->count() == 0 && file->count() == 0)
            throw CLI::RequiredError("--text or --file");
        run_tokenize(*opts);
    });
}

}  // namespace zp::cli
