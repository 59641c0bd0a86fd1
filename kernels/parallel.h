// The CPU threads the kernels run on: their own count and their own parallel loop.
//
// Why not at::parallel_for: with the OpenMP backend of Debian's libtorch (and PyTorch's builds),
// at::parallel_for is an inline `#pragma omp parallel` compiled into the caller, so a translation
// unit built without -fopenmp runs it serially; and ATen's default thread count comes from
// cpuinfo's count of physical cores, which is 1 on virtual machines that show two vCPUs as one
// core each. Raising ATen's count instead (at::set_num_threads) makes libgomp's idle workers spin
// after every small ATen operation, against OpenBLAS's own threads (measured on the SmolLM2
// pipeline: 45% of the CPU samples in libgomp), and makes ATen's whole-tensor reductions
// thread-count dependent. So the kernels split their work themselves, and ATen keeps its default.
#pragma once

#include <cstdint>
#include <functional>

namespace zp::kernels {

// Threads the kernels use: ZP_NUM_THREADS, else OMP_NUM_THREADS, else
// std::thread::hardware_concurrency() (at least 1), read on first use.
int threads();
// Sets that count (n >= 1; 0 restores the default above). Not for use while a kernel runs.
void set_threads(int n);

// Calls f(b, e) on disjoint chunks covering [begin, end), on up to threads() threads (the calling
// thread included), chunks of at least `grain` items handed out in order as threads come free.
// f must not depend on which thread runs a chunk. The first exception thrown by f is rethrown
// here after every thread has finished.
void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& f);

// The number of distinct threads a parallel_for over n items (grain 1) ran on. For the tests.
int parallel_for_threads(int n);

}  // namespace zp::kernels
