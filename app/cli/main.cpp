// zeropoint-cli: the headless front end of the ZeroPoint engine.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#if defined(__GLIBC__)
#include <dlfcn.h>
#include <malloc.h>
#endif

#include "app/cli/commands.h"
#include "core/common/error.h"

int main(int argc, char** argv)
{
#if defined(__GLIBC__)
    // Activations and scores of a forward pass are tens of MB, allocated and freed many times per
    // block. glibc's adaptive thresholds then map, unmap and trim them again and again (issue 13:
    // millions of minor page faults, a third of the CPU time in the kernel). Fixed thresholds keep
    // every buffer up to 32 MB (glibc's largest) in the heap for reuse and the heap's free top up
    // to 256 MB mapped.
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    // OpenBLAS's idle workers (its pthreads build, Debian's default) poll with sched_yield for
    // 2^28 cycles (about 0.1 s) after every call: system time, and a core taken from the kernels'
    // own threads (a 512^3 dgemm followed by 50 ms of idling costs 18 ms of CPU per call here).
    // 2^20 cycles (well under a millisecond) still bridges back-to-back calls. OpenBLAS reads the
    // variable when it loads, so it is read again and its workers restarted (on the next call)
    // with it; a user's own setting is left alone, and other BLAS libraries lack both symbols.
    if (std::getenv("OPENBLAS_THREAD_TIMEOUT") == nullptr) {
        setenv("OPENBLAS_THREAD_TIMEOUT", "20", 0);
        using Fn = int (*)();
        if (void* read_env = dlsym(RTLD_DEFAULT, "openblas_read_env"))
            reinterpret_cast<Fn>(read_env)();
        if (void* shutdown = dlsym(RTLD_DEFAULT, "blas_thread_shutdown_"))
            reinterpret_cast<Fn>(shutdown)();
    }
#endif
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
