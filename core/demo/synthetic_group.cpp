#include "core/demo/synthetic_group.h"

#include <cmath>
#include <random>
#include <string>

#include "core/common/error.h"

namespace zp::demo {

namespace {

void check(const GroupSpec& s)
{
    if (s.size < 2 || s.size > 65536)
        throw InvalidArgument("synthetic group: size must be in 2..65536, got " +
                              std::to_string(s.size));
    if (!(s.outlier_fraction >= 0.0 && s.outlier_fraction <= 0.5))
        throw InvalidArgument("synthetic group: outlier fraction must be in [0, 0.5], got " +
                              std::to_string(s.outlier_fraction));
}

}  // namespace

std::vector<double> synthetic_group_weights(const GroupSpec& spec)
{
    check(spec);
    const double sigma = 0.02;
    std::mt19937_64 rng(spec.seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::exponential_distribution<double> expo(1.0);
    std::student_t_distribution<double> t4(4.0);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    std::vector<double> w(static_cast<size_t>(spec.size));
    for (double& v : w) {
        double x = 0.0;  // unit variance in every case
        switch (spec.distribution) {
            case GroupDistribution::Normal:
                x = normal(rng);
                break;
            case GroupDistribution::Laplace:
                x = (unit(rng) < 0.5 ? -1.0 : 1.0) * expo(rng) / std::sqrt(2.0);
                break;
            case GroupDistribution::StudentT:
                x = t4(rng) / std::sqrt(2.0);
                break;
            case GroupDistribution::Uniform:
                x = (2.0 * unit(rng) - 1.0) * std::sqrt(3.0);
                break;
            case GroupDistribution::Bimodal:
                x = (unit(rng) < 0.5 ? -0.9 : 0.9) + 0.3 * normal(rng);
                break;
        }
        v = sigma * x;
    }
    // Outliers: positions and magnitudes from their own stream so the body does not change with the
    // fraction.
    std::mt19937_64 orng(spec.seed ^ 0x5bd1e995ULL);
    for (double& v : w) {
        double u = unit(orng), mag = 4.0 + 4.0 * unit(orng), sign = unit(orng) < 0.5 ? -1.0 : 1.0;
        if (u < spec.outlier_fraction)
            v = sign * mag * sigma;
    }
    return w;
}

std::vector<double> synthetic_group_importance(const GroupSpec& spec)
{
    check(spec);
    std::vector<double> h(static_cast<size_t>(spec.size), 1.0);
    std::mt19937_64 rng(spec.seed + 0x9e37ULL);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    std::lognormal_distribution<double> ln(0.0, 1.0);
    switch (spec.importance) {
        case ImportanceProfile::Flat:
            break;
        case ImportanceProfile::FewHeavy:
            for (double& v : h)
                v = unit(rng) < 0.03 ? 50.0 : 1.0;
            break;
        case ImportanceProfile::LogNormal:
            for (double& v : h)
                v = ln(rng);
            break;
    }
    return h;
}

const char* distribution_name(GroupDistribution d)
{
    switch (d) {
        case GroupDistribution::Normal:
            return "normal";
        case GroupDistribution::Laplace:
            return "laplace";
        case GroupDistribution::StudentT:
            return "student-t";
        case GroupDistribution::Uniform:
            return "uniform";
        case GroupDistribution::Bimodal:
            return "bimodal";
    }
    return "?";
}

const char* importance_profile_name(ImportanceProfile p)
{
    switch (p) {
        case ImportanceProfile::Flat:
            return "flat";
        case ImportanceProfile::FewHeavy:
            return "few heavy columns";
        case ImportanceProfile::LogNormal:
            return "log-normal";
    }
    return "?";
}

}  // namespace zp::demo
