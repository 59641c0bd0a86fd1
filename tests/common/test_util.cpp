#include "tests/common/test_util.h"

#include <QDir>
#include <QFileInfo>
#include <QProcess>
#include <cmath>
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

QString run_python_reader(const QString& script, const QStringList& args,
                          const QString& install_hint)
{
    const bool required = qEnvironmentVariable("ZP_REQUIRE_PYREADERS") == QLatin1String("1");
    auto absent = [&](const QString& why) {
        return (required ? QStringLiteral("FAIL: ") : QStringLiteral("SKIP: ")) + why +
               QStringLiteral(" -- install with: ") + install_hint +
               (required
                    ? QStringLiteral(" (ZP_REQUIRE_PYREADERS=1: a missing reader is a failure)")
                    : QString());
    };
    if (script.isEmpty() || !QFileInfo::exists(script))
        return QStringLiteral("FAIL: reader script %1 not found").arg(script);
    // The set-up script's venv (ZP_PYENV, BUILD_DIR/pyenv) where it exists, else python3 on PATH.
    const QString venv_py = qEnvironmentVariable("ZP_PYENV") + QStringLiteral("/bin/python3");
    const QString python = !qEnvironmentVariableIsEmpty("ZP_PYENV") && QFileInfo::exists(venv_py)
                               ? venv_py
                               : QStringLiteral("python3");
    QProcess p;
    p.start(python, QStringList{script} + args);
    if (!p.waitForStarted(10000))
        return absent(QStringLiteral("python3 is not installed"));
    p.waitForFinished(300000);
    const QString out = QString::fromUtf8(p.readAllStandardOutput() + p.readAllStandardError());
    if (p.exitStatus() == QProcess::NormalExit && p.exitCode() == 2)
        return absent(out.trimmed());
    if (p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0)
        return QStringLiteral("FAIL: ") + out;
    qInfo().noquote() << out.trimmed();
    return {};
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
            } else if (kind == "ties") {
                v = std::nearbyint(normal(rng) / 0.01) * 0.01;  // about 7 distinct values
            }
            p[r * cols + c] = kind == "constant" ? v : v * row_scale;
        }
    }
    return t;
}

}  // namespace zp::test
