#include "core/common/progress.h"

#include "core/common/error.h"

namespace zp {

void report_progress(const ProgressFn& fn, double done, double total, const std::string& stage)
{
    if (fn && !fn(done, total, stage))
        throw Cancelled();
}

}  // namespace zp
