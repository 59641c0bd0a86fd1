// The exact data behind the teaching plots, for one (row, group): weights w and importance h
// (h is normalised to sum 1 inside; losses are weighted MSEs as in the search).
#pragma once

#include <functional>

#include <cstdint>
#include <vector>

namespace zp::analysis {

struct ZCurve {
    double scale = 0.0;
    std::vector<double> z, loss;          // L(z) sampled on [z_lo, z_hi]
    std::vector<double> breakpoints;      // z where some element changes level (inside the range)
    double z_opt = 0.0, loss_opt = 0.0;   // the exact optimum over all real z (two-stage solver)
    std::vector<double> int_z, int_loss;  // the integer zero-points 0..N-1 and their losses
};

// L(z) at scale s over [z_lo, z_hi] with `points` samples (>= 2), plus break points and optimum.
ZCurve loss_curve_z(const std::vector<double>& w, const std::vector<double>& h, int bits,
                    double scale, double z_lo, double z_hi, int points);

struct ScaleLandscape {
    double s0 = 0.0;                        // Min-Max scale
    int grid = 0;                           // T
    std::vector<double> scale, loss, zero;  // all candidates s0*i/T, i = 1..T (index i-1)
    std::vector<int> coarse;                // grid indices the coarse stage visited
    std::vector<int> fine;                  // grid indices of the fine stage (may exceed T)
    std::vector<double> fine_loss;  // their losses (the fine ones beyond T are not in `loss`)
    int chosen = 0;                 // the index the coarse-to-fine search keeps
    double chosen_scale = 0.0, chosen_zero = 0.0, chosen_loss = 0.0;
    double minmax_loss = 0.0, minmax_zero = 0.0;
};

// L(s, z*(s)) over every candidate, with the search's coarse and fine visits and its choice.
ScaleLandscape scale_landscape(const std::vector<double>& w, const std::vector<double>& h, int bits,
                               int grid = 2048, int coarse = 64);

struct LossGrid {
    std::vector<double> scales, zeros;  // axes
    std::vector<double> loss;           // [scales.size() * zeros.size()], row-major by scale
    std::vector<double> z_star;         // optimal z per scale (the path z*(s))
};

// L(s, z) on a grid: scales in [s_lo, s_hi], zeros in [z_lo, z_hi].
LossGrid loss_grid(const std::vector<double>& w, const std::vector<double>& h, int bits,
                   double s_lo, double s_hi, int n_scales, double z_lo, double z_hi, int n_zeros);

// Direct evaluation of sum h (Q(w) - w)^2 (h normalised) at (s, z).
double group_loss_at(const std::vector<double>& w, const std::vector<double>& h, int bits,
                     double scale, double zero);

// What the layer inspector shows for one group (w, h un-normalised): NeUQI's search replayed
// (landscape), Min-Max's parameters and loss, L(z) at the chosen scale over a range that holds
// Min-Max's zero, L(chosen s, Min-Max z), and L(s, z) on a grid around the scales searched.
// `check` is called between stages (it may throw Cancelled).
struct GroupInspection {
    ScaleLandscape landscape;
    double minmax_scale = 0.0, minmax_zero = 0.0, minmax_loss = 0.0;
    ZCurve zcurve;
    double minmax_zero_loss_at_chosen = 0.0;
    LossGrid grid;
};
GroupInspection inspect_group(const std::vector<double>& w, const std::vector<double>& h, int bits,
                              const std::function<void()>& check = {});

}  // namespace zp::analysis
