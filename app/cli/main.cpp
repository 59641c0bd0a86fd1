// zeropoint-cli: the headless front end of the ZeroPoint engine.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "app/cli/commands.h"
#include "core/common/error.h"
#include "core/common/process_tuning.h"

int main(int argc, char** argv)
{
    zp::tune_process_for_compute();
    CLI::App app{"ZeroPoint command line: quantize LLM weights with Min-Max, NeUQI and GPTQ"};
    app.set_version_flag("--version", std::string("zeropoint-cli ") + ZP_VERSION);
    app.require_subcommand(1);
    zp::cli::add_solve_command(app);
    zp::cli::add_bench_command(app);
    zp::cli::add_bench_forward_command(app);
    zp::cli::add_demo_command(app);
    zp::cli::add_generate_command(app);
    zp::cli::add_convert_command(app);
    zp::cli::add_eval_command(app);
    zp::cli::add_tokenize_command(app);
    zp::cli::add_export_command(app);
    zp::cli::add_inspect_command(app);
    zp::cli::add_quantize_command(app);
    zp::cli::add_distill_command(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const zp::Cancelled&) {
        std::fprintf(stderr, "zeropoint-cli: cancelled\n");
        return 130;
    } catch (const zp::Error& e) {
        std::fprintf(stderr, "zeropoint-cli: error: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "zeropoint-cli: internal error: %s\n", e.what());
        return 3;
    }
    return 0;
}
