// Helpers shared by the Qt Test files.
#pragma once

#include <QString>
#include <string>

#include <ATen/core/Tensor.h>

namespace zp::test {

// ../shared/assets as configured by CMake (ZP_ASSETS_DIR); empty string if the folder is absent.
QString assets_dir();
// Path of an asset file, or empty if the assets folder or the file is absent.
QString asset(const QString& relative);
// The zeropoint-cli executable under test (ZP_CLI).
QString cli_path();

// Deterministic synthetic weight rows (float64) for the solver tests.
// kind: "gaussian", "laplace", "outlier" (Gaussian with 6-sigma outliers), "constant".
at::Tensor make_weights(const std::string& kind, int64_t rows, int64_t cols, uint64_t seed);

}  // namespace zp::test

// Skip with a message if an asset is absent (never a silent pass).
#define ZP_REQUIRE_ASSET(var, rel)                                                             \
    const QString var = zp::test::asset(rel);                                                  \
    if (var.isEmpty())                                                                         \
        QSKIP(qPrintable(QStringLiteral("asset %1 not found under ZP_ASSETS_DIR (%2): the real " \
                                        "test data in ../shared/assets is absent").arg(rel, qEnvironmentVariable("ZP_ASSETS_DIR"))))
