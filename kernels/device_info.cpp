#include "kernels/device_info.h"

#if defined(ZP_HAVE_CUDA_KERNELS)
#include "kernels/cuda/cuda_launchers.h"
#endif

namespace zp::kernels {

DeviceMemory cuda_device_memory(int device)
{
    DeviceMemory m;
#if defined(ZP_HAVE_CUDA_KERNELS)
    if (cuda::device_available())
        m.valid = cuda::device_memory(device, &m.used_bytes, &m.total_bytes);
#else
    (void)device;
#endif
    return m;
}

}  // namespace zp::kernels
