// Subcommands of zeropoint-cli. Each add_* function registers one subcommand on the app; its
// callback does the work and throws zp::Error on bad input (main prints it and exits 1).
#pragma once

namespace CLI {
class App;
}

namespace zp::cli {

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
