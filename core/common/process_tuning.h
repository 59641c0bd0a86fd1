// Process-wide settings for compute-heavy front ends (zeropoint-cli and the workbench), set once
// at the start of main, before any tensor is allocated.
#pragma once

namespace zp {

// glibc: fixed malloc thresholds (every buffer up to 32 MB kept in the heap for reuse, the heap's
// free top up to 256 MB kept mapped) instead of the adaptive ones that map, unmap and trim a
// forward pass's activations again and again (issue 13: millions of minor page faults, a third of
// the CPU time in the kernel). OpenBLAS (pthreads build): idle workers poll for 2^20 cycles after a
// call instead of 2^28, unless OPENBLAS_THREAD_TIMEOUT is set. No effect elsewhere.
void tune_process_for_compute();

}  // namespace zp
