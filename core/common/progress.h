// Progress reporting for long work: a plain callback, never a Qt signal.
#pragma once

#include <functional>
#include <string>

namespace zp {

// done/total in the job's own units; stage is a short human label ("block 3/32: q_proj").
// Return false to cancel: the job then throws zp::Cancelled and writes no partial output.
using ProgressFn = std::function<bool(double done, double total, const std::string& stage)>;

// Seconds left, as a number, by the one rule every front end shows: elapsed / done * (total -
// done); -1 while nothing is done (unknown). The stage text carries no ETA.
double eta_seconds(double elapsed, double done, double total);

// Calls fn if set; throws Cancelled when it returns false.
void report_progress(const ProgressFn& fn, double done, double total, const std::string& stage);

}  // namespace zp
