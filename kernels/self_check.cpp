#include "kernels/self_check.h"

#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include <cstdio>
#include <exception>
#include <map>
#include <mutex>
#include <sstream>

namespace zp::kernels {

namespace {

std::mutex registry_mutex;
std::map<std::string, KernelVerdict>& registry()
{
    static std::map<std::string, KernelVerdict> r;
    return r;
}
std::string& warnings()
{
    static std::string w;
    return w;
}

// Deterministic weights without touching the caller's random state: a few incommensurate sines
// and one outlier per row.
at::Tensor check_weights(int64_t rows, int64_t cols, at::Device device)
{
    at::Tensor i = at::arange(rows * cols, at::kDouble).view({rows, cols});
    at::Tensor w =
        0.02 * (at::sin(i * 0.7) + 0.5 * at::sin(i * 0.113 + 1.0) + 0.25 * at::cos(i * 0.0171));
    w.select(1, 5) *= 6.0;
    return w.to(at::kFloat).to(device);
}

}  // namespace

KernelVerdict self_check_search(at::Device device, const SearchFn& custom)
{
    struct Case {
        int bits;
        int64_t group;
    };
    const Case cases[] = {{2, -1}, {3, 64}, {4, 8}};
    const at::Tensor w = check_weights(8, 256, device);
    const at::Tensor h =
        (at::cos(at::arange(256, at::kDouble) * 0.37) + 1.5).to(at::kFloat).to(device);
    KernelVerdict v;
    for (const Case& c : cases) {
        SearchConfig cfg;
        cfg.bits = c.bits;
        cfg.group_size = c.group;
        std::ostringstream where;
        where << c.bits << "-bit "
              << (c.group < 0 ? std::string("channel-wise") : "g" + std::to_string(c.group));
        SearchResult got;
        try {
            got = custom(w, h, cfg);
            got.loss = got.loss.cpu();  // a launch error surfaces here at the latest
        } catch (const std::exception& e) {
            const std::string msg = e.what();
            v.trusted = false;
            v.message = "the custom kernels failed on " + device.str() + " (" + where.str() +
                        "): " + msg.substr(0, msg.find('\n'));
            return v;
        }
        const at::Tensor ref = neuqi_search_tensor_ops(w, h, cfg).loss.cpu();
        const double rel =
            ((got.loss.to(at::kDouble) - ref).abs() / (ref.abs() + 1e-12)).max().item<double>();
        if (!(rel < 1e-6)) {
            v.trusted = false;
            std::ostringstream m;
            m << "the custom kernels disagree with the tensor-op search on " << device.str() << " ("
              << where.str() << ": relative loss difference " << rel << ")";
            v.message = m.str();
            return v;
        }
    }
    return v;
}

std::optional<KernelVerdict> recorded_verdict(at::Device device)
{
    std::lock_guard<std::mutex> lock(registry_mutex);
    auto it = registry().find(device.str());
    if (it == registry().end())
        return std::nullopt;
    return it->second;
}

KernelVerdict record_self_check(at::Device device, const SearchFn& custom)
{
    KernelVerdict v = self_check_search(device, custom);
    std::lock_guard<std::mutex> lock(registry_mutex);
    registry()[device.str()] = v;
    if (!v.trusted) {
        const std::string line =
            "warning: " + v.message + "; using the tensor-op search there (slower, same results)";
        std::fprintf(stderr, "%s\n", line.c_str());
        warnings() += line + "\n";
    }
    return v;
}

std::string kernel_warnings()
{
    std::lock_guard<std::mutex> lock(registry_mutex);
    return warnings();
}

void reset_self_checks()
{
    std::lock_guard<std::mutex> lock(registry_mutex);
    registry().clear();
    warnings().clear();
}

}  // namespace zp::kernels
