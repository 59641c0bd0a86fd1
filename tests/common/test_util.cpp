#include "tests/common/test_util.h"

#include <QDir>
#include <QFileInfo>
#include <random>

#include <ATen/ops/empty.h>

namespace zp::test {

QString assets_dir()
{
    QString d = qEnvironmentVariable("ZP_ASSETS_DIR");
    if (d.isEmpty() || !QFileInfo(d).isDir())
        return {};
    return QDir(d).absolutePath();
}

QString asset(const QString& relative)
{
    QString d = assets_dir();
    if (d.isEmpty())
        return {};
    QString p = QDir(d).filePath(relative);
    return QFileInfo::exists(p) ? p : QString();
}

QString cli_path()
{
    return qEnvironmentVariable("ZP_CLI");
}

at::Tensor make_weights(const std::string& kind, int64_t rows, int64_t cols, uint64_t seed)
{
    at::Tensor t = at::empty({rows, cols}, at::kDouble);
    double* p = t.data_ptr<double>();
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal(0.0, 0.02);
    std::exponential_distribution<double> expo(1.0 / 0.014);
    std::uniform_real_distribution<double> uni(0.0, 1.0);
    for (int64_t r = 0; r < rows; ++r) {
        double row_scale = 0.5 + uni(rng);  // per-row spread, as in real layers
        double constant = normal(rng);
        for (int64_t c = 0; c < cols; ++c) {
            double v = 0.0;
            if (kind == "gaussian") {
                v = normal(rng);
            } else if (kind == "laplace") {
                v = (uni(rng) < 0.5 ? -1.0 : 1.0) * expo(rng);
            } else if (kind == "outlier") {
                v = normal(rng);
                if (uni(rng) < 0.01)
                    v = (uni(rng) < 0.5 ? -6.0 : 6.0) * 0.02 * (1.0 + uni(rng));
            } else if (kind == "constant") {
                v = constant;
            }
            p[r * cols + c] = kind == "constant" ? v : v * row_scale;
        }
    }
    return t;
}

}  // namespace zp::test
