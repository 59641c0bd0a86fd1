#include "kernels/zero_point.h"

#include <ATen/Context.h>
#include <ATen/ops/all.h>
#include <ATen/ops/amax.h>
#include <ATen/ops/amin.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/full_like.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/sort.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros_like.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/device_util.h"
#include "kernels/quantize.h"
#include "kernels/self_check.h"
#if defined(ZP_HAVE_CUDA_KERNELS)
#include "kernels/cuda/cuda_launchers.h"
#endif

namespace zp::kernels {

// References live in zero_point_reference.cpp.
ZeroPointSolve solve_zero_point_reference(const at::Tensor& w, const at::Tensor& h,
                                          const at::Tensor& scales, int bits, int64_t g, bool brute,
                                          int64_t brute_points);

namespace {

using detail::check_bits;
using detail::check_float_matrix;

void check_common(const at::Tensor& w, const at::Tensor& h, int bits)
{
    check_float_matrix(w, "w");
    check_bits(bits);
    TORCH_CHECK(h.defined() && h.dim() == 1 && h.size(0) == w.size(1), "h must be [cols] = [",
                w.size(1), "], got ", h.defined() ? h.sizes() : at::IntArrayRef{});
    TORCH_CHECK(h.device() == w.device(), "h must be on the same device as w");
    TORCH_CHECK(at::isfinite(w).all().item<bool>(), "w holds NaN or Inf values");
    at::Tensor hd = h.to(at::kDouble);
    TORCH_CHECK(at::isfinite(hd).all().item<bool>(), "h holds NaN or Inf values");
    TORCH_CHECK((hd >= 0).all().item<bool>(),
                "h must be >= 0 (importance), found a negative value");
}

#if defined(ZP_HAVE_CUDA_KERNELS)
// Device-agnostic preparation for the CUDA kernels: groups as rows, sorted by w, with the
// normalised importance gathered into the same order.
struct SortedGroups {
    at::Tensor w, h;  // [rows * groups, g] float64
};

SortedGroups sort_groups(const at::Tensor& w, const at::Tensor& h, int64_t g)
{
    const int64_t rows = w.size(0), groups = w.size(1) / g;
    at::Tensor wg = w.to(at::kDouble).reshape({rows * groups, g});
    at::Tensor hg = h.to(at::kDouble).reshape({groups, g});
    at::Tensor hs = hg.sum(1, true);
    hg = at::where(hs > 0, hg / hs.clamp_min(1e-300),
                   at::full_like(hg, 1.0 / static_cast<double>(g)));
    hg = hg.unsqueeze(0).expand({rows, groups, g}).reshape({rows * groups, g});
    auto sorted = at::sort(wg, 1);
    SortedGroups out;
    out.w = std::get<0>(sorted).contiguous();
    out.h = hg.gather(1, std::get<1>(sorted)).contiguous();
    return out;
}

// The NeUQI search with the custom CUDA kernels; g divides w's columns.
SearchResult search_with_cuda_kernels(const at::Tensor& w, const at::Tensor& h,
                                      const SearchConfig& config, int64_t g)
{
    const int64_t rows = w.size(0), groups = w.size(1) / g;  // g divides (see above)
    const int levels = 1 << config.bits;
    SortedGroups sg = sort_groups(w, h, g);
    at::Tensor range = sg.w.select(1, g - 1) - sg.w.select(1, 0);
    at::Tensor s0 =
        at::where(range > 0, range / (levels - 1), at::full_like(range, 1.0)).contiguous();
    at::Tensor scale = at::empty({rows * groups}, sg.w.options());
    at::Tensor offset = at::empty({rows * groups}, sg.w.options());
    at::Tensor loss = at::empty({rows * groups}, sg.w.options());
    at::Tensor index = at::empty({rows * groups}, sg.w.options().dtype(at::kInt));
    // Scratch from torch's caching allocator, freed in stream order (no synchronisation).
    at::Tensor workspace =
        at::empty({cuda::neuqi_workspace_bytes(
                      rows * groups, static_cast<int>(g),
                      cuda::neuqi_candidates(config.grid, config.coarse, config.full_grid))},
                  sg.w.options().dtype(at::kByte));
    cuda::launch_neuqi_search(
        sg.w.data_ptr<double>(), sg.h.data_ptr<double>(), s0.data_ptr<double>(), rows * groups,
        static_cast<int>(g), config.bits, config.grid, config.coarse, config.full_grid,
        scale.data_ptr<double>(), offset.data_ptr<double>(), loss.data_ptr<double>(),
        index.data_ptr<int>(), workspace.data_ptr(), detail::current_cuda_stream(w));
    return detail::finalize_search(w, h, config.bits, g, scale, offset, index);
}

// Self-check before trust (kernels/self_check.h): the first search on a device compares the
// kernels with the tensor-op search on a small problem; a device where they disagree or fail to
// launch gets the tensor-op path from then on.
bool cuda_kernels_trusted(at::Device device)
{
    if (const std::optional<KernelVerdict> v = recorded_verdict(device))
        return v->trusted;
    return record_self_check(device,
                             [](const at::Tensor& w, const at::Tensor& h, const SearchConfig& c) {
                                 detail::CudaDeviceGuard guard(w);
                                 return search_with_cuda_kernels(
                                     w, h, c, resolve_group_size(c.group_size, w.size(1)));
                             })
        .trusted;
}

#endif

// A row whose last group is shorter than g (g does not divide cols) is searched as two parts: the
// whole groups, and the tail as one group of its own length. Each part has a group size that
// divides it, so every path (CPU, CUDA, reference) keeps working on equal-length groups; the
// results join along the group dimension, in column order.
int64_t whole_group_cols(int64_t cols, int64_t g)
{
    return cols % g == 0 ? cols : (cols / g) * g;
}

SearchResult join_groups(const SearchResult& a, const SearchResult& b)
{
    SearchResult r;
    r.scale = at::cat({a.scale, b.scale}, 1);
    r.zero = at::cat({a.zero, b.zero}, 1);
    r.loss = at::cat({a.loss, b.loss}, 1);
    r.minmax_loss = at::cat({a.minmax_loss, b.minmax_loss}, 1);
    r.index = at::cat({a.index, b.index}, 1);
    return r;
}

}  // namespace

namespace detail {

SearchResult finalize_search(const at::Tensor& w, const at::Tensor& h, int bits, int64_t g,
                             const at::Tensor& scale_d, const at::Tensor& offset_d,
                             const at::Tensor& index)
{
    const int64_t rows = w.size(0), groups = group_count(w.size(1), g);
    SearchResult r;
    at::Tensor s = scale_d.view({rows, groups}).to(w.scalar_type());
    at::Tensor z = (-offset_d).view({rows, groups}).to(w.scalar_type());
    at::Tensor loss = group_loss(w, h, s, z, bits, g, true);
    at::Tensor s_mm, z_mm;
    minmax_params(w, bits, g, 1.0, &s_mm, &z_mm);
    at::Tensor mm = group_loss(w, h, s_mm, z_mm, bits, g, true);
    at::Tensor keep_mm = mm < loss;
    r.scale = at::where(keep_mm, s_mm, s);
    r.zero = at::where(keep_mm, z_mm, z);
    r.loss = at::where(keep_mm, mm, loss);
    r.minmax_loss = mm;
    at::Tensor idx = index.view({rows, groups});
    r.index = at::where(keep_mm, at::zeros_like(idx), idx);
    return r;
}
}  // namespace detail

bool cuda_kernels_available()
{
#if defined(ZP_HAVE_CUDA_KERNELS)
    // Both: the kernels see a device, and this libtorch can make CUDA tensors (Debian's CPU-only
    // libtorch with nvcc present compiles the kernels, but .cuda() would throw).
    return at::hasCUDA() && cuda::device_available();
#else
    return false;
#endif
}

ZeroPointSolve solve_zero_point(const at::Tensor& w_in, const at::Tensor& h_in,
                                const at::Tensor& scales_in, int bits, int64_t group_size,
                                ZeroPointSolver solver, int64_t brute_points)
{
    check_common(w_in, h_in, bits);
    const int64_t g = resolve_group_size(group_size, w_in.size(1));
    const int64_t rows = w_in.size(0), groups = group_count(w_in.size(1), g);
    TORCH_CHECK(scales_in.dim() == 3 && scales_in.size(0) == rows && scales_in.size(1) == groups,
                "scales must be [rows, groups, C] = [", rows, ", ", groups, ", C], got ",
                scales_in.sizes());
    if (const int64_t head = whole_group_cols(w_in.size(1), g); head != w_in.size(1)) {
        const int64_t tail = w_in.size(1) - head;
        ZeroPointSolve a =
            solve_zero_point(w_in.narrow(1, 0, head), h_in.narrow(0, 0, head),
                             scales_in.narrow(1, 0, groups - 1), bits, g, solver, brute_points);
        ZeroPointSolve b =
            solve_zero_point(w_in.narrow(1, head, tail), h_in.narrow(0, head, tail),
                             scales_in.narrow(1, groups - 1, 1), bits, tail, solver, brute_points);
        return ZeroPointSolve{at::cat({a.zero, b.zero}, 1), at::cat({a.loss, b.loss}, 1)};
    }
    at::Tensor scales = scales_in.to(at::kDouble).contiguous();
    TORCH_CHECK(at::isfinite(scales).all().item<bool>() && (scales > 0).all().item<bool>(),
                "scales must be finite and > 0");
    if (solver != ZeroPointSolver::TwoStage) {
        TORCH_CHECK(brute_points >= 2, "brute_points must be >= 2");
        return solve_zero_point_reference(
            w_in.cpu().contiguous(), h_in.cpu().to(at::kDouble).contiguous(), scales.cpu(), bits, g,
            solver == ZeroPointSolver::BruteForce, brute_points);
    }
    if (w_in.is_cuda()) {
#if defined(ZP_HAVE_CUDA_KERNELS)
        detail::CudaDeviceGuard device_guard(w_in);
        if (!cuda_kernels_trusted(w_in.device())) {
            // Distrusted kernels: the CPU solves it (the tensor-op search has no explicit-scale
            // form).
            ZeroPointSolve r = cpu::solve_zero_point(w_in.cpu().contiguous(),
                                                     h_in.cpu().to(at::kDouble).contiguous(),
                                                     scales.cpu(), bits, g);
            return ZeroPointSolve{r.zero.to(w_in.device()), r.loss.to(w_in.device())};
        }
        SortedGroups sg = sort_groups(w_in, h_in, g);
        const int64_t C = scales.size(2);
        ZeroPointSolve out;
        at::Tensor offset = at::empty({rows, groups, C}, scales.options());
        out.loss = at::empty({rows, groups, C}, scales.options());
        at::Tensor workspace =
            at::empty({cuda::neuqi_workspace_bytes(rows * groups, static_cast<int>(g), 0)},
                      sg.w.options().dtype(at::kByte));
        cuda::launch_solve_candidates(
            sg.w.data_ptr<double>(), sg.h.data_ptr<double>(), rows * groups, static_cast<int>(g),
            bits, scales.data_ptr<double>(), static_cast<int>(C), offset.data_ptr<double>(),
            out.loss.data_ptr<double>(), workspace.data_ptr(), detail::current_cuda_stream(w_in));
        out.zero = -offset;
        return out;
#else
        TORCH_CHECK(false,
                    "solve_zero_point: tensor is on CUDA but this build has no CUDA kernels");
#endif
    }
    return cpu::solve_zero_point(w_in.contiguous(), h_in.to(at::kDouble).contiguous(), scales, bits,
                                 g);
}

namespace {

void check_search_config(const SearchConfig& c)
{
    check_bits(c.bits);
    TORCH_CHECK(c.grid >= 1, "grid (T) must be >= 1, got ", c.grid);
    if (!c.full_grid)
        TORCH_CHECK(c.coarse >= 1 && c.coarse <= c.grid && c.grid % c.coarse == 0, "coarse count ",
                    c.coarse, " must divide the grid size ", c.grid);
}

}  // namespace

SearchResult neuqi_search(const at::Tensor& w_in, const at::Tensor& h_in,
                          const SearchConfig& config)
{
    check_common(w_in, h_in, config.bits);
    check_search_config(config);
    const int64_t g = resolve_group_size(config.group_size, w_in.size(1));
    if (const int64_t head = whole_group_cols(w_in.size(1), g); head != w_in.size(1)) {
        const int64_t tail = w_in.size(1) - head;
        SearchConfig whole = config, last = config;
        whole.group_size = g;
        last.group_size = tail;
        return join_groups(
            neuqi_search(w_in.narrow(1, 0, head), h_in.narrow(0, 0, head), whole),
            neuqi_search(w_in.narrow(1, head, tail), h_in.narrow(0, head, tail), last));
    }
    if (w_in.is_cuda()) {
#if defined(ZP_HAVE_CUDA_KERNELS)
        detail::CudaDeviceGuard device_guard(w_in);
        if (!cuda_kernels_trusted(w_in.device()))
            return neuqi_search_tensor_ops(w_in, h_in, config);
        return search_with_cuda_kernels(w_in, h_in, config, g);
#else
        TORCH_CHECK(false, "neuqi_search: tensor is on CUDA but this build has no CUDA kernels");
#endif
    }
    return cpu::neuqi_search(w_in.contiguous(), h_in.to(at::kDouble).contiguous(), config, g);
}

SearchResult neuqi_int_search(const at::Tensor& w_in, const at::Tensor& h_in, int bits,
                              int64_t group_size, int grid)
{
    check_common(w_in, h_in, bits);
    TORCH_CHECK(grid >= 1, "grid (T) must be >= 1, got ", grid);
    const int64_t g = resolve_group_size(group_size, w_in.size(1));
    if (const int64_t head = whole_group_cols(w_in.size(1), g); head != w_in.size(1)) {
        const int64_t tail = w_in.size(1) - head;
        return join_groups(
            neuqi_int_search(w_in.narrow(1, 0, head), h_in.narrow(0, 0, head), bits, g, grid),
            neuqi_int_search(w_in.narrow(1, head, tail), h_in.narrow(0, head, tail), bits, tail,
                             grid));
    }
    // The integer search is O(n) per scale and short; CUDA tensors run it on the CPU.
    SearchResult r = cpu::neuqi_int_search(w_in.cpu().contiguous(),
                                           h_in.cpu().to(at::kDouble).contiguous(), bits, g, grid);
    if (w_in.is_cuda()) {
        r.scale = r.scale.to(w_in.device());
        r.zero = r.zero.to(w_in.device());
        r.loss = r.loss.to(w_in.device());
        r.minmax_loss = r.minmax_loss.to(w_in.device());
        r.index = r.index.to(w_in.device());
    }
    return r;
}

}  // namespace zp::kernels
