#include "core/common/process_tuning.h"

#include <cstdlib>
#if defined(__GLIBC__)
#include <dlfcn.h>
#include <malloc.h>
#endif

namespace zp {

void tune_process_for_compute()
{
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    // OpenBLAS's idle workers poll with sched_yield for 2^28 cycles (about 0.1 s) after every
    // call: system time, and a core taken from the kernels' own threads (a 512^3 dgemm followed by
    // 50 ms of idling costs 18 ms of CPU per call here). 2^20 cycles (well under a millisecond)
    // still bridges back-to-back calls. OpenBLAS reads the variable when it loads, so it is read
    // again and its workers restarted (on the next call) with it; a user's own setting is left
    // alone, and other BLAS libraries lack both symbols.
    if (std::getenv("OPENBLAS_THREAD_TIMEOUT") == nullptr) {
        setenv("OPENBLAS_THREAD_TIMEOUT", "20", 0);
        using Fn = int (*)();
        if (void* read_env = dlsym(RTLD_DEFAULT, "openblas_read_env"))
            reinterpret_cast<Fn>(read_env)();
        if (void* shutdown = dlsym(RTLD_DEFAULT, "blas_thread_shutdown_"))
            reinterpret_cast<Fn>(shutdown)();
    }
#endif
}

}  // namespace zp
