// What the engine can tell about a CUDA device without a CUDA-enabled libtorch's headers: its
// memory as the driver reports it. Plain values, for the benchmarks and the GUI.
#pragma once

#include <cstdint>

namespace zp::kernels {

struct DeviceMemory {
    bool valid = false;  // false without CUDA kernels or a device
    int64_t used_bytes =
        0;  // every allocation on the device (all processes, torch's cache, contexts)
    int64_t total_bytes = 0;
};

// CUDA device `device`'s memory now (cudaMemGetInfo). Torch's caching allocator keeps the blocks
// it has used, so after a run this is close to the run's peak (plus the context).
DeviceMemory cuda_device_memory(int device = 0);

}  // namespace zp::kernels
