// One synthetic weight group for teaching: a chosen distribution with a fraction of outliers, and
// an importance profile standing in for a Hessian diagonal. Deterministic for a given seed.
#pragma once

#include <cstdint>
#include <vector>

namespace zp::demo {

enum class GroupDistribution { Normal, Laplace, StudentT, Uniform, Bimodal };
enum class ImportanceProfile { Flat, FewHeavy, LogNormal };

struct GroupSpec {
    GroupDistribution distribution = GroupDistribution::Normal;
    double outlier_fraction =
        0.01;        // in [0, 0.5]: share of values pushed to 4..8 standard deviations
    int size = 128;  // 2..65536 values
    uint64_t seed = 1;
    ImportanceProfile importance = ImportanceProfile::Flat;
};

// `size` weights with standard deviation about 0.02 (the scale of LLM weights). Throws
// InvalidArgument for a size outside 2..65536 or an outlier fraction outside [0, 0.5].
std::vector<double> synthetic_group_weights(const GroupSpec& spec);
// `size` importances > 0 (not normalised): all 1; 1 with ~3% of columns x50; or log-normal(0, 1).
std::vector<double> synthetic_group_importance(const GroupSpec& spec);

const char* distribution_name(GroupDistribution d);  // "normal", "laplace", ...
const char* importance_profile_name(ImportanceProfile p);

}  // namespace zp::demo
