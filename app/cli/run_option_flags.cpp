#include "app/cli/run_option_flags.h"

#include <CLI/CLI.hpp>
#include <filesystem>

#include "core/common/error.h"
#include "core/common/text.h"
#include "core/pipeline/run_options.h"
#include "core/tokenizer/tokenizer.h"

namespace zp::cli {

void add_run_option_flags(CLI::App* cmd, const std::shared_ptr<GivenRunOptions>& given,
                          const std::string& command)
{
    for (const pipeline::RunOptionSpec& spec : pipeline::run_option_specs()) {
        if (!pipeline::option_applies(spec, command))
            continue;
        const std::string flag = pipeline::cli_flag(spec);
        std::string help = spec.help;
        if (spec.type == pipeline::OptionType::Int || spec.type == pipeline::OptionType::Real)
            help += " (" + pipeline::range_text(spec) + ")";
        const std::string name = spec.name;
        if (spec.repeated) {
            cmd->add_option(flag, given->overrides, help + "; repeatable");
        } else if (spec.type == pipeline::OptionType::Flag) {
            // A flag whose default is on is turned off with --no-NAME.
            const bool on = std::string(spec.default_value) == "true";
            cmd->add_flag_function(
                on ? "--no-" + flag.substr(2) : flag,
                [given, name, on](int64_t) { given->values[name] = on ? "false" : "true"; },
                on ? "turn off: " + help : help);
        } else {
            CLI::Option* opt = cmd->add_option_function<std::string>(
                flag, [given, name](const std::string& v) { given->values[name] = v; }, help);
            if (*spec.default_value)
                opt->default_str(spec.default_value);
            if (!spec.choices.empty())
                opt->check(CLI::IsMember(spec.choices));
            opt->type_name(spec.type == pipeline::OptionType::Int    ? "INT"
                           : spec.type == pipeline::OptionType::Real ? "REAL"
                                                                     : "TEXT");
        }
    }
}

std::string default_tokenizer(const std::string& model, const std::string& given)
{
    if (!given.empty())
        return given;
    std::error_code ec;
    return ends_with(model, ".gguf") || std::filesystem::is_directory(model, ec) ? model : "";
}

LazyTokenizer::LazyTokenizer(std::string path, int32_t vocab, std::string model_path)
    : path_(default_tokenizer(model_path, path)), model_(std::move(model_path)), vocab_(vocab)
{
}

LazyTokenizer::~LazyTokenizer() = default;

const tok::Tokenizer* LazyTokenizer::get()
{
    if (!tok_) {
        if (path_.empty())
            throw InvalidArgument(
                "--tokenizer is needed for text calibration and for --eval with " + model_ +
                " (a llama2.c checkpoint has no tokenizer of its own: give its "
                "tokenizer.bin)");
        tok_ = ends_with(path_, ".bin") ? tok::load_llama2c_tokenizer(path_, vocab_)
                                        : tok::load_tokenizer(path_);
        tok::check_vocab_matches(*tok_, vocab_, path_, model_);
    }
    return tok_.get();
}

}  // namespace zp::cli
