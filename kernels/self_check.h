// Self-check before trust (issue 16, deliverable 2): the first time the custom CUDA kernels would
// run on a device, they solve a small fixed problem and are compared with the tensor-op search
// (neuqi_search_tensor_ops, the same candidates and tie rule, written with ATen operations only).
// If they disagree, or fail to launch, the device is not trusted: the dispatchers use the
// tensor-op path there instead of giving a wrong answer or crashing, a warning goes to stderr once,
// and kernel_warnings() hands it to a GUI's status bar.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <ATen/core/Tensor.h>

#include "kernels/zero_point.h"

namespace zp::kernels {

struct KernelVerdict {
    bool trusted = true;
    std::string message;  // why not trusted ("" when trusted)
};

// A NeUQI search implementation under test (w, h, config) -> result, on w's device.
using SearchFn =
    std::function<SearchResult(const at::Tensor& w, const at::Tensor& h, const SearchConfig& c)>;

// Runs `custom` and the tensor-op search on small deterministic problems on `device` (channel-wise
// 2-bit, g64 3-bit, g8 4-bit: the small-group path) and compares the losses (relative 1e-6). A
// throw from `custom` is a launch failure. Records nothing.
KernelVerdict self_check_search(at::Device device, const SearchFn& custom);

// The recorded verdict for `device`, if it was checked.
std::optional<KernelVerdict> recorded_verdict(at::Device device);
// Checks `custom` on `device` as the first use does (self_check_search) and records the verdict;
// a distrusted device also gets its warning printed to stderr and kept for kernel_warnings().
// The dispatchers call it on a device's first use; tests call it with a simulated kernel.
KernelVerdict record_self_check(at::Device device, const SearchFn& custom);
// Every warning so far, one per line ("" when none): what a GUI shows in its status bar.
std::string kernel_warnings();
// Forgets every verdict and warning (tests).
void reset_self_checks();

}  // namespace zp::kernels
