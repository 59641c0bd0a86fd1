// The CUDA search's per-thread body: one (group, scale candidate) solved with the workspace limits
// of a GPU thread (kDeviceBins bins per stage-2 level and kDeviceEventCap gathered drops, all in
// local arrays; no one-pass gathering, no buckets, no recorded drops). Plain portable code (ZP_HD),
// so the CUDA kernels (zero_point_cuda.cu) run it on the device and tests/kernels/tst_device_solve
// runs the very same body on the CPU against the references.
#pragma once

#include "kernels/portable.h"
#include "kernels/zero_point_math.h"

namespace zp::kernels::detail {

constexpr int kDeviceBins = 32;
constexpr int kDeviceEventCap = 64;

// The loss-minimising offset o (= -z) at scale s and its loss s^2 f(o), exact: groups of at most
// kSmallGroupMax elements by the small-group sweep, larger ones by the two-stage solve.
ZP_HD ScaleSolve device_solve_scale(const SortedGroup& g, double s, int levels)
{
    if (g.n <= kSmallGroupMax)
        return solve_small_group(g, s, levels);
    constexpr int L = Stage2Workspace::kLevels;
    BinAcc acc[L * kDeviceBins];
    double bb1[L * kDeviceBins], bb2[L * kDeviceBins], blb[L * kDeviceBins];
    int border[L * kDeviceBins];
    DropEvent ev[kDeviceEventCap];
    Stage2Workspace ws;
    ws.bins = kDeviceBins;
    ws.event_cap = kDeviceEventCap;
    ws.bin_acc = acc;
    ws.bin_b1 = bb1;
    ws.bin_b2 = bb2;
    ws.bin_lb = blb;
    ws.bin_order = border;
    ws.bin_offset = nullptr;  // no one-pass gathering on the GPU: crowded bins are re-binned
    ws.events = ev;
    return solve_scale(g, s, levels, ws);
}

}  // namespace zp::kernels::detail
