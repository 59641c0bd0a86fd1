// CUDA quantize / dequantize / fake-quantize: one thread per element, launched on the caller's
// stream.
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_launchers.h"
#include "kernels/quantize_math.h"

namespace zp::kernels::cuda {

using namespace zp::kernels::detail;

namespace {

void check_launch(const char* what)
{
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess)
        throw std::runtime_error(std::string(what) +
                                 ": CUDA launch failed: " + cudaGetErrorString(err));
}

template <typename T>
__global__ void quantize_kernel(const T* w, const T* s, const T* z, int64_t rows, int64_t cols,
                                int64_t g, int levels, uint8_t* codes)
{
    int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= rows * cols)
        return;
    int64_t r = i / cols, c = i % cols, k = r * ((cols + g - 1) / g) + c / g;
    codes[i] = static_cast<uint8_t>(quant_code(w[i], s[k], z[k], levels));
}

template <typename T>
__global__ void dequantize_kernel(const uint8_t* codes, const T* s, const T* z, int64_t rows,
                                  int64_t cols, int64_t g, T* out)
{
    int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= rows * cols)
        return;
    int64_t r = i / cols, c = i % cols, k = r * ((cols + g - 1) / g) + c / g;
    out[i] = dequant_value<T>(codes[i], s[k], z[k]);
}

template <typename T>
__global__ void fake_quantize_kernel(const T* w, const T* s, const T* z, int64_t rows, int64_t cols,
                                     int64_t g, int levels, T* out)
{
    int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= rows * cols)
        return;
    int64_t r = i / cols, c = i % cols, k = r * ((cols + g - 1) / g) + c / g;
    out[i] = fake_quant_value(w[i], s[k], z[k], levels);
}

unsigned blocks_for(int64_t n, int threads)
{
    return static_cast<unsigned>((n + threads - 1) / threads);
}

}  // namespace

bool device_available()
{
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky "no device" error
        return false;
    }
    return count > 0;
}

bool device_memory(int device, int64_t* used_bytes, int64_t* total_bytes)
{
    int previous = 0;
    if (cudaGetDevice(&previous) != cudaSuccess || cudaSetDevice(device) != cudaSuccess) {
        cudaGetLastError();
        return false;
    }
    size_t free_b = 0, total_b = 0;
    const bool ok = cudaMemGetInfo(&free_b, &total_b) == cudaSuccess;
    if (!ok)
        cudaGetLastError();
    cudaSetDevice(previous);
    *used_bytes = static_cast<int64_t>(total_b - free_b);
    *total_bytes = static_cast<int64_t>(total_b);
    return ok;
}

void launch_quantize(int dtype, const void* w, const void* scale, const void* zero, int64_t rows,
                     int64_t cols, int64_t g, int bits, uint8_t* codes, void* stream)
{
    const int threads = 256;
    cudaStream_t st = static_cast<cudaStream_t>(stream);
    if (rows * cols == 0)
        return;
    if (dtype == 1)
        quantize_kernel<double><<<blocks_for(rows * cols, threads), threads, 0, st>>>(
            static_cast<const double*>(w), static_cast<const double*>(scale),
            static_cast<const double*>(zero), rows, cols, g, 1 << bits, codes);
    else
        quantize_kernel<float><<<blocks_for(rows * cols, threads), threads, 0, st>>>(
            static_cast<const float*>(w), static_cast<const float*>(scale),
            static_cast<const float*>(zero), rows, cols, g, 1 << bits, codes);
    check_launch("quantize");
}

void launch_dequantize(int dtype, const uint8_t* codes, const void* scale, const void* zero,
                       int64_t rows, int64_t cols, int64_t g, void* out, void* stream)
{
    const int threads = 256;
    cudaStream_t st = static_cast<cudaStream_t>(stream);
    if (rows * cols == 0)
        return;
    if (dtype == 1)
        dequantize_kernel<double><<<blocks_for(rows * cols, threads), threads, 0, st>>>(
            codes, static_cast<const double*>(scale), static_cast<const double*>(zero), rows, cols,
            g, static_cast<double*>(out));
    else
        dequantize_kernel<float><<<blocks_for(rows * cols, threads), threads, 0, st>>>(
            codes, static_cast<const float*>(scale), static_cast<const float*>(zero), rows, cols, g,
            static_cast<float*>(out));
    check_launch("dequantize");
}

void launch_fake_quantize(int dtype, const void* w, const void* scale, const void* zero,
                          int64_t rows, int64_t cols, int64_t g, int bits, void* out, void* stream)
{
    const int threads = 256;
    cudaStream_t st = static_cast<cudaStream_t>(stream);
    if (rows * cols == 0)
        return;
    if (dtype == 1)
        fake_quantize_kernel<double><<<blocks_for(rows * cols, threads), threads, 0, st>>>(
            static_cast<const double*>(w), static_cast<const double*>(scale),
            static_cast<const double*>(zero), rows, cols, g, 1 << bits, static_cast<double*>(out));
    else
        fake_quantize_kernel<float><<<blocks_for(rows * cols, threads), threads, 0, st>>>(
            static_cast<const float*>(w), static_cast<const float*>(scale),
            static_cast<const float*>(zero), rows, cols, g, 1 << bits, static_cast<float*>(out));
    check_launch("fake_quantize");
}

}  // namespace zp::kernels::cuda
