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

// One thread per (row, group): the group's min and max, then the same scalar formula as the CPU
// (detail::minmax_params), so the parameters are bit-identical.
template <typename T>
__global__ void minmax_kernel(const T* w, int64_t rows, int64_t cols, int64_t g, int levels, T clip,
                              T* scale, T* zero)
{
    const int64_t groups = (cols + g - 1) / g;
    int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (k >= rows * groups)
        return;
    const int64_t j = k % groups, n = cols - j * g < g ? cols - j * g : g;
    const T* p = w + (k / groups) * cols + j * g;
    T lo = p[0], hi = p[0];
    for (int64_t i = 1; i < n; ++i) {
        lo = p[i] < lo ? p[i] : lo;
        hi = p[i] > hi ? p[i] : hi;
    }
    minmax_params<T>(lo, hi, levels, clip, scale + k, zero + k);
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

void launch_minmax_params(int dtype, const void* w, int64_t rows, int64_t cols, int64_t g, int bits,
                          double clip, void* scale, void* zero, void* stream)
{
    const int threads = 128;
    cudaStream_t st = static_cast<cudaStream_t>(stream);
    const int64_t n = rows * ((cols + g - 1) / g);
    if (n == 0)
        return;
    if (dtype == 1)
        minmax_kernel<double><<<blocks_for(n, threads), threads, 0, st>>>(
            static_cast<const double*>(w), rows, cols, g, 1 << bits, clip,
            static_cast<double*>(scale), static_cast<double*>(zero));
    else
        minmax_kernel<float><<<blocks_for(n, threads), threads, 0, st>>>(
            static_cast<const float*>(w), rows, cols, g, 1 << bits, static_cast<float>(clip),
            static_cast<float*>(scale), static_cast<float*>(zero));
    check_launch("minmax params");
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
