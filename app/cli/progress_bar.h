// A terminal progress bar for long CLI work, driven by zp::ProgressFn.
#pragma once

#include <chrono>
#include <string>

#include "core/common/progress.h"

namespace zp::cli {

class ProgressBar {
public:
    explicit ProgressBar(std::string label);
    ~ProgressBar();  // ends the line if anything was drawn
    // A callback that redraws the bar (at most ~10 times a second, and at 100%) on stderr.
    ProgressFn callback();
    void update(double done, double total, const std::string& stage);
    void finish();

private:
    std::string label_;
    std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point last_draw_;
    bool drawn_ = false;
    bool finished_ = false;
};

}  // namespace zp::cli
