#include "kernels/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace zp::kernels {

namespace {

int default_threads()
{
    for (const char* var : {"ZP_NUM_THREADS", "OMP_NUM_THREADS"}) {
        if (const char* v = std::getenv(var)) {
            const int n = std::atoi(v);
            if (n >= 1)
                return n;
        }
    }
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

std::atomic<int> g_threads{0};

}  // namespace

int threads()
{
    int n = g_threads.load();
    if (n == 0) {
        n = default_threads();
        g_threads.store(n);
    }
    return n;
}

void set_threads(int n)
{
    g_threads.store(n >= 1 ? n : default_threads());
}

void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& f)
{
    const int64_t n = end - begin;
    if (n <= 0)
        return;
    grain = std::max<int64_t>(grain, 1);
    const int64_t max_chunks = (n + grain - 1) / grain;
    const int t = static_cast<int>(std::min<int64_t>(threads(), max_chunks));
    if (t <= 1) {
        f(begin, end);
        return;
    }
    // Many chunks per thread, so that items of uneven cost (the NeUQI search prunes more scale
    // candidates in some groups than in others) still keep every thread busy to the end.
    const int64_t chunk = std::max(grain, (n + 16 * t - 1) / (16 * t));
    std::atomic<int64_t> next{begin};
    std::exception_ptr error;
    std::mutex error_mu;
    auto work = [&]() {
        try {
            for (;;) {
                const int64_t b = next.fetch_add(chunk);
                if (b >= end)
                    break;
                f(b, std::min(end, b + chunk));
            }
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mu);
            if (!error)
                error = std::current_exception();
            next.store(end);
        }
    };
    std::vector<std::thread> pool;
    pool.reserve(static_cast<size_t>(t - 1));
    for (int i = 1; i < t; ++i)
        pool.emplace_back(work);
    work();
    for (std::thread& th : pool)
        th.join();
    if (error)
        std::rethrow_exception(error);
}

int parallel_for_threads(int n)
{
    std::set<std::thread::id> seen;
    std::mutex mu;
    parallel_for(0, n, 1, [&](int64_t, int64_t) {
        {
            std::lock_guard<std::mutex> lock(mu);
            seen.insert(std::this_thread::get_id());
        }
        // Long enough that one thread cannot take every chunk before the others start.
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    });
    return static_cast<int>(seen.size());
}

}  // namespace zp::kernels
