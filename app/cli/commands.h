// Subcommands of zeropoint-cli. Each add_* function registers one subcommand on the app; its
// callback does the work and throws zp::Error on bad input (main prints it and exits 1).
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace zp::quant {
struct QuantizedModel;
}

namespace zp::cli {

// session::read_session, with its note (a session written without a checksum) on stderr.
quant::QuantizedModel read_session_noted(const std::string& path);

void add_solve_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_bench_forward_command(CLI::App& app);
void add_demo_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_export_command(CLI::App& app);
void add_inspect_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_distill_command(CLI::App& app);

}  // namespace zp::cli
