#include "app/cli/progress_bar.h"

#include <unistd.h>
#include <algorithm>
#include <cstdio>

namespace zp::cli {

ProgressBar::ProgressBar(std::string label)
    : label_(std::move(label)), start_(std::chrono::steady_clock::now()), last_draw_(start_)
{
}

ProgressBar::~ProgressBar()
{
    finish();
}

ProgressFn ProgressBar::callback()
{
    return [this](double done, double total, const std::string& stage) {
        update(done, total, stage);
        return true;
    };
}

void ProgressBar::update(double done, double total, const std::string& stage)
{
    auto now = std::chrono::steady_clock::now();
    bool complete = total > 0 && done >= total;
    if (!complete && drawn_ && now - last_draw_ < std::chrono::milliseconds(100))
        return;
    last_draw_ = now;
    double frac = total > 0 ? std::min(1.0, std::max(0.0, done / total)) : 0.0;
    double elapsed = std::chrono::duration<double>(now - start_).count();
    const double eta = std::max(0.0, eta_seconds(elapsed, frac, 1.0));
    const int width = 30;
    int filled = static_cast<int>(frac * width + 0.5);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(width, '.');
    // On a terminal redraw in place; into a file or pipe print one line per update.
    bool tty = ::isatty(STDERR_FILENO);
    std::fprintf(stderr, "%s%s [%s] %5.1f%%  %.1fs elapsed, ETA %.1fs  %s%s", tty ? "\r" : "",
                 label_.c_str(), bar.c_str(), 100.0 * frac, elapsed, eta, stage.c_str(),
                 tty ? "\033[K" : "\n");
    std::fflush(stderr);
    drawn_ = true;
}

void ProgressBar::finish()
{
    if (drawn_ && !finished_ && ::isatty(STDERR_FILENO))
        std::fputc('\n', stderr);
    finished_ = true;
}

}  // namespace zp::cli
