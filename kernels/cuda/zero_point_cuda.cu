// CUDA NeUQI search. The groups arrive sorted (by the dispatcher, with tensor ops); a first kernel
// builds each group's prefix sums, then one thread per (group, scale candidate) runs the same
// portable solve as the CPU (kernels/cuda/device_solve.h: the two-stage solve with a small
// per-thread stage-2 workspace, the exact sweep for groups of at most 8), and per-group reductions
// pick the coarse winner, then the final one. Candidates of a group sit in neighbouring lanes, so
// their reads of the group's sorted weights coalesce.
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_launchers.h"
#include "kernels/cuda/device_solve.h"

namespace zp::kernels::cuda {

using namespace zp::kernels::detail;

namespace {

void check(cudaError_t err, const char* what)
{
    if (err != cudaSuccess)
        throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

void check_launch(const char* what)
{
    check(cudaGetLastError(), what);
}

__global__ void prefix_kernel(const double* w, const double* h, int64_t groups, int n, double* p0,
                              double* p1, double* p2)
{
    int64_t gi = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (gi >= groups)
        return;
    const double* wg = w + gi * n;
    const double* hg = h + gi * n;
    double* a = p0 + gi * (n + 1);
    double* b = p1 + gi * (n + 1);
    double* c = p2 + gi * (n + 1);
    a[0] = b[0] = c[0] = 0.0;
    for (int i = 0; i < n; ++i) {
        a[i + 1] = a[i] + hg[i];
        b[i + 1] = b[i] + hg[i] * wg[i];
        c[i + 1] = c[i] + hg[i] * wg[i] * wg[i];
    }
}

struct DeviceGroups {
    const double *w, *h, *p0, *p1, *p2;
    int n;

    __device__ SortedGroup group(int64_t gi) const
    {
        return SortedGroup{w + gi * n,        h + gi * n,        p0 + gi * (n + 1),
                           p1 + gi * (n + 1), p2 + gi * (n + 1), n};
    }
};

// Candidate c of group gi: grid index first_index[gi] + c * stride + delta(c) (see below).
__global__ void candidates_kernel(DeviceGroups dg, int64_t groups, int levels, const double* s0,
                                  int grid, const int* base_index, int count, int stride, int first,
                                  int skip_zero_offset, double* loss_out, double* offset_out,
                                  int* index_out)
{
    int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (t >= groups * count)
        return;
    int64_t gi = t / count;
    int c = static_cast<int>(t % count);
    // coarse/full: i = first + c * stride; fine: i = base + d, d in [-half, half] \ {0}
    int i;
    if (base_index) {
        int d = first + c;
        if (skip_zero_offset && d >= 0)
            d += 1;
        i = base_index[gi] + d;
    } else {
        i = first + c * stride;
    }
    loss_out[t] = HUGE_VAL;
    offset_out[t] = 0.0;
    index_out[t] = i;
    if (i < 1)
        return;
    SortedGroup g = dg.group(gi);
    ScaleSolve r = device_solve_scale(g, candidate_scale(s0[gi], i, grid), levels);
    loss_out[t] = r.loss;
    offset_out[t] = r.o;
}

// Per group: the best of `count` candidates (ties to the lower position, i.e. the first), merged
// with an incoming best when `merge` is set (the incoming one wins ties: it came first).
__global__ void reduce_kernel(int64_t groups, int count, const double* loss, const double* offset,
                              const int* index, bool merge, double* best_loss, double* best_offset,
                              int* best_index)
{
    int64_t gi = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (gi >= groups)
        return;
    double bl = merge ? best_loss[gi] : HUGE_VAL;
    double bo = merge ? best_offset[gi] : 0.0;
    int bi = merge ? best_index[gi] : 0;
    bool have = merge;
    for (int c = 0; c < count; ++c) {
        int64_t t = gi * count + c;
        if (!have || loss[t] < bl) {
            bl = loss[t];
            bo = offset[t];
            bi = index[t];
            have = true;
        }
    }
    best_loss[gi] = bl;
    best_offset[gi] = bo;
    best_index[gi] = bi;
}

__global__ void scale_kernel(int64_t groups, const double* s0, const int* index, int grid,
                             double* scale)
{
    int64_t gi = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (gi >= groups)
        return;
    scale[gi] = candidate_scale(s0[gi], index[gi], grid);
}

__global__ void explicit_kernel(DeviceGroups dg, int64_t groups, int levels, const double* scales,
                                int C, double* offset_out, double* loss_out)
{
    int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (t >= groups * C)
        return;
    SortedGroup g = dg.group(t / C);
    ScaleSolve r = device_solve_scale(g, scales[t], levels);
    offset_out[t] = r.o;
    loss_out[t] = r.loss;
}

unsigned blocks_for(int64_t n, int threads)
{
    return static_cast<unsigned>((n + threads - 1) / threads);
}

// Carves the caller's workspace (neuqi_workspace_bytes) into prefix sums and candidate buffers.
struct Workspace {
    double *p0, *p1, *p2, *cand_loss, *cand_off;
    int* cand_idx;
    Workspace(void* base, int64_t groups, int n, int candidates)
    {
        double* d = static_cast<double*>(base);
        const int64_t prefix = groups * (n + 1), cand = groups * candidates;
        p0 = d;
        p1 = p0 + prefix;
        p2 = p1 + prefix;
        cand_loss = p2 + prefix;
        cand_off = cand_loss + cand;
        cand_idx = reinterpret_cast<int*>(cand_off + cand);
    }
};

constexpr int kThreads = 128;

}  // namespace

int64_t neuqi_workspace_bytes(int64_t groups, int n, int candidates)
{
    const int64_t prefix = groups * (n + 1), cand = groups * candidates;
    return static_cast<int64_t>(sizeof(double)) * (3 * prefix + 2 * cand) +
           static_cast<int64_t>(sizeof(int)) * cand;
}

int neuqi_candidates(int grid, int coarse, bool full_grid)
{
    if (full_grid)
        return grid;
    const int step = grid / coarse;
    return coarse > 2 * (step / 2) ? coarse : 2 * (step / 2);
}

void launch_solve_candidates(const double* w_sorted, const double* h_sorted, int64_t groups, int n,
                             int bits, const double* scales, int C, double* offset_out,
                             double* loss_out, void* workspace, void* stream)
{
    if (groups == 0 || C == 0)
        return;
    cudaStream_t st = static_cast<cudaStream_t>(stream);
    Workspace ws(workspace, groups, n, 0);
    prefix_kernel<<<blocks_for(groups, kThreads), kThreads, 0, st>>>(w_sorted, h_sorted, groups, n,
                                                                     ws.p0, ws.p1, ws.p2);
    check_launch("neuqi prefix sums");
    DeviceGroups dg{w_sorted, h_sorted, ws.p0, ws.p1, ws.p2, n};
    explicit_kernel<<<blocks_for(groups * C, kThreads), kThreads, 0, st>>>(
        dg, groups, 1 << bits, scales, C, offset_out, loss_out);
    check_launch("neuqi solve candidates");
}

void launch_neuqi_search(const double* w_sorted, const double* h_sorted, const double* s0,
                         int64_t groups, int n, int bits, int grid, int coarse, bool full_grid,
                         double* scale_out, double* offset_out, double* loss_out, int* index_out,
                         void* workspace, void* stream)
{
    if (groups == 0)
        return;
    cudaStream_t st = static_cast<cudaStream_t>(stream);
    const int levels = 1 << bits;
    Workspace ws(workspace, groups, n, neuqi_candidates(grid, coarse, full_grid));
    prefix_kernel<<<blocks_for(groups, kThreads), kThreads, 0, st>>>(w_sorted, h_sorted, groups, n,
                                                                     ws.p0, ws.p1, ws.p2);
    check_launch("neuqi prefix sums");
    DeviceGroups dg{w_sorted, h_sorted, ws.p0, ws.p1, ws.p2, n};

    const int step = full_grid ? 1 : grid / coarse;
    const int first_count = full_grid ? grid : coarse;
    const int half = step / 2;
    const int fine_count = full_grid ? 0 : 2 * half;

    candidates_kernel<<<blocks_for(groups * first_count, kThreads), kThreads, 0, st>>>(
        dg, groups, levels, s0, grid, nullptr, first_count, step, step, 0, ws.cand_loss,
        ws.cand_off, ws.cand_idx);
    check_launch("neuqi coarse candidates");
    reduce_kernel<<<blocks_for(groups, kThreads), kThreads, 0, st>>>(
        groups, first_count, ws.cand_loss, ws.cand_off, ws.cand_idx, false, loss_out, offset_out,
        index_out);
    check_launch("neuqi coarse reduce");
    if (fine_count > 0) {
        candidates_kernel<<<blocks_for(groups * fine_count, kThreads), kThreads, 0, st>>>(
            dg, groups, levels, s0, grid, index_out, fine_count, 1, -half, 1, ws.cand_loss,
            ws.cand_off, ws.cand_idx);
        check_launch("neuqi fine candidates");
        reduce_kernel<<<blocks_for(groups, kThreads), kThreads, 0, st>>>(
            groups, fine_count, ws.cand_loss, ws.cand_off, ws.cand_idx, true, loss_out, offset_out,
            index_out);
        check_launch("neuqi fine reduce");
    }
    scale_kernel<<<blocks_for(groups, kThreads), kThreads, 0, st>>>(groups, s0, index_out, grid,
                                                                    scale_out);
    check_launch("neuqi scales");
}

}  // namespace zp::kernels::cuda
