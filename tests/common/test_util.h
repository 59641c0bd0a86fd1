// Helpers shared by the Qt Test files.
#pragma once

#include <QString>
#include <QStringList>
#include <string>

#include <ATen/core/Tensor.h>

namespace zp::test {

// ../shared/assets as configured by CMake (ZP_ASSETS_DIR); empty string if the folder is absent.
QString assets_dir();
// Path of an asset file, or empty if the assets folder or the file is absent.
QString asset(const QString& relative);
// The zeropoint-cli executable under test (ZP_CLI).
QString cli_path();

// Runs an independent Python reader (tests/python/<script>) with `args`, under ZP_PYENV/bin/python3
// (CTest sets ZP_PYENV to BUILD_DIR/pyenv, where packaging/setup.sh installs the readers) or else
// python3. Returns "" on success,
// "SKIP: why" where python3 or the reader's module is absent (the script exits 2 then), or
// "FAIL: output". With ZP_REQUIRE_PYREADERS=1 (packaging/setup.sh sets it under CI=true) an absent
// reader is a failure, not a skip. `install_hint` is what a user runs to get the module.
QString run_python_reader(const QString& script, const QStringList& args,
                          const QString& install_hint);

// Deterministic synthetic weight rows (float64) for the solver tests.
// kind: "gaussian", "laplace", "outlier" (Gaussian with 6-sigma outliers), "constant", "ties"
// (Gaussian on a grid of 0.01: a few distinct values, as in weights dequantized from a GGUF).
at::Tensor make_weights(const std::string& kind, int64_t rows, int64_t cols, uint64_t seed);

}  // namespace zp::test

// Skip with a message if an asset is absent (never a silent pass).
#define ZP_REQUIRE_ASSET(var, rel)                                                           \
    const QString var = zp::test::asset(rel);                                                \
    if (var.isEmpty())                                                                       \
    QSKIP(qPrintable(QStringLiteral("asset %1 not found under ZP_ASSETS_DIR (%2): the real " \
                                    "test data in ../shared/assets is absent")               \
                         .arg(rel, qEnvironmentVariable("ZP_ASSETS_DIR"))))

// QSKIP / QVERIFY on the result of run_python_reader.
#define ZP_PYTHON_READER(result)                    \
    do {                                            \
        const QString r_ = (result);                \
        if (r_.startsWith(QLatin1String("SKIP: "))) \
            QSKIP(qPrintable(r_.mid(6)));           \
        QVERIFY2(r_.isEmpty(), qPrintable(r_));     \
    } while (0)
