#include "core/common/progress.h"

#include <algorithm>

#include "core/common/error.h"

namespace zp {

double eta_seconds(double elapsed, double done, double total)
{
    if (!(done > 0.0) || !(total > 0.0))
        return -1.0;
    return elapsed / done * std::max(0.0, total - done);
}

void report_progress(const ProgressFn& fn, double done, double total, const std::string& stage)
{
    if (fn && !fn(done, total, stage))
        throw Cancelled();
}

}  // namespace zp
